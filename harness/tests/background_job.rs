//! `wait_until` with `real_time`, against a shop that responds to each webhook
//! at once and fulfils the order later, in a background task, as a shop
//! with a job queue does. The virtual clock cannot make that task finish
//! sooner, so only checks over real time see the fulfilment.
//!
//! The shop runs inside the test, as an axum server that its app file
//! names by `base_url`, and reads the fake's URL and key from the
//! `env_file` the harness writes.

mod common;
mod scratch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fakestripe::report::events::ScenarioResult;
use fakestripe::run_files;
use serde_json::{Value, json};

/// Time from the response to a webhook to the background task's fulfilment.
const JOB_DELAY: Duration = Duration::from_millis(1500);

struct Shop {
    base_url: String,
    env_file: PathBuf,
    /// Fulfilments by order id; an order is paid once it has one.
    orders: Mutex<HashMap<String, u64>>,
    http: reqwest::Client,
}

async fn checkout(State(shop): State<Arc<Shop>>, Json(body): Json<Value>) -> Response {
    let order_id = body["order_id"].as_str().unwrap_or_default().to_owned();
    let form = common::session_form(&shop.base_url, &body);
    let session = common::create_session(&shop.http, &shop.env_file, &order_id, &form).await;
    let (id, url) = match common::session_parts(&session) {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    shop.orders
        .lock()
        .expect("no panic held the lock")
        .insert(order_id, 0);
    Json(json!({ "session_id": id, "url": url })).into_response()
}

/// Responds at once, and fulfils a paid `checkout.session.completed` in a
/// task that starts [`JOB_DELAY`] later.
async fn webhook(State(shop): State<Arc<Shop>>, Json(event): Json<Value>) -> StatusCode {
    let session = &event["data"]["object"];
    if event["type"] == "checkout.session.completed" && session["payment_status"] == "paid" {
        let order_id = session["metadata"]["order_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(JOB_DELAY).await;
            if let Some(count) = shop
                .orders
                .lock()
                .expect("no panic held the lock")
                .get_mut(&order_id)
            {
                *count += 1;
            }
        });
    }
    StatusCode::OK
}

async fn read_order(State(shop): State<Arc<Shop>>, UrlPath(order_id): UrlPath<String>) -> Response {
    let orders = shop.orders.lock().expect("no panic held the lock");
    match orders.get(&order_id) {
        Some(&fulfilments) => Json(json!({
            "status": if fulfilments > 0 { "paid" } else { "pending" },
            "fulfilments": fulfilments,
        }))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts the shop on a free port of 127.0.0.1, writes its app file into
/// `dir`, and returns the app file's path.
fn start_shop(runtime: &tokio::runtime::Runtime, dir: &Path) -> PathBuf {
    let (listener, base_url) = common::bind_app(runtime);
    let shop = Arc::new(Shop {
        base_url: base_url.clone(),
        env_file: dir.join("app.env"),
        orders: Mutex::default(),
        http: reqwest::Client::new(),
    });
    let router = Router::new()
        .route("/checkout", post(checkout))
        .route("/success", get(|| async { "thanks" }))
        .route("/cancel", get(|| async { "cancelled" }))
        .route("/webhooks", post(webhook))
        .route("/orders/{order_id}", get(read_order))
        .with_state(shop);
    runtime.spawn(async move { axum::serve(listener, router).await });

    let text = format!(
        "\
version: 1
name: background-job-shop
base_url: {base_url}
env_file: app.env
webhook_path: /webhooks
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
  fulfilments: /fulfilments
  status_map: {{ paid: [paid], pending: [pending] }}
"
    );
    common::write_app_file(dir, &text)
}

/// Runs a card payment whose last step waits for the fulfilment with the
/// given `wait_until` keys, and returns the result and its real duration.
fn run_wait(test: &str, wait_keys: &str) -> (ScenarioResult, Duration) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("background-job", test);
    let app = start_shop(&runtime, &dir);
    let scenario = format!(
        "version: 1\nsteps:\n  - checkout: {{ order: O-1 }}\n  - pay: {{ card: success }}\n  - wait_until: {{ fulfilments: 1, {wait_keys} }}\n"
    );
    let file = dir.join("scenario.yaml");
    std::fs::write(&file, scenario).expect("the temporary directory is writable");
    let started = Instant::now();
    let outcome = runtime
        .block_on(run_files(&app, &[file], common::run_options(&app)))
        .expect("the run starts");
    let elapsed = started.elapsed();
    assert_eq!(outcome.results.len(), 1);
    ((*outcome.results[0]).clone(), elapsed)
}

/// Virtual time alone ends the wait before the background task runs.
#[test]
fn virtual_wait_misses_background_job() {
    let (result, _) = run_wait("virtual", "within: 10m");

    let failure = result
        .failures
        .first()
        .unwrap_or_else(|| panic!("the wait passed: {result:#?}"));
    assert_eq!(failure.message, "the condition did not hold within 10m");
}

/// `real_time` keeps checking while the task runs, and the wait passes.
#[test]
fn real_time_wait_sees_background_job() {
    let (result, _) = run_wait("real-time", "within: 10m, real_time: 10s");

    assert!(result.passed(), "{:#?}", result.failures);
}

/// A condition that is never met fails once `real_time` has passed, not
/// before, and the message names both waits.
#[test]
fn real_time_wait_fails_after_its_time() {
    let (result, elapsed) = run_wait("never", "within: 1m, real_time: 1s, status: failed");

    let failure = result
        .failures
        .first()
        .unwrap_or_else(|| panic!("the wait passed: {result:#?}"));
    assert_eq!(
        failure.message,
        "the condition did not hold within 1m, nor in 1s of real time after it"
    );
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
}
