//! Finds the rises of an order's fulfilment count above one, and decides
//! whether a repeated webhook delivery is to blame for each
//! (`duplicates_ignored`) or not (`paid_fulfilled_once`).
//!
//! Orders are read only after whole steps, so one step can contain both a
//! repeated delivery and another thing that can fulfil the order: the
//! first delivery of a fulfilling event, or a redirect. [`blamed_repeat`]
//! states the rule for that case.

use std::collections::{BTreeMap, BTreeSet};

use super::event_objects;
use crate::runner::record::{Moment, Observation, ScenarioRecord, TraceEntry};

/// Event types an app fulfils an order from, most common first. A
/// delivery of any other type cannot explain a fulfilment, so it is
/// neither blamed nor counted as another possible cause.
const FULFILLING_TYPES: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "payment_intent.succeeded",
    "charge.succeeded",
];

/// An accepted (2xx), unforged delivery of an event of a fulfilling type.
#[derive(Debug, Clone, Copy)]
pub(super) struct AcceptedDelivery<'a> {
    /// The trace sequence number of the delivery, written once the app
    /// had responded.
    pub seq: u64,
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// Whether the app had accepted the event before.
    pub repeat: bool,
    /// Accepted deliveries of the event during the whole scenario.
    pub accepted: usize,
}

impl AcceptedDelivery<'_> {
    fn describe(&self) -> String {
        format!("{} ({})", self.event_id, self.event_type)
    }
}

/// Lists the accepted deliveries of each event of a fulfilling type, by
/// the scenario's name of the event's order, in trace order. Forged
/// deliveries do not count.
pub(super) fn accepted_deliveries(
    record: &ScenarioRecord,
) -> BTreeMap<&str, Vec<AcceptedDelivery<'_>>> {
    let accepted: Vec<&TraceEntry> = record
        .trace
        .iter()
        .filter(|entry| entry.kind == "delivery")
        .filter(|entry| {
            entry.detail["status"]
                .as_u64()
                .is_some_and(|status| (200..300).contains(&status))
        })
        .filter(|entry| entry.detail["forged"].is_null())
        .filter(|entry| {
            entry
                .str_field("type")
                .is_some_and(|kind| FULFILLING_TYPES.contains(&kind))
        })
        .collect();
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in &accepted {
        if let Some(event_id) = entry.str_field("event_id") {
            *totals.entry(event_id).or_default() += 1;
        }
    }
    let objects = event_objects(record);
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut by_order: BTreeMap<&str, Vec<AcceptedDelivery<'_>>> = BTreeMap::new();
    for entry in accepted {
        let (Some(event_id), Some(event_type)) =
            (entry.str_field("event_id"), entry.str_field("type"))
        else {
            continue;
        };
        let repeat = !seen.insert(event_id);
        let Some(order) = objects
            .get(event_id)
            .and_then(|object| record.order_of_object(object))
        else {
            continue;
        };
        by_order.entry(order).or_default().push(AcceptedDelivery {
            seq: entry.seq,
            event_id,
            event_type,
            repeat,
            accepted: totals[event_id],
        });
    }
    by_order
}

/// A rise of an order's fulfilment count to more than one, between two
/// reads of the order.
#[derive(Debug)]
pub(super) struct ExtraFulfilment<'a> {
    /// The previous read with a fulfilment count, and that count. `None`
    /// when the rise shows in the first such read.
    pub before: Option<(&'a Moment, u64)>,
    /// The read that shows the rise, and its count.
    pub after: (&'a Moment, u64),
    /// The order's accepted deliveries between the two reads.
    pub window: Vec<AcceptedDelivery<'a>>,
    /// The redirect steps between the two reads.
    pub redirects: Vec<&'a Moment>,
    /// The repeated delivery that the rise is blamed on, if any.
    pub repeat: Option<AcceptedDelivery<'a>>,
    /// Why the repeated delivery is blamed when the window also contains
    /// other causes, as a clause for messages.
    pub reason: Option<&'static str>,
}

impl ExtraFulfilment<'_> {
    /// Describes the rise for messages: `from 1 after step 2 (pay, line 16)
    /// to 2 after step 3 (redirect, line 17)`.
    pub(super) fn describe_rise(&self) -> String {
        let (moment, count) = self.after;
        match self.before {
            Some((before, previous)) => {
                format!("from {previous} {before} to {count} {moment}")
            }
            None => format!("to {count} by the first read of the order, {moment}"),
        }
    }

    /// Returns whether something other than a repeated delivery happened
    /// between the two reads that could have fulfilled the order.
    pub(super) fn has_other_causes(&self) -> bool {
        !self.redirects.is_empty() || self.window.iter().any(|d| !d.repeat)
    }

    /// Names the causes other than repeated deliveries between the two
    /// reads, for messages: `the first deliveries`, `the redirect`.
    pub(super) fn describe_other_causes(&self) -> &'static str {
        let firsts = self.window.iter().filter(|d| !d.repeat).count();
        match (firsts, self.redirects.len()) {
            (0, 1) => "the redirect",
            (0, _) => "the redirects",
            (1, 0) => "the first delivery",
            (_, 0) => "the first deliveries",
            _ => "the first deliveries and redirects",
        }
    }

    /// Describes what happened between the two reads that could have
    /// fulfilled the order: `the redirect of step 3 (line 8), the first
    /// delivery of evt_1 (checkout.session.completed), and a repeated
    /// delivery of evt_2 (payment_intent.succeeded)`.
    pub(super) fn describe_window(&self) -> String {
        let mut parts: Vec<String> = self
            .redirects
            .iter()
            .map(|moment| match moment {
                Moment::Step { index, line, .. } => {
                    format!("the redirect of step {} (line {line})", index + 1)
                }
                Moment::Settle => "a redirect".to_owned(),
            })
            .collect();
        let firsts = distinct_events(self.window.iter().filter(|d| !d.repeat));
        if !firsts.is_empty() {
            let noun = if firsts.len() == 1 {
                "delivery"
            } else {
                "deliveries"
            };
            parts.push(format!("the first {noun} of {}", join(&firsts)));
        }
        let repeats = distinct_events(self.window.iter().filter(|d| d.repeat));
        if !repeats.is_empty() {
            let noun = if repeats.len() == 1 {
                "a repeated delivery"
            } else {
                "repeated deliveries"
            };
            parts.push(format!("{noun} of {}", join(&repeats)));
        }
        join(&parts)
    }
}

/// Lists each event once, in the order of its first delivery here.
fn distinct_events<'a>(deliveries: impl Iterator<Item = &'a AcceptedDelivery<'a>>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    deliveries
        .filter(|d| seen.insert(d.event_id))
        .map(AcceptedDelivery::describe)
        .collect()
}

/// Joins words as a list in a sentence: `a`, `a and b`, `a, b, and c`.
fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [first, second] => format!("{first} and {second}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

/// Finds each rise of an order's fulfilment count to more than one across
/// the reads taken after every step, with what happened between the read
/// before the rise and the read that shows it. A read without a count
/// widens the window to the next read that has one.
pub(super) fn extra_fulfilments<'a>(
    observations: &'a [Observation],
    name: &str,
    deliveries: &[AcceptedDelivery<'a>],
) -> Vec<ExtraFulfilment<'a>> {
    let mut extras = Vec::new();
    let mut previous: Option<(&Moment, u64, u64)> = None;
    let mut redirects: Vec<&Moment> = Vec::new();
    for observation in observations {
        if matches!(&observation.moment, Moment::Step { name, .. } if name == "redirect") {
            redirects.push(&observation.moment);
        }
        let Some(count) = observation
            .orders
            .get(name)
            .filter(|view| view.found)
            .and_then(|view| view.fulfilments)
        else {
            continue;
        };
        let (before, since) = match previous {
            Some((moment, previous_count, seq)) => (Some((moment, previous_count)), seq),
            None => (None, 0),
        };
        let previous_count = before.map_or(0, |(_, previous_count)| previous_count);
        if count > previous_count && count > 1 {
            let window: Vec<AcceptedDelivery<'a>> = deliveries
                .iter()
                .filter(|d| d.seq > since && d.seq <= observation.trace_seq)
                .copied()
                .collect();
            let blamed = blamed_repeat(&window, redirects.len(), previous_count, count);
            extras.push(ExtraFulfilment {
                before,
                after: (&observation.moment, count),
                window,
                redirects: std::mem::take(&mut redirects),
                repeat: blamed.map(|(repeat, _)| repeat),
                reason: blamed.map(|(_, reason)| reason),
            });
        }
        redirects.clear();
        previous = Some((&observation.moment, count, observation.trace_seq));
    }
    extras
}

/// Decides whether a rise of the fulfilment count from `previous` to
/// `count` is blamed on a repeated delivery in `window`, on which, and
/// why.
///
/// The rise is blamed on a repeated delivery when one is in the window
/// and
/// - nothing else in the window could fulfil the order: no first
///   delivery of a fulfilling event and no redirect; or
/// - the rise is larger than the number of those other causes, each counted
///   as at most one fulfilment; or
/// - the order had no fulfilment before the window, and no redirect is in
///   it. Every first delivery in it is also of an event that is repeated
///   there, as when a `webhook_duplicate` fault or a concurrent `resend`
///   sends copies together. An app that skips repeated event ids would
///   then have fulfilled at most once per event type; or
/// - the order had no fulfilment before the window, no redirect is in it,
///   and the rise equals the number of deliveries of one repeated event
///   there, as when an app fulfils on every delivery of
///   checkout.session.completed.
///
/// NOTE: the last two cases are wrong for an app that skips repeated event
/// ids but fulfils from several event types of one payment, when the
/// copies or the count happen to match. Such a rise is blamed on a
/// repeated delivery.
fn blamed_repeat<'a>(
    window: &[AcceptedDelivery<'a>],
    redirects: usize,
    previous: u64,
    count: u64,
) -> Option<(AcceptedDelivery<'a>, &'static str)> {
    let repeats: Vec<&AcceptedDelivery<'a>> = window.iter().filter(|d| d.repeat).collect();
    // The repeat of the most common fulfilling type is named, because
    // that is the likeliest cause when several are repeated.
    let named = repeats.iter().min_by_key(|d| {
        FULFILLING_TYPES
            .iter()
            .position(|kind| *kind == d.event_type)
    })?;
    let firsts: BTreeSet<&str> = window
        .iter()
        .filter(|d| !d.repeat)
        .map(|d| d.event_id)
        .collect();
    let other_causes = firsts.len() + redirects;
    let only_copies = previous == 0
        && redirects == 0
        && firsts
            .iter()
            .all(|first| repeats.iter().any(|repeat| repeat.event_id == *first));
    // An event that, counted with its repeats, makes up the whole rise.
    let whole_rise = (previous == 0 && redirects == 0)
        .then(|| {
            repeats.iter().find(|repeat| {
                let deliveries = window
                    .iter()
                    .filter(|d| d.event_id == repeat.event_id)
                    .count();
                deliveries as u64 == count
            })
        })
        .flatten();
    let (blamed, reason) = if other_causes == 0 {
        (named, "nothing else could have fulfilled the order")
    } else if count - previous > other_causes as u64 {
        (
            named,
            "the rise is larger than the other causes explain, each fulfilling at most once",
        )
    } else if only_copies {
        (
            named,
            "the order had no fulfilment before, and each first delivery came with its own copy",
        )
    } else if let Some(repeat) = whole_rise {
        (
            repeat,
            "the order had no fulfilment before, and the rise equals the deliveries of this one event",
        )
    } else {
        return None;
    };
    Some((**blamed, reason))
}
