//! Helpers shared by the end-to-end tests: a fake on a free port, a thin
//! HTTP client that speaks Stripe's wire format, a webhook receiver, and a
//! `Stripe-Signature` check written independently of the fake's own.
//!
//! Each test file includes this module with `mod support;`. Cargo also
//! builds it as a test target of its own, which contains no tests.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use fakestripe_server::{ClockMode, Server, ServerConfig};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// Starts a fake whose accounts use the manual clock: nothing happens in
/// the background, and due work runs only inside a clock advance.
pub(crate) async fn start_manual() -> Server {
    start(ServerConfig {
        clock_mode: ClockMode::Manual,
        ..Default::default()
    })
    .await
}

pub(crate) async fn start(config: ServerConfig) -> Server {
    Server::start(config)
        .await
        .expect("starting the fake on 127.0.0.1")
}

/// Percent-encodes a form key or value. Square brackets stay literal so
/// that bodies read as they are written in tests, `metadata[k]=v`.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'[' | b']' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Builds an `application/x-www-form-urlencoded` body from pairs.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One HTTP response, with the body kept as bytes and parsed as JSON when it is.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) bytes: Vec<u8>,
    pub(crate) json: Value,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Returns the `error` object of a Stripe error envelope.
    pub(crate) fn error(&self) -> &Value {
        &self.json["error"]
    }

    /// Panics with the body unless the status is `expected`.
    #[track_caller]
    pub(crate) fn expect(&self, expected: u16) -> &Value {
        assert_eq!(
            self.status,
            expected,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        &self.json
    }

    #[track_caller]
    pub(crate) fn ok(&self) -> &Value {
        self.expect(200)
    }
}

/// A client for one account of the fake: the Stripe API under `/v1` and the
/// control API under `/_fakestripe`.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) http: reqwest::Client,
    /// Headers sent with every request, such as `Stripe-Account`.
    pub(crate) extra_headers: Vec<(String, String)>,
}

impl Api {
    pub(crate) fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.to_owned(),
            key: key.to_owned(),
            http: reqwest::Client::new(),
            extra_headers: Vec::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Api {
        self.extra_headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.key);
        for (name, value) in &self.extra_headers {
            builder = builder.header(name, value);
        }
        builder
    }

    /// POSTs a form body exactly as given.
    pub(crate) async fn post(&self, path: &str, body: &str) -> Reply {
        self.post_with(path, body, &[]).await
    }

    pub(crate) async fn post_with(
        &self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        send(builder).await
    }

    /// GETs a path that may carry a query string.
    pub(crate) async fn get(&self, path_and_query: &str) -> Reply {
        self.get_with(path_and_query, &[]).await
    }

    pub(crate) async fn get_with(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Reply {
        let mut builder = self.request(reqwest::Method::GET, path_and_query);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        send(builder).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Reply {
        send(self.request(reqwest::Method::DELETE, path)).await
    }

    /// POSTs JSON to the control API.
    pub(crate) async fn control(&self, path: &str, body: Value) -> Reply {
        let builder = self
            .request(reqwest::Method::POST, &format!("/_fakestripe{path}"))
            .header("content-type", "application/json")
            .body(body.to_string());
        send(builder).await
    }

    pub(crate) async fn put_control(&self, path: &str, body: Value) -> Reply {
        let builder = self
            .request(reqwest::Method::PUT, &format!("/_fakestripe{path}"))
            .header("content-type", "application/json")
            .body(body.to_string());
        send(builder).await
    }

    pub(crate) async fn control_get(&self, path: &str) -> Reply {
        send(self.request(reqwest::Method::GET, &format!("/_fakestripe{path}"))).await
    }

    /// Moves the account's manual clock forward and runs what falls due.
    pub(crate) async fn advance(&self, seconds: i64) -> Value {
        self.control("/clock/advance", json!({ "seconds": seconds }))
            .await
            .ok()
            .clone()
    }

    /// Runs the work that is already due, such as pending deliveries.
    pub(crate) async fn run_due(&self) -> Value {
        self.advance(0).await
    }

    pub(crate) async fn now(&self) -> i64 {
        self.control_get("/clock").await.ok()["now"]
            .as_i64()
            .expect("clock.now is an integer")
    }

    /// Pays a Checkout Session with a test card through the control API.
    pub(crate) async fn pay_card(&self, session_id: &str, card_number: &str) -> Reply {
        self.control(
            &format!("/checkout/sessions/{session_id}/pay"),
            json!({ "payment_method": "card", "card_number": card_number }),
        )
        .await
    }

    /// Lists every event of the account, newest first, across pages.
    pub(crate) async fn all_events(&self) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(id) => format!("/v1/events?limit=100&starting_after={id}"),
                None => "/v1/events?limit=100".to_owned(),
            };
            let page = self.get(&path).await.ok().clone();
            let data = page["data"]
                .as_array()
                .expect("list.data is an array")
                .clone();
            cursor = data
                .last()
                .and_then(|e| e["id"].as_str())
                .map(str::to_owned);
            events.extend(data);
            if page["has_more"] != json!(true) {
                return events;
            }
        }
    }

    /// Lists the account's event types in the order they happened, oldest first.
    pub(crate) async fn event_types_oldest_first(&self) -> Vec<String> {
        let mut types: Vec<String> = self
            .all_events()
            .await
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect();
        types.reverse();
        types
    }

    /// Registers a webhook endpoint and returns `(id, secret)`.
    pub(crate) async fn webhook_endpoint(
        &self,
        url: &str,
        enabled_events: &[&str],
    ) -> (String, String) {
        let mut pairs = vec![("url", url)];
        for event in enabled_events {
            pairs.push(("enabled_events[]", event));
        }
        let reply = self.post("/v1/webhook_endpoints", &form(&pairs)).await;
        let endpoint = reply.ok();
        let id = endpoint["id"].as_str().expect("endpoint id").to_owned();
        let secret = endpoint["secret"]
            .as_str()
            .expect("endpoint secret")
            .to_owned();
        (id, secret)
    }

    /// Lists every delivery attempt the fake recorded for this account.
    pub(crate) async fn deliveries(&self) -> Vec<Value> {
        self.control_get("/deliveries").await.ok()["data"]
            .as_array()
            .expect("deliveries.data")
            .clone()
    }
}

/// Sends any request and collects the response.
pub(crate) async fn send(builder: reqwest::RequestBuilder) -> Reply {
    let response = builder.send().await.expect("sending a request to the fake");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .bytes()
        .await
        .expect("reading the fake's response")
        .to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        bytes,
        json,
    }
}

/// Builds the line items of a typical session: 2 x 1500 + 1 x 500 = 3500 in `currency`.
pub(crate) fn two_line_items(currency: &str) -> Vec<(String, String)> {
    [
        ("line_items[0][price_data][currency]", currency),
        ("line_items[0][price_data][unit_amount]", "1500"),
        ("line_items[0][price_data][product_data][name]", "T-shirt"),
        ("line_items[0][quantity]", "2"),
        ("line_items[1][price_data][currency]", currency),
        ("line_items[1][price_data][unit_amount]", "500"),
        ("line_items[1][price_data][product_data][name]", "Socks"),
        ("line_items[1][quantity]", "1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Builds the form body of a payment-mode session with `two_line_items`, plus `extra`.
pub(crate) fn session_body(currency: &str, extra: &[(&str, &str)]) -> String {
    let items = two_line_items(currency);
    let mut pairs: Vec<(&str, &str)> =
        vec![("mode", "payment"), ("success_url", "https://shop.test/ok")];
    pairs.extend(items.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    pairs.extend_from_slice(extra);
    form(&pairs)
}

/// Creates a usd session of 3500 and returns it.
pub(crate) async fn create_session(api: &Api, extra: &[(&str, &str)]) -> Value {
    api.post("/v1/checkout/sessions", &session_body("usd", extra))
        .await
        .ok()
        .clone()
}

/// One request a `Receiver` got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) signature: String,
    pub(crate) body: Vec<u8>,
    /// Wall-clock time of arrival, in seconds since the Unix epoch.
    pub(crate) arrived_at: f64,
}

impl Received {
    pub(crate) fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }
}

#[derive(Debug, Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Status codes to respond with before falling back to 200, in order.
    scripted: Mutex<VecDeque<u16>>,
    /// How long to wait before responding, in milliseconds.
    hang_ms: AtomicUsize,
}

/// A webhook receiver on 127.0.0.1 that records every request and responds
/// 200 unless set to fail or hang.
#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the receiver");
        Receiver::serve(listener)
    }

    /// Serves on an already bound listener, for tests that need a known port.
    pub(crate) fn serve(listener: tokio::net::TcpListener) -> Receiver {
        let addr = listener.local_addr().expect("receiver address");
        let state = Arc::new(ReceiverState::default());
        let router = axum::Router::new()
            .fallback(record)
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("serving the receiver");
        });
        Receiver { addr, state }
    }

    /// The receiver's URL for `path`, which must start with `/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Responds to the next `count` requests with HTTP 500.
    pub(crate) fn fail_next(&self, count: usize) {
        let mut scripted = self.state.scripted.lock().unwrap();
        scripted.extend(std::iter::repeat_n(500, count));
    }

    /// Delays every response by `delay`.
    pub(crate) fn hang_for(&self, delay: Duration) {
        self.state
            .hang_ms
            .store(delay.as_millis() as usize, Ordering::SeqCst);
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    pub(crate) fn received_at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Waits in real time until at least `count` requests arrived at `path`.
    pub(crate) async fn wait_for(
        &self,
        path: &str,
        count: usize,
        limit: Duration,
    ) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.received_at(path);
            if got.len() >= count || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn record(
    State(state): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        signature,
        body: body.to_vec(),
        arrived_at: wall_clock(),
    });
    let hang = state.hang_ms.load(Ordering::SeqCst);
    if hang > 0 {
        tokio::time::sleep(Duration::from_millis(hang as u64)).await;
    }
    let scripted = state.scripted.lock().unwrap().pop_front();
    StatusCode::from_u16(scripted.unwrap_or(200)).expect("a valid status code")
}

pub(crate) fn wall_clock() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// A parsed `Stripe-Signature` header: `t=…` and every `v1=…`.
#[derive(Debug, Clone)]
pub(crate) struct Signature {
    pub(crate) timestamp: i64,
    pub(crate) v1: Vec<String>,
}

pub(crate) fn parse_signature(header: &str) -> Signature {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value.parse().expect("t is an integer")),
            Some(("v1", value)) => v1.push(value.to_owned()),
            _ => {}
        }
    }
    Signature {
        timestamp: timestamp.expect("the header has t="),
        v1,
    }
}

/// Computes the hex HMAC-SHA256 of `"{t}.{body}"` under `secret`, as Stripe's
/// webhook documentation defines the `v1` scheme.
pub(crate) fn expected_v1(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Returns whether one of the header's `v1` entries is the signature of `body` under `secret`.
pub(crate) fn signed_by(received: &Received, secret: &str) -> bool {
    let signature = parse_signature(&received.signature);
    let expected = expected_v1(secret, signature.timestamp, &received.body);
    signature.v1.contains(&expected)
}

/// A webhook endpoint on 127.0.0.1 that accepts every connection, reads
/// the request, and never responds. It records each request's event id and
/// counts the connections the fake closed.
#[derive(Debug, Clone)]
pub(crate) struct SilentEndpoint {
    pub(crate) addr: SocketAddr,
    state: Arc<SilentState>,
}

#[derive(Debug, Default)]
struct SilentState {
    /// The event id of each request, in the order the requests arrived.
    events: Mutex<Vec<String>>,
    /// Connections that the fake closed.
    closed: AtomicUsize,
}

impl SilentEndpoint {
    pub(crate) async fn start() -> SilentEndpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the silent endpoint");
        let addr = listener.local_addr().expect("silent endpoint address");
        let state = Arc::new(SilentState::default());
        let accepting = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(hold_silently(stream, accepting.clone()));
            }
        });
        SilentEndpoint { addr, state }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Returns the event ids of the requests so far, in arrival order.
    pub(crate) fn events(&self) -> Vec<String> {
        self.state.events.lock().unwrap().clone()
    }

    pub(crate) fn closed(&self) -> usize {
        self.state.closed.load(Ordering::SeqCst)
    }

    /// Waits in real time until at least `count` requests arrived, and
    /// returns their event ids.
    pub(crate) async fn wait_for_events(&self, count: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        while self.events().len() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.events()
    }

    /// Waits in real time until the fake closed at least `count`
    /// connections, and returns how many it closed.
    pub(crate) async fn wait_for_closed(&self, count: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        while self.closed() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.closed()
    }
}

/// Reads one request from `stream`, records its event id, then reads on
/// without responding until the fake closes the connection.
async fn hold_silently(mut stream: tokio::net::TcpStream, state: Arc<SilentState>) {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    let mut recorded = false;
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
        if !recorded && let Some(event) = complete_request_event(&received) {
            state.events.lock().unwrap().push(event);
            recorded = true;
        }
    }
    state.closed.fetch_add(1, Ordering::SeqCst);
}

/// Returns the event id of an HTTP request once its whole body (by
/// `content-length`) has arrived.
fn complete_request_event(request: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(request);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let length: usize = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })?;
    if body.len() < length {
        return None;
    }
    let event: Value = serde_json::from_str(&body[..length]).ok()?;
    Some(event["id"].as_str().unwrap_or_default().to_owned())
}
