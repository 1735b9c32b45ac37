//! Which invariant a second fulfilment breaks, against a shop whose
//! already-paid guard races: the success page and the webhook each check
//! the order's status, wait while they "list the line items", and then
//! fulfil. A redirect that races `checkout.session.completed` fulfils the
//! order twice. The shop ignores `payment_intent.*` events, and it skips an
//! event id it has seen before unless it runs with `dedupe` off.
//!
//! A second fulfilment is blamed on a duplicate delivery only when the
//! fulfilment count rose while that duplicate was delivered. Otherwise it
//! breaks `paid_fulfilled_once`, and `fakestripe fuzz` shrinks toward the
//! race rather than keeping a duplicate that changed nothing.
//!
//! The shop runs inside the test, as an axum server that its app file
//! names by `base_url`, and reads the fake's URL and key from the
//! `env_file` the harness writes. It does not verify webhook signatures,
//! because neither the scenarios nor the fuzzer send forged deliveries.

mod common;
mod scratch;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fakestripe::fuzz::{Flow, FuzzOptions, Stop, fuzz};
use fakestripe::report::events::{Failure, FailureKind, ScenarioResult};
use fakestripe::run_files;
use serde_json::{Value, json};

/// Time between the already-paid check and the fulfilment. A second
/// fulfilment that starts within it passes the check too.
const FULFILMENT_DELAY: Duration = Duration::from_millis(200);

/// The steps of the fuzzer's smallest schedule for the racy Node shop: the
/// redirect races the first delivery of `checkout.session.completed`, and
/// then `payment_intent.succeeded`, which the shop ignores, arrives twice.
const RACE_THEN_REPEAT: &str = r#"version: 1
name: redirect race, then payment_intent.succeeded twice
faults:
  - { kind: hold, types: ["*"] }
steps:
  - checkout: { order: O-1 }
  - pay: { card: success, expect: succeeded }
  - redirect: { race: ["checkout.session.completed"] }
  - resend: { types: ["payment_intent.succeeded"], copies: 2 }
  - deliver:
  - set_faults: []
"#;

/// Two copies of `checkout.session.completed` at once, and nothing else
/// before the remaining events.
const CONCURRENT_COPIES: &str = r#"version: 1
name: checkout.session.completed twice at once
faults:
  - { kind: hold, types: ["*"] }
steps:
  - checkout: { order: O-1 }
  - pay: { card: success, expect: succeeded }
  - resend: { types: ["checkout.session.completed"], copies: 2, concurrent: true }
  - deliver:
  - set_faults: []
"#;

struct Shop {
    base_url: String,
    env_file: PathBuf,
    /// Whether a delivery of an event id already seen is skipped.
    dedupe: bool,
    orders: Mutex<HashMap<String, common::Order>>,
    processed_events: Mutex<HashSet<String>>,
    http: reqwest::Client,
}

impl Shop {
    fn env(&self, key: &str) -> String {
        common::env_value(&self.env_file, key)
    }

    /// Fulfils an order unless it is paid already. The check and the
    /// fulfilment are apart by [`FULFILMENT_DELAY`], which is the bug.
    async fn fulfil(&self, session: &Value) {
        let order_id = session["metadata"]["order_id"].as_str().unwrap_or_default();
        {
            let orders = self.orders.lock().expect("no panic held the lock");
            match orders.get(order_id) {
                Some(order) if order.status != "paid" => {}
                _ => return,
            }
        }
        tokio::time::sleep(FULFILMENT_DELAY).await;
        let mut orders = self.orders.lock().expect("no panic held the lock");
        let Some(order) = orders.get_mut(order_id) else {
            return;
        };
        order.fulfil(session);
    }
}

async fn checkout(State(shop): State<Arc<Shop>>, Json(body): Json<Value>) -> Response {
    let order_id = body["order_id"].as_str().unwrap_or_default().to_owned();
    let form = common::session_form(&shop.base_url, &body);
    let session = common::create_session(&shop.http, &shop.env_file, &order_id, &form).await;
    let (id, url) = match common::session_parts(&session) {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    shop.orders.lock().expect("no panic held the lock").insert(
        order_id,
        common::Order {
            status: "pending",
            session_id: Some(id.to_owned()),
            ..common::Order::default()
        },
    );
    Json(json!({ "session_id": id, "url": url })).into_response()
}

/// Fulfils from the success page when the session is paid.
async fn success(
    State(shop): State<Arc<Shop>>,
    Query(query): Query<HashMap<String, String>>,
) -> StatusCode {
    let Some(session_id) = query.get("session_id") else {
        return StatusCode::BAD_REQUEST;
    };
    let response = shop
        .http
        .get(format!(
            "{}/v1/checkout/sessions/{session_id}",
            shop.env("STRIPE_API_BASE")
        ))
        .bearer_auth(shop.env("STRIPE_SECRET_KEY"))
        .send()
        .await
        .expect("the fake responds");
    let session: Value = response.json().await.expect("the fake returns JSON");
    if session["payment_status"] == "paid" {
        shop.fulfil(&session).await;
    }
    StatusCode::OK
}

/// Fulfils on a paid `checkout.session.completed` and accepts every other
/// event without acting on it.
async fn webhook(State(shop): State<Arc<Shop>>, Json(event): Json<Value>) -> StatusCode {
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    let first = shop
        .processed_events
        .lock()
        .expect("no panic held the lock")
        .insert(event_id);
    if shop.dedupe && !first {
        return StatusCode::OK;
    }
    let session = &event["data"]["object"];
    if event["type"] == "checkout.session.completed" && session["payment_status"] == "paid" {
        shop.fulfil(session).await;
    }
    StatusCode::OK
}

async fn read_order(State(shop): State<Arc<Shop>>, UrlPath(order_id): UrlPath<String>) -> Response {
    let orders = shop.orders.lock().expect("no panic held the lock");
    common::order_response(orders.get(&order_id))
}

async fn reset(State(shop): State<Arc<Shop>>) -> StatusCode {
    shop.orders.lock().expect("no panic held the lock").clear();
    shop.processed_events
        .lock()
        .expect("no panic held the lock")
        .clear();
    StatusCode::OK
}

/// Starts the shop on a free port of 127.0.0.1, writes its app file into
/// `dir`, and returns the app file's path.
fn start_shop(runtime: &tokio::runtime::Runtime, dir: &Path, dedupe: bool) -> PathBuf {
    let (listener, base_url) = common::bind_app(runtime);
    let shop = Arc::new(Shop {
        base_url: base_url.clone(),
        env_file: dir.join("app.env"),
        dedupe,
        orders: Mutex::default(),
        processed_events: Mutex::default(),
        http: reqwest::Client::new(),
    });
    let router = Router::new()
        .route("/checkout", post(checkout))
        .route("/success", get(success))
        .route("/cancel", get(|| async { "cancelled" }))
        .route("/webhooks", post(webhook))
        .route("/orders/{order_id}", get(read_order))
        .route("/reset", post(reset))
        .with_state(shop);
    runtime.spawn(async move { axum::serve(listener, router).await });

    let text = format!(
        "\
version: 1
name: racy-guard-shop
base_url: {base_url}
env_file: app.env
webhook_path: /webhooks
reset: {{ method: POST, path: /reset }}
checkout:
  request:
    method: POST
    path: /checkout
    json: {{ order_id: \"{{{{order_id}}}}\", items: \"{{{{items}}}}\", currency: \"{{{{currency}}}}\" }}
  session_id: /session_id
  url: /url
order:
  request: {{ path: \"/orders/{{{{order_id}}}}\" }}
  status: /status
  fulfilments: /fulfilment_count
  session_id: /session_id
  amount: /amount_total
  currency: /currency
  status_map: {{ paid: [paid], pending: [pending] }}
"
    );
    common::write_app_file(dir, &text)
}

/// Runs one scenario text against the shop and returns its result.
fn run_scenario(test: &str, dedupe: bool, scenario: &str) -> ScenarioResult {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("double-fulfilment", test);
    let app = start_shop(&runtime, &dir, dedupe);
    let file = dir.join("scenario.yaml");
    std::fs::write(&file, scenario).expect("the temporary directory is writable");
    let outcome = runtime
        .block_on(run_files(&app, &[file], common::run_options(&app)))
        .expect("the run starts");
    assert_eq!(outcome.results.len(), 1);
    (*outcome.results[0]).clone()
}

/// Returns the failures of broken invariants, by invariant name.
fn invariant_failures(result: &ScenarioResult) -> Vec<(&str, &Failure)> {
    result
        .failures
        .iter()
        .filter_map(|failure| match &failure.kind {
            FailureKind::Invariant { name } => Some((name.as_str(), failure)),
            _ => None,
        })
        .collect()
}

/// The order is fulfilled twice during the redirect step, before
/// `payment_intent.succeeded` is delivered at all, so the repeated
/// delivery of that event is not blamed.
#[test]
fn redirect_race_breaks_paid_fulfilled_once() {
    let result = run_scenario("race-then-repeat", true, RACE_THEN_REPEAT);
    let broken = invariant_failures(&result);
    let names: Vec<&str> = broken.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["paid_fulfilled_once"], "{:#?}", result.failures);
    assert_eq!(result.failures.len(), 1, "{:#?}", result.failures);
    let message = &broken[0].1.message;
    assert!(
        message.starts_with("O-1 was fulfilled 2 times for one payment (cs_test_"),
        "{message}"
    );
    assert!(
        message.contains(
            "the fulfilment count rose from 0 after step 2 (pay, line 7) to 2 after step 3 (redirect, line 8)"
        ),
        "{message}"
    );
    assert!(
        message.contains("no event of O-1 was delivered and accepted more than once in that time"),
        "{message}"
    );
    assert!(!message.contains("payment_intent.succeeded"), "{message}");
}

/// Two copies delivered at once both pass the guard when the shop does not
/// skip event ids it has seen, so the duplicate is to blame.
#[test]
fn concurrent_copies_break_duplicates_ignored() {
    let result = run_scenario("concurrent-copies", false, CONCURRENT_COPIES);
    let broken = invariant_failures(&result);
    let names: Vec<&str> = broken.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["duplicates_ignored"], "{:#?}", result.failures);
    let message = &broken[0].1.message;
    assert!(
        message.starts_with("O-1 was fulfilled 2 times; event evt_"),
        "{message}"
    );
    assert!(
        message.contains(
            "(checkout.session.completed) was delivered 2 times and the app responded with 2xx each time"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "rose from 0 after step 2 (pay, line 7) to 2 after step 3 (resend, line 8) while the event was delivered again"
        ),
        "{message}"
    );
}

/// Every failure the fuzzer finds in the redirect-race flow is the race,
/// so the shrunk schedule is the racing redirect alone. With seed 6 the
/// first failing case also delivers a fulfilling event twice after the
/// race, which shrinking must drop.
#[test]
fn fuzz_shrinks_to_redirect_race() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("double-fulfilment", "fuzz");
    let app = start_shop(&runtime, &dir, true);

    let config = fakestripe::app::config::load(&app).expect("the app file is valid");
    let out = dir.join("found.yaml");
    let options = FuzzOptions {
        flows: vec![Flow::RedirectRace],
        cases: 50,
        seed: 6,
        max_actions: 8,
        max_shrink_time: Duration::from_secs(120),
        out: out.clone(),
        app_arg: app.display().to_string(),
        fake_url: None,
    };
    let outcome = runtime
        .block_on(fuzz(Arc::new(config), &options, &mut |_| {}, &Stop::new()))
        .expect("the fuzz run starts and every case runs");

    let found = outcome
        .failure
        .unwrap_or_else(|| panic!("no failure in {} cases", outcome.cases_run));
    assert_eq!(
        found.failure, "invariant paid_fulfilled_once",
        "{}",
        found.original.text
    );
    assert_eq!(found.minimal.effective.len(), 1, "{}", found.minimal.text);
    assert!(
        found
            .minimal
            .text
            .contains(r#"- redirect: { race: ["checkout.session.completed"] }"#),
        "{}",
        found.minimal.text
    );
    assert!(
        !found.minimal.text.contains("- resend:"),
        "{}",
        found.minimal.text
    );
    assert_eq!(found.replayed, Some(true), "{}", found.minimal.text);
}
