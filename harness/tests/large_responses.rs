//! The harness reads at most `MAX_RESPONSE_BYTES` of each response from
//! the app. A larger body fails the step with a message that names the
//! request and the limit, whether the app declares its length or streams
//! it without one.
//!
//! The app runs inside the test, as an axum server that the app file names
//! by `base_url`. It reads the fake's URL and key from the `env_file` the
//! harness writes.

mod common;
mod scratch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fakestripe::app::MAX_RESPONSE_BYTES;
use fakestripe::{RunOutcome, ScenarioFailure};
use serde_json::{Value, json};

/// The sizes of the app's responses.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Bytes of the checkout response, a JSON object padded to this size
    /// and sent with its `Content-Length`.
    checkout: usize,
    /// Bytes of the order response, streamed in chunks without a
    /// `Content-Length`; `None` sends the order as plain JSON.
    order_stream: Option<usize>,
}

/// The app's state: the session of each order, and the file the harness
/// writes the fake's URL and key to.
struct Shop {
    base_url: String,
    env_file: PathBuf,
    sessions: Mutex<HashMap<String, String>>,
    http: reqwest::Client,
    sizes: Sizes,
}

/// Creates a Checkout Session for the order and returns its id and URL in
/// a JSON body padded to `Sizes::checkout` bytes.
async fn checkout(State(shop): State<Arc<Shop>>, Json(body): Json<Value>) -> Response {
    let order_id = body["order_id"].as_str().unwrap_or_default().to_owned();
    let form = [
        ("mode", "payment".to_owned()),
        ("success_url", format!("{}/success", shop.base_url)),
        ("cancel_url", format!("{}/cancel", shop.base_url)),
        ("metadata[order_id]", order_id.clone()),
        ("line_items[0][price_data][currency]", "usd".to_owned()),
        (
            "line_items[0][price_data][product_data][name]",
            "Mug".to_owned(),
        ),
        ("line_items[0][price_data][unit_amount]", "1500".to_owned()),
        ("line_items[0][quantity]", "1".to_owned()),
    ];
    let session = common::create_session(&shop.http, &shop.env_file, &order_id, &form).await;
    let (id, url) = match common::session_parts(&session) {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    shop.sessions
        .lock()
        .expect("no panic held the lock")
        .insert(order_id, id.to_owned());

    let unpadded = format!(r#"{{"session_id":"{id}","url":"{url}","padding":""}}"#);
    let padding = " ".repeat(shop.sizes.checkout - unpadded.len());
    let text = format!(r#"{{"session_id":"{id}","url":"{url}","padding":"{padding}"}}"#);
    assert_eq!(text.len(), shop.sizes.checkout);
    ([("content-type", "application/json")], text).into_response()
}

async fn read_order(State(shop): State<Arc<Shop>>, UrlPath(order_id): UrlPath<String>) -> Response {
    let session_id = shop
        .sessions
        .lock()
        .expect("no panic held the lock")
        .get(&order_id)
        .cloned();
    let Some(session_id) = session_id else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(total) = shop.sizes.order_stream else {
        return Json(json!({
            "status": "pending",
            "fulfilment_count": 0,
            "session_id": session_id,
        }))
        .into_response();
    };
    // Each chunk is made only when the harness reads it, so the app never
    // keeps the whole body in memory either.
    const CHUNK: usize = 64 * 1024;
    let chunks = (0..total.div_ceil(CHUNK)).map(move |index| {
        let size = CHUNK.min(total - index * CHUNK);
        Ok::<_, std::io::Error>(Bytes::from(vec![b' '; size]))
    });
    Body::from_stream(futures_util::stream::iter(chunks)).into_response()
}

/// Starts the app on a free port, writes its app file into `dir`, and
/// returns the app's base URL and the app file's path.
fn start_app(runtime: &tokio::runtime::Runtime, dir: &Path, sizes: Sizes) -> (String, PathBuf) {
    let (listener, base_url) = common::bind_app(runtime);
    let shop = Arc::new(Shop {
        base_url: base_url.clone(),
        env_file: dir.join("app.env"),
        sessions: Mutex::default(),
        http: reqwest::Client::new(),
        sizes,
    });
    let router = Router::new()
        .route("/checkout", post(checkout))
        .route("/webhooks", post(|| async { StatusCode::OK }))
        .route("/orders/{order_id}", get(read_order))
        .with_state(shop);
    runtime.spawn(async move { axum::serve(listener, router).await });

    let text = common::running_app_text(&base_url, "");
    let path = common::write_app_file(dir, &text);
    (base_url, path)
}

/// Runs a checkout and a read of the pending order against an app that
/// responds with bodies of `sizes`. Returns the app's base URL and the
/// outcome.
fn run_checkout(test: &str, sizes: Sizes) -> (String, RunOutcome) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("large-responses", test);
    let (base_url, app) = start_app(&runtime, &dir, sizes);
    let outcome = common::run_pending_checkout(&runtime, &dir, &app);
    (base_url, outcome)
}

#[test]
fn response_limit_is_8_mib() {
    assert_eq!(MAX_RESPONSE_BYTES, 8_388_608);
}

#[test]
fn checkout_body_at_limit_is_read() {
    let sizes = Sizes {
        checkout: MAX_RESPONSE_BYTES,
        order_stream: None,
    };
    let (_, outcome) = run_checkout("at-limit", sizes);
    let result = &outcome.results[0];
    assert!(
        result.passed(),
        "{}",
        ScenarioFailure::Failed(Box::new((**result).clone()))
    );
    assert_eq!(result.steps_run, 2);
}

#[test]
fn checkout_body_over_limit_fails_step() {
    let sizes = Sizes {
        checkout: MAX_RESPONSE_BYTES + 1,
        order_stream: None,
    };
    let (base_url, outcome) = run_checkout("over-limit", sizes);
    let result = &outcome.results[0];
    assert!(!result.passed());
    assert_eq!(result.steps_run, 1);
    let failure = &result.failures[0];
    assert_eq!(
        failure.message,
        format!(
            "POST {base_url}/checkout: the response body is larger than 8 MiB, the harness's \
             limit for one response from the app. Make the app answer this request with a \
             smaller body."
        )
    );
}

/// A body streamed without a `Content-Length` stops being read at the
/// limit, although the app would send 64 MiB.
#[test]
fn streamed_order_over_limit_fails_step() {
    let sizes = Sizes {
        checkout: 1_024,
        order_stream: Some(64 * 1024 * 1024),
    };
    let (base_url, outcome) = run_checkout("streamed", sizes);
    let result = &outcome.results[0];
    assert!(!result.passed());
    assert_eq!(result.steps_run, 2);
    let failure = &result.failures[0];
    assert_eq!(failure.mismatches.len(), 1, "{}", failure.message);
    assert_eq!(failure.mismatches[0].subject, "order read");
    // The app gets the order id with a suffix unique to the run.
    let actual = &failure.mismatches[0].actual;
    assert!(
        actual.starts_with(&format!("GET {base_url}/orders/O-1")),
        "{actual}"
    );
    assert!(
        actual.ends_with(
            ": the response body is larger than 8 MiB, the harness's limit for one response \
             from the app. Make the app answer this request with a smaller body."
        ),
        "{actual}"
    );
}
