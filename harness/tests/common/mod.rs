//! Pieces the harness tests that run an app inside the test share: the
//! app's listener, its read of the env file, the
//! Checkout Session it creates, and the run options.

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fakestripe::RunOptions;
use serde_json::{Value, json};

/// Binds a listener to a free port of 127.0.0.1 and returns it with the
/// app's base URL.
pub(crate) fn bind_app(runtime: &tokio::runtime::Runtime) -> (tokio::net::TcpListener, String) {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .expect("a port on 127.0.0.1 is free");
    let port = listener
        .local_addr()
        .expect("the listener has an address")
        .port();
    (listener, format!("http://127.0.0.1:{port}"))
}

/// Reads the value of a `KEY=value` line of the env file the harness
/// writes for the app.
pub(crate) fn env_value(env_file: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(env_file).expect("the harness wrote the env file");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("the env file has no {key}"))
        .to_owned()
}

/// Returns the options of a run of one job against the app file `app`.
pub(crate) fn run_options(app: &Path) -> RunOptions {
    RunOptions {
        jobs: 1,
        seed: None,
        fail_fast: false,
        fake_url: None,
        app_arg: app.display().to_string(),
    }
}

/// Builds the form of a Checkout Session for a checkout request in the
/// shape the test apps' fakestripe.yaml sends: `order_id`, `currency` and
/// `items` of `{name, unit_amount, quantity}`.
// large_responses.rs sends a fixed form of its own.
#[allow(dead_code)]
pub(crate) fn session_form(base_url: &str, body: &Value) -> Vec<(String, String)> {
    let order_id = body["order_id"].as_str().unwrap_or_default().to_owned();
    let currency = body["currency"].as_str().unwrap_or("usd").to_owned();
    let mut form: Vec<(String, String)> = vec![
        ("mode".to_owned(), "payment".to_owned()),
        (
            "success_url".to_owned(),
            format!("{base_url}/success?session_id={{CHECKOUT_SESSION_ID}}"),
        ),
        (
            "cancel_url".to_owned(),
            format!("{base_url}/cancel?order_id={order_id}"),
        ),
        ("metadata[order_id]".to_owned(), order_id.clone()),
    ];
    let items = body["items"].as_array().cloned().unwrap_or_default();
    for (index, item) in items.iter().enumerate() {
        let prefix = format!("line_items[{index}]");
        let fields = [
            ("[price_data][currency]", currency.clone()),
            (
                "[price_data][product_data][name]",
                item["name"].as_str().unwrap_or("Item").to_owned(),
            ),
            ("[price_data][unit_amount]", item["unit_amount"].to_string()),
            ("[quantity]", item["quantity"].to_string()),
        ];
        for (suffix, value) in fields {
            form.push((format!("{prefix}{suffix}"), value));
        }
    }
    form
}

/// Creates a Checkout Session in the fake that the env file names, with
/// the key `checkout-ORDER_ID`, and returns the fake's JSON response.
pub(crate) async fn create_session(
    http: &reqwest::Client,
    env_file: &Path,
    order_id: &str,
    form: &(impl serde::Serialize + ?Sized),
) -> Value {
    let response = http
        .post(format!(
            "{}/v1/checkout/sessions",
            env_value(env_file, "STRIPE_API_BASE")
        ))
        .bearer_auth(env_value(env_file, "STRIPE_SECRET_KEY"))
        .header("Idempotency-Key", format!("checkout-{order_id}"))
        .form(form)
        .send()
        .await
        .expect("the fake responds");
    response.json().await.expect("the fake returns JSON")
}

/// Returns the id and URL of a Checkout Session the fake created, or the
/// 502 a test shop sends when the fake responded with an error.
pub(crate) fn session_parts(session: &Value) -> Result<(&str, &str), Response> {
    match (session["id"].as_str(), session["url"].as_str()) {
        (Some(id), Some(url)) => Ok((id, url)),
        _ => Err((StatusCode::BAD_GATEWAY, session.to_string()).into_response()),
    }
}

/// Creates the Checkout Session of a checkout request in the fake that
/// the env file names. Returns the order id and the session's id and URL,
/// or the 502 a test shop sends when the fake responded with an error.
#[allow(dead_code)]
pub(crate) async fn checkout_session(
    http: &reqwest::Client,
    base_url: &str,
    env_file: &Path,
    body: &Value,
) -> Result<(String, String, String), Response> {
    let order_id = body["order_id"].as_str().unwrap_or_default().to_owned();
    let form = session_form(base_url, body);
    let session = create_session(http, env_file, &order_id, &form).await;
    let (id, url) = session_parts(&session)?;
    Ok((order_id, id.to_owned(), url.to_owned()))
}

/// Returns the app file of a test shop at `base_url` that the harness
/// does not start, with `extra` (whole lines) after `env_file`. The shop
/// takes `{order_id, items}` at `POST /checkout` and serves orders at
/// `/orders/{id}` with the words `paid` and `pending`.
// Only the tests that run one pending checkout use it.
#[allow(dead_code)]
pub(crate) fn running_app_text(base_url: &str, extra: &str) -> String {
    format!(
        "\
version: 1
base_url: {base_url}
env_file: app.env
{extra}webhook_path: /webhooks
checkout:
  request:
    method: POST
    path: /checkout
    json: {{ order_id: \"{{{{order_id}}}}\", items: \"{{{{items}}}}\" }}
  session_id: /session_id
  url: /url
order:
  request: {{ path: \"/orders/{{{{order_id}}}}\" }}
  status: /status
  fulfilments: /fulfilment_count
  session_id: /session_id
  status_map: {{ paid: [paid], pending: [pending] }}
"
    )
}

/// Runs a checkout of order O-1 and a read of the pending order against
/// the app file `app`, from a scenario file written into `dir`.
#[allow(dead_code)]
pub(crate) fn run_pending_checkout(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    app: &Path,
) -> fakestripe::RunOutcome {
    let scenario = dir.join("checkout.yaml");
    std::fs::write(
        &scenario,
        "version: 1\nsettle: 0\nsteps:\n  - checkout: { order: O-1 }\n  - expect: { status: pending }\n",
    )
    .expect("the temporary directory is writable");
    runtime
        .block_on(fakestripe::run_files(app, &[scenario], run_options(app)))
        .expect("the run starts")
}

/// Writes a test shop's app file as `fakestripe.yaml` in `dir` and returns
/// its path.
pub(crate) fn write_app_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("fakestripe.yaml");
    std::fs::write(&path, text).expect("the temporary directory is writable");
    path
}

/// One order as the test shops that count fulfilments store it.
// large_responses.rs and background_job.rs keep orders of their own shape.
#[allow(dead_code)]
#[derive(Debug, Clone, Default)]
pub(crate) struct Order {
    pub status: &'static str,
    pub fulfilments: u64,
    pub session_id: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
}

#[allow(dead_code)]
impl Order {
    /// Marks the order paid by `session` and counts one more fulfilment.
    pub(crate) fn fulfil(&mut self, session: &Value) {
        self.status = "paid";
        self.fulfilments += 1;
        self.session_id = session["id"].as_str().map(str::to_owned);
        self.amount_total = session["amount_total"].as_i64();
        self.currency = session["currency"].as_str().map(str::to_owned);
    }
}

/// Builds the response to an order read: the order as JSON, or a 404.
#[allow(dead_code)]
pub(crate) fn order_response(order: Option<&Order>) -> Response {
    match order {
        Some(order) => axum::Json(json!({
            "status": order.status,
            "fulfilment_count": order.fulfilments,
            "session_id": order.session_id,
            "amount_total": order.amount_total,
            "currency": order.currency,
        }))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
