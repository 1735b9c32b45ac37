//! What the harness reports about an app whose webhook route or app file
//! is wrong. The cases are deliveries the app rejects in a scenario that
//! still passes, an order path the app does not serve, checkout pointers
//! that name nothing, and a second run against the same `env_file`.
//!
//! The app runs inside the test, as an axum server that the app file names
//! by `base_url`. It fulfils an order on the success page once the session
//! is paid, so the built-in card-paid scenario passes whatever its webhook
//! route returns. It reads the fake's URL and key from the `env_file` the
//! harness writes.

mod common;
mod scratch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fakestripe::{RunOutcome, ScenarioFailure, run_files};
use serde_json::{Value, json};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness sits in the workspace")
        .to_owned()
}

fn card_paid() -> PathBuf {
    workspace_root().join("scenarios/payment-status/card-paid.yaml")
}

/// The app's state: its orders, the bodies of its checkout requests, and
/// the status its webhook route returns for every delivery.
struct Shop {
    base_url: String,
    env_file: PathBuf,
    orders: Mutex<HashMap<String, common::Order>>,
    checkout_bodies: Mutex<Vec<Value>>,
    webhook_status: StatusCode,
    /// How long the webhook route takes before it responds.
    webhook_delay: std::time::Duration,
    /// The `api_version` of each event the webhook route received.
    event_versions: Mutex<Vec<String>>,
    /// Added to the success page's session retrieve.
    success_query: &'static str,
    http: reqwest::Client,
}

/// Creates a Checkout Session for the order and returns its id and URL.
async fn checkout(State(shop): State<Arc<Shop>>, Json(body): Json<Value>) -> Response {
    shop.checkout_bodies
        .lock()
        .expect("no panic held the lock")
        .push(body.clone());
    let session = common::checkout_session(&shop.http, &shop.base_url, &shop.env_file, &body).await;
    let (order_id, id, url) = match session {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    let answer = json!({ "order_id": order_id, "session_id": id, "url": url });
    let order = common::Order {
        status: "pending",
        session_id: Some(id),
        ..common::Order::default()
    };
    shop.orders
        .lock()
        .expect("no panic held the lock")
        .insert(order_id, order);
    Json(answer).into_response()
}

/// Retrieves the session and fulfils its order once when it is paid.
async fn success(
    State(shop): State<Arc<Shop>>,
    Query(query): Query<HashMap<String, String>>,
) -> StatusCode {
    let session_id = query.get("session_id").cloned().unwrap_or_default();
    let session: Value = shop
        .http
        .get(format!(
            "{}/v1/checkout/sessions/{session_id}{}",
            common::env_value(&shop.env_file, "STRIPE_API_BASE"),
            shop.success_query
        ))
        .bearer_auth(common::env_value(&shop.env_file, "STRIPE_SECRET_KEY"))
        .send()
        .await
        .expect("the fake responds")
        .json()
        .await
        .expect("the fake returns JSON");
    if session["payment_status"] != "paid" {
        return StatusCode::OK;
    }
    let order_id = session["metadata"]["order_id"].as_str().unwrap_or_default();
    let mut orders = shop.orders.lock().expect("no panic held the lock");
    if let Some(order) = orders.get_mut(order_id)
        && order.status != "paid"
    {
        order.fulfil(&session);
    }
    StatusCode::OK
}

async fn webhook(State(shop): State<Arc<Shop>>, body: axum::body::Bytes) -> StatusCode {
    tokio::time::sleep(shop.webhook_delay).await;
    if let Ok(event) = serde_json::from_slice::<Value>(&body) {
        shop.event_versions
            .lock()
            .expect("no panic held the lock")
            .push(event["api_version"].as_str().unwrap_or_default().to_owned());
    }
    shop.webhook_status
}

async fn read_order(State(shop): State<Arc<Shop>>, UrlPath(order_id): UrlPath<String>) -> Response {
    let orders = shop.orders.lock().expect("no panic held the lock");
    common::order_response(orders.get(&order_id))
}

async fn reset(State(shop): State<Arc<Shop>>) -> StatusCode {
    shop.orders.lock().expect("no panic held the lock").clear();
    StatusCode::OK
}

/// The parts of the app file, and of the app, that the tests change.
struct AppFile {
    checkout_path: &'static str,
    webhook_path: &'static str,
    order_path: &'static str,
    checkout_pointers: &'static str,
    /// A query for the success page's session retrieve, such as
    /// `?expand[]=line_items`.
    success_query: &'static str,
    /// How long the webhook route takes before it responds.
    webhook_delay: std::time::Duration,
    /// Lines added at the end of the app file.
    extra_keys: String,
}

impl Default for AppFile {
    fn default() -> AppFile {
        AppFile {
            checkout_path: "/checkout",
            webhook_path: "/webhooks",
            order_path: "/orders/{{order_id}}",
            checkout_pointers: "  session_id: /session_id\n  url: /url\n",
            success_query: "",
            webhook_delay: std::time::Duration::ZERO,
            extra_keys: String::new(),
        }
    }
}

/// A running test app and its app file.
struct App {
    shop: Arc<Shop>,
    file: PathBuf,
    text: String,
}

/// Starts the app on a free port with its webhook route returning
/// `webhook_status`, writes its app file into `dir`, and returns both.
fn start_app(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    webhook_status: StatusCode,
    file: &AppFile,
) -> App {
    let (listener, base_url) = common::bind_app(runtime);
    let shop = Arc::new(Shop {
        base_url: base_url.clone(),
        env_file: dir.join("app.env"),
        orders: Mutex::default(),
        checkout_bodies: Mutex::default(),
        webhook_status,
        webhook_delay: file.webhook_delay,
        event_versions: Mutex::default(),
        success_query: file.success_query,
        http: reqwest::Client::new(),
    });
    let router = Router::new()
        .route("/checkout", post(checkout))
        // Responds as an app that created its session with another key.
        .route(
            "/checkout-elsewhere",
            post(|| async {
                Json(json!({"session_id": "cs_test_made_with_another_key", "url": "http://127.0.0.1:9/pay"}))
            }),
        )
        .route(
            "/checkout-fails",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database is down") }),
        )
        .route("/webhooks", post(webhook))
        .route("/orders/{order_id}", get(read_order))
        .route("/success", get(success))
        .route("/cancel", get(|| async { "cancelled" }))
        .route("/reset", post(reset))
        .with_state(shop.clone());
    runtime.spawn(async move { axum::serve(listener, router).await });

    let text = format!(
        "\
version: 1
base_url: {base_url}
env_file: app.env
webhook_path: {webhook_path}
reset: {{ method: POST, path: /reset }}
checkout:
  request:
    method: POST
    path: {checkout_path}
    json: {{ order_id: \"{{{{order_id}}}}\", items: \"{{{{items}}}}\", currency: \"{{{{currency}}}}\", email: \"{{{{email}}}}\" }}
{pointers}order:
  request: {{ path: \"{order_path}\" }}
  status: /status
  fulfilments: /fulfilment_count
  session_id: /session_id
  amount: /amount_total
  currency: /currency
  status_map: {{ paid: [paid], pending: [pending] }}
{extra_keys}",
        checkout_path = file.checkout_path,
        webhook_path = file.webhook_path,
        order_path = file.order_path,
        pointers = file.checkout_pointers,
        extra_keys = file.extra_keys,
    );
    let file = common::write_app_file(dir, &text);
    App { shop, file, text }
}

impl App {
    /// Returns `path:line:column` of the first `text` in the app file.
    fn location_of(&self, text: &str) -> String {
        let (line, line_text) = self
            .text
            .lines()
            .enumerate()
            .find(|(_, line)| line.contains(text))
            .unwrap_or_else(|| panic!("the app file contains {text}"));
        let column = line_text.find(text).expect("the line contains it") + 1;
        format!("{}:{}:{column}", self.file.display(), line + 1)
    }
}

/// Runs the scenario files against the app in one job.
fn run(runtime: &tokio::runtime::Runtime, app: &App, scenarios: &[PathBuf]) -> RunOutcome {
    runtime
        .block_on(run_files(
            &app.file,
            scenarios,
            common::run_options(&app.file),
        ))
        .expect("the run starts")
}

/// Starts the app in a directory of its own and runs the built-in
/// card-paid scenario against it.
fn run_card_paid(test: &str, webhook_status: StatusCode, file: &AppFile) -> (App, RunOutcome) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("app-messages", test);
    let app = start_app(&runtime, &dir, webhook_status, file);
    let outcome = run(&runtime, &app, &[card_paid()]);
    (app, outcome)
}

/// A webhook route slower than the fake's delivery timeout fails the
/// scenario after a few timed-out deliveries, with a message that names
/// the timeout and the event. The harness does not wait out the timeout
/// for every attempt of every event.
#[test]
fn slow_webhooks_stop_the_advance() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("app-messages", "slow_webhooks_stop_the_advance");
    let fake = runtime
        .block_on(fakestripe_server::Server::start(
            fakestripe_server::ServerConfig {
                delivery_timeout: std::time::Duration::from_secs(1),
                ..Default::default()
            },
        ))
        .expect("the fake starts");
    let file = AppFile {
        webhook_delay: std::time::Duration::from_secs(30),
        ..AppFile::default()
    };
    let app = start_app(&runtime, &dir, StatusCode::OK, &file);
    let mut options = common::run_options(&app.file);
    options.fake_url = Some(fake.base_url().to_owned());
    let outcome = runtime
        .block_on(run_files(&app.file, &[card_paid()], options))
        .expect("the run starts");
    let result = &outcome.results[0];
    let failure = ScenarioFailure::Failed(Box::new((**result).clone())).to_string();
    assert!(!result.passed(), "{failure}");
    assert!(
        failure.contains(
            "step 4 (advance, line 17): 3 webhook deliveries timed out during one clock advance"
        ),
        "{failure}"
    );
    assert!(
        failure.contains("Answer a webhook first and do slow work after it"),
        "{failure}"
    );
    // The timeout is the one this fake waited, not the default.
    assert!(
        failure.contains("the fake's delivery timeout, 1 s (`fakestripe serve --delivery-timeout`"),
        "{failure}"
    );
    runtime.block_on(fake.shutdown());
}

/// An app file's `api_version` pins the app's webhook endpoint, so
/// every event arrives in that version, and `expect: checkout_session`
/// reads the session in it: `ui_mode` is `hosted` there, where the
/// current version has `hosted_page`.
#[test]
fn api_version_pins_events_and_session_reads() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("app-messages", "api_version_pins_events_and_session_reads");
    let file = AppFile {
        extra_keys: "api_version: 2024-06-20\n".to_owned(),
        ..AppFile::default()
    };
    let app = start_app(&runtime, &dir, StatusCode::OK, &file);
    let scenario = dir.join("pinned.yaml");
    std::fs::write(
        &scenario,
        "version: 1\nname: a pinned app\nsteps:\n  - checkout: { order: O-1 }\n  - pay: {}\n  - redirect:\n  - advance: 1m\n  - expect:\n      checkout_session: { status: complete, fields: { /ui_mode: hosted } }\n",
    )
    .expect("the scenario file is written");
    let outcome = run(&runtime, &app, &[scenario]);
    assert_passed(&outcome);
    let versions = app
        .shop
        .event_versions
        .lock()
        .expect("no panic held the lock")
        .clone();
    assert!(!versions.is_empty(), "the app received no event");
    assert!(
        versions.iter().all(|version| version == "2024-06-20"),
        "{versions:?}"
    );
}

/// A session id that the app returned and that the account does not
/// have, with no session created through the account, fails the
/// checkout step with the likely cause: the app did not read the key the
/// harness wrote to its `env_file`.
#[test]
fn session_from_another_account_fails_checkout() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch(
        "app-messages",
        "session_from_another_account_fails_checkout",
    );
    let file = AppFile {
        checkout_path: "/checkout-elsewhere",
        ..AppFile::default()
    };
    let app = start_app(&runtime, &dir, StatusCode::OK, &file);
    let outcome = run(&runtime, &app, &[card_paid()]);
    let result = &outcome.results[0];
    let failure = ScenarioFailure::Failed(Box::new((**result).clone())).to_string();
    assert!(
        failure.contains("step 1 (checkout, line 10): the app returned the session id cs_test_made_with_another_key, which this account of the fake does not have"),
        "{failure}"
    );
    assert!(
        failure.contains("must read STRIPE_API_BASE and STRIPE_SECRET_KEY from its `env_file`"),
        "{failure}"
    );
}

/// Runs the card-paid scenario with the binary against an app file with
/// `api_version: {value}`, and returns the app and the run's stderr after
/// checking that the file failed to load (exit code 2).
fn load_api_version(test: &str, value: &str) -> (App, String) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("app-messages", test);
    let file = AppFile {
        extra_keys: format!("api_version: {value}\n"),
        ..AppFile::default()
    };
    let app = start_app(&runtime, &dir, StatusCode::OK, &file);
    let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .arg("run")
        .arg(card_paid())
        .arg("--app")
        .arg(&app.file)
        .output()
        .expect("fakestripe runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    (app, stderr)
}

/// An `api_version` whose release name does not fit its date fails to
/// load, with the version that fits.
#[test]
fn misnamed_api_version_names_the_fitting_one() {
    let (app, stderr) = load_api_version(
        "misnamed_api_version_names_the_fitting_one",
        "2025-03-31.acacia",
    );
    assert!(
        stderr.contains(&app.location_of("2025-03-31.acacia")),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean 2025-03-31.basil?"),
        "{stderr}"
    );
}

/// An `api_version` that is no Stripe version fails to load, at its line.
#[test]
fn malformed_api_version_is_located() {
    let (app, stderr) = load_api_version("malformed_api_version_is_located", "2024-6-20");
    assert!(stderr.contains(&app.location_of("2024-6-20")), "{stderr}");
    assert!(
        stderr.contains("`api_version` `2024-6-20` is not a Stripe API version"),
        "{stderr}"
    );
}

fn assert_passed(outcome: &RunOutcome) {
    let result = &outcome.results[0];
    assert!(
        result.passed(),
        "{}",
        ScenarioFailure::Failed(Box::new((**result).clone()))
    );
}

/// A webhook route that returns 400, as one behind a JSON body parser
/// does, leaves the scenario passing on the success page, with a warning
/// and a hint about the raw body under it.
#[test]
fn rejected_webhooks_warn_under_pass() {
    let (_, outcome) = run_card_paid(
        "rejected-webhooks",
        StatusCode::BAD_REQUEST,
        &AppFile::default(),
    );

    assert_passed(&outcome);
    let result = &outcome.results[0];
    assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
    let warning = &result.warnings[0];
    assert!(
        warning.starts_with("no webhook delivery succeeded: the app rejected all "),
        "{warning}"
    );
    assert!(warning.contains("/webhooks (400 ×"), "{warning}");
    assert_eq!(result.hints.len(), 1, "{:?}", result.hints);
    assert!(result.hints[0].contains("got 400"), "{}", result.hints[0]);
    assert!(
        result.hints[0].contains("needs the raw request body"),
        "{}",
        result.hints[0]
    );
    assert_eq!(outcome.summary.warned, 1);
}

/// An app file whose `webhook_path` the app does not serve gets a warning
/// and the `webhook_path` hint under PASS, not only under FAIL.
#[test]
fn unserved_webhook_path_warns_under_pass() {
    let file = AppFile {
        webhook_path: "/hooks",
        ..AppFile::default()
    };
    let (_, outcome) = run_card_paid("unserved-webhook-path", StatusCode::OK, &file);

    assert_passed(&outcome);
    let result = &outcome.results[0];
    assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
    assert!(
        result.warnings[0].contains("/hooks (404 ×"),
        "{}",
        result.warnings[0]
    );
    assert_eq!(result.hints.len(), 1, "{:?}", result.hints);
    assert!(
        result.hints[0].contains("check `webhook_path` in the app file"),
        "{}",
        result.hints[0]
    );
    assert_eq!(outcome.summary.warned, 1);
}

/// An app that accepts its deliveries gets no warning.
#[test]
fn accepted_webhooks_give_no_warning() {
    let (_, outcome) = run_card_paid("accepted-webhooks", StatusCode::OK, &AppFile::default());

    assert_passed(&outcome);
    let result = &outcome.results[0];
    assert!(result.warnings.is_empty(), "{:?}", result.warnings);
    assert!(result.hints.is_empty(), "{:?}", result.hints);
    assert_eq!(outcome.summary.warned, 0);
}

/// Runs the card-paid scenario with `faults` (a YAML list) and `requests`
/// (the YAML of an expect step's `requests`) added.
fn run_card_paid_with(test: &str, file: &AppFile, faults: &str, requests: &str) -> RunOutcome {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("app-messages", test);
    let app = start_app(&runtime, &dir, StatusCode::OK, file);
    let base = std::fs::read_to_string(card_paid()).expect("the built-in scenario is readable");
    let scenario = base.replacen("steps:\n", &format!("faults:\n{faults}steps:\n"), 1)
        + &format!("  - expect:\n      requests:\n{requests}");
    let path = dir.join("card-paid-with-faults.yaml");
    std::fs::write(&path, scenario).expect("the scratch directory is writable");
    run(&runtime, &app, &[path])
}

/// A call fault on a route the app never calls gets a warning under PASS
/// that names the route. One that the app's calls take gets none.
#[test]
fn idle_call_fault_warns() {
    let faults = "  - { kind: api_error, routes: [\"GET /v1/customers/{id}\"], status: 500 }\n  \
                  - { kind: api_error, routes: [\"GET /v1/checkout/sessions/{id}\"], latency_ms: 1 }\n";
    let requests =
        "        matching: [{ method: GET, path: \"/v1/checkout/sessions/{session}\" }]\n";
    let outcome = run_card_paid_with("idle-call-fault", &AppFile::default(), faults, requests);

    assert_passed(&outcome);
    assert_eq!(
        outcome.results[0].warnings,
        [
            "the api_error fault on GET /v1/customers/{id} never took effect: no request of the app matched it, so it changed nothing"
        ]
    );
    assert_eq!(outcome.summary.warned, 1);
}

/// A success page that retrieves the session with its line items expanded
/// counts as listing them, and a fault on the list takes its retrieve.
#[test]
fn expanded_retrieve_counts_as_line_items_list() {
    let file = AppFile {
        success_query: "?expand[]=line_items",
        ..AppFile::default()
    };
    let faults = "  - { kind: api_error, routes: [\"GET /v1/checkout/sessions/{id}/line_items\"], latency_ms: 1 }\n";
    let requests = "        matching: [{ method: GET, path: \"/v1/checkout/sessions/{session}/line_items\", min: 1 }]\n";
    let outcome = run_card_paid_with("expanded-line-items", &file, faults, requests);

    assert_passed(&outcome);
    assert!(
        outcome.results[0].warnings.is_empty(),
        "{:?}",
        outcome.results[0].warnings
    );
}

/// An order path the app does not serve names the URL the harness
/// requested and the app file's `order.request`, with a hint.
#[test]
fn wrong_order_path_names_url() {
    let file = AppFile {
        order_path: "/order/{{order_id}}",
        ..AppFile::default()
    };
    let (app, outcome) = run_card_paid("wrong-order-path", StatusCode::OK, &file);

    let result = &outcome.results[0];
    assert!(!result.passed());
    let failure = &result.failures[0];
    assert_eq!(failure.mismatches.len(), 1, "{:?}", failure.mismatches);
    let actual = &failure.mismatches[0].actual;
    let request = format!("{}/order/O-1-", app.shop.base_url);
    assert!(
        actual.starts_with(&format!("HTTP 404 from GET {request}")),
        "{actual}"
    );
    let source = format!("`order.request` at {}", app.location_of("{ path:"));
    assert!(actual.ends_with(&format!("({source})")), "{actual}");
    let hint = result
        .hints
        .iter()
        .find(|hint| hint.contains("order reads got 404"))
        .unwrap_or_else(|| panic!("a hint about the order reads: {:?}", result.hints));
    assert!(hint.starts_with("all "), "{hint}");
    assert!(hint.contains(&format!("such as GET {request}")), "{hint}");
    assert!(hint.contains(&format!("check {source} against")), "{hint}");
}

/// A checkout request that fails leaves no order to read, so the run
/// gives no hint that `order.request` names the wrong path.
#[test]
fn failed_checkout_no_order_path_hint() {
    let file = AppFile {
        checkout_path: "/checkout-fails",
        ..AppFile::default()
    };
    let (_, outcome) = run_card_paid("failed-checkout", StatusCode::OK, &file);

    let result = &outcome.results[0];
    assert!(!result.passed());
    let message = &result.failures[0].message;
    assert!(message.contains("with 500: database is down"), "{message}");
    let order_hint = result
        .hints
        .iter()
        .find(|hint| hint.contains("order reads got 404"));
    assert_eq!(order_hint, None, "{:?}", result.hints);
}

/// A `checkout.session_id` pointer that names nothing in the checkout
/// response fails the checkout step with the pointer's place in the app
/// file and the response's keys, where the harness used to take the
/// session the app created.
#[test]
fn wrong_checkout_pointers_fail_checkout() {
    let file = AppFile {
        checkout_pointers: "  session_id: /sessionId\n  url: /checkout_url\n",
        ..AppFile::default()
    };
    let (app, outcome) = run_card_paid("wrong-checkout-pointers", StatusCode::OK, &file);

    let result = &outcome.results[0];
    assert!(!result.passed());
    assert_eq!(result.steps_run, 1);
    let message = &result.failures[0].message;
    let session_pointer = format!(
        "`checkout.session_id` pointer `/sessionId` ({})",
        app.location_of("/sessionId")
    );
    let url_pointer = format!(
        "`checkout.url` pointer `/checkout_url` ({})",
        app.location_of("/checkout_url")
    );
    assert!(message.contains(&session_pointer), "{message}");
    assert!(message.contains(&url_pointer), "{message}");
    assert!(
        message.contains(
            "(its top-level keys are order_id, session_id, url), so the pointers are likely wrong"
        ),
        "{message}"
    );
}

/// A scenario that sets no email renders `"{{email}}"` as JSON null.
#[test]
fn email_without_value_renders_null() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("app-messages", "email-null");
    let app = start_app(&runtime, &dir, StatusCode::OK, &AppFile::default());
    let scenario = dir.join("no-email.yaml");
    std::fs::write(
        &scenario,
        "version: 1\nsettle: 0\nsteps:\n  - checkout: { order: O-1 }\n",
    )
    .expect("the temporary directory is writable");
    let outcome = run(&runtime, &app, &[scenario]);

    assert_passed(&outcome);
    let bodies = app
        .shop
        .checkout_bodies
        .lock()
        .expect("no panic held the lock");
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0].get("email"), Some(&Value::Null), "{}", bodies[0]);
}

/// A run whose `env_file` reaches a locked env file through a link stops
/// as well. Through a symbolic link it finds the lock file beside the
/// file the link leads to, and through a hard link the lock on the env
/// file itself.
#[test]
fn env_file_through_link_stops() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("app-messages", "env-file-link");
    let app = start_app(&runtime, &dir, StatusCode::OK, &AppFile::default());
    std::fs::write(dir.join("app.env"), "").expect("the env file is writable");
    std::os::unix::fs::symlink("app.env", dir.join("soft.env")).expect("the link is made");
    std::fs::hard_link(dir.join("app.env"), dir.join("hard.env")).expect("the link is made");
    let text = std::fs::read_to_string(&app.file).expect("the app file is readable");
    let run_through = |link: &str| {
        std::fs::write(
            &app.file,
            text.replace("env_file: app.env", &format!("env_file: {link}")),
        )
        .expect("the app file is writable");
        let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
            .arg("run")
            .arg(card_paid())
            .arg("--app")
            .arg(&app.file)
            .env_remove("FAKESTRIPE_URL")
            .output()
            .expect("fakestripe runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let lock = std::fs::File::create(dir.join("app.env.lock")).expect("the lock file is writable");
    lock.lock().expect("nothing else holds the lock");
    let (code, stderr) = run_through("soft.env");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("is using the app's env file"), "{stderr}");
    lock.unlock().expect("the lock is held");

    let env = std::fs::File::open(dir.join("app.env")).expect("the env file is readable");
    env.lock().expect("nothing else holds the lock");
    let (code, stderr) = run_through("hard.env");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("under another name, a link to it"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("app.env")).expect("the env file is readable"),
        "",
        "the blocked run wrote the env file"
    );
}

/// A run against an app whose env file another process has locked stops
/// before the first scenario and names that process. Once the lock is
/// free, a run takes it, writes its own id into the lock file and
/// releases the lock when it exits.
#[test]
fn second_run_on_env_file_stops() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let dir = scratch::scratch("app-messages", "env-file-lock");
    let app = start_app(&runtime, &dir, StatusCode::OK, &AppFile::default());
    let lock_path = dir.join("app.env.lock");
    let holder = std::fs::File::create(&lock_path).expect("the lock file is writable");
    holder.lock().expect("nothing else holds the lock");
    std::fs::write(&lock_path, format!("{}\n", std::process::id()))
        .expect("the lock file is writable");
    let fakestripe = |scenario: &Path| {
        Command::new(env!("CARGO_BIN_EXE_fakestripe"))
            .arg("run")
            .arg(scenario)
            .arg("--app")
            .arg(&app.file)
            .env_remove("FAKESTRIPE_URL")
            .output()
            .expect("fakestripe runs")
    };

    let blocked = fakestripe(&card_paid());
    let stderr = String::from_utf8_lossy(&blocked.stderr);
    assert_eq!(blocked.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("(PID {}) is using", std::process::id())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&dir.join("app.env").display().to_string()),
        "{stderr}"
    );
    assert!(
        !dir.join("app.env").exists(),
        "the blocked run wrote the env file"
    );

    holder.unlock().expect("the lock is held");
    let passed = fakestripe(&card_paid());
    assert_eq!(
        passed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&passed.stdout)
    );
    let written = std::fs::read_to_string(&lock_path).expect("the lock file is readable");
    let pid: u32 = written
        .trim()
        .parse()
        .expect("the lock file holds a process id");
    assert_ne!(pid, std::process::id());
    holder
        .try_lock()
        .expect("the run released the lock when it exited");
}

/// The timeline of a scenario stopped by a failed step does not claim that
/// the clock was settled after it. The checkout request gets a 404, so
/// the entries of the fake come only after the failed step.
#[test]
fn failed_step_timeline_not_settled() {
    let file = AppFile {
        checkout_path: "/checkouts",
        ..AppFile::default()
    };
    let (_, outcome) = run_card_paid("failed-step-timeline", StatusCode::OK, &file);

    let result = &outcome.results[0];
    assert!(!result.passed());
    assert_eq!(result.steps_run, 1);
    let headers: Vec<&str> = result
        .timeline
        .iter()
        .filter(|line| line.actor == "step")
        .map(|line| line.text.as_str())
        .collect();
    assert_eq!(headers.len(), 2, "{headers:?}");
    assert_eq!(
        headers[1],
        "after the last step that ran (the clock was not settled, because the scenario stopped early)"
    );
}
