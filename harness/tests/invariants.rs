//! The reconciliation invariants on hand-built records: each breaks with
//! its own message, and a correct record breaks none.

use std::collections::{BTreeMap, HashSet};

use fakestripe::invariants::{Invariant, check};
use fakestripe::runner::record::{
    AbsentPointer, AppFields, CheckoutAttempt, Delivery, Moment, Observation, OrderRecord,
    OrderView, ScenarioRecord, SessionTruth, TraceEntry,
};
use fakestripe::scenario::model::OrderStatus;
use serde_json::json;

fn view(status: OrderStatus, word: &str, fulfilments: u64, released: bool) -> OrderView {
    OrderView {
        http_status: 200,
        found: true,
        status_word: Some(word.to_owned()),
        status: Some(status),
        fulfilments: Some(fulfilments),
        session_id: Some("cs_1".to_owned()),
        amount: Some(2000),
        currency: Some("eur".to_owned()),
        released: Some(released),
        error: None,
        absent_pointers: Vec::new(),
        response_keys: Vec::new(),
        request: "GET http://127.0.0.1:4242/orders/O-1".to_owned(),
        request_source: "`order.request` at fakestripe.yaml:20:12".to_owned(),
    }
}

fn session(payment_status: &str, status: &str, paid_seq: Option<u64>) -> SessionTruth {
    SessionTruth {
        id: "cs_1".to_owned(),
        attempt: 1,
        status: status.to_owned(),
        payment_status: payment_status.to_owned(),
        amount_total: Some(2000),
        currency: Some("eur".to_owned()),
        payment_intent: Some("pi_1".to_owned()),
        paid_seq,
        async_failed: false,
    }
}

fn observation(step: usize, seq: u64, order: OrderView) -> Observation {
    let moment = Moment::Step {
        index: step,
        name: "advance".to_owned(),
        line: 10 + step as u32,
    };
    Observation {
        moment,
        trace_seq: seq,
        now: 0,
        orders: BTreeMap::from([("O-1".to_owned(), order)]),
    }
}

fn record(sessions: Vec<SessionTruth>, observations: Vec<Observation>) -> ScenarioRecord {
    let order = OrderRecord {
        app_id: "O-1-x".to_owned(),
        attempts: vec![CheckoutAttempt {
            session_id: Some("cs_1".to_owned()),
            created: vec!["cs_1".to_owned()],
            http_status: 200,
        }],
        sessions,
    };
    ScenarioRecord {
        orders: BTreeMap::from([("O-1".to_owned(), order)]),
        observations,
        deliveries: Vec::new(),
        trace: Vec::new(),
        harness_requests: HashSet::new(),
        fields: AppFields {
            fulfilments: true,
            session_id: true,
            amount: true,
            currency: true,
            released: true,
        },
        charge_intents: BTreeMap::new(),
    }
}

fn delivery(event_id: &str, status: u16, forged: Option<&str>) -> Delivery {
    Delivery {
        event_id: event_id.to_owned(),
        event_type: "checkout.session.completed".to_owned(),
        endpoint: "we_1".to_owned(),
        url: "http://127.0.0.1:9/webhooks/stripe".to_owned(),
        attempt: 1,
        sent_at: 0,
        status: Some(status),
        error: None,
        latency_ms: 2,
        response_body: String::new(),
        forged: forged.map(str::to_owned),
        duplicate: false,
    }
}

/// Returns the trace entry of an event's creation.
fn event_entry(seq: u64, event_id: &str, event_type: &str, object: &str) -> TraceEntry {
    TraceEntry {
        seq,
        at: 0,
        kind: "event".to_owned(),
        detail: json!({"event_id": event_id, "type": event_type, "object": object}),
    }
}

/// Returns the trace entry of a delivery attempt that the app responded
/// to with `status`.
fn delivery_entry(seq: u64, event_id: &str, event_type: &str, status: u16) -> TraceEntry {
    TraceEntry {
        seq,
        at: 0,
        kind: "delivery".to_owned(),
        detail: json!({
            "event_id": event_id,
            "type": event_type,
            "endpoint": "we_1",
            "attempt": 1,
            "status": status,
            "error": null,
            "forged": null,
            "duplicate": false,
        }),
    }
}

/// Builds the record of a paid order read after each step with these
/// fulfilment counts. The read after step N has trace sequence number 5 × N.
fn paid_record(counts: &[u64]) -> ScenarioRecord {
    let observations = counts
        .iter()
        .enumerate()
        .map(|(step, &count)| {
            let order = if count == 0 {
                view(OrderStatus::Pending, "pending", 0, false)
            } else {
                view(OrderStatus::Paid, "paid", count, false)
            };
            observation(step, 5 * (step as u64 + 1), order)
        })
        .collect();
    record(vec![session("paid", "complete", Some(4))], observations)
}

fn broken(record: &ScenarioRecord) -> Vec<Invariant> {
    check(record, true)
        .into_iter()
        .map(|v| v.invariant)
        .collect()
}

#[test]
fn correct_paid_order_breaks_nothing() {
    let record = record(
        vec![session("paid", "complete", Some(5))],
        vec![
            observation(0, 3, view(OrderStatus::Pending, "pending", 0, false)),
            observation(1, 9, view(OrderStatus::Paid, "paid", 1, false)),
        ],
    );
    assert_eq!(check(&record, true), Vec::new());
}

#[test]
fn paid_but_not_fulfilled() {
    let record = record(
        vec![session("paid", "complete", Some(5))],
        vec![observation(
            0,
            9,
            view(OrderStatus::Pending, "pending", 0, false),
        )],
    );
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
    assert!(
        violations[0].message.contains("reports 0 fulfilments"),
        "{}",
        violations[0].message
    );
}

#[test]
fn fulfilled_before_payment() {
    let record = record(
        vec![session("paid", "complete", Some(20))],
        vec![
            observation(0, 10, view(OrderStatus::Paid, "paid", 1, false)),
            observation(1, 30, view(OrderStatus::Paid, "paid", 1, false)),
        ],
    );
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::UnpaidNotFulfilled]);
    assert!(
        violations[0]
            .message
            .starts_with("after step 1 (advance, line 10)"),
        "{}",
        violations[0].message
    );
    assert!(
        violations[0].message.contains("cs_1 was paid only later"),
        "{}",
        violations[0].message
    );
}

#[test]
fn fulfilled_twice_without_duplicates() {
    let record = record(
        vec![session("paid", "complete", Some(5))],
        vec![observation(0, 9, view(OrderStatus::Paid, "paid", 2, false))],
    );
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
    assert!(
        violations[0].message.contains("fulfilled 2 times"),
        "{}",
        violations[0].message
    );
}

#[test]
fn fulfilled_twice_after_duplicate_delivery() {
    let mut record = record(
        vec![session("paid", "complete", Some(5))],
        vec![observation(0, 9, view(OrderStatus::Paid, "paid", 2, false))],
    );
    record.deliveries = vec![delivery("evt_1", 200, None), delivery("evt_1", 200, None)];
    record.trace = vec![
        event_entry(6, "evt_1", "checkout.session.completed", "cs_1"),
        delivery_entry(7, "evt_1", "checkout.session.completed", 200),
        delivery_entry(8, "evt_1", "checkout.session.completed", 200),
    ];
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::DuplicatesIgnored]);
    let message = &violations[0].message;
    assert!(
        message.contains("event evt_1 (checkout.session.completed) was delivered 2 times"),
        "{message}"
    );
    assert!(
        message.contains("rose to 2 by the first read of the order, after step 1"),
        "{message}"
    );
}

#[test]
fn duplicate_of_other_type_not_blamed() {
    let mut record = record(
        vec![session("paid", "complete", Some(5))],
        vec![observation(0, 9, view(OrderStatus::Paid, "paid", 2, false))],
    );
    record.trace = vec![
        event_entry(6, "evt_2", "payment_intent.created", "pi_1"),
        delivery_entry(7, "evt_2", "payment_intent.created", 200),
        delivery_entry(8, "evt_2", "payment_intent.created", 200),
    ];
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
}

/// The order is fulfilled twice by step 2, and only then is an event the
/// app ignores delivered twice: the second fulfilment is not the
/// duplicate's.
#[test]
fn duplicate_after_double_fulfilment_not_blamed() {
    let mut record = paid_record(&[0, 2, 2]);
    record.trace = vec![
        event_entry(3, "evt_pi", "payment_intent.succeeded", "pi_1"),
        delivery_entry(12, "evt_pi", "payment_intent.succeeded", 200),
        delivery_entry(13, "evt_pi", "payment_intent.succeeded", 200),
    ];
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
    let message = &violations[0].message;
    assert!(
        message.starts_with("O-1 was fulfilled 2 times for one payment (cs_1 payment_status paid)"),
        "{message}"
    );
    assert!(
        message.contains(
            "rose from 0 after step 1 (advance, line 10) to 2 after step 2 (advance, line 11)"
        ),
        "{message}"
    );
    assert!(
        message.contains("no event of O-1 was delivered and accepted more than once"),
        "{message}"
    );
}

/// The first delivery of an event falls in the step where the count
/// rises. Its second delivery, in a later step, changes nothing.
#[test]
fn first_delivery_during_rise_not_blamed() {
    let mut record = paid_record(&[0, 2, 2]);
    record.trace = vec![
        event_entry(3, "evt_1", "checkout.session.completed", "cs_1"),
        delivery_entry(7, "evt_1", "checkout.session.completed", 200),
        delivery_entry(12, "evt_1", "checkout.session.completed", 200),
    ];
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
}

#[test]
fn rise_during_repeat_blames_duplicate() {
    let mut record = paid_record(&[0, 1, 2]);
    record.trace = vec![
        event_entry(3, "evt_1", "checkout.session.completed", "cs_1"),
        delivery_entry(7, "evt_1", "checkout.session.completed", 200),
        delivery_entry(12, "evt_1", "checkout.session.completed", 200),
    ];
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::DuplicatesIgnored]);
    let message = &violations[0].message;
    assert!(
        message.contains(
            "rose from 1 after step 2 (advance, line 11) to 2 after step 3 (advance, line 12) while the event was delivered again"
        ),
        "{message}"
    );
}

/// A charge event belongs to the order of the charge's payment intent.
#[test]
fn repeated_charge_event_blamed() {
    let mut record = paid_record(&[0, 1, 2]);
    record.trace = vec![
        event_entry(3, "evt_ch", "charge.succeeded", "ch_1"),
        delivery_entry(7, "evt_ch", "charge.succeeded", 200),
        delivery_entry(12, "evt_ch", "charge.succeeded", 200),
    ];
    record.charge_intents = BTreeMap::from([("ch_1".to_owned(), "pi_1".to_owned())]);
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::DuplicatesIgnored]);
    let message = &violations[0].message;
    assert!(
        message.contains("event evt_ch (charge.succeeded) was delivered 2 times"),
        "{message}"
    );
}

/// The first delivery of checkout.session.completed and a repeat of
/// payment_intent.succeeded fall between the same two reads, after the
/// order was fulfilled once. The first delivery can explain the rise, so
/// the repeat is not blamed, and the message lists both.
#[test]
fn first_delivery_beside_repeat_not_blamed() {
    let mut record = paid_record(&[0, 1, 2]);
    record.trace = vec![
        event_entry(1, "evt_pi", "payment_intent.succeeded", "pi_1"),
        event_entry(2, "evt_cs", "checkout.session.completed", "cs_1"),
        delivery_entry(7, "evt_pi", "payment_intent.succeeded", 200),
        delivery_entry(12, "evt_cs", "checkout.session.completed", 200),
        delivery_entry(13, "evt_pi", "payment_intent.succeeded", 200),
    ];
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
    let message = &violations[0].message;
    assert!(
        message.contains(
            "Between those reads came the first delivery of evt_cs (checkout.session.completed) and a repeated delivery of evt_pi (payment_intent.succeeded)"
        ),
        "{message}"
    );
    assert!(message.contains("cannot tell which"), "{message}");
    assert!(
        message.contains("because the first delivery can explain the rise"),
        "{message}"
    );
}

/// A redirect step between the reads can fulfil the order again, so a
/// repeat in the same window is not blamed.
#[test]
fn redirect_beside_repeat_not_blamed() {
    let mut record = paid_record(&[0, 1, 2]);
    if let Moment::Step { name, .. } = &mut record.observations[2].moment {
        *name = "redirect".to_owned();
    }
    record.trace = vec![
        event_entry(3, "evt_1", "checkout.session.completed", "cs_1"),
        delivery_entry(7, "evt_1", "checkout.session.completed", 200),
        delivery_entry(12, "evt_1", "checkout.session.completed", 200),
    ];
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
    let message = &violations[0].message;
    assert!(
        message.contains("Between those reads came the redirect of step 3 (line 12)"),
        "{message}"
    );
}

/// Every event arrives with its copy in one step, as under a
/// webhook_duplicate fault, and the order had no fulfilment before: the
/// rise is blamed on a repeat, and the message names the other causes.
#[test]
fn copies_together_blame_repeat() {
    let mut record = paid_record(&[0, 2]);
    record.trace = vec![
        event_entry(1, "evt_pi", "payment_intent.succeeded", "pi_1"),
        event_entry(2, "evt_cs", "checkout.session.completed", "cs_1"),
        delivery_entry(6, "evt_pi", "payment_intent.succeeded", 200),
        delivery_entry(7, "evt_pi", "payment_intent.succeeded", 200),
        delivery_entry(8, "evt_cs", "checkout.session.completed", 200),
        delivery_entry(9, "evt_cs", "checkout.session.completed", 200),
    ];
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::DuplicatesIgnored]);
    let message = &violations[0].message;
    assert!(
        message.contains("event evt_cs (checkout.session.completed) was delivered 2 times"),
        "{message}"
    );
    assert!(
        message.contains("each first delivery came with its own copy"),
        "{message}"
    );
}

/// An order without a fulfilment before rises by as many as the deliveries
/// of one repeated event, beside as many first deliveries of other types.
/// The rise is blamed on that event's repeats, because an app that fulfils
/// on every delivery of it shows that. One fewer fulfilment blames nothing.
#[test]
fn deliveries_of_one_event_make_the_rise() {
    let trace = vec![
        event_entry(1, "evt_pi", "payment_intent.succeeded", "pi_1"),
        event_entry(
            2,
            "evt_as",
            "checkout.session.async_payment_succeeded",
            "cs_1",
        ),
        event_entry(3, "evt_cs", "checkout.session.completed", "cs_1"),
        delivery_entry(6, "evt_pi", "payment_intent.succeeded", 200),
        delivery_entry(7, "evt_as", "checkout.session.async_payment_succeeded", 200),
        delivery_entry(8, "evt_cs", "checkout.session.completed", 200),
        delivery_entry(9, "evt_cs", "checkout.session.completed", 200),
        delivery_entry(10, "evt_cs", "checkout.session.completed", 200),
    ];
    let mut record = paid_record(&[0, 3]);
    record.trace = trace.clone();
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::DuplicatesIgnored]);
    let message = &violations[0].message;
    assert!(
        message.contains("event evt_cs (checkout.session.completed) was delivered 3 times"),
        "{message}"
    );
    assert!(
        message.contains("the rise equals the deliveries of this one event"),
        "{message}"
    );

    let mut record = paid_record(&[0, 2]);
    record.trace = trace;
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
}

/// A rise larger than the first deliveries in its window can explain is
/// blamed on the repeat, even after an earlier fulfilment.
#[test]
fn rise_beyond_first_deliveries_blames_repeat() {
    let mut record = paid_record(&[0, 1, 3]);
    record.trace = vec![
        event_entry(1, "evt_pi", "payment_intent.succeeded", "pi_1"),
        event_entry(2, "evt_cs", "checkout.session.completed", "cs_1"),
        delivery_entry(7, "evt_pi", "payment_intent.succeeded", 200),
        delivery_entry(12, "evt_cs", "checkout.session.completed", 200),
        delivery_entry(13, "evt_cs", "checkout.session.completed", 200),
    ];
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::DuplicatesIgnored]);
    assert!(
        violations[0]
            .message
            .contains("the rise is larger than the other causes explain"),
        "{}",
        violations[0].message
    );
}

/// A redelivery after a 500 is Stripe's retry, not a repeat of an
/// accepted delivery.
#[test]
fn retry_after_error_not_blamed() {
    let mut record = paid_record(&[0, 1, 2]);
    record.trace = vec![
        event_entry(3, "evt_1", "checkout.session.completed", "cs_1"),
        delivery_entry(11, "evt_1", "checkout.session.completed", 500),
        delivery_entry(12, "evt_1", "checkout.session.completed", 200),
    ];
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
}

/// Each rise has its own cause: a race first, then a duplicate.
#[test]
fn race_then_duplicate_breaks_both() {
    let mut record = paid_record(&[0, 2, 3]);
    record.trace = vec![
        event_entry(3, "evt_1", "checkout.session.completed", "cs_1"),
        delivery_entry(7, "evt_1", "checkout.session.completed", 200),
        delivery_entry(12, "evt_1", "checkout.session.completed", 200),
    ];
    let violations = check(&record, true);
    assert_eq!(
        broken(&record),
        vec![Invariant::PaidFulfilledOnce, Invariant::DuplicatesIgnored]
    );
    assert!(
        violations[0].message.contains("fulfilled 3 times"),
        "{}",
        violations[0].message
    );
    assert!(
        violations[1].message.contains("rose from 2 after step 2"),
        "{}",
        violations[1].message
    );
}

/// A read that fails leaves the rise between the reads on each side of
/// it, so a repeated delivery during the failed read's step still counts.
#[test]
fn unreadable_order_widens_window() {
    let mut record = paid_record(&[1, 1, 2]);
    let missing = OrderView {
        http_status: 500,
        error: Some("HTTP 500".to_owned()),
        ..OrderView::default()
    };
    record.observations[1]
        .orders
        .insert("O-1".to_owned(), missing);
    record.trace = vec![
        event_entry(3, "evt_1", "checkout.session.completed", "cs_1"),
        delivery_entry(4, "evt_1", "checkout.session.completed", 200),
        delivery_entry(8, "evt_1", "checkout.session.completed", 200),
    ];
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::DuplicatesIgnored]);
    assert!(
        violations[0]
            .message
            .contains("rose from 1 after step 1 (advance, line 10) to 2 after step 3"),
        "{}",
        violations[0].message
    );
}

#[test]
fn unsettled_double_fulfilment_blames_race() {
    let mut record = paid_record(&[0, 2]);
    record.trace = vec![
        event_entry(3, "evt_pi", "payment_intent.succeeded", "pi_1"),
        delivery_entry(11, "evt_pi", "payment_intent.succeeded", 200),
        delivery_entry(12, "evt_pi", "payment_intent.succeeded", 200),
    ];
    let violations = check(&record, false);
    let invariants: Vec<Invariant> = violations.iter().map(|v| v.invariant).collect();
    assert_eq!(invariants, vec![Invariant::PaidFulfilledOnce]);
    assert!(
        violations[0].message.contains("rose from 0 after step 1"),
        "{}",
        violations[0].message
    );
}

#[test]
fn paid_order_moved_back() {
    let record = record(
        vec![session("paid", "complete", Some(5))],
        vec![
            observation(0, 6, view(OrderStatus::Paid, "paid", 1, false)),
            observation(
                1,
                9,
                view(OrderStatus::Pending, "awaiting_payment", 1, false),
            ),
        ],
    );
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
    assert!(
        violations[0].message.contains("awaiting_payment"),
        "{}",
        violations[0].message
    );
}

#[test]
fn expired_order_not_cancelled() {
    let record = record(
        vec![session("unpaid", "expired", None)],
        vec![observation(
            0,
            9,
            view(OrderStatus::Failed, "payment_failed", 0, true),
        )],
    );
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::FailedReleased]);
    assert!(
        violations[0].message.contains("instead of cancelled"),
        "{}",
        violations[0].message
    );
}

#[test]
fn async_failure_not_released() {
    let mut failed = session("unpaid", "complete", None);
    failed.async_failed = true;
    let record = record(
        vec![failed],
        vec![observation(
            0,
            9,
            view(OrderStatus::Failed, "payment_failed", 0, false),
        )],
    );
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::FailedReleased]);
    assert!(
        violations[0].message.contains("its stock is not released"),
        "{}",
        violations[0].message
    );
}

#[test]
fn forged_delivery_accepted() {
    let mut record = record(
        vec![session("paid", "complete", Some(5))],
        vec![observation(0, 9, view(OrderStatus::Paid, "paid", 1, false))],
    );
    record.deliveries = vec![
        delivery("evt_1", 200, Some("wrong_secret")),
        delivery("evt_2", 400, Some("tampered_body")),
    ];
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::ForgeriesRejected]);
    let message = &violations[0].message;
    assert!(
        message.contains("of evt_1 (checkout.session.completed)"),
        "{message}"
    );
    assert!(
        message.contains("wrong_secret got 200, so the app accepted"),
        "{message}"
    );
    assert!(!message.contains("tampered_body"), "{message}");
}

#[test]
fn wrong_session_and_amount() {
    let mut order = view(OrderStatus::Paid, "paid", 1, false);
    order.session_id = Some("cs_other".to_owned());
    order.amount = Some(1999);
    order.currency = Some("USD".to_owned());
    let record = record(
        vec![session("paid", "complete", Some(5))],
        vec![observation(0, 9, order)],
    );
    let violations = check(&record, true);
    assert_eq!(
        broken(&record),
        vec![Invariant::PaidSessionStored, Invariant::AmountMatches]
    );
    assert!(
        violations[1]
            .message
            .contains("amount 1999 but cs_1 has amount_total 2000"),
        "{}",
        violations[1].message
    );
    assert!(
        violations[1].message.contains("currency USD"),
        "{}",
        violations[1].message
    );
}

/// An `order.session_id` pointer that names nothing in the order response
/// is reported as such, with the response's keys, not as a stored session
/// of "(none)".
#[test]
fn session_pointer_names_nothing() {
    let mut order = view(OrderStatus::Paid, "paid", 1, false);
    order.session_id = None;
    order.absent_pointers = vec![AbsentPointer {
        key: "session_id".to_owned(),
        pointer: "/nonexistent".to_owned(),
        location: "shop/fakestripe.yaml:30:15".to_owned(),
    }];
    order.response_keys = ["order_id", "status", "session_id"]
        .map(str::to_owned)
        .to_vec();
    let record = record(
        vec![session("paid", "complete", Some(5))],
        vec![observation(0, 9, order)],
    );
    let violations = check(&record, true);
    assert_eq!(broken(&record), vec![Invariant::PaidSessionStored]);
    assert_eq!(
        violations[0].message,
        "O-1: the order response has no value at the app file's `order.session_id` pointer `/nonexistent` at shop/fakestripe.yaml:30:15 (its top-level keys are order_id, status, session_id), so the pointer is likely wrong; the paid session is cs_1"
    );
}

/// A `fulfilments` pointer that names nothing: the message names the
/// pointer rather than saying the order has no count.
#[test]
fn fulfilments_pointer_names_nothing() {
    let mut order = view(OrderStatus::Paid, "paid", 1, false);
    order.fulfilments = None;
    order.absent_pointers = vec![AbsentPointer {
        key: "fulfilments".to_owned(),
        pointer: "/count".to_owned(),
        location: "shop/fakestripe.yaml:30:15".to_owned(),
    }];
    order.response_keys = ["status", "fulfilment_count"].map(str::to_owned).to_vec();
    let record = record(
        vec![session("paid", "complete", Some(5))],
        vec![observation(0, 9, order)],
    );
    let violations = check(&record, true);
    assert_eq!(violations[0].invariant, Invariant::PaidFulfilledOnce);
    assert_eq!(
        violations[0].message,
        "O-1 was paid (cs_1 payment_status paid) but the order response has no value at the app file's `order.fulfilments` pointer `/count` at shop/fakestripe.yaml:30:15 (its top-level keys are status, fulfilment_count), so the pointer is likely wrong"
    );
}

#[test]
fn unsettled_checks_only_what_must_never_happen() {
    let record = record(
        vec![session("paid", "complete", Some(5))],
        vec![observation(
            0,
            9,
            view(OrderStatus::Pending, "pending", 0, false),
        )],
    );
    assert_eq!(check(&record, false), Vec::new());
}

#[test]
fn names_round_trip() {
    for invariant in Invariant::ALL {
        assert_eq!(Invariant::from_name(invariant.name()), Some(invariant));
    }
    assert_eq!(Invariant::from_name("nope"), None);
}
