//! A fake given by `--fake` that stops responding during a run stops the
//! run: the scenario that was running fails with the cause, the rest are
//! not run, and the summary says so, where they would otherwise each fail
//! as if the app were at fault.
//!
//! The app runs inside the test, as an axum server that the app file names
//! by `base_url`. Its checkout route shuts the fake down.

mod common;
mod scratch;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use fakestripe::run_files;

/// The fake, until the app's checkout route takes it to shut it down.
type Fake = Arc<Mutex<Option<fakestripe_server::Server>>>;

#[test]
fn fake_that_stops_ends_the_run() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("lost-fake", "fake_that_stops_ends_the_run");
    let server = runtime
        .block_on(fakestripe_server::Server::start(
            fakestripe_server::ServerConfig::default(),
        ))
        .expect("the fake starts");
    let fake_url = server.base_url().to_owned();
    let fake: Fake = Arc::new(Mutex::new(Some(server)));

    let (listener, base_url) = common::bind_app(&runtime);
    let router = Router::new()
        .route(
            "/checkout",
            post(
                |axum::extract::State(fake): axum::extract::State<Fake>| async move {
                    let server = fake.lock().expect("no panic held the lock").take();
                    if let Some(server) = server {
                        server.shutdown().await;
                    }
                    StatusCode::BAD_GATEWAY
                },
            ),
        )
        .route("/webhooks", post(|| async { "ok" }))
        .route(
            "/orders/{order_id}",
            get(|| async { StatusCode::NOT_FOUND }),
        )
        .with_state(fake);
    runtime.spawn(async move { axum::serve(listener, router).await });
    let app = common::write_app_file(&dir, &common::running_app_text(&base_url, ""));

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
    options.fake_url = Some(fake_url.clone());
    let outcome = runtime
        .block_on(run_files(&app, &scenarios, options))
        .expect("the run starts");

    assert!(outcome.summary.fake_lost);
    assert_eq!(outcome.summary.skipped, 1);
    assert_eq!(outcome.results.len(), 1);
    let message = &outcome.results[0].failures[0].message;
    assert!(
        message.starts_with("the fake stopped responding: GET /_fakestripe/clock failed"),
        "{message}"
    );
}
