//! A failed scenario's timeline: each step, and under it what the fake's
//! trace recorded while it ran (the app's API calls, events, delivery
//! attempts with the app's response, faults applied), with virtual time.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::Value;

use super::events::TimelineLine;
use crate::runner::record::{Delivery, Moment, Observation, TraceEntry};
use crate::scenario::model::{ReleaseStep, Step};
use crate::scenario::values::format_seconds;
use crate::scenario::{PlannedStep, Scenario};

/// Entries shown per step; the rest are counted.
const MAX_PER_STEP: usize = 40;

/// Object kinds whose changes the timeline shows; the others (charges,
/// balance transactions) add length without explaining a failure.
const SHOWN_OBJECTS: &[&str] = &["checkout.session", "payment_intent"];

pub struct TimelineInput<'a> {
    pub scenario: &'a Scenario,
    /// Trace entries written during the scenario, in order.
    pub trace: &'a [TraceEntry],
    pub deliveries: &'a [Delivery],
    /// The last trace sequence number of each step that ran.
    pub step_ends: &'a [u64],
    /// Virtual time when the scenario began.
    pub start_time: i64,
    pub harness_requests: &'a HashSet<String>,
    /// The app's orders after each step and after settling.
    pub observations: &'a [Observation],
}

/// Builds the timeline lines.
pub fn build(input: &TimelineInput<'_>) -> Vec<TimelineLine> {
    let mut answers: HashMap<(String, u32, bool, bool), VecDeque<&Delivery>> = HashMap::new();
    for delivery in input.deliveries {
        let key = (
            delivery.event_id.clone(),
            delivery.attempt,
            delivery.forged.is_some(),
            delivery.duplicate,
        );
        answers.entry(key).or_default().push_back(delivery);
    }
    let mut lines = Vec::new();
    let mut entries = input.trace.iter().peekable();
    let mut last_offset = 0;
    let mut previous: Option<&Observation> = None;
    let settled = input
        .observations
        .iter()
        .any(|observation| observation.moment == Moment::Settle);
    // One section per step that ran, then one for settling the clock.
    for section in 0..=input.step_ends.len() {
        let end = input.step_ends.get(section).copied().unwrap_or(u64::MAX);
        let mut section_lines = Vec::new();
        let mut hidden = 0;
        while let Some(entry) = entries.next_if(|entry| entry.seq <= end) {
            let offset = entry.at - input.start_time;
            last_offset = offset;
            let Some((actor, text)) = describe(entry, input.harness_requests, &mut answers) else {
                continue;
            };
            if section_lines.len() < MAX_PER_STEP {
                section_lines.push(TimelineLine {
                    offset,
                    actor,
                    text,
                });
            } else {
                hidden += 1;
            }
        }
        if hidden > 0 {
            let text = format!("{hidden} more entries");
            section_lines.push(TimelineLine {
                offset: last_offset,
                actor: "…".to_owned(),
                text,
            });
        }
        let observation = input.observations.iter().find(|o| match &o.moment {
            Moment::Step { index, .. } => *index == section,
            Moment::Settle => section == input.step_ends.len(),
        });
        if let Some(observation) = observation {
            last_offset = observation.now - input.start_time;
            section_lines.extend(order_changes(previous, observation, last_offset));
            previous = Some(observation);
        }
        let header = match input.scenario.steps.get(section) {
            Some(planned) if section < input.step_ends.len() => {
                format!(
                    "step {}: {} (line {})",
                    section + 1,
                    describe_step(planned),
                    planned.line
                )
            }
            _ if !section_lines.is_empty() && settled => {
                "after the last step: settling the clock".to_owned()
            }
            // A failed step stops the scenario before the clock is
            // settled, so these lines are what the step left in flight.
            _ if !section_lines.is_empty() => {
                "after the last step that ran (the clock was not settled, because the scenario stopped early)".to_owned()
            }
            _ => continue,
        };
        let offset = section_lines
            .first()
            .map_or(last_offset, |line| line.offset);
        lines.push(TimelineLine {
            offset,
            actor: "step".to_owned(),
            text: header,
        });
        lines.extend(section_lines);
    }
    lines
}

/// Returns a line for each order whose state in the app differs from the
/// previous observation.
fn order_changes(
    previous: Option<&Observation>,
    observation: &Observation,
    offset: i64,
) -> Vec<TimelineLine> {
    let mut lines = Vec::new();
    for (name, view) in &observation.orders {
        let before = previous
            .and_then(|p| p.orders.get(name))
            .map(|v| v.summary());
        let now = match &view.error {
            Some(error) => format!("unreadable: {error}"),
            None => view.summary(),
        };
        if before.as_deref() != Some(now.as_str()) {
            lines.push(TimelineLine {
                offset,
                actor: "order".to_owned(),
                text: format!("{name} in the app: {now}"),
            });
        }
    }
    lines
}

/// Describes a step in a few words: `pay O-1 with card 4242`.
pub fn describe_step(planned: &PlannedStep) -> String {
    let order = planned.order.as_deref().unwrap_or("?");
    match &planned.step {
        Step::Checkout(_) => format!("checkout {order}"),
        Step::Pay(pay) => {
            let method = pay.method.map_or("card", |m| m.as_str());
            let detail = match (&pay.card, &pay.outcome) {
                (Some(card), _) => format!(" {}", card.value.as_str()),
                (None, Some(outcome)) => format!(" ({:?})", outcome.value).to_lowercase(),
                _ => String::new(),
            };
            format!("pay {order} with {method}{detail}")
        }
        Step::Cancel(_) => format!("cancel {order} on the checkout page"),
        Step::Redirect(redirect) => match redirect.as_ref().and_then(|r| r.race.as_ref()) {
            Some(types) => format!(
                "redirect back to the app for {order}, racing {}",
                types.join(", ")
            ),
            None => format!("redirect back to the app for {order}"),
        },
        Step::Expire(_) => format!("expire {order}'s session"),
        Step::Advance(duration) => format!("advance {duration}"),
        Step::Hold(hold) => format!("hold {}", hold.types.join(", ")),
        Step::Release(release) => format!("release {}", release_types(release.as_ref())),
        Step::Deliver(release) => format!("deliver {}", release_types(release.as_ref())),
        Step::Resend(resend) => {
            let copies = resend.copies.unwrap_or(1);
            let times = match (copies, resend.concurrent.unwrap_or(false)) {
                (1, _) => String::new(),
                (n, true) => format!(" ×{n} at once"),
                (n, false) => format!(" ×{n}"),
            };
            format!("resend {}{times}", resend.types.join(" then "))
        }
        Step::SetFaults(faults) => {
            let kinds: Vec<&str> = faults
                .iter()
                .filter_map(|f| f.value.get("kind").and_then(|kind| kind.value.as_str()))
                .collect();
            if kinds.is_empty() {
                "clear faults".to_owned()
            } else {
                format!("set faults {}", kinds.join(", "))
            }
        }
        Step::WaitUntil(_) => format!("wait until {order} matches"),
        Step::Expect(_) => match &planned.order {
            Some(order) => format!("expect {order}"),
            None => "expect".to_owned(),
        },
    }
}

fn release_types(release: Option<&ReleaseStep>) -> String {
    match release.and_then(|r| r.types.as_ref()) {
        Some(types) => types.join(" then "),
        None => "everything held".to_owned(),
    }
}

/// Describes one trace entry as an actor and a line of text, or returns
/// None for entries the timeline leaves out.
fn describe(
    entry: &TraceEntry,
    harness: &HashSet<String>,
    answers: &mut HashMap<(String, u32, bool, bool), VecDeque<&Delivery>>,
) -> Option<(String, String)> {
    let d = &entry.detail;
    let text_of = |name: &str| {
        d.get(name)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    match entry.kind.as_str() {
        "request" => {
            let by_harness = d["request_id"]
                .as_str()
                .is_some_and(|id| harness.contains(id));
            let mut text = format!(
                "{} {} → {}",
                text_of("method"),
                text_of("path"),
                d["status"]
            );
            let objects: Vec<&str> = d["objects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let path = d["path"].as_str().unwrap_or_default();
            let unnamed: Vec<&str> = objects
                .into_iter()
                .filter(|id| !path.contains(id))
                .collect();
            if !unnamed.is_empty() {
                text.push_str(&format!(" [{}]", unnamed.join(", ")));
            }
            if let Some(key) = d["idempotency_key"].as_str() {
                text.push_str(&format!(" idempotency key {key}"));
            }
            if d["idempotent_replayed"].as_bool() == Some(true) {
                text.push_str(" (replayed)");
            }
            if let Some(fault) = d["fault"].as_str() {
                text.push_str(&format!(" fault: {fault}"));
            }
            Some((if by_harness { "harness" } else { "app" }.to_owned(), text))
        }
        "object" => {
            let kind = d["kind"].as_str().unwrap_or_default();
            if !SHOWN_OBJECTS.contains(&kind) {
                return None;
            }
            let status = d["status"]
                .as_str()
                .map(|s| format!(" → {s}"))
                .unwrap_or_default();
            Some((
                "fake".to_owned(),
                format!("{kind} {} {}{status}", text_of("id"), text_of("change")),
            ))
        }
        "event" => Some((
            "event".to_owned(),
            format!(
                "{} {} for {}",
                text_of("event_id"),
                text_of("type"),
                text_of("object")
            ),
        )),
        "delivery" => {
            let event_id = text_of("event_id");
            let attempt = d["attempt"].as_u64().unwrap_or(0) as u32;
            let forged = d["forged"].as_str().map(str::to_owned);
            let duplicate = d["duplicate"].as_bool().unwrap_or(false);
            let key = (event_id.clone(), attempt, forged.is_some(), duplicate);
            let record = answers.get_mut(&key).and_then(VecDeque::pop_front);
            let mut text = format!("{event_id} {} attempt {attempt}", text_of("type"));
            if let Some(forgery) = &forged {
                text.push_str(&format!(" (forged: {forgery})"));
            }
            if duplicate {
                text.push_str(" (duplicate)");
            }
            match (d["status"].as_u64(), d["error"].as_str()) {
                (Some(status), _) => {
                    text.push_str(&format!(" → app responded {status}"));
                    let body = record.map(|r| r.response_body.trim()).unwrap_or_default();
                    if !(200..300).contains(&status) && !body.is_empty() {
                        text.push_str(&format!(": {}", crate::app::excerpt(body.as_bytes())));
                    }
                }
                (None, Some(error)) => text.push_str(&format!(" → not delivered: {error}")),
                (None, None) => text.push_str(" → no answer"),
            }
            Some(("delivery".to_owned(), text))
        }
        "delivery_abandoned" => Some((
            "delivery".to_owned(),
            format!(
                "gave up on {} after {} attempts",
                text_of("event_id"),
                d["attempts"]
            ),
        )),
        "fault" => Some(("fault".to_owned(), describe_fault(d))),
        "customer" => Some(("customer".to_owned(), compact_detail(d))),
        "clock" => Some(("clock".to_owned(), compact_detail(d))),
        other => Some((other.to_owned(), compact_detail(d))),
    }
}

/// Describes a fault decision; a new plan shows its kinds, not its whole
/// text.
fn describe_fault(detail: &Value) -> String {
    match detail["decision"].as_str() {
        Some("plan_set") => {
            let plan = &detail["plan"];
            let kinds: Vec<&str> = plan["faults"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["kind"].as_str())
                .collect();
            let kinds = if kinds.is_empty() {
                "no faults".to_owned()
            } else {
                kinds.join(", ")
            };
            format!("plan set: {kinds} (seed {})", plan["seed"])
        }
        Some("plan_cleared") => "plan cleared".to_owned(),
        _ => compact_detail(detail),
    }
}

/// Renders the `key=value` pairs of a detail object, without nulls.
fn compact_detail(detail: &Value) -> String {
    match detail {
        Value::Object(map) => map
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| match value {
                Value::String(text) => format!("{key}={text}"),
                other => format!("{key}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// `+1h30m`, the offset column of the timeline.
pub fn format_offset(offset: i64) -> String {
    if offset < 0 {
        return format!("-{}", format_seconds(offset.unsigned_abs()));
    }
    format!("+{}", format_seconds(offset as u64))
}
