//! The reconciliation invariants, checked after every scenario without
//! being written in it. Each has a name, which a scenario can list under
//! `allow` when it deliberately breaks it, and its own failure message.
//!
//! "Paid" is the fake's truth (the payment intent succeeded), not what the
//! app or a lagging API read reports. The app's side comes from the order
//! reads taken after every step, so a fulfilment that happened before the
//! payment is caught even when the payment succeeds later.

mod blame;

use std::collections::BTreeMap;

use blame::{ExtraFulfilment, accepted_deliveries, extra_fulfilments};

use crate::runner::record::{Observation, OrderRecord, OrderView, ScenarioRecord, SessionTruth};
use crate::scenario::model::OrderStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    PaidFulfilledOnce,
    UnpaidNotFulfilled,
    FailedReleased,
    DuplicatesIgnored,
    ForgeriesRejected,
    PaidSessionStored,
    AmountMatches,
}

impl Invariant {
    pub const ALL: [Invariant; 7] = [
        Invariant::PaidFulfilledOnce,
        Invariant::UnpaidNotFulfilled,
        Invariant::FailedReleased,
        Invariant::DuplicatesIgnored,
        Invariant::ForgeriesRejected,
        Invariant::PaidSessionStored,
        Invariant::AmountMatches,
    ];

    /// Returns the name that scenarios use in `allow`.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::PaidFulfilledOnce => "paid_fulfilled_once",
            Invariant::UnpaidNotFulfilled => "unpaid_not_fulfilled",
            Invariant::FailedReleased => "failed_released",
            Invariant::DuplicatesIgnored => "duplicates_ignored",
            Invariant::ForgeriesRejected => "forgeries_rejected",
            Invariant::PaidSessionStored => "paid_session_stored",
            Invariant::AmountMatches => "amount_matches",
        }
    }

    pub fn from_name(name: &str) -> Option<Invariant> {
        Invariant::ALL
            .into_iter()
            .find(|invariant| invariant.name() == name)
    }

    /// Returns the rule in one sentence.
    pub fn rule(self) -> &'static str {
        match self {
            Invariant::PaidFulfilledOnce => {
                "an order whose payment succeeded is fulfilled exactly once"
            }
            Invariant::UnpaidNotFulfilled => "no order is fulfilled before its payment succeeded",
            Invariant::FailedReleased => {
                "an order whose asynchronous payment failed, or whose session expired unpaid, is not fulfilled, is failed or cancelled, and is released"
            }
            Invariant::DuplicatesIgnored => "a duplicate delivery of an event changes nothing",
            Invariant::ForgeriesRejected => "the app rejects a forged webhook delivery with a 4xx",
            Invariant::PaidSessionStored => {
                "a paid order stores the id of the session that was paid"
            }
            Invariant::AmountMatches => {
                "a paid order's amount and currency match its paid session's"
            }
        }
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    /// The scenario's name of the order concerned, if one is.
    pub order: Option<String>,
    pub message: String,
}

/// Checks the invariants against a scenario's record. With `settled`
/// false (a step failed, so the clock was not settled), only the
/// invariants about what must never happen are checked, because what must
/// eventually happen may still be due.
pub fn check(record: &ScenarioRecord, settled: bool) -> Vec<Violation> {
    let mut violations = Vec::new();
    let deliveries = accepted_deliveries(record);
    for (name, order) in &record.orders {
        let Some(last) = record.last_observation().and_then(|o| o.orders.get(name)) else {
            continue;
        };
        let max_fulfilments = max_fulfilments(&record.observations, name);
        let extras = extra_fulfilments(
            &record.observations,
            name,
            deliveries.get(name.as_str()).map_or(&[], Vec::as_slice),
        );
        let unexplained = extras.iter().find(|extra| extra.repeat.is_none());
        let paid: Vec<&SessionTruth> = order.paid_sessions().collect();
        if !paid.is_empty() && settled {
            paid_fulfilled_once(
                record,
                name,
                last,
                &paid,
                max_fulfilments,
                unexplained,
                &mut violations,
            );
            paid_session_stored(record, name, last, &paid, &mut violations);
            amount_matches(record, name, last, &paid, &mut violations);
        } else if !paid.is_empty() {
            fulfilled_at_most_once(name, &paid, max_fulfilments, unexplained, &mut violations);
        } else if settled {
            failed_released(record, name, order, last, &mut violations);
        }
        unpaid_not_fulfilled(record, name, order, &mut violations);
        let blamed = extras
            .iter()
            .find_map(|extra| extra.repeat.map(|repeat| (extra, repeat)));
        if let (Some(count), Some((extra, repeat))) = (max_fulfilments, blamed) {
            violations.push(Violation {
                invariant: Invariant::DuplicatesIgnored,
                order: Some(name.clone()),
                message: format!(
                    "{name} was fulfilled {count} times; event {} ({}) was delivered {} times and the app responded with 2xx each time, and the fulfilment count rose {} while the event was delivered again, so the app processed the event again{}",
                    repeat.event_id,
                    repeat.event_type,
                    repeat.accepted,
                    extra.describe_rise(),
                    other_causes_note(extra)
                ),
            });
        }
    }
    forgeries_rejected(record, &mut violations);
    violations
}

fn paid_fulfilled_once(
    record: &ScenarioRecord,
    name: &str,
    last: &OrderView,
    paid: &[&SessionTruth],
    max_fulfilments: Option<u64>,
    unexplained: Option<&ExtraFulfilment<'_>>,
    violations: &mut Vec<Violation>,
) {
    let session = describe_paid(paid);
    let not_paid_status = last
        .status
        .is_some_and(|status| status != OrderStatus::Paid);
    let message = if !last.found {
        Some(format!(
            "{name} was paid ({session}) but the app has no such order ({})",
            last.not_found()
        ))
    } else if record.fields.fulfilments {
        if last.fulfilments.is_none() {
            Some(match last.absent_value("fulfilments") {
                Some(absent) => format!("{name} was paid ({session}) but {absent}"),
                None => format!(
                    "{name} was paid ({session}) but the app's order has no fulfilment count"
                ),
            })
        } else if last.fulfilments == Some(0) {
            Some(format!(
                "{name} was paid ({session}) but the app reports 0 fulfilments ({})",
                last.summary()
            ))
        } else if let (Some(count), Some(extra)) = (max_fulfilments, unexplained) {
            // A second fulfilment that a repeated delivery explains is
            // reported as duplicates_ignored instead.
            Some(more_than_once(name, count, &session, extra))
        } else if not_paid_status {
            // A paid order that a later event moved back still counts its
            // one fulfilment, so the status is checked as well.
            Some(format!(
                "{name} was paid ({session}) but the app reports {}",
                last.summary()
            ))
        } else {
            None
        }
    } else if last.status != Some(OrderStatus::Paid) {
        Some(format!(
            "{name} was paid ({session}) but the app reports {}",
            last.summary()
        ))
    } else {
        None
    };
    if let Some(message) = message {
        violations.push(Violation {
            invariant: Invariant::PaidFulfilledOnce,
            order: Some(name.to_owned()),
            message,
        });
    }
}

/// Checks the part of paid_fulfilled_once that needs no settled clock:
/// never more than one fulfilment.
fn fulfilled_at_most_once(
    name: &str,
    paid: &[&SessionTruth],
    max_fulfilments: Option<u64>,
    unexplained: Option<&ExtraFulfilment<'_>>,
    violations: &mut Vec<Violation>,
) {
    if let (Some(count), Some(extra)) = (max_fulfilments, unexplained) {
        violations.push(Violation {
            invariant: Invariant::PaidFulfilledOnce,
            order: Some(name.to_owned()),
            message: more_than_once(name, count, &describe_paid(paid), extra),
        });
    }
}

/// Describes a fulfilment count above one that no repeated delivery
/// explains.
fn more_than_once(name: &str, count: u64, session: &str, extra: &ExtraFulfilment<'_>) -> String {
    let rise = extra.describe_rise();
    if extra.window.iter().any(|delivery| delivery.repeat) {
        return format!(
            "{name} was fulfilled {count} times for one payment ({session}); the fulfilment count rose {rise}. Between those reads came {}. Orders are read only between steps, so the harness cannot tell which of these fulfilled the order again. It does not blame the repeated deliveries, because {} can explain the rise without them",
            extra.describe_window(),
            extra.describe_other_causes()
        );
    }
    format!(
        "{name} was fulfilled {count} times for one payment ({session}); the fulfilment count rose {rise}, and no event of {name} was delivered and accepted more than once in that time"
    )
}

/// Lists what else could have fulfilled the order when a rise is blamed
/// on a repeated delivery, because the reads cannot separate them.
fn other_causes_note(extra: &ExtraFulfilment<'_>) -> String {
    match extra.reason {
        Some(reason) if extra.has_other_causes() => format!(
            ". Between those reads came {}, and the harness cannot tell which of these fulfilled the order again. It blames the repeated delivery because {reason}",
            extra.describe_window()
        ),
        _ => String::new(),
    }
}

fn unpaid_not_fulfilled(
    record: &ScenarioRecord,
    name: &str,
    order: &OrderRecord,
    violations: &mut Vec<Violation>,
) {
    for observation in &record.observations {
        let Some(view) = observation.orders.get(name) else {
            continue;
        };
        if !view.found || !view.fulfilled() {
            continue;
        }
        let paid_by_then = order
            .sessions
            .iter()
            .any(|s| s.paid_seq.is_some_and(|seq| seq <= observation.trace_seq));
        // Without a trace position, a session that is paid at the end counts
        // as paid all along, so the check never blames a correct app.
        let paid_untraced = order
            .sessions
            .iter()
            .any(|s| s.paid() && s.paid_seq.is_none());
        if paid_by_then || paid_untraced {
            continue;
        }
        let later = order
            .sessions
            .iter()
            .find(|s| s.paid())
            .map(|s| format!("; {} was paid only later", s.id))
            .unwrap_or_else(|| "; none had succeeded by the end of the scenario".to_owned());
        violations.push(Violation {
            invariant: Invariant::UnpaidNotFulfilled,
            order: Some(name.to_owned()),
            message: format!(
                "{} the app reported {name} as fulfilled ({}) before any payment for it succeeded{later}",
                observation.moment,
                view.summary()
            ),
        });
        return;
    }
}

fn failed_released(
    record: &ScenarioRecord,
    name: &str,
    order: &OrderRecord,
    last: &OrderView,
    violations: &mut Vec<Violation>,
) {
    let Some(latest) = order.sessions.last() else {
        return;
    };
    let (expected, cause) = if latest.async_failed {
        (
            OrderStatus::Failed,
            format!("the asynchronous payment of {} failed", latest.id),
        )
    } else if latest.expired() {
        (
            OrderStatus::Cancelled,
            format!("{} expired unpaid", latest.id),
        )
    } else {
        return;
    };
    let mut problems = Vec::new();
    if last.fulfilled() {
        problems.push("it is fulfilled".to_owned());
    }
    match &last.status {
        Some(status) if *status == expected => {}
        _ => problems.push(format!(
            "its status is {} instead of {}",
            last.status_word
                .as_deref()
                .map_or_else(|| "missing".to_owned(), |w| format!("\"{w}\"")),
            expected.as_str()
        )),
    }
    if record.fields.released && last.released != Some(true) {
        problems.push("its stock is not released".to_owned());
    }
    if !problems.is_empty() {
        violations.push(Violation {
            invariant: Invariant::FailedReleased,
            order: Some(name.to_owned()),
            message: format!("{cause}, but in the app {name}: {}", problems.join(", ")),
        });
    }
}

fn paid_session_stored(
    record: &ScenarioRecord,
    name: &str,
    last: &OrderView,
    paid: &[&SessionTruth],
    violations: &mut Vec<Violation>,
) {
    if !record.fields.session_id || !last.found {
        return;
    }
    let stored = last.session_id.as_deref();
    if paid.iter().any(|s| Some(s.id.as_str()) == stored) {
        return;
    }
    let paid_ids = paid
        .iter()
        .map(|s| s.id.as_str())
        .collect::<Vec<&str>>()
        .join(" or ");
    let message = match (stored, last.absent_value("session_id")) {
        (None, Some(absent)) => {
            format!("{name}: {absent}; the paid session is {paid_ids}")
        }
        _ => format!(
            "{name} stores session {} but the paid session is {paid_ids}",
            stored.unwrap_or("(none)")
        ),
    };
    violations.push(Violation {
        invariant: Invariant::PaidSessionStored,
        order: Some(name.to_owned()),
        message,
    });
}

fn amount_matches(
    record: &ScenarioRecord,
    name: &str,
    last: &OrderView,
    paid: &[&SessionTruth],
    violations: &mut Vec<Violation>,
) {
    if !last.found {
        return;
    }
    let session = paid[paid.len() - 1];
    let mut problems = Vec::new();
    if record.fields.amount && last.amount != session.amount_total {
        problems.push(format!(
            "amount {} but {} has amount_total {}",
            show(last.amount),
            session.id,
            show(session.amount_total)
        ));
        problems.extend(last.absent_value("amount"));
    }
    let same_currency = match (&last.currency, &session.currency) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (None, None) => true,
        _ => false,
    };
    if record.fields.currency && !same_currency {
        problems.push(format!(
            "currency {} but {} has currency {}",
            show(last.currency.as_deref()),
            session.id,
            show(session.currency.as_deref())
        ));
        problems.extend(last.absent_value("currency"));
    }
    if !problems.is_empty() {
        violations.push(Violation {
            invariant: Invariant::AmountMatches,
            order: Some(name.to_owned()),
            message: format!("{name} has {}", problems.join(", and ")),
        });
    }
}

/// The forged deliveries of one event that did not get a 4xx.
struct UnrejectedForgeries<'a> {
    event_id: &'a str,
    event_type: &'a str,
    /// The forgery and the status the app returned, per delivery.
    statuses: Vec<(&'a str, u16)>,
}

fn forgeries_rejected(record: &ScenarioRecord, violations: &mut Vec<Violation>) {
    let mut by_event: Vec<UnrejectedForgeries<'_>> = Vec::new();
    for delivery in &record.deliveries {
        let (Some(forgery), Some(status)) = (&delivery.forged, delivery.status) else {
            continue;
        };
        if (400..500).contains(&status) {
            continue;
        }
        match by_event
            .iter_mut()
            .find(|group| group.event_id == delivery.event_id)
        {
            Some(group) => group.statuses.push((forgery, status)),
            None => by_event.push(UnrejectedForgeries {
                event_id: &delivery.event_id,
                event_type: &delivery.event_type,
                statuses: vec![(forgery, status)],
            }),
        }
    }
    let objects = event_objects(record);
    for group in by_event {
        let consequence = if group.statuses.iter().any(|(_, status)| *status < 400) {
            "so the app accepted deliveries whose signature it should have rejected"
        } else {
            "and a 5xx makes Stripe retry, while a bad signature deserves a 4xx"
        };
        let listed: Vec<String> = group
            .statuses
            .iter()
            .map(|(forgery, status)| format!("{forgery} got {status}"))
            .collect();
        violations.push(Violation {
            invariant: Invariant::ForgeriesRejected,
            order: objects
                .get(group.event_id)
                .and_then(|object| record.order_of_object(object))
                .map(str::to_owned),
            message: format!(
                "forged deliveries of {} ({}) were not rejected with a 4xx: {}, {consequence}",
                group.event_id,
                group.event_type,
                listed.join(", ")
            ),
        });
    }
}

/// Maps each event id in the trace to the id of its object.
fn event_objects(record: &ScenarioRecord) -> BTreeMap<&str, &str> {
    let mut objects = BTreeMap::new();
    for entry in record.trace.iter().filter(|e| e.kind == "event") {
        if let (Some(event), Some(object)) =
            (entry.str_field("event_id"), entry.str_field("object"))
        {
            objects.insert(event, object);
        }
    }
    objects
}

fn max_fulfilments(observations: &[Observation], name: &str) -> Option<u64> {
    observations
        .iter()
        .filter_map(|o| o.orders.get(name))
        .filter_map(|view| view.fulfilments)
        .max()
}

fn describe_paid(paid: &[&SessionTruth]) -> String {
    let ids: Vec<String> = paid
        .iter()
        .map(|s| format!("{} payment_status {}", s.id, s.payment_status))
        .collect();
    ids.join(", ")
}

fn show<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
}
