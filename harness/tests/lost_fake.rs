//! A fake given by `--fake` that stops responding during a run stops the
//! run. Under `fakestripe run`, the scenario that was running fails with
//! the cause, the rest are not run, and the summary reports it, where they
//! would otherwise each fail as if the app were at fault. Under
//! `fakestripe fuzz`, the case that was running is not counted as a
//! failure of the app, and the outcome names the cause.
//!
//! The app runs inside the test, as an axum server that the app file names
//! by `base_url`. Its checkout route shuts the fake down on a chosen
//! request, and creates a Checkout Session on the ones before it.

mod common;
mod scratch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fakestripe::fuzz::explore::{FuzzOptions, FuzzOutcome, Stop, fuzz};
use fakestripe::fuzz::flow::Flow;
use fakestripe::run_files;
use serde_json::{Value, json};

/// The app's state: the fake, until the checkout route takes it to shut
/// it down, and the number of checkout requests so far.
struct Shop {
    fake: Mutex<Option<fakestripe_server::Server>>,
    checkouts: AtomicUsize,
    /// The checkout request, counted from 1, that shuts the fake down.
    stop_at: usize,
    /// Whether a new fake then starts on the same port, as after a restart.
    restart: bool,
    base_url: String,
    env_file: PathBuf,
    http: reqwest::Client,
}

/// Creates the order's Checkout Session, or shuts the fake down on the
/// request `stop_at` and responds with a 502.
async fn checkout(State(shop): State<Arc<Shop>>, Json(body): Json<Value>) -> Response {
    if shop.checkouts.fetch_add(1, Ordering::SeqCst) + 1 >= shop.stop_at {
        let server = shop.fake.lock().expect("no panic held the lock").take();
        if let Some(server) = server {
            let port = server.addr().port();
            server.shutdown().await;
            if shop.restart {
                let config = fakestripe_server::ServerConfig {
                    port,
                    ..Default::default()
                };
                let fresh = fakestripe_server::Server::start(config)
                    .await
                    .expect("the fake starts again on its port");
                *shop.fake.lock().expect("no panic held the lock") = Some(fresh);
            }
        }
        return StatusCode::BAD_GATEWAY.into_response();
    }
    match common::checkout_session(&shop.http, &shop.base_url, &shop.env_file, &body).await {
        Ok((_, id, url)) => Json(json!({ "session_id": id, "url": url })).into_response(),
        Err(response) => response,
    }
}

/// Starts the fake and the app in `dir`; returns the fake's URL and the
/// app file's path.
fn start(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    stop_at: usize,
    restart: bool,
) -> (String, PathBuf) {
    let server = runtime
        .block_on(fakestripe_server::Server::start(
            fakestripe_server::ServerConfig::default(),
        ))
        .expect("the fake starts");
    let fake_url = server.base_url().to_owned();
    let (listener, base_url) = common::bind_app(runtime);
    let shop = Arc::new(Shop {
        fake: Mutex::new(Some(server)),
        checkouts: AtomicUsize::new(0),
        stop_at,
        restart,
        base_url: base_url.clone(),
        env_file: dir.join("app.env"),
        http: reqwest::Client::new(),
    });
    let router = Router::new()
        .route("/checkout", post(checkout))
        .route("/webhooks", post(|| async { "ok" }))
        .route(
            "/orders/{order_id}",
            get(|| async { Json(json!({ "status": "pending", "fulfilment_count": 0 })) }),
        )
        .with_state(shop);
    runtime.spawn(async move { axum::serve(listener, router).await });
    let app = common::write_app_file(dir, &common::running_app_text(&base_url, ""));
    (fake_url, app)
}

/// Runs two scenarios of one checkout each against a fake that the first
/// checkout stops, and restarts on its port when `restart` is set. Checks
/// that the run stopped after the first, and returns the first failure's
/// message.
fn run_until_fake_stops(test: &str, restart: bool) -> String {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("lost-fake", test);
    let (fake_url, app) = start(&runtime, &dir, 1, restart);
    let scenarios: Vec<PathBuf> = ["a.yaml", "b.yaml"]
        .iter()
        .map(|name| {
            let path = dir.join(name);
            std::fs::write(&path, "version: 1\nsteps:\n  - checkout: { order: O-1 }\n")
                .expect("the scenario is written");
            path
        })
        .collect();
    let mut options = common::run_options(&app);
    options.fake_url = Some(fake_url);
    let outcome = runtime
        .block_on(run_files(&app, &scenarios, options))
        .expect("the run starts");

    assert!(outcome.summary.fake_lost);
    assert_eq!(outcome.summary.skipped, 1);
    assert_eq!(outcome.results.len(), 1);
    outcome.results[0].failures[0].message.clone()
}

#[test]
fn fake_that_stops_ends_the_run() {
    let message = run_until_fake_stops("fake_that_stops_ends_the_run", false);
    assert!(
        message.starts_with("the fake stopped responding: GET /_fakestripe/clock failed"),
        "{message}"
    );
}

/// Fuzzes the card flow against a fake that checkout `stop_at` stops, and
/// returns the outcome. The fuzzer's probe of the flow makes the first
/// checkout, and the first case the second.
fn fuzz_until_fake_stops(test: &str, stop_at: usize) -> FuzzOutcome {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("lost-fake", test);
    let (fake_url, app) = start(&runtime, &dir, stop_at, false);
    let config = fakestripe::app::config::load(&app).expect("the app file is valid");
    let options = FuzzOptions {
        flows: vec![Flow::Card],
        cases: 5,
        seed: 1,
        max_actions: 8,
        max_shrink_time: Duration::from_secs(60),
        out: dir.join("failure.yaml"),
        app_arg: app.display().to_string(),
        fake_url: Some(fake_url),
    };
    runtime
        .block_on(fuzz(Arc::new(config), &options, &mut |_| {}, &Stop::new()))
        .expect("the fuzz run starts")
}

#[test]
fn fake_that_stops_ends_fuzzing() {
    let outcome = fuzz_until_fake_stops("fake_that_stops_ends_fuzzing", 2);
    let lost = outcome.fake_lost.as_deref().unwrap_or_default();
    assert!(
        lost.starts_with("the fake stopped responding while case 1 ran: "),
        "{lost}"
    );
    assert!(outcome.failure.is_none());
    assert_eq!(outcome.cases_run, 0);
}

/// A fake that stops while the fuzzer probes the flows ends the run with
/// that cause, not with the flows left out as if the app failed them.
#[test]
fn fake_that_stops_while_probing_ends_fuzzing() {
    let outcome = fuzz_until_fake_stops("fake_that_stops_while_probing", 1);
    let lost = outcome.fake_lost.as_deref().unwrap_or_default();
    assert!(
        lost.starts_with("the fake stopped responding while the flows were probed: "),
        "{lost}"
    );
    assert_eq!(outcome.cases_run, 0);
}

/// A fake restarted on its port during the run responds again, but the
/// account has lost the run's webhook endpoint, so the run stops with that
/// cause rather than fail every later scenario as the app's fault.
#[test]
fn restarted_fake_ends_the_run() {
    let message = run_until_fake_stops("restarted_fake_ends_the_run", true);
    assert!(
        message.contains("no longer has the webhook endpoint registered at the start of the run"),
        "{message}"
    );
}
