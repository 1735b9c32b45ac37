//! The checkout flows the fuzzer explores, and the probe that finds which
//! events each flow creates against the app under test.
//!
//! A flow is the customer's side of one checkout, written as scenario
//! steps: check out, pay (or fail to), come back. The fuzzer holds every
//! event from the first step, so after the customer's steps the flow's
//! events wait in the fake, and the schedule decides how they arrive.

use std::sync::Arc;

use clap::ValueEnum;

use crate::report::events::FailureKind;
use crate::runner::WorkerContext;
use crate::runner::scenario::run_scenario;
use crate::scenario::model::PaymentMethod;
use crate::scenario::values::format_seconds;

/// Virtual time after the customer's steps within which the probe collects
/// events. Events the clock creates later (an asynchronous payment settling
/// after a longer delay, a session expiring after 24 hours) reach the app
/// only while the clock settles at the end of each case.
pub const PROBE_WINDOW_SECONDS: u64 = 3_600;

/// Delay of the asynchronous flows' payments. It is shorter than
/// [`PROBE_WINDOW_SECONDS`], so the settlement events are part of the
/// schedule.
pub const ASYNC_DELAY_SECONDS: u64 = 300;

/// One checkout flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Flow {
    /// A card payment that succeeds at once.
    Card,
    /// A SEPA Direct Debit that completes the session unpaid and succeeds
    /// five minutes later.
    AsyncSuccess,
    /// A SEPA Direct Debit that completes the session unpaid and fails five
    /// minutes later.
    AsyncFailure,
    /// A declined card, then a card that succeeds on the same session.
    DeclineRetry,
    /// A declined card, then the customer cancels and the session expires.
    Expiry,
    /// A card payment where the browser's return to the success page always
    /// races a webhook delivery.
    RedirectRace,
}

impl Flow {
    pub const ALL: [Flow; 6] = [
        Flow::Card,
        Flow::AsyncSuccess,
        Flow::AsyncFailure,
        Flow::DeclineRetry,
        Flow::Expiry,
        Flow::RedirectRace,
    ];

    /// Returns the name that `--flow` takes.
    pub fn name(self) -> &'static str {
        match self {
            Flow::Card => "card",
            Flow::AsyncSuccess => "async-success",
            Flow::AsyncFailure => "async-failure",
            Flow::DeclineRetry => "decline-retry",
            Flow::Expiry => "expiry",
            Flow::RedirectRace => "redirect-race",
        }
    }

    /// Returns the customer's steps as scenario YAML, one step per line.
    pub fn customer_steps(self) -> Vec<String> {
        let delay = format_seconds(ASYNC_DELAY_SECONDS);
        let lines: Vec<String> = match self {
            Flow::Card | Flow::RedirectRace => vec![
                "checkout: { order: O-1 }".to_owned(),
                "pay: { card: success, expect: succeeded }".to_owned(),
            ],
            Flow::AsyncSuccess | Flow::AsyncFailure => {
                let outcome = if self == Flow::AsyncSuccess {
                    "succeeded"
                } else {
                    "failed"
                };
                vec![
                    "checkout: { order: O-1, currency: eur }".to_owned(),
                    format!(
                        "pay: {{ method: sepa_debit, outcome: {outcome}, delay: {delay}, expect: processing }}"
                    ),
                ]
            }
            Flow::DeclineRetry => vec![
                "checkout: { order: O-1 }".to_owned(),
                "pay: { card: declined, expect: declined }".to_owned(),
                "pay: { card: success, expect: succeeded }".to_owned(),
            ],
            Flow::Expiry => vec![
                "checkout: { order: O-1 }".to_owned(),
                "pay: { card: declined, expect: declined }".to_owned(),
                "cancel:".to_owned(),
                "expire:".to_owned(),
            ],
        };
        lines
    }

    /// Returns the payment method type that the customer's steps pay with.
    pub fn payment_method(self) -> PaymentMethod {
        match self {
            Flow::AsyncSuccess | Flow::AsyncFailure => PaymentMethod::SepaDebit,
            Flow::Card | Flow::DeclineRetry | Flow::Expiry | Flow::RedirectRace => {
                PaymentMethod::Card
            }
        }
    }

    /// Returns whether every schedule of this flow has a redirect that races
    /// a delivery.
    pub fn races_redirect(self) -> bool {
        self == Flow::RedirectRace
    }
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One event a flow creates, as the probe found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEvent {
    pub event_type: String,
    /// Virtual seconds after the customer's steps at which the event is
    /// created: 0 for the customer's own actions, the payment's delay for
    /// the events of an asynchronous settlement.
    pub offset: u64,
}

/// The events of one flow against one app, in the order the fake created
/// them.
#[derive(Debug, Clone)]
pub struct FlowEvents {
    pub flow: Flow,
    pub events: Vec<FlowEvent>,
    /// The distinct event types, in order of first creation. Schedules
    /// name events by their index in this list.
    pub types: Vec<String>,
}

impl FlowEvents {
    pub fn new(flow: Flow, events: Vec<FlowEvent>) -> FlowEvents {
        let mut types: Vec<String> = Vec::new();
        for event in &events {
            if !types.contains(&event.event_type) {
                types.push(event.event_type.clone());
            }
        }
        FlowEvents {
            flow,
            events,
            types,
        }
    }
}

/// Runs a flow's customer steps once on a fresh account state, with every
/// event held, then advances the clock by [`PROBE_WINDOW_SECONDS`] and
/// reads which events were held and when. Fails when a customer step
/// fails, for example because the app's sessions do not offer SEPA Direct
/// Debit.
pub async fn probe(
    ctx: &WorkerContext,
    flow: Flow,
    seed: u64,
    tag: String,
) -> Result<FlowEvents, String> {
    ctx.fake
        .reset(true)
        .await
        .map_err(|err| format!("resetting the account failed: {err}"))?;
    let mut text = format!(
        "version: 1\nname: probe of the {flow} flow\nsettle: 0\nfaults:\n  - {{ kind: hold, types: [\"*\"] }}\nsteps:\n"
    );
    for line in flow.customer_steps() {
        text.push_str(&format!("  - {line}\n"));
    }
    text.push_str(&format!(
        "  - advance: {}\n",
        format_seconds(PROBE_WINDOW_SECONDS)
    ));
    let path = std::path::PathBuf::from(format!("probe-{flow}.yaml"));
    let scenario = crate::scenario::parse(&path, &text).map_err(|errors| {
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "the probe scenario is invalid (a fuzzer bug): {}",
            messages.join("; ")
        )
    })?;
    let result = run_scenario(&scenario, seed, ctx, tag).await;
    // The invariants fail by design here, because nothing was delivered;
    // only the customer's steps and the harness's own work must succeed.
    for failure in &result.failures {
        match &failure.kind {
            FailureKind::Invariant { .. } => {}
            FailureKind::Step { name, .. } => {
                return Err(format!("step `{name}` failed: {}", failure.message));
            }
            FailureKind::Harness => return Err(failure.message.clone()),
        }
    }
    let held = ctx
        .fake
        .held()
        .await
        .map_err(|err| format!("reading the held deliveries failed: {err}"))?;
    let Some(start) = held.iter().map(|h| h.held_at).min() else {
        return Err("the customer's steps created no event".to_owned());
    };
    let events = held
        .iter()
        .map(|h| FlowEvent {
            event_type: h.event_type.clone(),
            offset: u64::try_from(h.held_at - start).unwrap_or(0),
        })
        .collect();
    Ok(FlowEvents::new(flow, events))
}

/// Probes every flow in `flows`; returns the flows that run against the app
/// and, for the others, why they do not.
pub async fn probe_all(
    ctx: &WorkerContext,
    flows: &[Flow],
    seed: u64,
    tags: &Arc<super::Tags>,
) -> (Vec<FlowEvents>, Vec<(Flow, String)>) {
    let mut ready = Vec::new();
    let mut skipped = Vec::new();
    for &flow in flows {
        match probe(ctx, flow, seed, tags.next()).await {
            Ok(events) => ready.push(events),
            Err(reason) => skipped.push((flow, reason)),
        }
    }
    (ready, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_clap() {
        for flow in Flow::ALL {
            let parsed = Flow::from_str(flow.name(), false).expect("the name parses");
            assert_eq!(parsed, flow);
        }
    }

    /// Each flow's customer steps pay with the type that
    /// `payment_method` returns, which decides whether an app offers it.
    #[test]
    fn payment_method_matches_steps() {
        for flow in Flow::ALL {
            let steps = flow.customer_steps().join("\n");
            let method = flow.payment_method();
            let uses_other = PaymentMethod::ALL
                .into_iter()
                .filter(|&other| other != method)
                .any(|other| steps.contains(&format!("method: {}", other.as_str())));
            assert!(!uses_other, "{flow}: {steps}");
            if method != PaymentMethod::Card {
                let named = format!("method: {}", method.as_str());
                assert!(steps.contains(&named), "{flow}: {steps}");
            }
        }
    }

    #[test]
    fn types_keep_first_creation_order() {
        let event = |event_type: &str, offset| FlowEvent {
            event_type: event_type.to_owned(),
            offset,
        };
        let events = FlowEvents::new(
            Flow::Card,
            vec![
                event("a", 0),
                event("b", 0),
                event("a", 300),
                event("c", 300),
            ],
        );
        assert_eq!(events.types, ["a", "b", "c"]);
    }
}
