//! An app that responds to its checkout request with `303 See Other` to the
//! Checkout URL, as an app that redirects the browser straight to Stripe
//! does. Its fakestripe.yaml has no `checkout.session_id` or `checkout.url`
//! pointer, so the harness reads the session from the `Location` header.
//!
//! The app runs inside the test, as an axum server that the app file names
//! by `base_url`. It reads the fake's URL and key from the `env_file` the
//! harness writes. It does not verify webhook signatures, because the
//! scenarios it runs send no forged deliveries.

mod common;
mod scratch;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fakestripe::{ScenarioFailure, run_files};
use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness sits in the workspace")
        .to_owned()
}

/// The app's state: its orders, the events it has applied, and the file
/// the harness writes the fake's URL and key to.
struct Shop {
    base_url: String,
    env_file: PathBuf,
    orders: Mutex<HashMap<String, common::Order>>,
    processed_events: Mutex<HashSet<String>>,
    http: reqwest::Client,
    /// Whether the checkout redirects to a page of the app instead of the
    /// session's Checkout URL, as a broken app might.
    redirect_elsewhere: bool,
}

/// Creates a Checkout Session for the order and redirects to its URL.
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
    let location = if shop.redirect_elsewhere {
        format!("{}/elsewhere", shop.base_url)
    } else {
        url.to_owned()
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// Fulfils an order once, when its session completes paid.
async fn webhook(State(shop): State<Arc<Shop>>, Json(event): Json<Value>) -> StatusCode {
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    let mut processed = shop
        .processed_events
        .lock()
        .expect("no panic held the lock");
    if !processed.insert(event_id) {
        return StatusCode::OK;
    }
    let session = &event["data"]["object"];
    let paid = event["type"] == "checkout.session.completed" && session["payment_status"] == "paid";
    if !paid {
        return StatusCode::OK;
    }
    let order_id = session["metadata"]["order_id"].as_str().unwrap_or_default();
    let mut orders = shop.orders.lock().expect("no panic held the lock");
    let Some(order) = orders.get_mut(order_id) else {
        return StatusCode::OK;
    };
    if order.status != "paid" {
        order.fulfil(session);
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

/// Starts the app on a free port, writes its app file into `dir`, and
/// returns the app file's path.
fn start_app(runtime: &tokio::runtime::Runtime, dir: &Path, redirect_elsewhere: bool) -> PathBuf {
    let (listener, base_url) = common::bind_app(runtime);
    let shop = Arc::new(Shop {
        base_url: base_url.clone(),
        env_file: dir.join("app.env"),
        orders: Mutex::default(),
        processed_events: Mutex::default(),
        http: reqwest::Client::new(),
        redirect_elsewhere,
    });
    let router = Router::new()
        .route("/checkout", post(checkout))
        .route("/webhooks", post(webhook))
        .route("/orders/{order_id}", get(read_order))
        .route("/success", get(|| async { "thank you" }))
        .route("/cancel", get(|| async { "cancelled" }))
        .route("/reset", post(reset))
        .with_state(shop);
    runtime.spawn(async move { axum::serve(listener, router).await });

    let text = format!(
        "\
version: 1
base_url: {base_url}
env_file: app.env
webhook_path: /webhooks
reset: {{ method: POST, path: /reset }}
checkout:
  request:
    method: POST
    path: /checkout
    json: {{ order_id: \"{{{{order_id}}}}\", items: \"{{{{items}}}}\", currency: \"{{{{currency}}}}\" }}
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

/// Runs the built-in card-paid scenario against the app, which redirects
/// elsewhere when `redirect_elsewhere` is set, and returns the outcome.
fn run_card_paid(test: &str, redirect_elsewhere: bool) -> fakestripe::RunOutcome {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("redirecting-app", test);
    let app = start_app(&runtime, &dir, redirect_elsewhere);
    let scenario = workspace_root().join("scenarios/payment-status/card-paid.yaml");
    runtime
        .block_on(run_files(&app, &[scenario], common::run_options(&app)))
        .expect("the run starts")
}

#[test]
fn redirecting_app_passes_card_paid() {
    let outcome = run_card_paid("card-paid", false);
    assert_eq!(outcome.results.len(), 1);
    let result = &outcome.results[0];
    assert!(
        result.passed(),
        "{}",
        ScenarioFailure::Failed(Box::new((**result).clone()))
    );
    assert_eq!(result.steps_run, 5);
    assert_eq!(result.steps_total, 5);
}

/// An explicit `expect_status` replaces the default, so `2xx` rejects the
/// redirect.
#[test]
fn redirecting_app_fails_explicit_2xx() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("redirecting-app", "explicit-2xx");
    let app = start_app(&runtime, &dir, false);
    let scenario = dir.join("expect-2xx.yaml");
    std::fs::write(
        &scenario,
        "version: 1\nsteps:\n  - checkout: { order: O-1, expect_status: 2xx }\n",
    )
    .expect("the temporary directory is writable");
    let outcome = runtime
        .block_on(run_files(&app, &[scenario], common::run_options(&app)))
        .expect("the run starts");
    let result = &outcome.results[0];
    assert!(!result.passed());
    let failure = &result.failures[0];
    assert!(
        failure
            .message
            .starts_with("the app responded to the checkout request for O-1 with 303"),
        "{}",
        failure.message
    );
    assert_eq!(failure.mismatches.len(), 1);
    assert_eq!(failure.mismatches[0].expected, "2xx");
    assert_eq!(failure.mismatches[0].actual, "303");
}

/// A redirect to anywhere but the session's Checkout URL fails the step,
/// although the app created the session.
#[test]
fn redirect_elsewhere_fails_checkout() {
    let outcome = run_card_paid("elsewhere", true);
    let result = &outcome.results[0];
    assert!(!result.passed());
    assert_eq!(result.steps_run, 1);
    let failure = &result.failures[0];
    assert!(
        failure
            .message
            .contains("which is not the Checkout URL of its session cs_test_"),
        "{}",
        failure.message
    );
    assert_eq!(failure.mismatches[0].subject, "Location");
    assert!(failure.mismatches[0].actual.ends_with("/elsewhere"));
    assert!(
        failure.mismatches[0].expected.contains("/c/pay/cs_test_"),
        "{}",
        failure.mismatches[0].expected
    );
}

/// An app file whose `webhook_path` the app does not serve gets 404 for
/// every delivery, and the failure tells the user to check the path.
#[test]
fn wrong_webhook_path_gets_hint() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("redirecting-app", "wrong-webhook-path");
    let app = start_app(&runtime, &dir, false);
    let text = std::fs::read_to_string(&app).expect("the app file is readable");
    std::fs::write(
        &app,
        text.replace("webhook_path: /webhooks", "webhook_path: /webhook"),
    )
    .expect("the app file is writable");
    let scenario = workspace_root().join("scenarios/payment-status/card-paid.yaml");
    let outcome = runtime
        .block_on(run_files(&app, &[scenario], common::run_options(&app)))
        .expect("the run starts");

    let result = &outcome.results[0];
    assert!(!result.passed());
    assert_eq!(result.hints.len(), 1, "{:?}", result.hints);
    let hint = &result.hints[0];
    assert!(hint.starts_with("all "), "{hint}");
    assert!(hint.contains("webhook deliveries got 404 or 405"), "{hint}");
    assert!(hint.contains("/webhook: check `webhook_path`"), "{hint}");
    let passing = run_card_paid("no-hint", false);
    assert!(passing.results[0].hints.is_empty());
}
