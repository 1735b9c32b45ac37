//! The exploration loop. It starts the fake and the app and probes the
//! flows. Then it generates schedules with proptest from a seeded generator
//! and runs each as a scenario on a fresh account state. The first failure
//! is shrunk to the smallest schedule that still breaks the app the same
//! way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::flow::{Flow, FlowEvents, probe_all};
use super::schedule::{Action, Header, Rendered, render, strategy};
use crate::app::AppConfig;
use crate::report::events::{FailureKind, ScenarioResult};
use crate::runner::scenario::run_scenario;
use crate::runner::{self, RunOptions, StartError, WorkerContext};

/// Steps whose failure is the app's, because it responded to the checkout
/// or to the browser's return with an error. Any other step failing means the
/// schedule did not run as rendered, which is the fuzzer's problem.
const APP_STEPS: &[&str] = &["checkout", "redirect"];

/// Settings of one fuzz run.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// The flows to explore; cases go round them in turn.
    pub flows: Vec<Flow>,
    /// Cases to run when none fails.
    pub cases: u32,
    /// Seed of the schedule generator.
    pub seed: u64,
    /// Maximum actions in one generated schedule.
    pub max_actions: usize,
    /// Real time after which shrinking stops with the smallest schedule
    /// found so far.
    pub max_shrink_time: Duration,
    /// Scenario file for the failing schedule.
    pub out: PathBuf,
    /// The app file's path as replay commands show it.
    pub app_arg: String,
    /// A fake that already runs; without one, the fuzzer starts its own.
    pub fake_url: Option<String>,
}

/// A report of the fuzzer's progress while it runs.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A flow runs against the app and creates these events.
    FlowReady(&'a FlowEvents),
    /// A flow's customer steps failed against the app, so it is left out.
    FlowSkipped {
        flow: Flow,
        reason: &'a str,
    },
    /// A flow pays with a payment method type that the app file's
    /// `payment_method_types` does not list, so it is left out unprobed.
    FlowNotOffered {
        flow: Flow,
        reason: &'a str,
    },
    CaseFinished {
        case: u32,
        flow: Flow,
        failed: bool,
    },
    /// A case failed; shrinking starts.
    Shrinking {
        case: u32,
        flow: Flow,
        failure: &'a str,
        schedule: &'a Rendered,
    },
    /// One shrink candidate ran.
    ShrinkRun {
        runs: u32,
        actions: usize,
        reproduced: bool,
    },
    /// Something that does not stop the run but deserves a look.
    Warning(&'a str),
}

/// The result of a fuzz run.
#[derive(Debug)]
pub struct FuzzOutcome {
    pub seed: u64,
    /// Generated cases that ran; shrink runs are not counted.
    pub cases_run: u32,
    /// Real time spent running generated cases, without starting the app,
    /// probing and shrinking.
    pub cases_duration: Duration,
    pub flows: Vec<FlowEvents>,
    /// Flows left out, with the reason.
    pub skipped: Vec<(Flow, String)>,
    pub failure: Option<Found>,
    /// A stop request ended the run early.
    pub interrupted: bool,
    /// The generated case that a stop at once ended before it finished.
    pub stopped_case: Option<u32>,
    /// A message naming how the app that the fuzzer started exited during
    /// the run, with the app's last output. The run ended there, and no
    /// case counts the exit as a failure.
    pub app_exit: Option<String>,
    /// A message naming the cause when the fake stopped responding during
    /// the run. The run ended there too.
    pub fake_lost: Option<String>,
}

impl FuzzOutcome {
    /// Returns why the run was cut short by the app or the fake, if it was.
    pub fn cut_short(&self) -> Option<&String> {
        self.app_exit.as_ref().or(self.fake_lost.as_ref())
    }

    /// Returns the outcome of a run stopped before its first case.
    fn stopped_early(seed: u64) -> FuzzOutcome {
        FuzzOutcome {
            seed,
            cases_run: 0,
            cases_duration: Duration::ZERO,
            flows: Vec::new(),
            skipped: Vec::new(),
            failure: None,
            interrupted: true,
            stopped_case: None,
            app_exit: None,
            fake_lost: None,
        }
    }

    /// Returns the outcome of a run that ended before its first case
    /// because the app exited.
    fn app_exited_early(seed: u64, message: String) -> FuzzOutcome {
        FuzzOutcome {
            interrupted: false,
            app_exit: Some(message),
            ..FuzzOutcome::stopped_early(seed)
        }
    }
}

/// Requests to end a fuzz run early, shared between the run and the code
/// that receives signals.
#[derive(Debug)]
pub struct Stop {
    /// Set by both requests. The run starts no case or shrink run after it.
    requested: AtomicBool,
    /// True once the run is to stop at once, abandoning the running case.
    now: tokio::sync::watch::Sender<bool>,
    /// True once the app runs and the flows are probed, so that a case
    /// may be running.
    cases_begun: AtomicBool,
}

impl Stop {
    pub fn new() -> Stop {
        Stop {
            requested: AtomicBool::new(false),
            now: tokio::sync::watch::Sender::new(false),
            cases_begun: AtomicBool::new(false),
        }
    }

    /// Records that the run starts its cases.
    fn begin_cases(&self) {
        self.cases_begun.store(true, Ordering::SeqCst);
    }

    /// Returns whether the run has started its cases. Before then, the app
    /// starts or the flows are probed, and no case could finish first.
    pub fn cases_begun(&self) -> bool {
        self.cases_begun.load(Ordering::SeqCst)
    }

    /// Requests a stop after the running case or shrink run.
    pub fn after_case(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    /// Requests a stop at once. The running case or shrink run is
    /// abandoned, and the run reports what it found so far.
    pub fn now(&self) {
        self.after_case();
        self.now.send_replace(true);
    }

    /// Returns whether either stop was requested.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Waits until a stop at once is requested, and returns at once if it
    /// already was.
    async fn wait_now(&self) {
        let mut now = self.now.subscribe();
        // `wait_for` fails only when the sender is dropped, and `self`
        // owns it.
        let _ = now.wait_for(|&now| now).await;
    }
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

/// A failing schedule, shrunk.
#[derive(Debug)]
pub struct Found {
    /// The generated case that failed first, counted from 1.
    pub case: u32,
    pub flow: Flow,
    /// `invariant NAME` or `step NAME`: what broke.
    pub failure: String,
    /// The schedule as generated.
    pub original: Rendered,
    /// The smallest schedule that failed the same way.
    pub minimal: Rendered,
    /// Candidates run while shrinking.
    pub shrink_runs: u32,
    pub shrink_time: Duration,
    /// A stop request or the app's exit ended shrinking before every
    /// simpler candidate ran.
    pub shrink_stopped: bool,
    /// The run of the minimal schedule.
    pub result: ScenarioResult,
    /// The scenario file written for the minimal schedule.
    pub path: PathBuf,
    /// The reason `path` could not be written. Then `minimal.text` is the
    /// only copy of the scenario.
    pub write_error: Option<String>,
    /// Whether running the written file once more failed the same way;
    /// `None` when a stop request or the app's exit came before the check
    /// or ended it.
    pub replayed: Option<bool>,
}

/// The reason a fuzz run stopped without a verdict on the app.
#[derive(Debug, thiserror::Error)]
pub enum FuzzError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("no flow runs against the app:\n{}", .0.iter().map(|(flow, reason)| format!("  {flow}: {reason}")).collect::<Vec<_>>().join("\n"))]
    NoFlow(Vec<(Flow, String)>),
    #[error("case {case} could not run: {message}\nits scenario:\n{scenario}")]
    CaseNotRun {
        case: u32,
        message: String,
        scenario: String,
    },
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
    #[error("{0}")]
    Internal(String),
}

/// Suffixes that make every case's order ids unique, for apps that keep
/// orders from earlier cases.
#[derive(Debug)]
pub struct Tags {
    prefix: String,
    next: AtomicU64,
}

impl Tags {
    pub fn new() -> Tags {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut value = (nanos % 1_679_616) as u32;
        let mut prefix = String::from("f");
        for _ in 0..4 {
            prefix.push(char::from_digit(value % 36, 36).unwrap_or('0'));
            value /= 36;
        }
        prefix.push('-');
        Tags {
            prefix,
            next: AtomicU64::new(1),
        }
    }

    pub fn next(&self) -> String {
        format!(
            "{}{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

impl Default for Tags {
    fn default() -> Self {
        Tags::new()
    }
}

/// Mixes a 64-bit value (SplitMix64's finaliser), to derive independent
/// seeds from one.
pub fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The largest fault-plan seed the fuzzer derives: 2^53 - 1, the largest
/// integer that a JavaScript number (an IEEE 754 double) represents
/// exactly, so a JavaScript client reads `GET /_fakestripe/faults` back
/// unchanged.
pub const MAX_PLAN_SEED: u64 = (1 << 53) - 1;

/// Derives the fault-plan seed of scenario run `run` from the fuzz seed.
/// Run 0 is the probe of the flows, and cases and shrink runs count from 1.
pub fn plan_seed(fuzz_seed: u64, run: u64) -> u64 {
    mix(fuzz_seed ^ run.rotate_left(32)) & MAX_PLAN_SEED
}

/// Builds the schedule generator's random number generator from the seed.
fn seeded_rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    let mut state = seed;
    for chunk in bytes.chunks_mut(8) {
        state = mix(state);
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Builds the header of a generated case's scenario.
fn case_header(flow: Flow, case: u32, seed: u64) -> Header {
    Header {
        comment: "A fuzz case.".to_owned(),
        name: format!("{flow} flow, fuzz case {case}"),
        description: "A schedule generated by fakestripe fuzz.".to_owned(),
        seed,
    }
}

/// Builds the description of the scenario file written for a shrunk
/// failure. A schedule shrunk to no action sends the events in the order
/// the fake created them, so the description then states that the failure
/// needs no reordering.
fn describe_failure(
    fuzz_seed: u64,
    case: u32,
    flow: Flow,
    failure: &str,
    from: usize,
    to: usize,
) -> String {
    let found = format!(
        "Found by fakestripe fuzz with seed {fuzz_seed}: case {case} of the {flow} flow broke {failure}"
    );
    if to == 0 {
        return format!(
            "{found}, and shrinking removed all {from} actions of its schedule. The failure needs no \
             reordering: the app fails on the plain flow. Every event is held from the first step. \
             After the customer's steps, the clock moves on until every event of the flow exists, \
             the events are delivered in the order the fake created them, the faults end, and the \
             clock settles."
        );
    }
    format!(
        "{found}, and shrinking reduced its schedule from {from} to {to} actions. Every event is held \
         from the first step. After the customer's steps, the steps below send the events in \
         the order that broke the app. Then the events still held are delivered in \
         the order the fake created them, the faults end, and the clock settles."
    )
}

/// The progress of shrinking one failure.
struct Shrinking {
    /// The failure every candidate must reproduce.
    failure: String,
    /// Whether each case run so far, by its rendered key, reproduced it.
    known: HashMap<String, bool>,
    /// The smallest schedule that reproduced it, and its run.
    best: (Rendered, ScenarioResult),
    /// Every run that reproduced it, by rendered key.
    reproductions: HashMap<String, (Rendered, ScenarioResult)>,
    runs: u32,
}

/// The outcome of one case.
enum CaseOutcome {
    Passed,
    Failed {
        /// The first failure: `invariant NAME` or `step NAME`.
        failure: String,
        /// Everything that broke, in the same words.
        failures: Vec<String>,
        result: Box<ScenarioResult>,
    },
    /// The schedule did not run as rendered: the fake, the harness or the
    /// fuzzer's model of the flow failed.
    NotRun(String),
    /// A stop at once ended the run before it finished.
    Stopped,
    /// The app that the fuzzer started exited before the case ended, so
    /// the result does not reflect the schedule. The text is how the app
    /// ended, such as `exit code 1`.
    AppExited(String),
    /// The fake stopped responding, so the result does not reflect the
    /// schedule either. The text is the cause.
    FakeLost(String),
}

fn classify(result: ScenarioResult) -> CaseOutcome {
    for failure in &result.failures {
        match &failure.kind {
            FailureKind::Harness => return CaseOutcome::NotRun(failure.message.clone()),
            FailureKind::Step { name, .. } if !APP_STEPS.contains(&name.as_str()) => {
                return CaseOutcome::NotRun(format!("{}: {}", failure.title(), failure.message));
            }
            _ => {}
        }
    }
    let failures: Vec<String> = result
        .failures
        .iter()
        .map(|failure| match &failure.kind {
            FailureKind::Invariant { name } => format!("invariant {name}"),
            FailureKind::Step { name, .. } => format!("step {name}"),
            FailureKind::Harness => "harness".to_owned(),
        })
        .collect();
    let Some(failure) = failures.first().cloned() else {
        return CaseOutcome::Passed;
    };
    CaseOutcome::Failed {
        failure,
        failures,
        result: Box::new(result),
    }
}

/// Checks that the scenario file of a failure can be written at `path`,
/// as [`crate::report::check_writable`] does, leaving an existing file
/// unchanged.
pub fn check_out(path: &Path) -> Result<(), FuzzError> {
    crate::report::check_writable(path).map_err(|message| FuzzError::Write {
        path: path.display().to_string(),
        message,
    })
}

/// Starts the fake and the app, explores, and stops them. `progress`
/// receives each flow, case and shrink run. After a request on `stop` the
/// run returns what it found so far: the cases that finished, and a failure
/// shrunk as far as it got, written to `options.out` but not replayed.
pub async fn fuzz(
    app: Arc<AppConfig>,
    options: &FuzzOptions,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
    stop: &Stop,
) -> Result<FuzzOutcome, FuzzError> {
    let run_options = RunOptions {
        jobs: 1,
        seed: None,
        fail_fast: false,
        fake_url: options.fake_url.clone(),
        app_arg: options.app_arg.clone(),
    };
    let started = tokio::select! {
        started = runner::start(app, &run_options, 1) => started?,
        // Dropping the start kills the process group of the app, if it
        // began, and stops the fake.
        () = stop.wait_now() => return Ok(FuzzOutcome::stopped_early(options.seed)),
    };
    let outcome = match started.contexts().into_iter().next() {
        Some(ctx) => {
            let mut explorer = Explorer {
                ctx,
                options,
                stop,
                tags: Arc::new(Tags::new()),
                retry_schedule: fakestripe_server::config::DEFAULT_RETRY_SCHEDULE
                    .iter()
                    .map(|&s| s.max(0) as u64)
                    .collect(),
                runs: 0,
                app_exit: None,
                fake_lost: None,
            };
            explorer.explore(progress).await
        }
        None => Err(FuzzError::Internal("no app was started".to_owned())),
    };
    started.stop().await;
    outcome
}

/// The state of one fuzz run.
struct Explorer<'a> {
    ctx: WorkerContext,
    options: &'a FuzzOptions,
    stop: &'a Stop,
    tags: Arc<Tags>,
    /// The fake's delays before each retry, in seconds.
    // NOTE: a fake given with --fake may use another retry schedule. Then
    // a lost attempt's retry comes later than the schedule advances, and
    // arrives while the clock settles instead.
    retry_schedule: Vec<u64>,
    /// Scenario runs so far, shrink runs included; each gets its own
    /// fault-plan seed, so the fake's ids differ between cases.
    runs: u64,
    /// The message naming how the app exited, with its last output, once a
    /// run saw it exit.
    app_exit: Option<String>,
    /// The message naming why the fake stopped responding, once a run saw
    /// it stop.
    fake_lost: Option<String>,
}

impl Explorer<'_> {
    async fn explore(
        &mut self,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<FuzzOutcome, FuzzError> {
        let seed = self.options.seed;
        let app = self.ctx.app.config();
        let mut offered = Vec::new();
        let mut not_offered = Vec::new();
        for &flow in &self.options.flows {
            match app.unoffered_payment_method_types(&[flow.payment_method()]) {
                Some(reason) => not_offered.push((flow, reason)),
                None => offered.push(flow),
            }
        }
        for (flow, reason) in &not_offered {
            progress(Progress::FlowNotOffered {
                flow: *flow,
                reason,
            });
        }
        let (flows, mut skipped) = tokio::select! {
            probed = probe_all(&self.ctx, &offered, plan_seed(seed, 0), &self.tags) => probed,
            () = self.stop.wait_now() => return Ok(FuzzOutcome::stopped_early(seed)),
        };
        // Every flow fails against an app that exited, so the reasons to
        // leave flows out would mislead.
        if let Some(status) = self.ctx.app_exit(!skipped.is_empty()).await {
            let message = format!("the app exited ({status}) while the flows were probed");
            return Ok(FuzzOutcome::app_exited_early(
                seed,
                self.ctx.with_output(message),
            ));
        }
        // So does every flow against a fake that stopped responding.
        if !skipped.is_empty()
            && let Some(reason) = self.ctx.fake_unreachable().await
        {
            return Ok(FuzzOutcome {
                interrupted: false,
                fake_lost: Some(format!(
                    "the fake stopped responding while the flows were probed: {reason}"
                )),
                ..FuzzOutcome::stopped_early(seed)
            });
        }
        for (flow, reason) in &skipped {
            progress(Progress::FlowSkipped {
                flow: *flow,
                reason,
            });
        }
        for flow in &flows {
            progress(Progress::FlowReady(flow));
        }
        skipped.extend(not_offered);
        if flows.is_empty() {
            return Err(FuzzError::NoFlow(skipped));
        }
        let strategies: Vec<BoxedStrategy<Vec<Action>>> = flows
            .iter()
            .map(|f| {
                strategy(
                    f.types.len(),
                    f.flow.races_redirect(),
                    self.options.max_actions,
                )
            })
            .collect();
        let config = Config {
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, seeded_rng(seed));

        let mut outcome = FuzzOutcome {
            seed,
            cases_run: 0,
            cases_duration: Duration::ZERO,
            flows: flows.clone(),
            skipped,
            failure: None,
            interrupted: false,
            stopped_case: None,
            app_exit: None,
            fake_lost: None,
        };
        let began = Instant::now();
        self.stop.begin_cases();
        for case in 1..=self.options.cases {
            if self.stop.is_requested() {
                outcome.interrupted = true;
                break;
            }
            if let Some(status) = self.ctx.app_exit(false).await {
                let message = format!("the app exited ({status}) before case {case}");
                outcome.app_exit = Some(self.ctx.with_output(message));
                break;
            }
            let index = (case as usize - 1) % flows.len();
            let flow = &flows[index];
            let mut tree = strategies[index].new_tree(&mut runner).map_err(|reason| {
                FuzzError::Internal(format!("generating case {case}: {reason}"))
            })?;
            let actions = tree.current();
            let (rendered, run) = self.run(flow, &actions, case).await;
            if !matches!(
                run,
                CaseOutcome::Stopped | CaseOutcome::AppExited(_) | CaseOutcome::FakeLost(_)
            ) {
                outcome.cases_run = case;
            }
            match run {
                CaseOutcome::Passed => progress(Progress::CaseFinished {
                    case,
                    flow: flow.flow,
                    failed: false,
                }),
                CaseOutcome::Stopped => {
                    outcome.interrupted = true;
                    outcome.stopped_case = Some(case);
                    break;
                }
                CaseOutcome::AppExited(status) => {
                    let message = format!("the app exited ({status}) while case {case} ran");
                    outcome.app_exit = Some(self.ctx.with_output(message));
                    break;
                }
                CaseOutcome::FakeLost(reason) => {
                    outcome.fake_lost = Some(format!(
                        "the fake stopped responding while case {case} ran: {reason}"
                    ));
                    break;
                }
                CaseOutcome::NotRun(message) => {
                    return Err(FuzzError::CaseNotRun {
                        case,
                        message,
                        scenario: rendered.text,
                    });
                }
                CaseOutcome::Failed {
                    failure, result, ..
                } => {
                    outcome.cases_duration = began.elapsed();
                    progress(Progress::CaseFinished {
                        case,
                        flow: flow.flow,
                        failed: true,
                    });
                    progress(Progress::Shrinking {
                        case,
                        flow: flow.flow,
                        failure: &failure,
                        schedule: &rendered,
                    });
                    let found = self
                        .shrink(flow, case, &mut tree, failure, rendered, *result, progress)
                        .await?;
                    outcome.interrupted = self.stop.is_requested();
                    outcome.app_exit = self.app_exit.take();
                    outcome.fake_lost = self.fake_lost.take();
                    outcome.failure = Some(found);
                    return Ok(outcome);
                }
            }
        }
        outcome.cases_duration = began.elapsed();
        Ok(outcome)
    }

    /// Renders a schedule with the next run's seed, and runs it on a fresh
    /// account state.
    async fn run(
        &mut self,
        flow: &FlowEvents,
        actions: &[Action],
        case: u32,
    ) -> (Rendered, CaseOutcome) {
        self.runs += 1;
        let seed = plan_seed(self.options.seed, self.runs);
        let header = case_header(flow.flow, case, seed);
        let rendered = render(flow, actions, &header, &self.retry_schedule);
        let outcome = self.run_text(&rendered.text).await;
        (rendered, outcome)
    }

    /// Runs a rendered scenario on a fresh account state, unless a stop at
    /// once ends it first.
    async fn run_text(&self, text: &str) -> CaseOutcome {
        tokio::select! {
            outcome = self.run_text_to_end(text) => outcome,
            () = self.stop.wait_now() => CaseOutcome::Stopped,
        }
    }

    async fn run_text_to_end(&self, text: &str) -> CaseOutcome {
        let outcome = self.run_on_fake(text).await;
        if matches!(outcome, CaseOutcome::NotRun(_) | CaseOutcome::Failed { .. })
            && let Some(reason) = self.ctx.fake_unreachable().await
        {
            return CaseOutcome::FakeLost(reason);
        }
        outcome
    }

    async fn run_on_fake(&self, text: &str) -> CaseOutcome {
        if let Err(err) = self.ctx.fake.reset(true).await {
            return CaseOutcome::NotRun(format!("resetting the account failed: {err}"));
        }
        let scenario = match crate::scenario::parse(&self.options.out, text) {
            Ok(scenario) => scenario,
            Err(errors) => {
                let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                return CaseOutcome::NotRun(format!(
                    "the rendered scenario is invalid (a fuzzer bug): {}",
                    messages.join("; ")
                ));
            }
        };
        let result = run_scenario(&scenario, scenario.seed, &self.ctx, self.tags.next()).await;
        // An app that died fails the case, so a failed case waits a moment
        // for its exit status.
        if let Some(status) = self.ctx.app_exit(!result.passed()).await {
            return CaseOutcome::AppExited(status);
        }
        classify(result)
    }

    /// Shrinks a failing case. First proptest simplifies the schedule step
    /// by step: it deletes actions and simplifies the rest, and each
    /// candidate that still fails the same way becomes the new smallest.
    /// Proptest (1.12, `VecValueTree`) deletes each action at most once, in
    /// order, so a second pass then tries deleting each remaining action
    /// again until none can go. Both stop at `--max-shrink-time`, at a stop
    /// request, or when the app exits.
    #[allow(clippy::too_many_arguments)]
    async fn shrink(
        &mut self,
        flow: &FlowEvents,
        case: u32,
        tree: &mut Box<dyn ValueTree<Value = Vec<Action>>>,
        failure: String,
        original: Rendered,
        result: ScenarioResult,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<Found, FuzzError> {
        let began = Instant::now();
        let deadline = began + self.options.max_shrink_time;
        let mut state = Shrinking {
            failure: failure.clone(),
            known: HashMap::from([(original.key.clone(), true)]),
            reproductions: HashMap::from([(
                original.key.clone(),
                (original.clone(), result.clone()),
            )]),
            best: (original.clone(), result),
            runs: 0,
        };
        if tree.simplify() {
            while !self.shrink_ends(deadline) {
                let candidate = tree.current();
                let reproduced = self
                    .try_candidate(flow, case, &candidate, &mut state, progress)
                    .await;
                let more = if reproduced {
                    tree.simplify()
                } else {
                    tree.complicate()
                };
                if !more {
                    break;
                }
            }
        }
        'deleting: while !self.shrink_ends(deadline) {
            let smallest = state.best.0.effective.clone();
            for index in 0..smallest.len() {
                if self.shrink_ends(deadline) {
                    break 'deleting;
                }
                let mut candidate = smallest.clone();
                candidate.remove(index);
                let reproduced = self
                    .try_candidate(flow, case, &candidate, &mut state, progress)
                    .await;
                if reproduced && state.best.0.effective.len() < smallest.len() {
                    continue 'deleting;
                }
            }
            break;
        }
        let shrink_time = began.elapsed();
        let shrink_stopped = self.stop.is_requested() || self.is_cut_short();

        let (smallest, smallest_result) = state.best;
        let runs = state.runs;
        let path = self.options.out.clone();
        let seed = smallest.seed;
        let header = Header {
            comment: format!(
                "Written by fakestripe fuzz --seed {}. Replay: {}",
                self.options.seed,
                crate::runner::scenario::replay_command(
                    &path,
                    &crate::runner::scenario::ReplayArgs {
                        app: self.options.app_arg.clone(),
                        fake: self.options.fake_url.clone(),
                    },
                    seed,
                )
            ),
            name: format!(
                "{} flow: {} (fuzz seed {})",
                flow.flow, failure, self.options.seed
            ),
            description: describe_failure(
                self.options.seed,
                case,
                flow.flow,
                &failure,
                original.effective.len(),
                smallest.effective.len(),
            ),
            seed,
        };
        let minimal = render(flow, &smallest.effective, &header, &self.retry_schedule);
        debug_assert_eq!(minimal.key, smallest.key);
        // A failed write is reported with the scenario's text, which the
        // caller prints, so minutes of shrinking are not lost.
        let write_error = std::fs::write(&path, &minimal.text)
            .err()
            .map(|err| err.to_string());

        // The written file runs once more, as `fakestripe run` would, to
        // show whether the failure reproduces.
        let (replayed, result) = if self.stop.is_requested() || self.is_cut_short() {
            (None, smallest_result)
        } else {
            match self.run_text(&minimal.text).await {
                CaseOutcome::Failed {
                    failures, result, ..
                } if failures.contains(&failure) => (Some(true), *result),
                CaseOutcome::Stopped => (None, smallest_result),
                CaseOutcome::AppExited(status) => {
                    let message =
                        format!("the app exited ({status}) while the written scenario ran again");
                    self.app_exit = Some(self.ctx.with_output(message));
                    (None, smallest_result)
                }
                CaseOutcome::FakeLost(reason) => {
                    self.fake_lost = Some(format!(
                        "the fake stopped responding while the written scenario ran again: {reason}"
                    ));
                    (None, smallest_result)
                }
                _ => (Some(false), smallest_result),
            }
        };
        Ok(Found {
            case,
            flow: flow.flow,
            failure,
            original,
            minimal,
            shrink_runs: runs,
            shrink_time,
            shrink_stopped,
            result,
            path,
            write_error,
            replayed,
        })
    }

    /// Runs a shrink candidate, unless it renders like a case already run.
    /// Returns whether it failed the same way. If it did, it becomes the
    /// smallest schedule so far.
    async fn try_candidate(
        &mut self,
        flow: &FlowEvents,
        case: u32,
        candidate: &[Action],
        state: &mut Shrinking,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> bool {
        let key = self.render_key(flow, candidate);
        if let Some(&reproduced) = state.known.get(&key) {
            // The same case may come from fewer actions, such as an advance
            // that the action after it would make anyway.
            if let Some((run, result)) = state.reproductions.get(&key).filter(|_| reproduced) {
                let header = case_header(flow.flow, case, run.seed);
                let rendered = render(flow, candidate, &header, &self.retry_schedule);
                if rendered.effective.len() <= state.best.0.effective.len() {
                    state.best = (rendered, result.clone());
                }
            }
            return reproduced;
        }
        let (rendered, outcome) = self.run(flow, candidate, case).await;
        if matches!(outcome, CaseOutcome::Stopped) {
            // The candidate stays unknown, because it did not finish.
            return false;
        }
        if let CaseOutcome::AppExited(status) = outcome {
            let message =
                format!("the app exited ({status}) while shrinking the failure of case {case}");
            self.app_exit = Some(self.ctx.with_output(message));
            return false;
        }
        if let CaseOutcome::FakeLost(reason) = outcome {
            self.fake_lost = Some(format!(
                "the fake stopped responding while shrinking the failure of case {case}: {reason}"
            ));
            return false;
        }
        state.runs += 1;
        let reproduced = match outcome {
            CaseOutcome::Failed {
                failures, result, ..
            } if failures.contains(&state.failure) => {
                state.best = (rendered.clone(), *result);
                state
                    .reproductions
                    .insert(rendered.key.clone(), state.best.clone());
                true
            }
            CaseOutcome::NotRun(message) => {
                let warning =
                    format!("a shrink candidate could not run, so it counts as passing: {message}");
                progress(Progress::Warning(&warning));
                false
            }
            _ => false,
        };
        state.known.insert(rendered.key.clone(), reproduced);
        progress(Progress::ShrinkRun {
            runs: state.runs,
            actions: rendered.effective.len(),
            reproduced,
        });
        reproduced
    }

    /// Returns whether shrinking must end: at `deadline`, at a stop request,
    /// or once the app exited or the fake stopped responding.
    fn shrink_ends(&self, deadline: Instant) -> bool {
        Instant::now() >= deadline || self.stop.is_requested() || self.is_cut_short()
    }

    /// Returns whether the app exited or the fake stopped responding.
    fn is_cut_short(&self) -> bool {
        self.app_exit.is_some() || self.fake_lost.is_some()
    }

    /// Returns the key of a candidate's rendering, which decides what the
    /// app receives.
    fn render_key(&self, flow: &FlowEvents, candidate: &[Action]) -> String {
        let header = Header {
            comment: String::new(),
            name: String::new(),
            description: String::new(),
            seed: 0,
        };
        render(flow, candidate, &header, &self.retry_schedule).key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_schedules() {
        let strategy = strategy(5, false, 8);
        let draw = |seed| {
            let mut runner = TestRunner::new_with_rng(Config::default(), seeded_rng(seed));
            (0..20)
                .map(|_| strategy.new_tree(&mut runner).unwrap().current())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }

    #[test]
    fn plan_seeds_fit_javascript_number() {
        for fuzz_seed in [0, 1, 21, 1 << 53, u64::MAX - 1, u64::MAX] {
            for run in 0..1_000 {
                let seed = plan_seed(fuzz_seed, run);
                assert!(
                    seed <= 9_007_199_254_740_991,
                    "fuzz seed {fuzz_seed}, run {run}: plan seed {seed} is above 2^53 - 1"
                );
            }
        }
    }

    #[test]
    fn plan_seed_is_deterministic() {
        // The seed of the example failure in docs/fuzz.md, which must
        // change with the derivation.
        assert_eq!(plan_seed(1, 7), 8_631_424_609_657_664);
        assert_eq!(plan_seed(1, 7), plan_seed(1, 7));
        assert_ne!(plan_seed(1, 7), plan_seed(1, 8));
        assert_ne!(plan_seed(1, 7), plan_seed(2, 7));
    }

    #[test]
    fn tags_are_unique() {
        let tags = Tags::new();
        assert_ne!(tags.next(), tags.next());
    }
}
