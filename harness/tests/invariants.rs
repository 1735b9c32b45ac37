//! The reconciliation invariants on hand-built records: each breaks with
//! its own message, and a correct record breaks none.

use std::collections::{BTreeMap, HashSet};

use fakestripe::invariants::{Invariant, check};
use fakestripe::runner::record::{
    AppFields, CheckoutAttempt, Delivery, Moment, Observation, OrderRecord, OrderView,
    ScenarioRecord, SessionTruth, TraceEntry,
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
    }
}

fn delivery(event_id: &str, status: u16, forged: Option<&str>) -> Delivery {
    Delivery {
        event_id: event_id.to_owned(),
        event_type: "checkout.session.completed".to_owned(),
        endpoint: "we_1".to_owned(),
        attempt: 1,
        sent_at: 0,
        status: Some(status),
        error: None,
        response_body: String::new(),
        forged: forged.map(str::to_owned),
        duplicate: false,
    }
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
    record.trace = vec![TraceEntry {
        seq: 6,
        at: 0,
        kind: "event".to_owned(),
        detail: json!({"event_id": "evt_1", "type": "checkout.session.completed", "object": "cs_1"}),
    }];
    assert_eq!(broken(&record), vec![Invariant::DuplicatesIgnored]);
}

#[test]
fn duplicate_of_other_type_not_blamed() {
    let mut record = record(
        vec![session("paid", "complete", Some(5))],
        vec![observation(0, 9, view(OrderStatus::Paid, "paid", 2, false))],
    );
    let mut created = delivery("evt_2", 200, None);
    created.event_type = "payment_intent.created".to_owned();
    record.deliveries = vec![created.clone(), created];
    record.trace = vec![TraceEntry {
        seq: 6,
        at: 0,
        kind: "event".to_owned(),
        detail: json!({"event_id": "evt_2", "type": "payment_intent.created", "object": "cs_1"}),
    }];
    assert_eq!(broken(&record), vec![Invariant::PaidFulfilledOnce]);
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
