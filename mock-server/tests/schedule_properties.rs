//! Property tests of the delivery scheduler under random fault plans: the
//! plan delays, reorders, duplicates, drops, holds and forges deliveries,
//! while the customer pays, fails and abandons checkouts. The fake runs in
//! process with a manual clock and Stripe's retry schedule, and a receiver
//! in the test plays the webhook endpoints: two healthy ones and one that
//! always answers 500. Each case uses fresh API keys, so cases never share
//! an account.
//!
//! Failing cases are kept by proptest in
//! `proptest-regressions/schedule_properties.txt` under this crate, and are
//! run again first on the next run.

mod common;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use common::{
    RUNTIME, Receiver, Reply, case_number, genuine, http, on_runtime, proptest_config, send,
    start_manual_fake,
};
use fakestripe_server::Server;
use fakestripe_server::config::DEFAULT_RETRY_SCHEDULE;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Value, json};

static FAKE: LazyLock<Server> = LazyLock::new(|| start_manual_fake(None));

static RECEIVER: LazyLock<Receiver> = LazyLock::new(|| on_runtime(Receiver::start()));

fn config(cases: u32) -> ProptestConfig {
    let failures = FileFailurePersistence::Direct("proptest-regressions/schedule_properties.txt");
    proptest_config(cases, failures)
}

/// Virtual time every account starts at, so two runs of a case have the
/// same clock.
const START: i64 = 1_767_225_600;

/// The clock advance after the customer's actions. It is longer than the
/// longest delay a generated plan draws (a few hours), plus Stripe's retry
/// schedule (about 2.2 days), plus the 24 hours after which an open session
/// expires.
const SETTLE_SECONDS: i64 = 10 * 86_400;

/// The webhook endpoints of an account, by receiver path suffix: the types
/// they subscribe to and whether they respond with 2xx.
const ENDPOINTS: &[(&str, &[&str], bool)] = &[
    ("all", &["*"], true),
    (
        "sessions",
        &[
            "checkout.session.completed",
            "checkout.session.expired",
            "checkout.session.async_payment_succeeded",
            "checkout.session.async_payment_failed",
        ],
        true,
    ),
    ("down", &["*"], false),
];

// ---------------------------------------------------------------------------
// Calls to the fake.

async fn stripe_post(key: &str, path: &str, form: &[(&str, &str)]) -> Reply {
    send(
        http()
            .post(format!("{}{path}", FAKE.base_url()))
            .bearer_auth(key)
            .form(form),
    )
    .await
}

async fn stripe_get(key: &str, path: &str) -> Reply {
    send(
        http()
            .get(format!("{}{path}", FAKE.base_url()))
            .bearer_auth(key),
    )
    .await
}

async fn control(key: &str, method: reqwest::Method, path: &str, body: Value) -> Reply {
    send(
        http()
            .request(method, format!("{}/_fakestripe{path}", FAKE.base_url()))
            .bearer_auth(key)
            .json(&body),
    )
    .await
}

async fn advance(key: &str, seconds: i64) {
    let reply = control(
        key,
        reqwest::Method::POST,
        "/clock/advance",
        json!({ "seconds": seconds }),
    )
    .await;
    assert_eq!(reply.status, 200, "advance: {}", reply.json);
}

async fn set_plan(key: &str, seed: u64, faults: &[Value]) {
    let reply = control(
        key,
        reqwest::Method::PUT,
        "/faults",
        json!({ "seed": seed, "faults": faults }),
    )
    .await;
    assert_eq!(reply.status, 200, "fault plan rejected: {}", reply.json);
}

/// Lists every event of the account.
async fn all_events(key: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut path = "/v1/events?limit=100".to_owned();
    loop {
        let page = stripe_get(key, &path).await;
        assert_eq!(page.status, 200, "listing events: {}", page.json);
        let data = page.json["data"].as_array().cloned().unwrap_or_default();
        if let Some(last) = data.last() {
            path = format!(
                "/v1/events?limit=100&starting_after={}",
                last["id"].as_str().unwrap_or_default()
            );
        }
        events.extend(data);
        if page.json["has_more"] != json!(true) {
            return events;
        }
    }
}

// ---------------------------------------------------------------------------
// Generated fault plans and customer traffic.

/// Event type patterns for the plan's `types`.
fn types() -> impl Strategy<Value = Vec<String>> {
    let pattern = prop::sample::select(vec![
        "*",
        "checkout.session.*",
        "checkout.session.completed",
        "payment_intent.*",
        "payment_intent.succeeded",
        "charge.*",
    ]);
    prop::collection::vec(pattern.prop_map(str::to_owned), 1..3)
}

/// Returns a strategy for one fault plan entry that changes how deliveries
/// go out. A drop loses at most as many attempts as the retry schedule has
/// retries, so every event still has one attempt left.
fn fault() -> impl Strategy<Value = Value> {
    let retries = DEFAULT_RETRY_SCHEDULE.len() as u32;
    prop_oneof![
        (types(), 0i64..7_200).prop_map(|(types, seconds)| json!({
            "kind": "webhook_delay", "types": types, "distribution": "fixed", "seconds": seconds
        })),
        (types(), 0i64..600, 0i64..3_600).prop_map(|(types, min, extra)| json!({
            "kind": "webhook_delay", "types": types, "distribution": "uniform",
            "min_seconds": min, "max_seconds": min + extra
        })),
        (types(), 1u32..3_600).prop_map(|(types, mean)| json!({
            "kind": "webhook_delay", "types": types, "distribution": "exponential",
            "mean_seconds": mean
        })),
        (types(), 1i64..120).prop_map(|(order, spacing)| json!({
            "kind": "webhook_order", "order": order, "spacing_seconds": spacing
        })),
        types()
            .prop_map(|types| json!({ "kind": "webhook_order", "shuffle": true, "types": types })),
        (
            types(),
            1u32..4,
            any::<bool>(),
            0i64..600,
            prop::sample::select(vec![0.0, 0.5, 1.0])
        )
            .prop_map(|(types, copies, concurrent, delay, probability)| json!({
                "kind": "webhook_duplicate", "types": types, "copies": copies,
                "concurrent": concurrent, "delay_seconds": delay, "probability": probability
            })),
        (types(), 1..=retries).prop_map(|(types, attempts)| json!({
            "kind": "webhook_drop", "types": types, "attempts": attempts
        })),
        types().prop_map(|types| json!({ "kind": "hold", "types": types })),
        (
            types(),
            prop::sample::subsequence(
                vec!["wrong_secret", "stale_timestamp", "tampered_body"],
                1..=3
            )
        )
            .prop_map(|(types, forgeries)| json!({
                "kind": "forged_webhook", "types": types, "forgeries": forgeries
            })),
    ]
}

/// Returns a strategy for a fault plan: its seed and entries.
fn plan() -> impl Strategy<Value = (u64, Vec<Value>)> {
    (any::<u64>(), prop::collection::vec(fault(), 0..6))
}

/// One thing the customer or the clock does.
#[derive(Debug, Clone)]
enum Op {
    /// A card checkout, declined first when `declined_first`.
    Card {
        declined_first: bool,
    },
    /// A SEPA Direct Debit that settles after `delay` seconds.
    Sepa {
        succeed: bool,
        delay: i64,
    },
    /// A checkout the customer abandons, expired through the API.
    Abandon,
    Advance {
        seconds: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(|declined_first| Op::Card { declined_first }),
        2 => (any::<bool>(), prop::sample::select(vec![0i64, 60, 600, 7_200]))
            .prop_map(|(succeed, delay)| Op::Sepa { succeed, delay }),
        1 => Just(Op::Abandon),
        2 => prop::sample::select(vec![0i64, 30, 600, 3_600]).prop_map(|seconds| Op::Advance { seconds }),
    ]
}

// ---------------------------------------------------------------------------
// One run of a case on a fresh account.

/// What one run of a case left behind.
struct Run {
    key: String,
    /// Receiver path and signing secret of each endpoint, in `ENDPOINTS` order.
    endpoints: Vec<(String, String)>,
    events: Vec<Value>,
    trace: Vec<Value>,
    held_after: usize,
}

async fn create_session(key: &str, currency: &str) -> String {
    let reply = stripe_post(
        key,
        "/v1/checkout/sessions",
        &[
            ("mode", "payment"),
            ("success_url", "https://shop.test/ok"),
            ("line_items[0][price_data][currency]", currency),
            ("line_items[0][price_data][unit_amount]", "1500"),
            ("line_items[0][price_data][product_data][name]", "Item"),
            ("line_items[0][quantity]", "1"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "creating a session: {}", reply.json);
    reply.json["id"].as_str().unwrap_or_default().to_owned()
}

async fn pay(key: &str, session: &str, body: Value) {
    let reply = control(
        key,
        reqwest::Method::POST,
        &format!("/checkout/sessions/{session}/pay"),
        body,
    )
    .await;
    assert_eq!(reply.status, 200, "paying {session}: {}", reply.json);
}

async fn apply(key: &str, op: &Op) {
    match op {
        Op::Card { declined_first } => {
            let session = create_session(key, "usd").await;
            if *declined_first {
                let declined = json!({"payment_method": "card", "card_number": "4000000000000002"});
                pay(key, &session, declined).await;
            }
            let success = json!({"payment_method": "card", "card_number": "4242424242424242"});
            pay(key, &session, success).await;
        }
        Op::Sepa { succeed, delay } => {
            let session = create_session(key, "eur").await;
            let outcome = if *succeed { "succeeded" } else { "failed" };
            let body =
                json!({"payment_method": "sepa_debit", "outcome": outcome, "delay_seconds": delay});
            pay(key, &session, body).await;
        }
        Op::Abandon => {
            let session = create_session(key, "usd").await;
            let path = format!("/v1/checkout/sessions/{session}/expire");
            let reply = stripe_post(key, &path, &[]).await;
            assert_eq!(reply.status, 200, "expiring {session}: {}", reply.json);
        }
        Op::Advance { seconds } => advance(key, *seconds).await,
    }
}

/// Runs a case on a fresh account: sets the clock and the plan, registers
/// the endpoints, plays the ops, then takes the holds out of the plan,
/// releases every held delivery and lets the clock settle.
async fn run_case(label: &str, seed: u64, faults: &[Value], ops: &[Op]) -> Run {
    let key = format!("sk_test_schedule_{label}");
    let clock = control(
        &key,
        reqwest::Method::POST,
        "/clock",
        json!({ "mode": "manual", "now": START }),
    )
    .await;
    assert_eq!(clock.status, 200, "setting the clock: {}", clock.json);
    // Set before any object exists, the plan's seed also fixes the ids.
    set_plan(&key, seed, faults).await;
    let mut endpoints = Vec::new();
    for (name, types, _) in ENDPOINTS {
        let path = format!("/schedule/{label}/{name}");
        let url = format!("{}{path}", RECEIVER.base);
        let mut form = vec![("url", url.as_str())];
        for event_type in *types {
            form.push(("enabled_events[]", event_type));
        }
        let reply = stripe_post(&key, "/v1/webhook_endpoints", &form).await;
        assert_eq!(reply.status, 200, "creating an endpoint: {}", reply.json);
        let secret = reply.json["secret"].as_str().unwrap_or_default().to_owned();
        endpoints.push((path, secret));
    }
    for op in ops {
        apply(&key, op).await;
    }
    let without_holds: Vec<Value> = faults
        .iter()
        .filter(|fault| fault["kind"] != "hold")
        .cloned()
        .collect();
    set_plan(&key, seed, &without_holds).await;
    let released = control(&key, reqwest::Method::POST, "/events/release", json!({})).await;
    assert_eq!(released.status, 200, "releasing: {}", released.json);
    advance(&key, SETTLE_SECONDS).await;

    let events = all_events(&key).await;
    let trace = stripe_get(&key, "/_fakestripe/trace").await.json["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let held_after = stripe_get(&key, "/_fakestripe/events/held").await.json["data"]
        .as_array()
        .map_or(0, Vec::len);
    Run {
        key,
        endpoints,
        events,
        trace,
        held_after,
    }
}

/// Replaces what differs between two accounts by design (the key and the
/// receiver paths, which name the run) so traces can be compared.
fn normalized_trace(run: &Run, label: &str) -> String {
    serde_json::to_string_pretty(&run.trace)
        .unwrap_or_default()
        .replace(label, "RUN")
        .replace(&run.key, "KEY")
}

proptest! {
    #![proptest_config(config(24))]

    /// The plan may delay, reorder, duplicate, forge and hold deliveries,
    /// and drop fewer attempts than the retry schedule makes. At the end
    /// the holds are taken out of the plan and the held deliveries are
    /// released. Once the clock has settled, every event of the account has
    /// reached every healthy endpoint that subscribes to its type at least
    /// once, correctly signed, and nothing is left held. An endpoint that
    /// always responds with 500 changes none of that.
    #[test]
    fn every_event_delivered_at_least_once(
        (seed, faults) in plan(),
        ops in prop::collection::vec(op(), 1..6),
    ) {
        let label = format!("deliver{}", case_number());
        let run = RUNTIME.block_on(run_case(&label, seed, &faults, &ops));
        prop_assert_eq!(run.held_after, 0, "deliveries are still held");
        for ((path, secret), (_, types, healthy)) in run.endpoints.iter().zip(ENDPOINTS) {
            if !healthy {
                continue;
            }
            let mut received: BTreeMap<String, usize> = BTreeMap::new();
            for delivery in RECEIVER.at(path) {
                if !genuine(&delivery, secret) {
                    continue;
                }
                let event: Value = serde_json::from_slice(&delivery.body).unwrap_or(Value::Null);
                let id = event["id"].as_str().unwrap_or_default().to_owned();
                *received.entry(id).or_default() += 1;
            }
            for event in &run.events {
                let event_type = event["type"].as_str().unwrap_or_default();
                let subscribed = types.iter().any(|t| *t == "*" || *t == event_type);
                if !subscribed {
                    continue;
                }
                let id = event["id"].as_str().unwrap_or_default();
                prop_assert!(
                    received.get(id).is_some_and(|count| *count >= 1),
                    "{} ({}) never reached {}", id, event_type, path
                );
            }
        }
    }

    /// The same fault plan, seed and customer actions on two fresh
    /// accounts with the same starting clock give the same trace, entry for
    /// entry. That covers every fault decision, id, delivery and retry; only
    /// the key and the receiver paths, which name each run, are set aside.
    #[test]
    fn same_seed_same_trace(
        (seed, faults) in plan(),
        ops in prop::collection::vec(op(), 1..5),
    ) {
        let case = case_number();
        let first_label = format!("trace{case}first");
        let second_label = format!("trace{case}second");
        let first = RUNTIME.block_on(run_case(&first_label, seed, &faults, &ops));
        let second = RUNTIME.block_on(run_case(&second_label, seed, &faults, &ops));
        prop_assert!(!first.trace.is_empty());
        let first_trace = normalized_trace(&first, &first_label);
        let second_trace = normalized_trace(&second, &second_label);
        if first_trace != second_trace {
            let first_lines: Vec<&str> = first_trace.lines().collect();
            let second_lines: Vec<&str> = second_trace.lines().collect();
            let at = first_lines
                .iter()
                .zip(&second_lines)
                .position(|(a, b)| a != b)
                .unwrap_or(first_lines.len().min(second_lines.len()));
            let from = at.saturating_sub(5);
            prop_assert!(
                false,
                "the traces differ from line {}:\nfirst:\n{}\nsecond:\n{}",
                at + 1,
                first_lines[from..(at + 5).min(first_lines.len())].join("\n"),
                second_lines[from..(at + 5).min(second_lines.len())].join("\n")
            );
        }
    }
}
