//! Running one scenario on one worker (an app and its account in the
//! fake): prepare, play the steps, read the app's orders after each, settle
//! the clock, read the fake's truth, and check the invariants.
//!
//! Scenarios on one worker share the account, because the app was given
//! its key and webhook secret at start. They run one at a time, and every
//! order gets an id that is unique to the scenario run. The fault plan is
//! cleared between scenarios, and each reads only the trace and the
//! deliveries written after it began.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use serde_saphyr::Spanned;

use super::expect;
use super::fake::FakeClient;
use super::record::{
    AppFields, CheckoutAttempt, Delivery, Moment, Observation, OrderRecord, OrderView,
    ScenarioRecord, SessionTruth, TraceEntry,
};
use crate::app::template::Variables;
use crate::app::{AppClient, AppExit, AppLog};
use crate::invariants::{self, Violation};
use crate::report::events::{Failure, FailureKind, Mismatch, OutputSpan, ScenarioResult};
use crate::report::timeline;
use crate::scenario::load::card_number;
use crate::scenario::model::{
    CheckoutStep, PayStep, PaymentMethod, ReleaseStep, Step, WaitUntilStep,
};
use crate::scenario::values::HttpStatus;
use crate::scenario::{PlannedStep, Scenario};

/// Real time between the checks of a `wait_until` step after its virtual
/// time has passed.
const REAL_TIME_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Returns the default line items: one unit of 10.00.
fn default_items() -> Value {
    json!([{ "name": "Item", "unit_amount": 1000, "quantity": 1 }])
}

/// The clients and settings one worker runs scenarios with.
#[derive(Debug, Clone)]
pub struct WorkerContext {
    pub fake: Arc<FakeClient>,
    pub app: AppClient,
    pub log: Option<Arc<Mutex<AppLog>>>,
    /// The app's exit status, when the harness started the app.
    pub exit: Option<AppExit>,
    /// The arguments of the replay command besides the scenario and its seed.
    pub replay: ReplayArgs,
    /// The number of jobs, each with its own app, in the run.
    pub jobs: usize,
}

/// The options of a run that its replay command repeats: the app file, as
/// given on the command line, and the fake, when the run used one that
/// was already running.
#[derive(Debug, Clone)]
pub struct ReplayArgs {
    pub app: String,
    pub fake: Option<String>,
}

/// Why a step failed: a message, and expected and actual values when the
/// step checked some.
#[derive(Debug)]
pub(crate) struct StepFailure {
    pub message: String,
    pub mismatches: Vec<Mismatch>,
}

impl StepFailure {
    pub(crate) fn new(message: impl Into<String>) -> StepFailure {
        StepFailure {
            message: message.into(),
            mismatches: Vec::new(),
        }
    }
}

impl From<super::fake::FakeError> for StepFailure {
    fn from(err: super::fake::FakeError) -> StepFailure {
        StepFailure::new(err.to_string())
    }
}

/// The state of a scenario while it runs.
pub(crate) struct ScenarioRun<'a> {
    pub scenario: &'a Scenario,
    pub seed: u64,
    pub ctx: &'a WorkerContext,
    /// Suffix of every order id the app receives.
    tag: String,
    pub orders: BTreeMap<String, OrderRecord>,
    /// The next page the browser opens for each order: a success or
    /// cancel URL, or `None` after the customer left a Checkout page that
    /// has no way back to the app (a session without `cancel_url`).
    redirects: BTreeMap<String, Option<String>>,
    faults: Vec<Value>,
    pub observations: Vec<Observation>,
    /// Trace entries written since the scenario began.
    pub trace: Vec<TraceEntry>,
    /// Highest trace sequence number read so far.
    pub seq: u64,
    /// Trace sequence number when each step ended.
    step_ends: Vec<u64>,
    start_seq: u64,
    /// Whether `start_seq` and `start_time` were read. Until then, `seq`
    /// still points before the entries of earlier scenarios.
    start_recorded: bool,
    start_deliveries: usize,
    start_time: i64,
    /// Whether [`ScenarioRun::finish`] cleared the fault plan.
    faults_cleared: bool,
    /// Held deliveries left by earlier scenarios, which this one must not
    /// release.
    leftover_held: HashSet<String>,
    /// The payment intent of each charge that an event names, read after
    /// the last step.
    charge_intents: BTreeMap<String, String>,
    /// A warning for each session of the scenario that offers a payment
    /// method type that the app file's `payment_method_types` leaves out,
    /// read after the last step.
    unlisted_types: Vec<String>,
}

/// Runs a scenario to its result. Returns a result in every case: errors
/// of the harness, the app or the fake become failures in it.
pub async fn run_scenario(
    scenario: &Scenario,
    seed: u64,
    ctx: &WorkerContext,
    tag: String,
) -> ScenarioResult {
    let started = Instant::now();
    let log_mark = ctx.log_mark();
    let mut run = ScenarioRun {
        scenario,
        seed,
        ctx,
        tag,
        orders: BTreeMap::new(),
        redirects: BTreeMap::new(),
        faults: scenario.faults.clone(),
        observations: Vec::new(),
        trace: Vec::new(),
        seq: 0,
        step_ends: Vec::new(),
        start_seq: 0,
        start_recorded: false,
        start_deliveries: 0,
        start_time: 0,
        faults_cleared: false,
        leftover_held: HashSet::new(),
        charge_intents: BTreeMap::new(),
        unlisted_types: Vec::new(),
    };
    let mut failures = Vec::new();
    let mut allowed = Vec::new();
    let mut steps_run = 0;
    let mut deliveries = Vec::new();

    match run.prepare().await {
        Err(message) => failures.push(harness_failure(message)),
        Ok(()) => {
            for (index, planned) in scenario.steps.iter().enumerate() {
                steps_run = index + 1;
                let outcome = run.step(planned).await;
                let moment = Moment::Step {
                    index,
                    name: planned.step.name().to_owned(),
                    line: planned.line,
                };
                if let Err(err) = run.observe(moment).await {
                    failures.push(harness_failure(err));
                    break;
                }
                run.step_ends.push(run.seq);
                if let Err(failure) = outcome {
                    failures.push(Failure {
                        kind: FailureKind::Step {
                            step: index + 1,
                            name: planned.step.name().to_owned(),
                            line: planned.line,
                            column: planned.column,
                        },
                        message: failure.message,
                        mismatches: failure.mismatches,
                    });
                    break;
                }
            }
            // After a failed step the clock is not settled, and only the
            // invariants about what must never happen are checked.
            let settled = failures.is_empty();
            let harness_failed = failures.iter().any(|f| f.kind == FailureKind::Harness);
            if !harness_failed {
                match run.finish(settled).await {
                    Ok((violations, all_deliveries)) => {
                        deliveries = all_deliveries;
                        for violation in violations {
                            if scenario.allow.contains(&violation.invariant) {
                                allowed.push(violation);
                            } else {
                                failures.push(invariant_failure(violation));
                            }
                        }
                    }
                    Err(message) => failures.push(harness_failure(message)),
                }
            } else if let Ok(all) = run.deliveries().await {
                deliveries = all;
            }
        }
    }
    // The next scenario on this worker starts without this one's faults.
    if !run.faults_cleared
        && let Err(err) = ctx.fake.clear_faults().await
    {
        tracing::warn!(%err, "could not clear the fault plan after a scenario");
    }
    if run.start_recorded && run.trace.is_empty() {
        let _ = run.sync_trace().await;
    }

    let timeline = if failures.is_empty() {
        Vec::new()
    } else {
        timeline::build(&timeline::TimelineInput {
            scenario,
            trace: &run.trace,
            deliveries: &deliveries,
            step_ends: &run.step_ends,
            start_time: run.start_time,
            harness_requests: &ctx.fake.own_requests(),
            observations: &run.observations,
        })
    };
    let (mut warnings, mut hints) = match rejected_deliveries(&deliveries) {
        Some(rejected) => (vec![rejected.warning], vec![rejected.hint]),
        None => (Vec::new(), Vec::new()),
    };
    warnings.extend(idle_call_faults(&run.trace));
    if !run.unlisted_types.is_empty() {
        warnings.append(&mut run.unlisted_types);
        hints.push(UNLISTED_TYPES_HINT.to_owned());
    }
    hints.extend(orders_not_found(&run.orders, &run.observations, ctx.jobs));
    if !failures.is_empty() && ctx.jobs > 1 {
        hints.extend(orders_lost(&run.orders, &run.observations, ctx.jobs));
    }
    let app_output = match (&ctx.log, log_mark) {
        (Some(log), Some(mark)) if !failures.is_empty() => log
            .lock()
            .map(|log| log.since(mark, SCENARIO_LOG_LINES))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    ScenarioResult {
        path: scenario.path.clone(),
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        seed,
        duration: started.elapsed(),
        steps_run,
        steps_total: scenario.steps.len(),
        failures,
        allowed,
        timeline,
        app_output,
        app_output_span: OutputSpan::Scenario,
        warnings,
        hints,
        replay: replay_command(&scenario.path, &ctx.replay, seed),
    }
}

/// The number of the app's last output lines that a failed scenario shows.
pub(super) const SCENARIO_LOG_LINES: usize = 40;

/// Returns a warning for each `api_error` and `lost_response` fault of the
/// scenario's plans that never took effect, read from the trace's fault
/// entries. Such a fault targets a route the app did not call. A step that
/// expects its effect then fails for a reason its message does not show.
fn idle_call_faults(trace: &[TraceEntry]) -> Vec<String> {
    // A `hold` or `set_faults` step sets the plan again, with the same
    // call faults, so a fault is known by its parameters.
    let mut call_faults: Vec<(String, &Value)> = Vec::new();
    let mut took_effect: HashSet<String> = HashSet::new();
    let mut plan: &[Value] = &[];
    for entry in trace.iter().filter(|e| e.kind == "fault") {
        if entry.str_field("decision") == Some("plan_set") {
            plan = entry.detail["plan"]["faults"]
                .as_array()
                .map_or(&[], Vec::as_slice);
            for fault in plan {
                let key = fault.to_string();
                let is_call = matches!(fault["kind"].as_str(), Some("api_error" | "lost_response"));
                if is_call && !call_faults.iter().any(|(known, _)| *known == key) {
                    call_faults.push((key, fault));
                }
            }
        } else if let Some(fault) = entry.detail["fault_index"]
            .as_u64()
            .and_then(|index| plan.get(index as usize))
        {
            took_effect.insert(fault.to_string());
        }
    }
    call_faults
        .into_iter()
        .filter(|(key, _)| !took_effect.contains(key))
        .map(|(_, fault)| {
            let routes: Vec<&str> = fault["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let target = if routes.is_empty() {
                "every route".to_owned()
            } else {
                routes.join(", ")
            };
            let after_skip = match fault["skip"].as_u64() {
                Some(skip) if skip > 0 => format!(" after the {skip} it lets through"),
                _ => String::new(),
            };
            format!(
                "the {} fault on {target} never took effect: no request of the app matched it{after_skip}, so it changed nothing",
                fault["kind"].as_str().unwrap_or("call")
            )
        })
        .collect()
}
/// The hint under the warnings about sessions that offer a payment method
/// type the app file does not list.
const UNLISTED_TYPES_HINT: &str = "a session created without a list of payment method types offers the types that Stripe picks for its currency; pass `allowed_payment_method_types` (or `payment_method_types` under an API version before 2026-09-30) when creating the session, or list the type in the app file";

/// A warning and its hint for a scenario in which the app rejected every
/// genuine webhook delivery that reached it.
struct RejectedDeliveries {
    warning: String,
    hint: String,
}

/// Returns a warning when no genuine delivery of the scenario succeeded
/// although at least one reached the app. Forged deliveries must be
/// rejected, and a delivery that a `webhook_drop` fault lost never reached
/// the app, so neither counts. A scenario may still pass, as when the
/// success page fulfils the order, and the warning then shows the cause
/// that its PASS hides.
fn rejected_deliveries(deliveries: &[Delivery]) -> Option<RejectedDeliveries> {
    let reached: Vec<&Delivery> = deliveries
        .iter()
        .filter(|d| d.forged.is_none() && !d.lost())
        .collect();
    let first = reached.first()?;
    // The fake counts a 2xx whose body did not arrive in time as failed,
    // and retries it.
    if reached.iter().any(|d| d.succeeded() && d.error.is_none()) {
        return None;
    }

    let count = reached.len();
    let url = &first.url;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for delivery in &reached {
        *outcomes.entry(delivery.outcome()).or_default() += 1;
    }
    let listing: Vec<String> = outcomes
        .iter()
        .map(|(outcome, n)| format!("{outcome} ×{n}"))
        .collect();
    let warning = format!(
        "no webhook delivery succeeded: the app rejected all {count} deliveries to {url} ({})",
        listing.join(", ")
    );

    let all = |test: fn(&Delivery) -> bool| reached.iter().all(|d| test(d));
    let hint = if all(|d| matches!(d.status, Some(404 | 405))) {
        format!(
            "all {count} webhook deliveries got 404 or 405 from the app, so it may not serve its webhook at {url}: check `webhook_path` in the app file"
        )
    } else if all(|d| d.status == Some(400)) {
        format!(
            "all {count} webhook deliveries got 400 from the app, which most often means that its signature check failed. The check needs the raw request body, so a JSON body parser that runs before the webhook route, such as `app.use(express.json())` in Express, makes every check fail. Give the webhook route the raw body, and check that the app uses the STRIPE_WEBHOOK_SECRET the harness gave it"
        )
    } else if all(Delivery::timed_out) {
        format!(
            "all {count} webhook deliveries timed out: the app did not answer within the fake's delivery timeout, {}. Answer a webhook first and do slow work after it",
            super::fake::delivery_timeout_text(&reached)
        )
    } else {
        "the app answered no webhook delivery with a 2xx; the delivery lines of the timeline and the app's output may show why".to_owned()
    };
    Some(RejectedDeliveries { warning, hint })
}

/// Returns a hint when every order read of the scenario got 404, because
/// the app file's `order.request` then most likely names a path the app
/// does not serve. In a run of more than one job, apps that share one
/// store lose their orders the same way, so the hint names both causes.
/// Only reads of orders with a checkout request that the app responded to
/// with a 2xx or 3xx count: an order whose checkout failed or timed out
/// was most likely never created, whatever path the app serves.
fn orders_not_found(
    orders: &BTreeMap<String, OrderRecord>,
    observations: &[Observation],
    jobs: usize,
) -> Option<String> {
    let checked_out = |name: &String| {
        orders.get(name).is_some_and(|order| {
            order
                .attempts
                .iter()
                .any(|attempt| (200..400).contains(&attempt.http_status))
        })
    };
    let reads: Vec<&OrderView> = observations
        .iter()
        .flat_map(|observation| observation.orders.iter())
        .filter(|(name, _)| checked_out(name))
        .map(|(_, view)| view)
        .collect();
    let first = reads.first()?;
    if !reads.iter().all(|view| view.http_status == 404) {
        return None;
    }
    let shared = if jobs > 1 {
        format!(
            ". In a run of {jobs} jobs, apps that share one store, such as one SQLite file, lose orders the same way, since one job's `reset` request deletes another's orders: keep each job's orders apart, such as in a file named after the FAKESTRIPE_JOB variable, or run with --jobs 1 to tell the two causes apart"
        )
    } else {
        String::new()
    };
    Some(format!(
        "all {} order reads got 404 from the app, such as {}, so it may not serve orders at that path: check {} against the app's order route{shared}",
        reads.len(),
        first.request,
        first.request_source
    ))
}

/// Returns a hint when an order that the app reported earlier in the
/// scenario later got 404, in a run of more than one job. Each job resets
/// its app before each scenario, so apps that share one store, such as
/// one SQLite file, delete each other's orders.
fn orders_lost(
    orders: &BTreeMap<String, OrderRecord>,
    observations: &[Observation],
    jobs: usize,
) -> Option<String> {
    for (name, order) in orders {
        let mut found_at = None;
        for observation in observations {
            let Some(view) = observation.orders.get(name) else {
                continue;
            };
            if view.found {
                found_at = Some(&observation.moment);
            } else if let (Some(found_at), 404) = (found_at, view.http_status) {
                return Some(format!(
                    "the app reported order {name} ({}) {found_at}, but returned 404 for it {}. In a run of {jobs} jobs this most often means that the jobs' apps share one store, such as one SQLite file, so the `reset` request of one job deleted the orders of another. Keep each job's orders apart, such as in a database file named after the FAKESTRIPE_JOB variable, or run with --jobs 1",
                    order.app_id, observation.moment
                ));
            }
        }
    }
    None
}

/// Builds the command that runs one scenario again with the same seed.
pub fn replay_command(path: &std::path::Path, args: &ReplayArgs, seed: u64) -> String {
    let fake = args
        .fake
        .as_deref()
        .map(|url| format!(" --fake {}", shell_word(url)))
        .unwrap_or_default();
    format!(
        "{} run {} --app {}{fake} --seed {seed}",
        shell_word(&program_name()),
        shell_word(&path.display().to_string()),
        shell_word(&args.app)
    )
}

/// Returns the program for a replay command: `fakestripe` when it was
/// found on the PATH, or else the path it ran from. That path is relative
/// to the current folder when it is inside it, such as
/// `target/debug/fakestripe` after `cargo run`.
fn program_name() -> String {
    let ran = std::env::args_os().next().map(std::path::PathBuf::from);
    program_from(ran, &std::env::current_dir().unwrap_or_default())
}

/// Returns the program for a replay command from the path it ran as and
/// the current folder. A program right inside the current folder is
/// written `./name`, since a shell looks a bare name up on the PATH.
fn program_from(ran: Option<std::path::PathBuf>, current_dir: &std::path::Path) -> String {
    let Some(ran) = ran.filter(|path| path.components().count() > 1) else {
        return "fakestripe".to_owned();
    };
    let full = current_dir.join(&ran);
    match full.strip_prefix(current_dir) {
        Ok(inside) if inside.components().count() == 1 => format!("./{}", inside.display()),
        Ok(inside) => inside.display().to_string(),
        Err(_) => full.display().to_string(),
    }
}

fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_' | ':' | '=' | '+' | ',')
        });
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

fn harness_failure(message: String) -> Failure {
    Failure {
        kind: FailureKind::Harness,
        message,
        mismatches: Vec::new(),
    }
}

fn invariant_failure(violation: Violation) -> Failure {
    Failure {
        kind: FailureKind::Invariant {
            name: violation.invariant.name().to_owned(),
        },
        message: format!("{} ({})", violation.message, violation.invariant.rule()),
        mismatches: Vec::new(),
    }
}

impl ScenarioRun<'_> {
    async fn prepare(&mut self) -> Result<(), String> {
        let fake = &self.ctx.fake;
        self.ctx.app.reset().await?;
        // A fresh account state, keeping the endpoint whose secret the app
        // holds, so nothing an earlier scenario left due (a retry, a held
        // event, a settlement) reaches this one. Ids go on from the earlier
        // scenarios', so an app that keeps event ids gets new ones.
        fake.reset(true).await.map_err(|err| err.to_string())?;
        self.leftover_held = fake
            .held()
            .await
            .map_err(|err| err.to_string())?
            .into_iter()
            .map(|h| h.event_id)
            .collect();
        self.start_deliveries = fake
            .deliveries()
            .await
            .map_err(|err| err.to_string())?
            .len();
        // Reading the entries left by earlier scenarios moves the account's
        // last known sequence number past them.
        fake.trace_after(fake.last_seq())
            .await
            .map_err(|err| err.to_string())?;
        self.start_seq = fake.last_seq();
        self.seq = self.start_seq;
        self.start_time = fake.now().await.map_err(|err| err.to_string())?;
        self.start_recorded = true;
        if !self.faults.is_empty() {
            fake.set_faults(self.seed, &self.faults)
                .await
                .map_err(|err| format!("the fake rejected the scenario's fault plan: {err}"))?;
        }
        Ok(())
    }

    /// Reads the trace entries written since the last read.
    pub(crate) async fn sync_trace(&mut self) -> Result<(), String> {
        let entries = self
            .ctx
            .fake
            .trace_after(self.seq)
            .await
            .map_err(|err| err.to_string())?;
        for entry in entries {
            if entry.seq > self.seq {
                self.seq = entry.seq;
                self.trace.push(entry);
            }
        }
        Ok(())
    }

    /// Reads every order of the scenario from the app, then the trace, so
    /// the recorded sequence number covers everything the reads could
    /// reflect.
    async fn observe(&mut self, moment: Moment) -> Result<(), String> {
        use futures_util::StreamExt;
        // Eight reads at a time: a scenario with many orders reads them
        // all after every step.
        let app = &self.ctx.app;
        let order_ids: Vec<(String, String)> = self
            .orders
            .iter()
            .map(|(name, order)| (name.clone(), order.app_id.clone()))
            .collect();
        let orders: BTreeMap<String, _> = futures_util::stream::iter(order_ids)
            .map(|(name, app_id)| async move { (name, app.read_order(&app_id).await) })
            .buffered(8)
            .collect()
            .await;
        self.sync_trace().await?;
        let now = self.ctx.fake.now().await.map_err(|err| err.to_string())?;
        self.observations.push(Observation {
            moment,
            trace_seq: self.seq,
            now,
            orders,
        });
        Ok(())
    }

    /// Deliveries made since the scenario began.
    pub(crate) async fn deliveries(&self) -> Result<Vec<Delivery>, String> {
        let all = self
            .ctx
            .fake
            .deliveries()
            .await
            .map_err(|err| err.to_string())?;
        Ok(all.into_iter().skip(self.start_deliveries).collect())
    }

    /// Settles the clock, reads the truth and checks the invariants.
    async fn finish(&mut self, settle: bool) -> Result<(Vec<Violation>, Vec<Delivery>), String> {
        let fake = self.ctx.fake.clone();
        if settle && self.scenario.settle_seconds > 0 {
            fake.advance(self.scenario.settle_seconds)
                .await
                .map_err(|err| format!("settling the clock failed: {err}"))?;
        }
        if settle {
            self.observe(Moment::Settle).await?;
        }
        // Faults are off for the harness's own reads of the truth.
        fake.clear_faults().await.map_err(|err| err.to_string())?;
        self.faults_cleared = true;
        self.read_truth().await?;
        let deliveries = self.deliveries().await?;
        let record = self.record(deliveries.clone());
        Ok((invariants::check(&record, settle), deliveries))
    }

    /// Fills in each order's sessions from the fake's current state.
    async fn read_truth(&mut self) -> Result<(), String> {
        let names: Vec<String> = self.orders.keys().cloned().collect();
        for name in names {
            let order = &self.orders[&name];
            let mut sessions = Vec::new();
            for id in order.session_ids() {
                let attempt = order
                    .attempts
                    .iter()
                    .position(|a| a.session_id.as_deref() == Some(&id) || a.created.contains(&id))
                    .map_or(0, |i| i + 1);
                let object = match self.ctx.fake.session(&id).await {
                    Ok(object) => object,
                    // A session id the app made up or mangled is the app's
                    // problem, reported by the checks that use it.
                    Err(err) => {
                        tracing::debug!(%err, session = %id, "session not readable");
                        continue;
                    }
                };
                if let Some(warning) = self.unlisted_types_warning(&name, &id, &object) {
                    self.unlisted_types.push(warning);
                }
                sessions.push(self.session_truth(id, attempt, &object));
            }
            if let Some(order) = self.orders.get_mut(&name) {
                order.sessions = sessions;
            }
        }
        self.read_charge_intents().await;
        Ok(())
    }

    /// Reads the payment intent of each charge that an event of the
    /// scenario names, so that charge events count for the charge's order.
    async fn read_charge_intents(&mut self) {
        let charges: BTreeSet<String> = self
            .trace
            .iter()
            .filter(|entry| entry.kind == "event")
            .filter(|entry| {
                entry
                    .str_field("type")
                    .is_some_and(|t| t.starts_with("charge."))
            })
            .filter_map(|entry| entry.str_field("object").map(str::to_owned))
            .collect();
        for charge in charges {
            // The control API reads the stored object, so no fault applies.
            let object = match self.ctx.fake.object(&charge).await {
                Ok(object) => object,
                Err(err) => {
                    tracing::debug!(%err, %charge, "charge not readable");
                    continue;
                }
            };
            let payment_intent = match &object["payment_intent"] {
                Value::String(id) => Some(id.clone()),
                Value::Object(intent) => {
                    intent.get("id").and_then(Value::as_str).map(str::to_owned)
                }
                _ => None,
            };
            if let Some(payment_intent) = payment_intent {
                self.charge_intents.insert(charge, payment_intent);
            }
        }
    }

    /// Returns a warning when the session `object` of the order `order`
    /// offers a payment method type that the app file's
    /// `payment_method_types` does not list. Returns None when the file
    /// has no such list.
    fn unlisted_types_warning(&self, order: &str, id: &str, object: &Value) -> Option<String> {
        let config = self.ctx.app.config();
        if !config.payment_method_types_listed {
            return None;
        }
        let listed = config.payment_method_type_names();
        let unlisted: Vec<&str> = object["payment_method_types"]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .filter(|name| !listed.contains(name))
            .collect();
        if unlisted.is_empty() {
            return None;
        }
        Some(format!(
            "the app created session {id} for order {order} with the payment method type{} {}, which `payment_method_types` in {} does not list ({})",
            if unlisted.len() == 1 { "" } else { "s" },
            unlisted.join(", "),
            config.path.display(),
            listed.join(", ")
        ))
    }

    fn session_truth(&self, id: String, attempt: usize, object: &Value) -> SessionTruth {
        let payment_intent = match &object["payment_intent"] {
            Value::String(pi) => Some(pi.clone()),
            Value::Object(pi) => pi.get("id").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        let pi = payment_intent.as_deref();
        let paid_seq = self
            .trace
            .iter()
            .find(|entry| {
                let object_succeeded = entry.kind == "object"
                    && pi.is_some()
                    && entry.str_field("id") == pi
                    && entry.str_field("status") == Some("succeeded");
                let event_object = entry.str_field("object");
                let event_paid = entry.kind == "event"
                    && match entry.str_field("type") {
                        Some("payment_intent.succeeded") => pi.is_some() && event_object == pi,
                        Some("checkout.session.async_payment_succeeded") => {
                            event_object == Some(id.as_str())
                        }
                        _ => false,
                    };
                object_succeeded || event_paid
            })
            .map(|entry| entry.seq);
        let async_failed = self.trace.iter().any(|entry| {
            entry.kind == "event"
                && entry.str_field("type") == Some("checkout.session.async_payment_failed")
                && entry.str_field("object") == Some(id.as_str())
        });
        SessionTruth {
            status: object["status"].as_str().unwrap_or_default().to_owned(),
            payment_status: object["payment_status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            amount_total: object["amount_total"].as_i64(),
            currency: object["currency"].as_str().map(str::to_owned),
            payment_intent,
            paid_seq,
            async_failed,
            id,
            attempt,
        }
    }

    pub(crate) fn record(&self, deliveries: Vec<Delivery>) -> ScenarioRecord {
        let order = &self.ctx.app.config().order;
        ScenarioRecord {
            orders: self.orders.clone(),
            observations: self.observations.clone(),
            deliveries,
            trace: self.trace.clone(),
            harness_requests: self.ctx.fake.own_requests(),
            charge_intents: self.charge_intents.clone(),
            fields: AppFields {
                fulfilments: order.fulfilments.is_some(),
                session_id: order.session_id.is_some(),
                amount: order.amount.is_some(),
                currency: order.currency.is_some(),
                released: order.released.is_some(),
            },
        }
    }

    /// Returns the order record a resolved step acts on.
    pub(crate) fn order<'p>(
        &'p self,
        planned: &'p PlannedStep,
    ) -> Result<(&'p str, &'p OrderRecord), StepFailure> {
        let name = planned
            .order
            .as_deref()
            .ok_or_else(|| StepFailure::new("this step has no order"))?;
        let record = self
            .orders
            .get(name)
            .ok_or_else(|| StepFailure::new(format!("order {name} has not been checked out")))?;
        Ok((name, record))
    }

    /// Returns the id of the session a step acts on: of the given attempt,
    /// or the latest.
    fn session(&self, planned: &PlannedStep, attempt: Option<u32>) -> Result<String, StepFailure> {
        let (name, order) = self.order(planned)?;
        order.session_of(attempt).map(str::to_owned).ok_or_else(|| {
            let attempt_label = attempt.map_or_else(
                || "its latest checkout".to_owned(),
                |n| format!("checkout {n}"),
            );
            StepFailure::new(format!(
                "{name} has no session from {attempt_label}: the app returned no session id"
            ))
        })
    }

    /// Schedules one more delivery of each of the scenario's events that
    /// match one of `patterns`, to be sent by the next advance.
    async fn resend_matching(
        &mut self,
        patterns: &[crate::scenario::values::EventTypePattern],
    ) -> Result<(), StepFailure> {
        for pattern in patterns {
            for id in self.scenario_events(pattern).await? {
                self.ctx.fake.resend(&id, 1, false).await?;
            }
        }
        Ok(())
    }

    async fn step(&mut self, planned: &PlannedStep) -> Result<(), StepFailure> {
        let fake = self.ctx.fake.clone();
        match &planned.step {
            Step::Checkout(checkout) => self.checkout(checkout).await,
            Step::Pay(pay) => self.pay(planned, pay).await,
            Step::Cancel(session) => {
                let attempt = session.as_ref().and_then(|s| s.attempt.as_ref());
                let attempt = attempt.map(|a| a.value);
                let id = self.session(planned, attempt)?;
                // Embedded Checkout, and hosted Checkout created without
                // cancel_url, have no link back: the customer closes the
                // page, and nothing reaches the app.
                let url = fake.cancel(&id).await?;
                let name = planned.order.clone().unwrap_or_default();
                self.redirects.insert(name, url);
                Ok(())
            }
            Step::Redirect(redirect) => {
                let name = planned.order.clone().unwrap_or_default();
                let Some(url) = self.redirects.remove(&name) else {
                    return Err(StepFailure::new(format!(
                        "{name} has no pending redirect: a successful `pay` or a `cancel` must come first"
                    )));
                };
                let race = redirect.as_ref().and_then(|r| r.race.as_deref());
                let Some(url) = url else {
                    // The customer left without a page to return to, so the
                    // browser opens nothing; the raced events still go.
                    if redirect.as_ref().is_some_and(|r| r.expect_status.is_some()) {
                        return Err(StepFailure::new(format!(
                            "{name}'s session has no cancel_url, so after `cancel` the browser opens no page and `expect_status` has no response to check; leave it out, or give the session a cancel_url"
                        )));
                    }
                    if let Some(types) = race {
                        self.resend_matching(types).await?;
                        fake.advance(0).await?;
                    }
                    return Ok(());
                };
                let page = match race {
                    None => self.ctx.app.visit(&url).await.map_err(StepFailure::new)?,
                    Some(types) => {
                        // The resends are scheduled first, so the advance
                        // that sends them runs alongside the browser's
                        // request.
                        self.resend_matching(types).await?;
                        let (page, sent) = tokio::join!(self.ctx.app.visit(&url), fake.advance(0));
                        sent?;
                        page.map_err(StepFailure::new)?
                    }
                };
                let expected = redirect.as_ref().and_then(|r| r.expect_status);
                check_redirect_status(expected, page.http_status).map_err(|mismatch| StepFailure {
                    message: format!(
                        "the app responded to GET {} with {}: {}",
                        page.url, page.http_status, page.body_excerpt
                    ),
                    mismatches: vec![mismatch],
                })
            }
            Step::Expire(session) => {
                let attempt = session.as_ref().and_then(|s| s.attempt.as_ref());
                let attempt = attempt.map(|a| a.value);
                let id = self.session(planned, attempt)?;
                fake.expire(&id).await?;
                Ok(())
            }
            Step::Advance(duration) => Ok(fake.advance(duration.seconds()).await?),
            Step::Hold(hold) => {
                self.faults
                    .push(json!({ "kind": "hold", "types": hold.types }));
                fake.set_faults(self.seed, &self.faults).await?;
                Ok(())
            }
            Step::Release(release) => {
                let groups = self.held_groups(release.as_ref()).await?;
                let ids: Vec<String> = groups.into_iter().flatten().collect();
                fake.release(&ids).await?;
                Ok(())
            }
            Step::Deliver(release) => {
                for ids in self.held_groups(release.as_ref()).await? {
                    fake.release(&ids).await?;
                    fake.advance(0).await?;
                }
                Ok(())
            }
            Step::Resend(resend) => {
                let copies = resend.copies.unwrap_or(1);
                let concurrent = resend.concurrent.unwrap_or(false);
                for pattern in &resend.types {
                    for id in self.scenario_events(pattern).await? {
                        fake.resend(&id, copies, concurrent).await?;
                    }
                    fake.advance(0).await?;
                }
                Ok(())
            }
            Step::SetFaults(entries) => {
                self.faults = entries.iter().map(|entry| entry.value.to_json()).collect();
                if self.faults.is_empty() {
                    fake.clear_faults().await?;
                } else {
                    fake.set_faults(self.seed, &self.faults).await?;
                }
                Ok(())
            }
            Step::WaitUntil(wait) => self.wait_until(planned, wait).await,
            Step::Expect(check) => expect::check(self, planned, check).await,
        }
    }

    /// Returns the Checkout Sessions that the app's requests after trace
    /// sequence `before` created, in order and without repeats. The
    /// harness's own requests are left out.
    fn sessions_created_since(&self, before: u64) -> Vec<String> {
        let harness = self.ctx.fake.own_requests();
        self.trace
            .iter()
            .filter(|e| e.seq > before && e.kind == "request")
            .filter(|e| {
                !e.str_field("request_id")
                    .is_some_and(|id| harness.contains(id))
            })
            .filter(|e| {
                e.str_field("method") == Some("POST")
                    && e.str_field("path") == Some("/v1/checkout/sessions")
            })
            .flat_map(|e| e.detail["objects"].as_array().cloned().unwrap_or_default())
            .filter_map(|id| {
                id.as_str()
                    .filter(|id| id.starts_with("cs_"))
                    .map(str::to_owned)
            })
            .fold(Vec::new(), |mut ids, id| {
                if !ids.contains(&id) {
                    ids.push(id);
                }
                ids
            })
    }

    /// Fails the checkout when the session id the app returned, for a
    /// session it did not create through this account, is unknown to the
    /// account: the app then talks to another fake, or uses another key,
    /// than the ones the harness gave it.
    async fn check_session_in_account(&self, id: &str) -> Result<(), StepFailure> {
        match self.ctx.fake.object(id).await {
            Err(super::fake::FakeError::Api { status: 404, .. }) => {
                let advice = match &self.ctx.app.config().launch {
                    crate::app::Launch::Running { .. } => {
                        "An app given by `base_url` must read STRIPE_API_BASE and STRIPE_SECRET_KEY from its `env_file`, which the harness writes anew for each run, or be restarted after the harness wrote it"
                    }
                    crate::app::Launch::Start(_) => {
                        "Check that the app calls Stripe with the STRIPE_API_BASE and STRIPE_SECRET_KEY the harness set in its environment, not with values of its own"
                    }
                };
                Err(StepFailure::new(format!(
                    "the app returned the session id {id}, which this account of the fake does not have, and created no Checkout Session in it: the app used another fake, another secret key or a connected account. {advice}"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Runs a `checkout` step: sends the app's checkout request for the
    /// order, records the session it made, and checks its response.
    async fn checkout(&mut self, checkout: &CheckoutStep) -> Result<(), StepFailure> {
        let name = checkout.order.clone();
        let app_id = format!("{name}-{}", self.tag);
        let record = self
            .orders
            .entry(name.clone())
            .or_insert_with(|| OrderRecord {
                app_id,
                attempts: Vec::new(),
                sessions: Vec::new(),
            });
        let attempt = record.attempts.len() + 1;
        let vars = checkout_variables(checkout, &record.app_id, attempt);

        let before = self.seq;
        let answer = self
            .ctx
            .app
            .checkout(&vars)
            .await
            .map_err(StepFailure::new)?;
        self.sync_trace().await.map_err(StepFailure::new)?;
        let created = self.sessions_created_since(before);

        let session_id = answer
            .session_id
            .clone()
            .or_else(|| created.last().cloned());
        let created_none = created.is_empty();
        if let Some(record) = self.orders.get_mut(&name) {
            record.attempts.push(CheckoutAttempt {
                session_id: session_id.clone(),
                created,
                http_status: answer.http_status,
            });
        }

        self.redirects.remove(&name);
        let url_pointer = self.ctx.app.config().checkout.url.is_some();
        if let Err(mismatch) = check_checkout_status(
            checkout.expect_status,
            url_pointer,
            answer.http_status,
            answer.location.is_some(),
        ) {
            return Err(StepFailure {
                message: format!(
                    "the app responded to the checkout request for {name} with {}: {}",
                    answer.http_status, answer.body_excerpt
                ),
                mismatches: vec![mismatch],
            });
        }

        if (200..300).contains(&answer.http_status)
            && let Some(absent) = &answer.absent_pointers
        {
            return Err(StepFailure::new(format!(
                "{absent}. Correct the pointer, or leave it out so that the harness reads the session from the Checkout URL or takes the session the app created"
            )));
        }

        if (200..400).contains(&answer.http_status) && session_id.is_none() {
            let pointer = self
                .ctx
                .app
                .config()
                .checkout
                .session_id
                .as_ref()
                .map_or_else(|| "(not set)".to_owned(), |p| p.value.clone());
            let location = answer
                .location
                .as_deref()
                .map_or_else(String::new, |url| format!(" (Location: {url})"));
            return Err(StepFailure::new(format!(
                "the app responded with {}{location} but returned no session id (pointer {pointer}) and created no Checkout Session: {}",
                answer.http_status, answer.body_excerpt
            )));
        }

        if created_none
            && (200..400).contains(&answer.http_status)
            && let Some(id) = &session_id
        {
            self.check_session_in_account(id).await?;
        }

        if !url_pointer
            && (300..400).contains(&answer.http_status)
            && let (Some(location), Some(session_id)) = (&answer.location, session_id)
        {
            // A redirect elsewhere leaves the browser short of
            // Checkout, although the app created the session.
            let session = self.ctx.fake.object(&session_id).await?;
            if let Some(url) = session["url"].as_str()
                && location != url
            {
                return Err(StepFailure {
                    message: format!(
                        "the app redirected the checkout request for {name} to {location}, which is not the Checkout URL of its session {session_id}, so a browser would not reach Checkout"
                    ),
                    mismatches: vec![Mismatch {
                        subject: "Location".to_owned(),
                        expected: url.to_owned(),
                        actual: location.clone(),
                    }],
                });
            }
        }
        Ok(())
    }

    async fn pay(&mut self, planned: &PlannedStep, pay: &PayStep) -> Result<(), StepFailure> {
        let id = self.session(planned, pay.attempt.as_ref().map(|a| a.value))?;
        let method = pay.method.unwrap_or(PaymentMethod::Card);
        let mut body = json!({ "payment_method": method.as_str() });
        if method == PaymentMethod::Card {
            let card = pay
                .card
                .as_ref()
                .and_then(|card| card_number(card.value.as_str()))
                .unwrap_or_else(|| "4242424242424242".to_owned());
            body["card_number"] = json!(card);
        } else {
            body["outcome"] = json!(match pay.outcome.as_ref().map(|outcome| outcome.value) {
                Some(crate::scenario::model::AsyncOutcome::Failed) => "failed",
                _ => "succeeded",
            });
            if let Some(delay) = &pay.delay {
                body["delay_seconds"] = json!(delay.value.seconds());
            }
        }
        if let Some(email) = &pay.email {
            body["email"] = json!(email);
        }
        if let Some(name) = &pay.name {
            body["name"] = json!(name);
        }
        let answer = self.ctx.fake.pay(&id, body).await?;
        if let Some(url) = &answer.redirect_url {
            self.redirects
                .insert(planned.order.clone().unwrap_or_default(), Some(url.clone()));
        }
        if let Some(expected) = pay.expect
            && answer.result != expected.as_str()
        {
            let reason = answer
                .error
                .as_ref()
                .and_then(|e| e["message"].as_str())
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(StepFailure {
                message: format!("paying {id} returned `{}`{reason}", answer.result),
                mismatches: vec![Mismatch {
                    subject: "payment result".to_owned(),
                    expected: expected.as_str().to_owned(),
                    actual: answer.result.clone(),
                }],
            });
        }
        Ok(())
    }

    /// Returns the ids of the events created since the scenario began whose
    /// type matches `pattern`, oldest first. Fails when there is none.
    async fn scenario_events(&mut self, pattern: &str) -> Result<Vec<String>, StepFailure> {
        self.sync_trace().await.map_err(StepFailure::new)?;
        let events: Vec<(&str, &str)> = self
            .trace
            .iter()
            .filter(|entry| entry.kind == "event")
            .filter_map(|entry| Some((entry.str_field("event_id")?, entry.str_field("type")?)))
            .collect();
        let ids: Vec<String> = events
            .iter()
            .filter(|(_, event_type)| type_matches(pattern, event_type))
            .map(|(id, _)| (*id).to_owned())
            .collect();
        if ids.is_empty() {
            let mut types: Vec<&str> = events.iter().map(|(_, event_type)| *event_type).collect();
            types.dedup();
            let listing = if types.is_empty() {
                "none".to_owned()
            } else {
                types.join(", ")
            };
            return Err(StepFailure::new(format!(
                "no event of this scenario matches `{pattern}`; event types so far: {listing}"
            )));
        }
        Ok(ids)
    }

    /// Selects the held deliveries a release acts on, one group per type pattern in
    /// the order given, or one group of all of them.
    async fn held_groups(
        &self,
        release: Option<&ReleaseStep>,
    ) -> Result<Vec<Vec<String>>, StepFailure> {
        let held: Vec<_> = self
            .ctx
            .fake
            .held()
            .await?
            .into_iter()
            .filter(|h| !self.leftover_held.contains(&h.event_id))
            .collect();
        let Some(types) = release.and_then(|r| r.types.as_ref()) else {
            if held.is_empty() {
                return Err(StepFailure::new(
                    "no delivery is held; a `hold` step or a hold fault must come first",
                ));
            }
            return Ok(vec![held.into_iter().map(|h| h.event_id).collect()]);
        };
        let mut selected: HashSet<String> = HashSet::new();
        let mut groups = Vec::new();
        for pattern in types {
            let group: Vec<String> = held
                .iter()
                .filter(|h| type_matches(pattern, &h.event_type) && !selected.contains(&h.event_id))
                .map(|h| h.event_id.clone())
                .collect();
            if group.is_empty() {
                let held_types: Vec<String> = held
                    .iter()
                    .map(|h| format!("{} ({})", h.event_type, h.event_id))
                    .collect();
                let listing = if held_types.is_empty() {
                    "nothing".to_owned()
                } else {
                    held_types.join(", ")
                };
                return Err(StepFailure::new(format!(
                    "no held delivery matches `{pattern}`; held: {listing}"
                )));
            }
            selected.extend(group.iter().cloned());
            groups.push(group);
        }
        Ok(groups)
    }

    async fn wait_until(
        &mut self,
        planned: &PlannedStep,
        wait: &WaitUntilStep,
    ) -> Result<(), StepFailure> {
        let within = wait.within.as_ref().map_or(3_600, |d| d.value.seconds());
        let every = wait.every.as_ref().map_or(60, |d| d.value.seconds()).max(1);
        let mut waited = 0;
        let mut mismatches = expect::wait_condition(self, planned, wait).await?;
        while !mismatches.is_empty() && waited < within {
            let step = every.min(within - waited);
            self.ctx.fake.advance(step).await?;
            waited += step;
            mismatches = expect::wait_condition(self, planned, wait).await?;
        }
        // An app's background job may still apply what was delivered, so
        // the condition is checked again over real time, clock held still.
        let real_time = wait.real_time.as_ref().map_or(0, |d| d.value.seconds());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(real_time);
        while !mismatches.is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(REAL_TIME_CHECK_INTERVAL).await;
            mismatches = expect::wait_condition(self, planned, wait).await?;
        }
        if mismatches.is_empty() {
            return Ok(());
        }
        let within = crate::scenario::values::format_seconds(within);
        let message = match real_time {
            0 => format!("the condition did not hold within {within}"),
            _ => format!(
                "the condition did not hold within {within}, nor in {} of real time after it",
                crate::scenario::values::format_seconds(real_time)
            ),
        };
        Err(StepFailure {
            message,
            mismatches,
        })
    }
}

/// Checks the status of the app's response to a checkout request against
/// the step's `expect_status`. Without one, a 2xx passes, and so does a
/// 3xx with a `Location` header when fakestripe.yaml has no `checkout.url`
/// pointer, because the harness then reads the Checkout URL from that
/// header.
fn check_checkout_status(
    expect_status: Option<HttpStatus>,
    url_pointer: bool,
    status: u16,
    has_location: bool,
) -> Result<(), Mismatch> {
    let mismatch = |expected: String, actual: String| Mismatch {
        subject: "HTTP status".to_owned(),
        expected,
        actual,
    };
    if let Some(expected) = expect_status {
        return if expected.matches(status) {
            Ok(())
        } else {
            Err(mismatch(expected.to_string(), status.to_string()))
        };
    }
    if (200..300).contains(&status) {
        return Ok(());
    }
    if url_pointer {
        return Err(mismatch("2xx".to_owned(), status.to_string()));
    }
    let expected = "2xx, or 3xx with a Location header".to_owned();
    match (status / 100, has_location) {
        (3, true) => Ok(()),
        (3, false) => Err(mismatch(
            expected,
            format!("{status} without a Location header"),
        )),
        _ => Err(mismatch(expected, status.to_string())),
    }
}

/// Checks the status of the app's page at the end of a redirect against
/// the step's `expect_status`, or, without one, that it is below 400.
fn check_redirect_status(expect_status: Option<HttpStatus>, status: u16) -> Result<(), Mismatch> {
    let (ok, expected) = match expect_status {
        Some(expected) => (expected.matches(status), expected.to_string()),
        None => (status < 400, "below 400".to_owned()),
    };
    if ok {
        return Ok(());
    }
    Err(Mismatch {
        subject: "HTTP status".to_owned(),
        expected,
        actual: status.to_string(),
    })
}

/// Returns the variables of the app's checkout request for attempt
/// `attempt` of an order whose id in the app is `app_id`.
fn checkout_variables(checkout: &CheckoutStep, app_id: &str, attempt: usize) -> Variables {
    let items = match &checkout.items {
        Some(items) => {
            serde_json::to_value(items_json(&items.value)).unwrap_or_else(|_| default_items())
        }
        None => default_items(),
    };
    let mut vars = Variables::new();
    vars.set("order_id", Value::String(app_id.to_owned()))
        .set("items", items)
        .set(
            "currency",
            Value::String(
                checkout
                    .currency
                    .as_ref()
                    .map_or_else(|| "usd".to_owned(), |code| code.value.clone()),
            ),
        )
        .set(
            "email",
            checkout.email.clone().map_or(Value::Null, Value::String),
        )
        .set(
            "name",
            checkout.name.clone().map_or(Value::Null, Value::String),
        )
        .set(
            "metadata",
            serde_json::to_value(checkout.metadata.clone().unwrap_or_default()).unwrap_or_default(),
        )
        .set("attempt", json!(attempt));
    vars
}

/// Line items as the template's `items` variable.
fn items_json(items: &[Spanned<crate::scenario::model::Item>]) -> Vec<Value> {
    items
        .iter()
        .map(|item| &item.value)
        .map(|item| {
            let mut value = serde_json::Map::new();
            if let Some(price) = &item.price {
                value.insert("price".to_owned(), json!(price));
            }
            if let Some(name) = &item.name {
                value.insert("name".to_owned(), json!(name));
            }
            if let Some(amount) = &item.unit_amount {
                value.insert("unit_amount".to_owned(), json!(amount.value));
            }
            let quantity = item.quantity.as_ref().map_or(1, |q| q.value);
            value.insert("quantity".to_owned(), json!(quantity));
            Value::Object(value)
        })
        .collect()
}

/// Returns whether an event type matches a pattern, where `*` matches any run of
/// characters: `checkout.session.*` matches `checkout.session.completed`.
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    glob(pattern.as_bytes(), event_type.as_bytes(), true)
}

/// Matches `text` against `pattern` with `*` wildcards; with
/// `cross_slash` false, `*` does not match `/`.
///
/// The match takes time proportional to the product of the two lengths,
/// whatever the pattern, because it keeps one row of the table of prefix
/// matches. Trying each way to split the text among the `*`s would take
/// exponential time for a pattern of many `*`s, which a scenario file may
/// contain.
pub fn glob(pattern: &[u8], text: &[u8], cross_slash: bool) -> bool {
    // `matched[j]` is whether the pattern so far matches `text[..j]`.
    let mut matched = vec![false; text.len() + 1];
    matched[0] = true;
    for &p in pattern {
        let mut next = vec![false; text.len() + 1];
        if p == b'*' {
            next[0] = matched[0];
            for j in 1..=text.len() {
                let extends = next[j - 1] && (cross_slash || text[j - 1] != b'/');
                next[j] = matched[j] || extends;
            }
        } else {
            for j in 1..=text.len() {
                next[j] = matched[j - 1] && text[j - 1] == p;
            }
        }
        matched = next;
    }
    matched[text.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(status: Option<u16>, error: Option<&str>, forged: bool) -> Delivery {
        Delivery {
            event_id: "evt_1".to_owned(),
            event_type: "checkout.session.completed".to_owned(),
            endpoint: "we_1".to_owned(),
            url: "http://127.0.0.1:4000/webhooks".to_owned(),
            attempt: 1,
            sent_at: 0,
            status,
            error: error.map(str::to_owned),
            // The fake's default delivery timeout and a few milliseconds.
            latency_ms: if error.is_some() { 10_004 } else { 3 },
            response_body: String::new(),
            forged: forged.then(|| "wrong_secret".to_owned()),
            duplicate: false,
        }
    }

    #[test]
    fn timed_out_deliveries_hint_timeout() {
        let deliveries = [
            delivery(None, Some("timed out"), false),
            delivery(
                Some(200),
                Some("timed out reading the response body"),
                false,
            ),
            delivery(Some(400), None, true),
        ];
        let rejected = rejected_deliveries(&deliveries).expect("no genuine delivery succeeded");

        assert!(
            rejected
                .warning
                .ends_with("all 2 deliveries to http://127.0.0.1:4000/webhooks (timed out ×1, timed out reading the response body ×1)"),
            "{}",
            rejected.warning
        );
        assert!(
            rejected
                .hint
                .starts_with("all 2 webhook deliveries timed out"),
            "{}",
            rejected.hint
        );
        assert!(
            rejected
                .hint
                .contains("delivery timeout, 10 s (`fakestripe serve"),
            "{}",
            rejected.hint
        );
    }

    #[test]
    fn lost_and_forged_deliveries_not_rejected() {
        let deliveries = [
            delivery(None, Some("connection lost (webhook_drop fault)"), false),
            delivery(Some(400), None, true),
        ];
        assert!(rejected_deliveries(&deliveries).is_none());
        let mixed = [
            delivery(Some(500), None, false),
            delivery(Some(400), None, false),
        ];
        let rejected = rejected_deliveries(&mixed).expect("no genuine delivery succeeded");
        assert!(
            rejected.warning.ends_with("(400 ×1, 500 ×1)"),
            "{}",
            rejected.warning
        );
        assert!(
            rejected
                .hint
                .starts_with("the app answered no webhook delivery"),
            "{}",
            rejected.hint
        );
        let one_accepted = [
            delivery(Some(500), None, false),
            delivery(Some(200), None, false),
        ];
        assert!(rejected_deliveries(&one_accepted).is_none());
    }

    #[test]
    fn event_type_patterns() {
        assert!(type_matches(
            "checkout.session.*",
            "checkout.session.completed"
        ));
        assert!(type_matches("*", "payment_intent.succeeded"));
        assert!(!type_matches(
            "checkout.session.*",
            "payment_intent.succeeded"
        ));
        assert!(type_matches(
            "payment_intent.succeeded",
            "payment_intent.succeeded"
        ));
    }

    #[test]
    fn path_globs_stop_at_slash() {
        assert!(glob(
            b"/v1/checkout/sessions/*",
            b"/v1/checkout/sessions/cs_1",
            false
        ));
        assert!(!glob(
            b"/v1/checkout/sessions/*",
            b"/v1/checkout/sessions/cs_1/expire",
            false
        ));
    }

    #[test]
    fn glob_cases() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("", "", false, true),
            ("", "a", false, false),
            ("*", "", false, true),
            ("a*", "a", false, true),
            ("*b", "ab", false, true),
            ("a*c", "abbbc", false, true),
            ("a*c", "abbb", false, false),
            ("*.*", "charge.updated", true, true),
            ("/v1/*", "/v1/a/b", false, false),
            ("/v1/*", "/v1/a/b", true, true),
            ("/v1/*/b", "/v1/a/b", false, true),
            ("/v1/**", "/v1/a", false, true),
        ];
        for &(pattern, text, cross_slash, expected) in cases {
            assert_eq!(
                glob(pattern.as_bytes(), text.as_bytes(), cross_slash),
                expected,
                "glob({pattern:?}, {text:?}, {cross_slash})"
            );
        }
    }

    /// A search that tries every split of the text among 40 `*`s does not
    /// finish in any practical time.
    #[test]
    fn glob_many_stars_finishes() {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let pattern = format!("{}z", "*".repeat(40));
            let text = "payment_intent.amount_capturable_updated";
            let _ = sender.send(glob(pattern.as_bytes(), text.as_bytes(), true));
        });
        let matched = receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the match finishes within 10 seconds");
        assert!(!matched);
    }

    /// Returns the `expected` and `actual` texts of the checkout status
    /// check, or `None` when the status passes.
    fn checkout_mismatch(
        expect_status: Option<HttpStatus>,
        url_pointer: bool,
        status: u16,
        has_location: bool,
    ) -> Option<(String, String)> {
        check_checkout_status(expect_status, url_pointer, status, has_location)
            .err()
            .map(|mismatch| (mismatch.expected, mismatch.actual))
    }

    #[test]
    fn checkout_status_default_with_url_pointer() {
        assert_eq!(checkout_mismatch(None, true, 200, false), None);
        assert_eq!(
            checkout_mismatch(None, true, 303, true),
            Some(("2xx".to_owned(), "303".to_owned()))
        );
    }

    #[test]
    fn checkout_status_default_reading_location() {
        let expected = "2xx, or 3xx with a Location header".to_owned();
        assert_eq!(checkout_mismatch(None, false, 201, false), None);
        assert_eq!(checkout_mismatch(None, false, 303, true), None);
        assert_eq!(checkout_mismatch(None, false, 302, true), None);
        assert_eq!(
            checkout_mismatch(None, false, 303, false),
            Some((expected.clone(), "303 without a Location header".to_owned()))
        );
        assert_eq!(
            checkout_mismatch(None, false, 409, false),
            Some((expected, "409".to_owned()))
        );
    }

    #[test]
    fn checkout_status_given_overrides_default() {
        assert_eq!(
            checkout_mismatch(Some(HttpStatus::Class(2)), false, 303, true),
            Some(("2xx".to_owned(), "303".to_owned()))
        );
        assert_eq!(
            checkout_mismatch(Some(HttpStatus::Code(409)), true, 409, false),
            None
        );
        assert_eq!(
            checkout_mismatch(Some(HttpStatus::Code(303)), true, 303, true),
            None
        );
    }

    #[test]
    fn redirect_status_default_below_400() {
        assert!(check_redirect_status(None, 200).is_ok());
        assert!(check_redirect_status(None, 302).is_ok());
        let mismatch = check_redirect_status(None, 404).expect_err("404 fails the default");
        assert_eq!(mismatch.expected, "below 400");
        assert_eq!(mismatch.actual, "404");
    }

    #[test]
    fn redirect_status_given() {
        assert!(check_redirect_status(Some(HttpStatus::Code(404)), 404).is_ok());
        let mismatch =
            check_redirect_status(Some(HttpStatus::Class(2)), 302).expect_err("302 is not a 2xx");
        assert_eq!(mismatch.expected, "2xx");
        assert_eq!(mismatch.actual, "302");
    }

    #[test]
    fn replay_quotes_odd_paths() {
        let args = ReplayArgs {
            app: "fakestripe.yaml".to_owned(),
            fake: Some("http://127.0.0.1:12111".to_owned()),
        };
        let command = replay_command(std::path::Path::new("my scenarios/a.yaml"), &args, 7);
        // The test binary runs from a path, so the command names it.
        let (program, rest) = command.split_once(" run ").unwrap();
        assert!(program.ends_with(&shell_word(&program_name())), "{command}");
        assert_eq!(
            rest,
            "'my scenarios/a.yaml' --app fakestripe.yaml --fake http://127.0.0.1:12111 --seed 7"
        );
    }

    #[test]
    fn replay_program_runs_from_the_current_folder() {
        use std::path::{Path, PathBuf};
        let current = Path::new("/work/shop");
        let program = |ran: &str| program_from(Some(PathBuf::from(ran)), current);
        assert_eq!(program("./fakestripe-bin"), "./fakestripe-bin");
        assert_eq!(program("/work/shop/fakestripe-bin"), "./fakestripe-bin");
        assert_eq!(
            program("target/debug/fakestripe"),
            "target/debug/fakestripe"
        );
        assert_eq!(
            program("/usr/local/bin/fakestripe"),
            "/usr/local/bin/fakestripe"
        );
        assert_eq!(
            program_from(Some(PathBuf::from("fakestripe")), current),
            "fakestripe"
        );
        assert_eq!(program_from(None, current), "fakestripe");
    }
}
