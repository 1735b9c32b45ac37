//! The `expect` and `wait_until` checks: each compares expected values
//! with what the app, the fake's objects, the request log or the delivery
//! log show now, and returns every difference.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::record::{Delivery, OrderRecord, OrderView, TraceEntry, describe_keys};
use super::scenario::{ScenarioRun, StepFailure, glob, type_matches};
use crate::report::events::Mismatch;
use crate::scenario::PlannedStep;
use crate::scenario::model::{
    DeliveryExpect, ExpectStep, FieldChecks, OrderStatus, PaymentIntentExpect, RequestMatch,
    RequestsExpect, SessionExpect, WaitUntilStep,
};
use crate::scenario::values::StoredSession;

/// The order-level expectations shared by `expect` and `wait_until`.
struct OrderChecks<'a> {
    status: Option<OrderStatus>,
    app_status: Option<&'a str>,
    fulfilments: Option<u64>,
    stored_session: Option<StoredSession>,
    amount: Option<i64>,
    currency: Option<&'a str>,
    released: Option<bool>,
}

impl OrderChecks<'_> {
    fn any(&self) -> bool {
        self.status.is_some()
            || self.app_status.is_some()
            || self.fulfilments.is_some()
            || self.stored_session.is_some()
            || self.amount.is_some()
            || self.currency.is_some()
            || self.released.is_some()
    }
}

fn mismatch(
    subject: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Mismatch {
    Mismatch {
        subject: subject.into(),
        expected: expected.into(),
        actual: actual.into(),
    }
}

fn show<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "(missing)".to_owned(), |v| v.to_string())
}

/// Shows the order's value for the app file's `order.{key}` pointer, or
/// names the pointer when it matches nothing in the order response.
fn show_field<T: ToString>(view: &OrderView, key: &str, value: Option<T>) -> String {
    match (value, view.absent_pointer(key)) {
        (Some(value), _) => value.to_string(),
        (None, Some(absent)) => {
            let shape = describe_keys(&view.response_keys);
            format!(
                "(missing: the order response has no value at {absent}, and {shape}, so the pointer is likely wrong)"
            )
        }
        (None, None) => "(missing)".to_owned(),
    }
}

/// Runs an `expect` step.
pub(crate) async fn check(
    run: &mut ScenarioRun<'_>,
    planned: &PlannedStep,
    expect: &ExpectStep,
) -> Result<(), StepFailure> {
    let mut mismatches = Vec::new();
    let mut subjects = Vec::new();
    let mut add = |subject: String, found: Vec<Mismatch>| {
        if !found.is_empty() {
            subjects.push(subject);
            mismatches.extend(found);
        }
    };
    let checks = OrderChecks {
        status: expect.status,
        app_status: expect.app_status.as_deref(),
        fulfilments: expect.fulfilments,
        stored_session: expect.stored_session.as_ref().map(|s| s.value),
        amount: expect.amount,
        currency: expect.currency.as_deref(),
        released: expect.released,
    };
    if checks.any() {
        let (name, order) = run.order(planned)?;
        let view = run.ctx.app.read_order(&order.app_id).await;
        add(
            format!("order {name}"),
            order_mismatches(&checks, &view, order),
        );
    }
    if let Some(session) = &expect.checkout_session {
        let (name, _) = run.order(planned)?;
        let subject = format!("{name}'s Checkout Session");
        add(subject, session_mismatches(run, planned, session).await?);
    }
    if let Some(intent) = &expect.payment_intent {
        let (name, _) = run.order(planned)?;
        let subject = format!("{name}'s payment intent");
        add(subject, intent_mismatches(run, planned, intent).await?);
    }
    if let Some(requests) = &expect.requests {
        run.sync_trace().await.map_err(StepFailure::new)?;
        add(
            "the app's API requests".to_owned(),
            request_mismatches(run, planned, requests),
        );
    }
    if let Some(deliveries) = &expect.deliveries {
        let all = run.deliveries().await.map_err(StepFailure::new)?;
        let found = deliveries
            .iter()
            .flat_map(|check| delivery_mismatches(check, &all))
            .collect();
        add("webhook deliveries".to_owned(), found);
    }
    if mismatches.is_empty() {
        return Ok(());
    }
    Err(StepFailure {
        message: format!("{} did not match", subjects.join(", ")),
        mismatches,
    })
}

/// Compares a `wait_until` condition with the state now, and returns the
/// differences: none when the condition is met.
pub(crate) async fn wait_condition(
    run: &mut ScenarioRun<'_>,
    planned: &PlannedStep,
    wait: &WaitUntilStep,
) -> Result<Vec<Mismatch>, StepFailure> {
    let mut mismatches = Vec::new();
    let checks = OrderChecks {
        status: wait.status,
        app_status: wait.app_status.as_deref(),
        fulfilments: wait.fulfilments,
        stored_session: wait.stored_session.as_ref().map(|s| s.value),
        amount: None,
        currency: None,
        released: wait.released,
    };
    if checks.any() {
        let (_, order) = run.order(planned)?;
        let view = run.ctx.app.read_order(&order.app_id).await;
        mismatches.extend(order_mismatches(&checks, &view, order));
    }
    if let Some(pattern) = &wait.delivered {
        let all = run.deliveries().await.map_err(StepFailure::new)?;
        let delivered = all
            .iter()
            .any(|d| type_matches(pattern, &d.event_type) && d.succeeded() && d.forged.is_none());
        if !delivered {
            let attempts = all
                .iter()
                .filter(|d| type_matches(pattern, &d.event_type))
                .count();
            mismatches.push(mismatch(
                format!("a 2xx delivery of {pattern}"),
                "at least one",
                format!("none ({attempts} attempts)"),
            ));
        }
    }
    Ok(mismatches)
}

fn order_mismatches(
    checks: &OrderChecks<'_>,
    view: &OrderView,
    order: &OrderRecord,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(error) = &view.error {
        out.push(mismatch("order read", "a JSON order", error.clone()));
        return out;
    }

    if !view.found {
        out.push(mismatch(
            "order",
            format!("{} to exist", order.app_id),
            view.not_found(),
        ));
        return out;
    }

    if let Some(expected) = checks.status
        && view.status != Some(expected)
    {
        let actual = match (&view.status, &view.status_word) {
            (Some(status), Some(word)) => format!("{} (app status \"{word}\")", status.as_str()),
            (None, Some(word)) => format!("\"{word}\", which status_map does not list"),
            _ => "(missing)".to_owned(),
        };
        out.push(mismatch("status", expected.as_str(), actual));
    }

    if let Some(expected) = checks.app_status
        && view.status_word.as_deref() != Some(expected)
    {
        out.push(mismatch(
            "app status",
            format!("\"{expected}\""),
            show(view.status_word.as_ref().map(|w| format!("\"{w}\""))),
        ));
    }

    if let Some(expected) = checks.fulfilments
        && view.fulfilments != Some(expected)
    {
        out.push(mismatch(
            "fulfilments",
            expected.to_string(),
            show_field(view, "fulfilments", view.fulfilments),
        ));
    }

    if let Some(selector) = checks.stored_session {
        let expected = match selector {
            StoredSession::None => None,
            StoredSession::Latest => order.session_of(None),
            StoredSession::First => order.session_of(Some(1)),
            StoredSession::Attempt(n) => order.session_of(Some(n)),
        };
        if view.session_id.as_deref() != expected {
            let expected_text = match (selector, expected) {
                (StoredSession::None, _) => "no session".to_owned(),
                (_, Some(id)) => format!("{id} ({selector})"),
                (_, None) => format!("the {selector} session, which the app never returned"),
            };
            out.push(mismatch(
                "stored session",
                expected_text,
                show_field(view, "session_id", view.session_id.as_deref()),
            ));
        }
    }

    if let Some(expected) = checks.amount
        && view.amount != Some(expected)
    {
        out.push(mismatch(
            "amount",
            expected.to_string(),
            show_field(view, "amount", view.amount),
        ));
    }

    if let Some(expected) = checks.currency
        && !view
            .currency
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(expected))
    {
        out.push(mismatch(
            "currency",
            expected,
            show_field(view, "currency", view.currency.as_deref()),
        ));
    }

    if let Some(expected) = checks.released
        && view.released != Some(expected)
    {
        out.push(mismatch(
            "released",
            expected.to_string(),
            show_field(view, "released", view.released),
        ));
    }
    out
}

async fn session_object(
    run: &ScenarioRun<'_>,
    planned: &PlannedStep,
    attempt: Option<u32>,
) -> Result<Value, StepFailure> {
    let (name, order) = run.order(planned)?;
    let id = order.session_of(attempt).ok_or_else(|| {
        StepFailure::new(format!(
            "{name} has no session to check: the app returned no session id"
        ))
    })?;
    // The session is read in the app's version, as the app reads it.
    let api_version = run.ctx.app.config().api_version.as_deref();
    Ok(run.ctx.fake.session_in(id, api_version).await?)
}

async fn session_mismatches(
    run: &ScenarioRun<'_>,
    planned: &PlannedStep,
    expect: &SessionExpect,
) -> Result<Vec<Mismatch>, StepFailure> {
    let attempt = expect.attempt.as_ref().map(|a| a.value);
    let session = session_object(run, planned, attempt).await?;
    let mut out = Vec::new();
    compare_field(
        &session,
        "status",
        expect.status.as_ref().map(|s| Value::String(s.clone())),
        &mut out,
    );
    compare_field(
        &session,
        "payment_status",
        expect
            .payment_status
            .as_ref()
            .map(|s| Value::String(s.clone())),
        &mut out,
    );
    compare_field(
        &session,
        "amount_total",
        expect.amount_total.map(Value::from),
        &mut out,
    );
    compare_field(
        &session,
        "currency",
        expect
            .currency
            .as_ref()
            .map(|s| Value::String(s.to_ascii_lowercase())),
        &mut out,
    );
    compare_metadata(&session, expect.metadata.as_ref(), &run.orders, &mut out);
    compare_pointers(&session, expect.fields.as_ref(), &run.orders, &mut out);
    Ok(out)
}

async fn intent_mismatches(
    run: &ScenarioRun<'_>,
    planned: &PlannedStep,
    expect: &PaymentIntentExpect,
) -> Result<Vec<Mismatch>, StepFailure> {
    let attempt = expect.attempt.as_ref().map(|a| a.value);
    let session = session_object(run, planned, attempt).await?;
    let id = match &session["payment_intent"] {
        Value::String(id) => id.clone(),
        Value::Object(intent) => intent
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => {
            let session_id = session["id"].as_str().unwrap_or_default();
            return Ok(vec![mismatch(
                "payment intent",
                format!("one on {session_id}"),
                "none (the session is not paid)",
            )]);
        }
    };
    let intent = run.ctx.fake.payment_intent(&id).await?;
    let mut out = Vec::new();
    compare_field(
        &intent,
        "status",
        expect.status.as_ref().map(|s| Value::String(s.clone())),
        &mut out,
    );
    compare_field(&intent, "amount", expect.amount.map(Value::from), &mut out);
    compare_field(
        &intent,
        "currency",
        expect
            .currency
            .as_ref()
            .map(|s| Value::String(s.to_ascii_lowercase())),
        &mut out,
    );
    compare_metadata(&intent, expect.metadata.as_ref(), &run.orders, &mut out);
    compare_pointers(&intent, expect.fields.as_ref(), &run.orders, &mut out);
    Ok(out)
}

fn compare_field(object: &Value, field: &str, expected: Option<Value>, out: &mut Vec<Mismatch>) {
    let Some(expected) = expected else { return };
    let actual = object.get(field).cloned().unwrap_or(Value::Null);
    if actual != expected {
        out.push(mismatch(field, compact(&expected), compact(&actual)));
    }
}

/// Returns the id the app was given for `text` when `text` is one of the
/// scenario's order ids, and `text` itself otherwise. The app receives
/// each order id with the run's suffix (`O-1-k3x9-0` for `O-1`).
fn app_order_id<'a>(orders: &'a BTreeMap<String, OrderRecord>, text: &'a str) -> &'a str {
    orders.get(text).map_or(text, |order| order.app_id.as_str())
}

fn compare_metadata(
    object: &Value,
    expected: Option<&BTreeMap<String, String>>,
    orders: &BTreeMap<String, OrderRecord>,
    out: &mut Vec<Mismatch>,
) {
    let Some(expected) = expected else { return };
    for (key, value) in expected {
        let value = app_order_id(orders, value);
        let actual = object["metadata"].get(key);
        if actual.and_then(Value::as_str) != Some(value) {
            out.push(mismatch(
                format!("metadata.{key}"),
                format!("\"{value}\""),
                actual.map_or("(missing)".to_owned(), compact),
            ));
        }
    }
}

fn compare_pointers(
    object: &Value,
    expected: Option<&FieldChecks>,
    orders: &BTreeMap<String, OrderRecord>,
    out: &mut Vec<Mismatch>,
) {
    let Some(FieldChecks(expected)) = expected else {
        return;
    };
    for (pointer, value) in expected {
        let value = match value {
            Value::String(text) => &Value::String(app_order_id(orders, text).to_owned()),
            other => other,
        };
        let actual = object.pointer(&pointer.value);
        if actual != Some(value) {
            out.push(mismatch(
                pointer.value.clone(),
                compact(value),
                actual.map_or("(missing)".to_owned(), compact),
            ));
        }
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(text) => format!("\"{text}\""),
        other => other.to_string(),
    }
}

fn request_mismatches(
    run: &ScenarioRun<'_>,
    planned: &PlannedStep,
    expect: &RequestsExpect,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let record = run.record(Vec::new());
    let app_requests: Vec<&TraceEntry> = record.app_requests().collect();
    let session_creates: Vec<&&TraceEntry> = app_requests
        .iter()
        .filter(|e| {
            e.str_field("method") == Some("POST")
                && e.str_field("path") == Some("/v1/checkout/sessions")
        })
        .collect();

    if let Some(expected) = expect.session_retrieved_before_fulfilment {
        let names: Vec<String> = match &planned.order {
            Some(name) => vec![name.clone()],
            None => run.orders.keys().cloned().collect(),
        };
        for name in names {
            let Some(order) = run.orders.get(&name) else {
                continue;
            };
            let fulfilled_at = run.observations.iter().find(|o| {
                o.orders
                    .get(&name)
                    .is_some_and(|view| view.found && view.fulfilled())
            });
            let Some(fulfilled_at) = fulfilled_at else {
                if expected {
                    out.push(mismatch(
                        format!("{name} fulfilled after retrieving its session"),
                        "fulfilled",
                        "never fulfilled",
                    ));
                }
                continue;
            };
            let sessions = order.session_ids();
            let retrieved = app_requests.iter().any(|entry| {
                entry.seq <= fulfilled_at.trace_seq
                    && entry.str_field("method") == Some("GET")
                    && entry
                        .str_field("path")
                        .is_some_and(|path| path.starts_with("/v1/checkout/sessions"))
                    && (sessions.iter().any(|id| {
                        entry.str_field("path") == Some(&format!("/v1/checkout/sessions/{id}"))
                    }) || entry.detail["objects"].as_array().is_some_and(|objects| {
                        objects
                            .iter()
                            .any(|o| sessions.iter().any(|id| o.as_str() == Some(id)))
                    }))
            });
            if retrieved != expected {
                let actual = if retrieved {
                    "the app retrieved it".to_owned()
                } else {
                    format!(
                        "no GET of {} before the order was fulfilled ({})",
                        sessions.join(" or "),
                        fulfilled_at.moment
                    )
                };
                let expected_text = if expected {
                    "a GET of the session first"
                } else {
                    "no GET of the session"
                };
                out.push(mismatch(
                    format!("{name}: session retrieved before fulfilment"),
                    expected_text,
                    actual,
                ));
            }
        }
    }

    if let Some(expected) = expect.idempotent_session_creates {
        let without: Vec<String> = session_creates
            .iter()
            .filter(|e| {
                e.detail["idempotency_key"]
                    .as_str()
                    .is_none_or(str::is_empty)
            })
            .map(|e| e.str_field("request_id").unwrap_or("?").to_owned())
            .collect();
        let all_keyed = without.is_empty() && !session_creates.is_empty();
        if all_keyed != expected {
            let actual = if session_creates.is_empty() {
                "no session create at all".to_owned()
            } else if without.is_empty() {
                format!("all {} carried one", session_creates.len())
            } else {
                format!(
                    "{} of {} had none ({})",
                    without.len(),
                    session_creates.len(),
                    without.join(", ")
                )
            };
            let expected_text = if expected {
                "every session create with an Idempotency-Key"
            } else {
                "a create without one"
            };
            out.push(mismatch("idempotency keys", expected_text, actual));
        }
    }

    if let Some(max) = expect.max_sessions_per_order {
        for (name, order) in &run.orders {
            let created: BTreeSet<String> = order
                .attempts
                .iter()
                .flat_map(|a| a.created.iter().cloned())
                .collect();
            if created.len() > max as usize {
                let ids: Vec<String> = created.into_iter().collect();
                out.push(mismatch(
                    format!("sessions created for {name}"),
                    format!("at most {max}"),
                    format!("{} ({})", ids.len(), ids.join(", ")),
                ));
            }
        }
    }

    for matcher in expect.matching.iter().flatten() {
        let sessions = planned
            .order
            .as_ref()
            .and_then(|name| run.orders.get(name))
            .map(OrderRecord::session_ids);
        let count = app_requests
            .iter()
            .filter(|entry| request_matches(matcher, entry, sessions.as_deref()))
            .count() as u32;
        let label = format!(
            "requests {} {}",
            matcher.method.as_deref().unwrap_or("*"),
            matcher.path
        );
        check_count(
            &label,
            count,
            matcher.count.as_ref().map(|count| count.value),
            matcher.min.as_ref().map(|min| min.value),
            matcher.max.as_ref().map(|max| max.value),
            &mut out,
        );
    }
    out
}

fn request_matches(
    matcher: &RequestMatch,
    entry: &TraceEntry,
    sessions: Option<&[String]>,
) -> bool {
    if let Some(method) = &matcher.method
        && !entry
            .str_field("method")
            .is_some_and(|m| m.eq_ignore_ascii_case(method))
    {
        return false;
    }
    if let Some(status) = matcher.status
        && !entry.detail["status"]
            .as_u64()
            .is_some_and(|s| status.matches(s as u16))
    {
        return false;
    }
    let path = entry.str_field("path").unwrap_or_default();
    // A session retrieve that expands its line items reads them as their
    // list does, so it also counts as a request of that list.
    let expands_line_items = entry.detail["expand"]
        .as_array()
        .is_some_and(|paths| paths.iter().any(|p| p == "line_items"));
    let as_list = expands_line_items.then(|| format!("{path}/line_items"));
    let path_matches = |pattern: &str| {
        glob(pattern.as_bytes(), path.as_bytes(), false)
            || as_list
                .as_ref()
                .is_some_and(|list| glob(pattern.as_bytes(), list.as_bytes(), false))
    };
    if matcher.path.contains("{session}") {
        return sessions
            .unwrap_or_default()
            .iter()
            .any(|id| path_matches(&matcher.path.replace("{session}", id)));
    }
    path_matches(&matcher.path)
}

fn check_count(
    label: &str,
    count: u32,
    exact: Option<u32>,
    min: Option<u32>,
    max: Option<u32>,
    out: &mut Vec<Mismatch>,
) {
    if let Some(exact) = exact {
        if count != exact {
            out.push(mismatch(label, exact.to_string(), count.to_string()));
        }
        return;
    }
    // Without any bound, a check requires at least one match.
    let min = min.or(if max.is_none() { Some(1) } else { None });
    if let Some(min) = min
        && count < min
    {
        out.push(mismatch(
            label,
            format!("at least {min}"),
            count.to_string(),
        ));
    }
    if let Some(max) = max
        && count > max
    {
        out.push(mismatch(label, format!("at most {max}"), count.to_string()));
    }
}

fn delivery_mismatches(check: &DeliveryExpect, deliveries: &[Delivery]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let matching: Vec<&Delivery> = deliveries
        .iter()
        .filter(|d| {
            check
                .event_type
                .as_ref()
                .is_none_or(|pattern| type_matches(pattern, &d.event_type))
        })
        .filter(|d| {
            check
                .forged
                .is_none_or(|forged| d.forged.is_some() == forged)
        })
        .filter(|d| {
            check
                .duplicate
                .is_none_or(|duplicate| d.duplicate == duplicate)
        })
        .collect();
    let mut label = String::from("deliveries");
    if let Some(pattern) = &check.event_type {
        label.push_str(&format!(" of {pattern}"));
    }
    match check.forged {
        Some(true) => label.push_str(" (forged)"),
        Some(false) => label.push_str(" (genuine)"),
        None => {}
    }
    match check.duplicate {
        Some(true) => label.push_str(" (duplicates)"),
        Some(false) => label.push_str(" (not duplicates)"),
        None => {}
    }
    check_count(
        &label,
        matching.len() as u32,
        check.count.as_ref().map(|count| count.value),
        check.min.as_ref().map(|min| min.value),
        check.max.as_ref().map(|max| max.value),
        &mut out,
    );
    if let Some(status) = check.status {
        // Attempts that never reached the app (dropped by a fault, or no
        // response) have no status to compare.
        let wrong: Vec<String> = matching
            .iter()
            .filter_map(|d| {
                let forged = d
                    .forged
                    .as_deref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default();
                d.status
                    .filter(|s| !status.matches(*s))
                    .map(|s| format!("{} attempt {}{forged} got {s}", d.event_id, d.attempt))
            })
            .collect();
        if !wrong.is_empty() {
            out.push(mismatch(
                format!("{label}: app's response"),
                status.to_string(),
                wrong.join(", "),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_default_to_at_least_one() {
        let mut out = Vec::new();
        check_count("x", 0, None, None, None, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].expected, "at least 1");
        out.clear();
        check_count("x", 0, None, None, Some(0), &mut out);
        assert!(out.is_empty());
        check_count("x", 2, Some(1), None, None, &mut out);
        assert_eq!(out[0].actual, "2");
    }

    fn orders_with(name: &str, app_id: &str) -> BTreeMap<String, OrderRecord> {
        let order = OrderRecord {
            app_id: app_id.to_owned(),
            attempts: Vec::new(),
            sessions: Vec::new(),
        };
        BTreeMap::from([(name.to_owned(), order)])
    }

    #[test]
    fn metadata_order_id_gets_run_suffix() {
        let orders = orders_with("O-1", "O-1-dwmc-0");
        let session =
            serde_json::json!({ "metadata": { "order_id": "O-1-dwmc-0", "note": "O-1" } });
        let mut out = Vec::new();
        let expected = BTreeMap::from([("order_id".to_owned(), "O-1".to_owned())]);
        compare_metadata(&session, Some(&expected), &orders, &mut out);
        assert!(out.is_empty(), "{out:?}");

        let expected = BTreeMap::from([("note".to_owned(), "O-1".to_owned())]);
        compare_metadata(&session, Some(&expected), &orders, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].subject, "metadata.note");
        assert_eq!(out[0].expected, "\"O-1-dwmc-0\"");
        assert_eq!(out[0].actual, "\"O-1\"");
    }

    #[test]
    fn metadata_other_text_unchanged() {
        let orders = orders_with("O-1", "O-1-dwmc-0");
        let session = serde_json::json!({ "metadata": { "order_id": "O-1-dwmc-0" } });
        let mut out = Vec::new();
        let expected = BTreeMap::from([("order_id".to_owned(), "O-2".to_owned())]);
        compare_metadata(&session, Some(&expected), &orders, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].expected, "\"O-2\"");
        assert_eq!(out[0].actual, "\"O-1-dwmc-0\"");
    }
}
