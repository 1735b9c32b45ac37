//! Schedules: what happens to one checkout's events after the customer's
//! steps. A schedule is a list of actions that proptest generates and
//! shrinks, and it renders as a scenario file that `fakestripe run` plays.
//!
//! Every event is held from the first step, so nothing reaches the app
//! until an action sends it. Stripe delivers every event at least once, so
//! after the last action the clock advances until every event of the flow
//! exists, and the events still held are delivered in the order the fake
//! created them. Then the faults end, the clock settles, and the
//! reconciliation invariants are checked.
//!
//! Actions name event types by their index in the flow's type list. An
//! action that cannot have an effect at its place (a second redirect,
//! losing the first attempt of an event already sent) is left out of the
//! rendered scenario, so two schedules that render the same run the same.

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

use super::flow::FlowEvents;
use crate::scenario::values::format_seconds;

/// Maximum sends of one event in a single action.
pub const MAX_COPIES: u32 = 3;

/// Maximum delivery attempts an action loses before the retry gets
/// through.
pub const MAX_LOST_ATTEMPTS: u32 = 2;

/// API routes whose calls an action can fail: the reads an app makes when
/// it handles a webhook or the browser's return. The fake's route syntax is
/// described in docs/faults.md.
pub const API_FAILURE_ROUTES: &[&str] = &[
    "GET /v1/checkout/sessions/{id}/line_items",
    "GET /v1/checkout/sessions/{id}",
    "GET /v1/payment_intents/{id}",
];

/// The status of an injected API failure.
pub const API_FAILURE_STATUS: u16 = 500;

/// Retries of a failed call that the official SDKs make by default:
/// `maxNetworkRetries` in stripe-node 23.2.0, and
/// `stripe.max_network_retries` in stripe-python 16.1.0. Both retry a 500.
/// The Python default applies to calls through the `stripe` module, and a
/// `StripeClient` retries only when it is given `max_network_retries`.
pub const SDK_DEFAULT_RETRIES: u32 = 2;

/// Calls that an API failure action fails for each failure the app is to
/// see: the SDK's first call and its default retries.
pub const CALLS_PER_FAILURE: u32 = SDK_DEFAULT_RETRIES + 1;

/// Maximum failed SDK calls in one API failure action.
pub const MAX_API_FAILURES: u32 = 2;

/// Maximum value of `--max-actions`. The longest schedules of this many
/// actions in `longest_schedules_parse` render to about 300 lines of YAML.
/// That is far below the 250,000 nodes that serde-saphyr 2.2 parses by
/// default, and each action runs as only one or a few scenario steps.
pub const MAX_ACTIONS: usize = 100;

/// The clock advances an action can make, in seconds.
pub const ADVANCE_CHOICES: &[u64] = &[60, 300, 3_600];

/// One thing that happens after the customer's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send the flow's events of one type now, `copies` times each: a held
    /// event is delivered for the first time, a delivered one again with
    /// the same event id. With `concurrent`, the copies go out in parallel.
    Deliver {
        event: usize,
        copies: u32,
        concurrent: bool,
    },
    /// Lose the first `attempts` delivery attempts of the events of one
    /// type, then advance the clock until Stripe's retry delivers them.
    LoseFirst { event: usize, attempts: u32 },
    /// Fail the app's next `failures` × [`CALLS_PER_FAILURE`] calls of one
    /// route of [`API_FAILURE_ROUTES`], so that `failures` calls fail in the
    /// app even when its SDK retries as stripe-node and stripe-python do by
    /// default. A later `FailApi` replaces this one.
    FailApi { route: usize, failures: u32 },
    /// Advance the virtual clock, running the retries and settlements that
    /// fall due.
    Advance { seconds: u64 },
    /// The browser returns to the app. With `race`, the events of that
    /// type are sent at the same moment, so the redirect and the webhook
    /// reach the app in parallel.
    Redirect { race: Option<usize> },
}

/// Builds the strategy for schedules of a flow with `types` event types.
/// A schedule has at most `max_actions` actions, besides the racing
/// redirect that flows with [`Flow::races_redirect`](super::flow::Flow::races_redirect)
/// always get.
pub fn strategy(
    types: usize,
    races_redirect: bool,
    max_actions: usize,
) -> BoxedStrategy<Vec<Action>> {
    let event = 0..types.max(1);
    // Shrinking moves each choice towards its first alternative, so a
    // single plain send is where copies end up.
    let copies = prop_oneof![3 => Just(1u32), 2 => 2..=MAX_COPIES];
    let action = prop_oneof![
        6 => (event.clone(), copies, any::<bool>()).prop_map(|(event, copies, concurrent)| {
            Action::Deliver { event, copies, concurrent }
        }),
        2 => (event.clone(), 1..=MAX_LOST_ATTEMPTS)
            .prop_map(|(event, attempts)| Action::LoseFirst { event, attempts }),
        2 => (0..API_FAILURE_ROUTES.len(), 1..=MAX_API_FAILURES)
            .prop_map(|(route, failures)| Action::FailApi { route, failures }),
        2 => proptest::sample::select(ADVANCE_CHOICES)
            .prop_map(|seconds| Action::Advance { seconds }),
        2 => proptest::option::of(event.clone()).prop_map(|race| Action::Redirect { race }),
    ];
    let actions = proptest::collection::vec(action, 0..=max_actions);
    if !races_redirect {
        return actions.boxed();
    }
    (actions, 0..=max_actions, event)
        .prop_map(|(mut actions, position, race)| {
            actions.retain(|action| !matches!(action, Action::Redirect { .. }));
            let at = position.min(actions.len());
            actions.insert(at, Action::Redirect { race: Some(race) });
            actions
        })
        .boxed()
}

/// The top of a rendered scenario file: comment, name, description and
/// seed.
#[derive(Debug, Clone)]
pub struct Header {
    /// A YAML comment line at the top, without the `#`.
    pub comment: String,
    pub name: String,
    pub description: String,
    /// The scenario's fault-plan seed. The plan has no random faults, but
    /// the seed restarts the fake's id generator on a fresh account, so it
    /// fixes the ids.
    pub seed: u64,
}

/// A schedule rendered as a scenario file.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The scenario file, in YAML.
    pub text: String,
    /// The fault plan and the steps: two schedules with the same key run
    /// the same case.
    pub key: String,
    /// The actions that have an effect, in order.
    pub effective: Vec<Action>,
    /// The schedule's steps in words, one line each, for reports.
    pub lines: Vec<String>,
    /// Webhook delivery attempts the actions make, lost ones included. The
    /// release at the end is not counted.
    pub deliveries: u32,
    /// Whether any event is still held after the last action, and so is
    /// delivered at the end.
    pub releases_at_end: bool,
    /// The scenario's fault-plan seed.
    pub seed: u64,
}

/// A scenario step of the schedule, before it is written as YAML.
#[derive(Debug, Clone)]
enum Out {
    Advance(u64),
    Resend {
        event_type: String,
        copies: u32,
        concurrent: bool,
    },
    FailApi {
        route: &'static str,
        count: u32,
    },
    Redirect {
        race: Option<String>,
    },
}

/// The state of the flow's events (created yet, sent yet) while the actions
/// are rendered one by one.
struct Model<'a> {
    flow: &'a FlowEvents,
    retry_schedule: &'a [u64],
    /// Virtual seconds since the customer's steps.
    elapsed: u64,
    sent: Vec<bool>,
    redirected: bool,
    out: Vec<Out>,
    lines: Vec<String>,
    /// The clock's advance that the next action needs first, in words. It
    /// opens that action's line, so each action keeps one numbered line.
    waited: Option<String>,
    effective: Vec<Action>,
    /// `webhook_drop` entries: event type and attempts lost.
    drops: Vec<(String, u32)>,
    deliveries: u32,
}

impl Model<'_> {
    fn event_type(&self, index: usize) -> &str {
        let types = &self.flow.types;
        &types[index.min(types.len().saturating_sub(1))]
    }

    /// Returns the indexes of the existing events of a type.
    fn existing(&self, event_type: &str) -> Vec<usize> {
        self.flow
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.event_type == event_type && e.offset <= self.elapsed)
            .map(|(i, _)| i)
            .collect()
    }

    /// Advances the clock until the first event of a type exists, if none
    /// does yet.
    fn bring_into_existence(&mut self, event_type: &str) {
        if !self.existing(event_type).is_empty() {
            return;
        }
        let first = self
            .flow
            .events
            .iter()
            .filter(|e| e.event_type == event_type)
            .map(|e| e.offset)
            .min();
        if let Some(first) = first {
            let wait = first.saturating_sub(self.elapsed);
            self.out.push(Out::Advance(wait));
            self.waited = Some(format!(
                "advance {} (the clock reaches the creation of {event_type})",
                format_seconds(wait)
            ));
            self.elapsed = first;
        }
    }

    /// Adds the line of an action, after the advance it needed first.
    fn say(&mut self, line: String) {
        let line = match self.waited.take() {
            Some(advance) => format!("{advance}, then {line}"),
            None => line,
        };
        self.lines.push(line);
    }

    /// Marks the existing events of a type as sent; returns how many there
    /// are and whether every one of them had been sent before.
    fn send(&mut self, event_type: &str) -> (u32, bool) {
        let existing = self.existing(event_type);
        let again = existing.iter().all(|&i| self.sent[i]);
        for &i in &existing {
            self.sent[i] = true;
        }
        (existing.len() as u32, again)
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Deliver {
                event,
                copies,
                concurrent,
            } => {
                let event_type = self.event_type(event).to_owned();
                self.bring_into_existence(&event_type);
                let (count, again) = self.send(&event_type);
                let concurrent = concurrent && copies > 1;
                self.deliveries += count * copies;
                let mut line = format!("deliver {event_type}");
                if again {
                    line.push_str(" again");
                }
                match (copies, concurrent) {
                    (1, _) => {}
                    (n, true) => line.push_str(&format!(", {n} copies at once")),
                    (n, false) => line.push_str(&format!(", {n} times in a row")),
                }
                self.say(line);
                self.out.push(Out::Resend {
                    event_type,
                    copies,
                    concurrent,
                });
                self.effective.push(Action::Deliver {
                    event,
                    copies,
                    concurrent,
                });
            }
            Action::LoseFirst { event, attempts } => {
                let event_type = self.event_type(event).to_owned();
                let any_sent = self
                    .flow
                    .events
                    .iter()
                    .zip(&self.sent)
                    .any(|(e, sent)| *sent && e.event_type == event_type);
                // A webhook_drop fault loses only first deliveries and
                // their retries, not sends of an event already delivered.
                if any_sent {
                    return;
                }
                self.bring_into_existence(&event_type);
                let (count, _) = self.send(&event_type);
                let wait: u64 = self.retry_schedule.iter().take(attempts as usize).sum();
                self.drops.push((event_type.clone(), attempts));
                self.deliveries += count * (attempts + 1);
                self.say(format!(
                    "lose the first {} of {event_type}, then advance {} for Stripe's retry",
                    plural(attempts, "attempt"),
                    format_seconds(wait)
                ));
                self.out.push(Out::Resend {
                    event_type,
                    copies: 1,
                    concurrent: false,
                });
                self.out.push(Out::Advance(wait));
                self.elapsed += wait;
                self.effective.push(action);
            }
            Action::FailApi { route, failures } => {
                let route = API_FAILURE_ROUTES[route.min(API_FAILURE_ROUTES.len() - 1)];
                let count = failures * CALLS_PER_FAILURE;
                self.say(format!(
                    "fail the app's next {} of {route} with a {API_FAILURE_STATUS}, \
                     so an SDK call with {SDK_DEFAULT_RETRIES} retries fails {}",
                    plural(count, "call"),
                    times(failures)
                ));
                self.out.push(Out::FailApi { route, count });
                self.effective.push(action);
            }
            Action::Advance { seconds } => {
                self.say(format!("advance {}", format_seconds(seconds)));
                self.out.push(Out::Advance(seconds));
                self.elapsed += seconds;
                self.effective.push(action);
            }
            Action::Redirect { race } => {
                if self.redirected {
                    return;
                }
                self.redirected = true;
                match race {
                    Some(event) => {
                        let event_type = self.event_type(event).to_owned();
                        self.bring_into_existence(&event_type);
                        let (count, again) = self.send(&event_type);
                        self.deliveries += count;
                        let again = if again { " again" } else { "" };
                        self.say(format!(
                            "the browser returns to the app while {event_type} is delivered{again}"
                        ));
                        self.out.push(Out::Redirect {
                            race: Some(event_type),
                        });
                    }
                    None => {
                        self.say("the browser returns to the app".to_owned());
                        self.out.push(Out::Redirect { race: None });
                    }
                }
                self.effective.push(action);
            }
        }
    }
}

/// Returns "once", "twice" or "N times".
fn times(count: u32) -> String {
    match count {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    }
}

fn plural(count: u32, noun: &str) -> String {
    if count == 1 {
        noun.to_owned()
    } else {
        format!("{count} {noun}s")
    }
}

/// Renders a schedule of a flow as a scenario file. `retry_schedule` is the
/// fake's delay before each retry, in seconds.
pub fn render(
    flow: &FlowEvents,
    actions: &[Action],
    header: &Header,
    retry_schedule: &[u64],
) -> Rendered {
    let mut model = Model {
        flow,
        retry_schedule,
        elapsed: 0,
        sent: vec![false; flow.events.len()],
        redirected: false,
        out: Vec::new(),
        lines: Vec::new(),
        waited: None,
        effective: Vec::new(),
        drops: Vec::new(),
        deliveries: 0,
    };
    for &action in actions {
        model.apply(action);
    }
    // Stripe delivers every event at least once. So the clock advances
    // until every event of the flow exists, and the events still held go
    // out in the order the fake created them. The faults still apply then,
    // so an API failure that nothing has triggered yet meets them.
    let last = flow.events.iter().map(|e| e.offset).max().unwrap_or(0);
    let wait_at_end = last.saturating_sub(model.elapsed);
    let releases_at_end = model.sent.iter().any(|sent| !sent);

    let base_faults = fault_entries(&model.drops, None);
    let mut key = String::from("faults:\n");
    for entry in &base_faults {
        key.push_str(&format!("  - {entry}\n"));
    }
    key.push_str("steps:\n");
    for line in flow.flow.customer_steps() {
        key.push_str(&format!("  - {line}\n"));
    }
    for out in &model.out {
        key.push_str(&step_yaml(out, &model.drops));
    }
    if wait_at_end > 0 {
        key.push_str(&step_yaml(&Out::Advance(wait_at_end), &model.drops));
    }
    if releases_at_end {
        key.push_str("  - deliver:\n");
    }
    // Then the faults end, so events created while the clock settles are
    // not held.
    key.push_str("  - set_faults: []\n");

    let mut text = String::new();
    for line in header.comment.lines() {
        text.push_str(&format!("# {line}\n"));
    }
    text.push_str("version: 1\n");
    text.push_str(&format!("name: {}\n", json_string(&header.name)));
    text.push_str("description: >-\n");
    for line in wrap(&header.description, 72) {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str(&format!("seed: {}\n", header.seed));
    text.push_str(&key);

    Rendered {
        text,
        key,
        effective: model.effective,
        lines: model.lines,
        deliveries: model.deliveries,
        releases_at_end,
        seed: header.seed,
    }
}

/// Returns the fault entries as YAML flow maps: the hold on every event,
/// the lost first attempts, and an API failure if one is given.
fn fault_entries(drops: &[(String, u32)], api: Option<(&str, u32)>) -> Vec<String> {
    let mut entries = vec![r#"{ kind: hold, types: ["*"] }"#.to_owned()];
    for (event_type, attempts) in drops {
        entries.push(format!(
            "{{ kind: webhook_drop, types: [{}], attempts: {attempts} }}",
            json_string(event_type)
        ));
    }
    if let Some((route, count)) = api {
        entries.push(format!(
            "{{ kind: api_error, routes: [{}], status: {API_FAILURE_STATUS}, count: {count} }}",
            json_string(route)
        ));
    }
    entries
}

fn step_yaml(out: &Out, drops: &[(String, u32)]) -> String {
    match out {
        Out::Advance(seconds) => format!("  - advance: {}\n", format_seconds(*seconds)),
        Out::Resend {
            event_type,
            copies,
            concurrent,
        } => {
            let mut fields = format!("types: [{}]", json_string(event_type));
            if *copies > 1 {
                fields.push_str(&format!(", copies: {copies}"));
            }
            if *concurrent {
                fields.push_str(", concurrent: true");
            }
            format!("  - resend: {{ {fields} }}\n")
        }
        Out::FailApi { route, count } => {
            // set_faults replaces the whole plan, so the hold and the lost
            // attempts are repeated. Replacing the plan also restarts the
            // count of every api_error, so only this one is in it.
            let mut text = String::from("  - set_faults:\n");
            for entry in fault_entries(drops, Some((route, *count))) {
                text.push_str(&format!("      - {entry}\n"));
            }
            text
        }
        Out::Redirect { race: None } => "  - redirect:\n".to_owned(),
        Out::Redirect {
            race: Some(event_type),
        } => format!("  - redirect: {{ race: [{}] }}\n", json_string(event_type)),
    }
}

/// Quotes text as a JSON string, which YAML reads as a double-quoted
/// scalar.
fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// Splits text into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::flow::{Flow, FlowEvent};

    const RETRIES: &[u64] = &[60, 300, 1_800];

    fn async_flow() -> FlowEvents {
        let event = |event_type: &str, offset| FlowEvent {
            event_type: event_type.to_owned(),
            offset,
        };
        FlowEvents::new(
            Flow::AsyncFailure,
            vec![
                event("payment_intent.created", 0),
                event("checkout.session.completed", 0),
                event("charge.failed", 300),
                event("checkout.session.async_payment_failed", 300),
            ],
        )
    }

    fn header() -> Header {
        Header {
            comment: "A test schedule.".to_owned(),
            name: "test".to_owned(),
            description: "A schedule.".to_owned(),
            seed: 7,
        }
    }

    #[test]
    fn render_parses_as_scenario() {
        let flow = async_flow();
        let actions = [
            Action::FailApi {
                route: 0,
                failures: 1,
            },
            Action::LoseFirst {
                event: 1,
                attempts: 2,
            },
            Action::Deliver {
                event: 3,
                copies: 2,
                concurrent: true,
            },
            Action::Redirect { race: Some(0) },
        ];
        let rendered = render(&flow, &actions, &header(), RETRIES);
        let parsed = crate::scenario::parse(std::path::Path::new("fuzz.yaml"), &rendered.text);
        assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), rendered.text);
    }

    #[test]
    fn later_event_waits_for_its_creation() {
        let flow = async_flow();
        let actions = [Action::Deliver {
            event: 3,
            copies: 1,
            concurrent: false,
        }];
        let rendered = render(&flow, &actions, &header(), RETRIES);
        assert!(
            rendered.key.contains("  - advance: 5m\n  - resend: { types: [\"checkout.session.async_payment_failed\"] }\n"),
            "{}",
            rendered.key
        );
        // One action, one line: the wait opens the delivery's line.
        assert_eq!(
            rendered.lines,
            [
                "advance 5m (the clock reaches the creation of checkout.session.async_payment_failed), then deliver checkout.session.async_payment_failed"
            ]
        );
        assert_eq!(rendered.deliveries, 1);
        assert!(rendered.releases_at_end);
    }

    #[test]
    fn no_release_when_everything_was_sent() {
        let flow = async_flow();
        let actions: Vec<Action> = (0..4)
            .map(|event| Action::Deliver {
                event,
                copies: 1,
                concurrent: false,
            })
            .collect();
        let rendered = render(&flow, &actions, &header(), RETRIES);
        assert!(!rendered.releases_at_end);
        assert!(!rendered.key.contains("deliver:"), "{}", rendered.key);
        assert!(rendered.key.ends_with("  - set_faults: []\n"));
    }

    #[test]
    fn second_redirect_has_no_effect() {
        let flow = async_flow();
        let actions = [
            Action::Redirect { race: None },
            Action::Redirect { race: Some(1) },
        ];
        let rendered = render(&flow, &actions, &header(), RETRIES);
        assert_eq!(rendered.effective, vec![Action::Redirect { race: None }]);
        assert_eq!(rendered.deliveries, 0);
    }

    #[test]
    fn losing_a_sent_event_has_no_effect() {
        let flow = async_flow();
        let deliver = Action::Deliver {
            event: 1,
            copies: 1,
            concurrent: false,
        };
        let lose = Action::LoseFirst {
            event: 1,
            attempts: 1,
        };
        let rendered = render(&flow, &[deliver, lose], &header(), RETRIES);
        assert_eq!(rendered.effective, vec![deliver]);
        assert!(!rendered.key.contains("webhook_drop"), "{}", rendered.key);
    }

    #[test]
    fn lost_attempts_count_as_deliveries() {
        let flow = async_flow();
        let lose = Action::LoseFirst {
            event: 1,
            attempts: 2,
        };
        let rendered = render(&flow, &[lose], &header(), RETRIES);
        assert_eq!(rendered.deliveries, 3);
        assert!(
            rendered.key.contains("  - advance: 6m\n"),
            "{}",
            rendered.key
        );
        assert!(
            rendered.key.contains(
                r#"{ kind: webhook_drop, types: ["checkout.session.completed"], attempts: 2 }"#
            ),
            "{}",
            rendered.key
        );
    }

    #[test]
    fn single_copy_is_never_concurrent() {
        let flow = async_flow();
        let action = Action::Deliver {
            event: 0,
            copies: 1,
            concurrent: true,
        };
        let rendered = render(&flow, &[action], &header(), RETRIES);
        assert!(!rendered.key.contains("concurrent"), "{}", rendered.key);
    }

    #[test]
    fn longest_schedules_parse() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let flow = async_flow();
        let strategy = strategy(flow.types.len(), true, MAX_ACTIONS);
        let mut runner = TestRunner::deterministic();
        let mut schedules: Vec<Vec<Action>> = (0..20)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect();
        // Every API failure restates the whole fault plan, which makes it
        // the longest action to render.
        schedules.push(
            (0..MAX_ACTIONS)
                .map(|index| Action::FailApi {
                    route: index % API_FAILURE_ROUTES.len(),
                    failures: MAX_API_FAILURES,
                })
                .collect(),
        );
        for actions in &schedules {
            let rendered = render(&flow, actions, &header(), RETRIES);
            let parsed = crate::scenario::parse(std::path::Path::new("fuzz.yaml"), &rendered.text);
            assert!(parsed.is_ok(), "{:?}", parsed.err());
        }
    }

    /// Every generated API failure fails at least 3 calls in a row, so a
    /// call of stripe-node or stripe-python with their default 2 retries
    /// fails in the app.
    #[test]
    fn api_failures_outlast_sdk_retries() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let flow = async_flow();
        let strategy = strategy(flow.types.len(), false, 8);
        let mut runner = TestRunner::deterministic();
        let mut counts = Vec::new();
        for _ in 0..200 {
            let actions = strategy.new_tree(&mut runner).unwrap().current();
            let rendered = render(&flow, &actions, &header(), RETRIES);
            for line in rendered.key.lines() {
                if let Some((_, tail)) = line.split_once("count: ") {
                    let count: u32 = tail.trim_end_matches(" }").parse().unwrap();
                    counts.push(count);
                }
            }
        }
        counts.sort_unstable();
        counts.dedup();
        assert_eq!(counts, [3, 6]);
    }

    #[test]
    fn racing_flow_always_races_once() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let strategy = strategy(4, true, 6);
        let mut runner = TestRunner::deterministic();
        for _ in 0..50 {
            let actions = strategy.new_tree(&mut runner).unwrap().current();
            let redirects: Vec<&Action> = actions
                .iter()
                .filter(|a| matches!(a, Action::Redirect { .. }))
                .collect();
            assert_eq!(redirects.len(), 1, "{actions:?}");
            assert!(
                matches!(redirects[0], Action::Redirect { race: Some(_) }),
                "{actions:?}"
            );
        }
    }
}
