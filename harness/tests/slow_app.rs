//! `request_timeout_seconds` in the app file: how long the harness waits
//! for each response from the app. A checkout route slower than it fails
//! its step with the limit and the key to change; a longer limit lets the
//! same route pass.
//!
//! The app runs inside the test, as an axum server that the app file names
//! by `base_url`. It reads the fake's URL and key from the `env_file` the
//! harness writes.

mod common;
mod scratch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fakestripe::{RunOutcome, ScenarioFailure};
use serde_json::{Value, json};

/// How long the app takes to respond to a checkout request.
const CHECKOUT_DELAY: Duration = Duration::from_secs(2);

/// The app's state: the session of each order, and the file the harness
/// writes the fake's URL and key to.
struct Shop {
    base_url: String,
    env_file: PathBuf,
    sessions: Mutex<HashMap<String, String>>,
    http: reqwest::Client,
}

/// Waits `CHECKOUT_DELAY`, then creates the order's Checkout Session.
async fn checkout(State(shop): State<Arc<Shop>>, Json(body): Json<Value>) -> Response {
    tokio::time::sleep(CHECKOUT_DELAY).await;
    let (order_id, id, url) =
        match common::checkout_session(&shop.http, &shop.base_url, &shop.env_file, &body).await {
            Ok(parts) => parts,
            Err(response) => return response,
        };
    shop.sessions
        .lock()
        .expect("no panic held the lock")
        .insert(order_id, id.clone());
    Json(json!({ "session_id": id, "url": url })).into_response()
}

async fn read_order(State(shop): State<Arc<Shop>>, UrlPath(order_id): UrlPath<String>) -> Response {
    let session_id = shop
        .sessions
        .lock()
        .expect("no panic held the lock")
        .get(&order_id)
        .cloned();
    let order = session_id.map(|session_id| common::Order {
        status: "pending",
        session_id: Some(session_id),
        ..common::Order::default()
    });
    common::order_response(order.as_ref())
}

/// Starts the app on a free port, writes its app file with `limit` as
/// `request_timeout_seconds` into `dir`, and returns the app's base URL and
/// the app file's path.
fn start_app(runtime: &tokio::runtime::Runtime, dir: &Path, limit: u64) -> (String, PathBuf) {
    let (listener, base_url) = common::bind_app(runtime);
    let shop = Arc::new(Shop {
        base_url: base_url.clone(),
        env_file: dir.join("app.env"),
        sessions: Mutex::default(),
        http: reqwest::Client::new(),
    });
    let router = Router::new()
        .route("/checkout", post(checkout))
        .route("/webhooks", post(|| async { "ok" }))
        .route("/orders/{order_id}", get(read_order))
        .with_state(shop);
    runtime.spawn(async move { axum::serve(listener, router).await });

    let text = common::running_app_text(&base_url, &format!("request_timeout_seconds: {limit}\n"));
    let path = common::write_app_file(dir, &text);
    (base_url, path)
}

/// Runs a checkout and a read of the pending order against an app whose
/// checkout takes `CHECKOUT_DELAY`, with the harness waiting `limit`
/// seconds. Returns the app's base URL and the outcome.
fn run_checkout(test: &str, limit: u64) -> (String, RunOutcome) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("slow-app", test);
    let (base_url, app) = start_app(&runtime, &dir, limit);
    let outcome = common::run_pending_checkout(&runtime, &dir, &app);
    (base_url, outcome)
}

#[test]
fn checkout_slower_than_limit_fails_step() {
    let (base_url, outcome) = run_checkout("short-limit", 1);
    let result = &outcome.results[0];
    assert!(!result.passed());
    assert_eq!(result.steps_run, 1);
    let failure = &result.failures[0];
    assert_eq!(
        failure.message,
        format!(
            "POST {base_url}/checkout failed: no response within 1 s, the harness's limit for \
             one request to the app (`request_timeout_seconds` in the app file)"
        )
    );
}

#[test]
fn checkout_within_longer_limit_passes() {
    let (_, outcome) = run_checkout("long-limit", 10);
    let result = &outcome.results[0];
    assert!(
        result.passed(),
        "{}",
        ScenarioFailure::Failed(Box::new((**result).clone()))
    );
    assert_eq!(result.steps_run, 2);
}
