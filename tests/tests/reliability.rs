//! Reliability under load, under faults of the app, and between accounts.
//!
//! - Load: 64 concurrent clients, each its own account with its own
//!   webhook receiver, create and pay checkouts. Every event of an account
//!   reaches that account's receiver exactly once, correctly signed, and no
//!   other receiver. No response is a 5xx.
//! - A receiver that is down for ten minutes of virtual time gets every
//!   event once it is back. A receiver that hangs does not hold up the
//!   others.
//! - Security: the server binds to 127.0.0.1 unless told otherwise, secrets
//!   stay out of the logs and the request log, and one account's key
//!   cannot reach another account's objects or control state.
//!
//! `FAKESTRIPE_LONG=1` runs the load test with 1000 checkouts per client
//! instead of 5, and `FAKESTRIPE_LOAD_CHECKOUTS=N` with N. Run with
//! `--nocapture` to see its figures.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use fakestripe_server::{ClockMode, Server, ServerConfig};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

fn long_run() -> bool {
    std::env::var_os("FAKESTRIPE_LONG").is_some_and(|v| v != "0")
}

// ---------------------------------------------------------------------------
// Log capture. Every test in this file logs into one buffer at debug level,
// so the secret checks see what all of them wrote.

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: LazyLock<LogBuffer> = LazyLock::new(|| {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    buffer
});

fn capture_logs() {
    LazyLock::force(&LOGS);
}

fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.0.lock().unwrap()).into_owned()
}

// ---------------------------------------------------------------------------
// A client for one account.

#[derive(Debug, Clone)]
struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
    headers: Vec<(&'static str, String)>,
}

impl Api {
    fn new(fake: &Server, key: &str) -> Api {
        Api {
            base: fake.base_url().to_owned(),
            key: key.to_owned(),
            http: reqwest::Client::new(),
            headers: Vec::new(),
        }
    }

    /// Returns a client for a connected account under the same key.
    fn connected(&self, account: &str) -> Api {
        let mut api = self.clone();
        api.headers.push(("stripe-account", account.to_owned()));
        api
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn post(&self, path: &str, form: &str) -> (u16, Value) {
        let body = ("application/x-www-form-urlencoded", form.to_owned());
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// Calls the control API; a GET sends no body.
    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let body = (method != reqwest::Method::GET).then(|| ("application/json", body.to_string()));
        self.send(method, &format!("/_fakestripe{path}"), body)
            .await
    }

    /// POSTs a form that must succeed and returns the object.
    async fn create(&self, path: &str, form: &str) -> Value {
        let (status, body) = self.post(path, form).await;
        assert_eq!(status, 200, "POST {path} with {}: {body}", self.key);
        body
    }

    async fn advance(&self, seconds: i64) {
        let (status, body) = self
            .control(
                reqwest::Method::POST,
                "/clock/advance",
                json!({ "seconds": seconds }),
            )
            .await;
        assert_eq!(status, 200, "advance: {body}");
    }

    async fn pay(&self, session: &str) -> (u16, Value) {
        let body = json!({"payment_method": "card", "card_number": "4242424242424242"});
        self.control(
            reqwest::Method::POST,
            &format!("/checkout/sessions/{session}/pay"),
            body,
        )
        .await
    }

    /// Registers an endpoint for every event type; returns (id, secret).
    async fn endpoint(&self, url: &str) -> (String, String) {
        let form = format!("url={url}&enabled_events[]=*");
        let endpoint = self.create("/v1/webhook_endpoints", &form).await;
        (
            endpoint["id"].as_str().expect("endpoint id").to_owned(),
            endpoint["secret"]
                .as_str()
                .expect("endpoint secret")
                .to_owned(),
        )
    }

    /// Lists every event id of the account, across pages.
    async fn event_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut path = "/v1/events?limit=100".to_owned();
        loop {
            let (status, page) = self.get(&path).await;
            assert_eq!(status, 200, "listing events: {page}");
            let data = page["data"].as_array().expect("list data");
            ids.extend(
                data.iter()
                    .map(|e| e["id"].as_str().expect("event id").to_owned()),
            );
            if page["has_more"] != json!(true) {
                return ids;
            }
            path = format!(
                "/v1/events?limit=100&starting_after={}",
                ids.last().expect("a page")
            );
        }
    }
}

const SESSION_FORM: &str = "mode=payment&success_url=https://shop.test/ok\
    &line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=1500\
    &line_items[0][price_data][product_data][name]=Shirt&line_items[0][quantity]=2\
    &line_items[1][price_data][currency]=usd&line_items[1][price_data][unit_amount]=500\
    &line_items[1][price_data][product_data][name]=Socks&line_items[1][quantity]=1\
    &metadata[order_id]=42";

// ---------------------------------------------------------------------------
// A webhook receiver.

/// One delivery as the receiver saw it. Only the fields the checks need
/// are kept, so a long load run does not hold every body.
#[derive(Debug, Clone)]
struct Delivery {
    event_id: String,
    event_type: String,
    /// `data.object.id`.
    object_id: String,
    /// The event's `account`, set for a connected account's events.
    account: Option<String>,
    /// The receiver's secrets whose `v1` signature the delivery carries.
    signed_by: Vec<String>,
    arrived: Instant,
}

impl Delivery {
    fn event_id(&self) -> &str {
        &self.event_id
    }

    fn signed_by(&self, secret: &str) -> bool {
        self.signed_by.iter().any(|s| s == secret)
    }
}

#[derive(Debug, Default)]
struct ReceiverState {
    deliveries: Mutex<Vec<Delivery>>,
    /// Secrets to check each delivery's signature against.
    secrets: Mutex<Vec<String>>,
    /// When set, the receiver never responds.
    hang: AtomicBool,
}

#[derive(Debug, Clone)]
struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a receiver");
        Receiver::serve(listener)
    }

    fn serve(listener: tokio::net::TcpListener) -> Receiver {
        let addr = listener.local_addr().expect("receiver address");
        let state = Arc::new(ReceiverState::default());
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Checks later deliveries' signatures against `secret` too.
    fn expect_secret(&self, secret: &str) {
        self.state.secrets.lock().unwrap().push(secret.to_owned());
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.state.deliveries.lock().unwrap().len()
    }

    /// Waits in real time until `count` deliveries arrived or `limit` passed.
    async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + limit;
        while self.count() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.deliveries()
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let arrived = Instant::now();
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let signed_by = state
        .secrets
        .lock()
        .unwrap()
        .iter()
        .filter(|secret| signature_matches(signature, &body, secret))
        .cloned()
        .collect();
    state.deliveries.lock().unwrap().push(Delivery {
        event_id: text(&event["id"]),
        event_type: text(&event["type"]),
        object_id: text(&event["data"]["object"]["id"]),
        account: event["account"].as_str().map(str::to_owned),
        signed_by,
        arrived,
    });
    if state.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    StatusCode::OK
}

/// Checks whether a `Stripe-Signature` header carries the HMAC-SHA256 of
/// `"{t}.{body}"` under `secret`, as Stripe's webhook documentation defines
/// the `v1` scheme.
fn signature_matches(header: &str, body: &[u8], secret: &str) -> bool {
    let mut timestamp = "";
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = value,
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    signatures.contains(&expected.as_str())
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index]
}

// ---------------------------------------------------------------------------
// Load.

/// Returns the checkouts per client: 5, 1000 with `FAKESTRIPE_LONG=1`, or
/// the number in `FAKESTRIPE_LOAD_CHECKOUTS`.
fn checkouts_per_client() -> usize {
    match std::env::var("FAKESTRIPE_LOAD_CHECKOUTS") {
        Ok(value) => value
            .parse()
            .expect("FAKESTRIPE_LOAD_CHECKOUTS is a whole number"),
        Err(_) if long_run() => 1000,
        Err(_) => 5,
    }
}

/// Reads the resident set size of this test process, in MiB: the fake, the
/// receivers and the captured log together.
fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

const CLIENTS: usize = 64;

/// One client's account, receiver and results.
struct Client {
    api: Api,
    receiver: Receiver,
    secret: String,
    /// Paid sessions and when their pay call was sent.
    paid: Vec<(String, Instant)>,
    /// Requests whose response status was not 200.
    failures: Vec<String>,
}

async fn run_client(mut client: Client, checkouts: usize) -> Client {
    for _ in 0..checkouts {
        let (status, session) = client.api.post("/v1/checkout/sessions", SESSION_FORM).await;
        if status != 200 {
            client.failures.push(format!("create: {status} {session}"));
            continue;
        }
        let id = session["id"].as_str().unwrap_or_default().to_owned();
        let sent = Instant::now();
        let (status, paid) = client.api.pay(&id).await;
        if status == 200 && paid["result"] == "succeeded" {
            client.paid.push((id, sent));
        } else {
            client.failures.push(format!("pay {id}: {status} {paid}"));
        }
    }
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_delivers_every_event_to_its_account() {
    capture_logs();
    let checkouts = checkouts_per_client();
    let fake = Server::start(ServerConfig::default())
        .await
        .expect("starting the fake");
    let mut clients = Vec::with_capacity(CLIENTS);
    for index in 0..CLIENTS {
        let api = Api::new(&fake, &format!("sk_test_load_{index:02}"));
        let receiver = Receiver::start().await;
        let (_, secret) = api.endpoint(&receiver.url()).await;
        receiver.expect_secret(&secret);
        clients.push(Client {
            api,
            receiver,
            secret,
            paid: Vec::new(),
            failures: Vec::new(),
        });
    }

    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(run_client(client, checkouts)))
        .collect();
    let mut clients = Vec::with_capacity(CLIENTS);
    for task in tasks {
        clients.push(task.await.expect("a client task"));
    }
    let busy = started.elapsed();

    let failures: Vec<&String> = clients.iter().flat_map(|c| &c.failures).collect();
    assert!(
        failures.is_empty(),
        "{} requests failed, first: {:?}",
        failures.len(),
        failures.first()
    );

    // Which account each event belongs to, from each account's own list.
    let mut owner: HashMap<String, usize> = HashMap::new();
    let mut expected = Vec::with_capacity(CLIENTS);
    for (index, client) in clients.iter().enumerate() {
        let ids = client.api.event_ids().await;
        for id in &ids {
            let previous = owner.insert(id.clone(), index);
            assert!(
                previous.is_none(),
                "event id {id} is in two accounts' lists"
            );
        }
        expected.push(ids);
    }
    let total_events: usize = expected.iter().map(Vec::len).sum();

    let wait = if long_run() {
        Duration::from_secs(600)
    } else {
        Duration::from_secs(60)
    };
    let mut latencies = Vec::new();
    let mut last_arrival = started;
    for (index, client) in clients.iter().enumerate() {
        let deliveries = client.receiver.wait_for(expected[index].len(), wait).await;
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for delivery in &deliveries {
            let id = delivery.event_id();
            *seen.entry(id).or_default() += 1;
            assert_eq!(
                owner.get(id),
                Some(&index),
                "account {index} received event {id}, which is not its own"
            );
            assert!(
                delivery.signed_by(&client.secret),
                "event {id} is not signed with account {index}'s secret"
            );
            last_arrival = last_arrival.max(delivery.arrived);
        }
        let missing: Vec<&String> = expected[index]
            .iter()
            .filter(|id| !seen.contains_key(id.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "account {index}: {} of {} events never arrived, first {:?}",
            missing.len(),
            expected[index].len(),
            missing.first()
        );
        let repeated: Vec<(&&str, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            repeated.is_empty(),
            "account {index}: events delivered more than once: {repeated:?}"
        );

        // Delivery latency: from sending the pay call to the arrival of the
        // session's checkout.session.completed.
        let sent: HashMap<&str, Instant> = client
            .paid
            .iter()
            .map(|(id, at)| (id.as_str(), *at))
            .collect();
        for delivery in &deliveries {
            if delivery.event_type == "checkout.session.completed"
                && let Some(at) = sent.get(delivery.object_id.as_str())
            {
                latencies.push(delivery.arrived.saturating_duration_since(*at));
            }
        }
    }
    latencies.sort();
    let checkouts_total = CLIENTS * checkouts;
    assert_eq!(
        latencies.len(),
        checkouts_total,
        "one checkout.session.completed per paid session"
    );
    let delivered_for = last_arrival.duration_since(started);
    // The figures for the benchmarks page; `--nocapture` shows them.
    println!(
        "load: {CLIENTS} clients x {checkouts} checkouts = {checkouts_total} paid in {:.2} s \
         ({:.0} checkouts/s, {:.0} requests/s); {total_events} events delivered within {:.2} s \
         ({:.0} deliveries/s); completed-event latency p50 {:?}, p99 {:?}, max {:?}; \
         test process RSS {:.0} MiB, log {:.0} MiB",
        busy.as_secs_f64(),
        checkouts_total as f64 / busy.as_secs_f64(),
        2.0 * checkouts_total as f64 / busy.as_secs_f64(),
        delivered_for.as_secs_f64(),
        total_events as f64 / delivered_for.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        resident_mib(),
        LOGS.0.lock().unwrap().len() as f64 / (1024.0 * 1024.0),
    );
}

// ---------------------------------------------------------------------------
// Faults of the app.

/// Starts a fake whose accounts use the manual clock.
async fn start_manual() -> Server {
    let config = ServerConfig {
        clock_mode: ClockMode::Manual,
        ..Default::default()
    };
    Server::start(config).await.expect("starting the fake")
}

#[tokio::test]
async fn receiver_down_ten_minutes_gets_every_event() {
    capture_logs();
    let fake = start_manual().await;
    let api = Api::new(&fake, "sk_test_down_receiver");
    // Reserve a port, then close it: connections to it are refused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let (_, secret) = api.endpoint(&url).await;
    for _ in 0..3 {
        let session = api.create("/v1/checkout/sessions", SESSION_FORM).await;
        let (status, paid) = api.pay(session["id"].as_str().unwrap()).await;
        assert_eq!(status, 200, "pay: {paid}");
    }
    let events = api.event_ids().await;
    assert!(!events.is_empty());

    // Ten minutes of virtual time with the receiver down, a minute at a time.
    for _ in 0..10 {
        api.advance(60).await;
    }
    let (_, log) = api
        .control(reqwest::Method::GET, "/deliveries", json!({}))
        .await;
    let attempts = log["data"].as_array().expect("delivery log");
    assert!(
        attempts
            .iter()
            .all(|a| a["status"].is_null() && a["error"].is_string()),
        "every attempt while down failed without a status: {log}"
    );
    assert!(
        attempts.len() >= 2 * events.len(),
        "each event was tried at least twice in ten minutes: {}",
        attempts.len()
    );

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("rebinding the receiver's port");
    let receiver = Receiver::serve(listener);
    receiver.expect_secret(&secret);
    // Advance until every event arrived; the retry schedule bounds the wait.
    let mut advanced = 0;
    while receiver.deliveries().len() < events.len() && advanced < 3 * 24 * 3600 {
        api.advance(300).await;
        advanced += 300;
    }
    let deliveries = receiver.deliveries();
    let received: Vec<&str> = deliveries.iter().map(Delivery::event_id).collect();
    let unique: HashSet<&str> = received.iter().copied().collect();
    for id in &events {
        assert!(
            unique.contains(id.as_str()),
            "event {id} never arrived after {advanced} s back up"
        );
    }
    assert_eq!(
        received.len(),
        unique.len(),
        "no event arrived twice: {received:?}"
    );
    assert!(deliveries.iter().all(|d| d.signed_by(&secret)));
    assert!(
        advanced <= 3600,
        "the events arrived within an hour of the receiver's return, not {advanced} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_receiver_does_not_stall_others() {
    capture_logs();
    let timeout = Duration::from_secs(20);
    let config = ServerConfig {
        delivery_timeout: timeout,
        ..Default::default()
    };
    let fake = Server::start(config).await.expect("starting the fake");
    let api = Api::new(&fake, "sk_test_hang_one");
    let other = Api::new(&fake, "sk_test_hang_two");
    let hanging = Receiver::start().await;
    hanging.state.hang.store(true, Ordering::SeqCst);
    let healthy = Receiver::start().await;
    let neighbour = Receiver::start().await;
    api.endpoint(&hanging.url()).await;
    api.endpoint(&healthy.url()).await;
    other.endpoint(&neighbour.url()).await;

    for client in [&api, &other] {
        for _ in 0..2 {
            let session = client.create("/v1/checkout/sessions", SESSION_FORM).await;
            let (status, paid) = client.pay(session["id"].as_str().unwrap()).await;
            assert_eq!(status, 200, "pay: {paid}");
        }
    }
    let own = api.event_ids().await.len();
    let theirs = other.event_ids().await.len();

    let healthy_got = healthy.wait_for(own, timeout).await;
    let neighbour_got = neighbour.wait_for(theirs, timeout).await;
    let (status, log) = api
        .control(reqwest::Method::GET, "/deliveries", Value::Null)
        .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(
        healthy_got.len(),
        own,
        "the healthy endpoint of the same account got every event"
    );
    assert_eq!(
        neighbour_got.len(),
        theirs,
        "the other account's endpoint got every event"
    );
    // Each send to the hanging endpoint waits out the delivery timeout,
    // so one recorded outcome would mean the others waited behind it.
    let hanging_outcomes = log["data"]
        .as_array()
        .expect("the delivery log is a list")
        .iter()
        .filter(|d| d["url"] == hanging.url())
        .count();
    assert_eq!(hanging_outcomes, 0, "{log}");
    assert!(
        !hanging.deliveries().is_empty(),
        "the hanging endpoint was sent a delivery"
    );
}

// ---------------------------------------------------------------------------
// Security.

#[test]
fn binds_loopback_by_default() {
    use clap::Parser;

    assert_eq!(
        ServerConfig::default().host,
        std::net::IpAddr::from([127, 0, 0, 1])
    );
    let cli =
        fakestripe::cli::Cli::try_parse_from(["fakestripe", "serve"]).expect("parsing `serve`");
    let args = match cli.command {
        fakestripe::cli::Command::Serve(args) => args,
        #[allow(unreachable_patterns)]
        _ => panic!("`fakestripe serve` parsed as another command"),
    };
    let config = fakestripe::serve::config_from(&args).expect("the default serve settings");
    assert_eq!(config.host, std::net::IpAddr::from([127, 0, 0, 1]));

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let addr = runtime.block_on(async { Server::spawn().await.addr() });
    assert!(addr.ip().is_loopback(), "Server::spawn bound {addr}");
}

/// Runs one of everything that handles a secret: keys in Bearer and Basic
/// form, a rejected key, an endpoint's secret, a rolled secret, deliveries
/// signed with both, and a connected account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_logs() {
    capture_logs();
    let fake = start_manual().await;
    let key = "sk_test_secret_4f9a1c2e7b";
    let api = Api::new(&fake, key);
    let receiver = Receiver::start().await;
    let (endpoint, secret) = api.endpoint(&receiver.url()).await;
    receiver.expect_secret(&secret);
    let session = api.create("/v1/checkout/sessions", SESSION_FORM).await;
    let (status, _) = api.pay(session["id"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    api.advance(0).await;
    let (status, rolled) = api
        .control(
            reqwest::Method::POST,
            &format!("/webhook_endpoints/{endpoint}/roll_secret"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "roll: {rolled}");
    let new_secret = rolled["secret"].as_str().expect("rolled secret").to_owned();
    receiver.expect_secret(&new_secret);
    api.create("/v1/products", "name=Lamp").await;
    api.advance(0).await;
    assert!(
        receiver
            .deliveries()
            .iter()
            .any(|d| d.signed_by(&new_secret))
    );
    api.connected("acct_secretcheck")
        .create("/v1/customers", "email=a%40b.test")
        .await;

    // The dashboard takes the key in its query string, for browsers.
    let dashboard = reqwest::Client::new()
        .get(format!(
            "{}/_fakestripe/dashboard?key={key}",
            fake.base_url()
        ))
        .send()
        .await
        .expect("dashboard request");
    assert_eq!(dashboard.status(), 200);

    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{key}:"),
    );
    let response = reqwest::Client::new()
        .get(format!("{}/v1/customers", fake.base_url()))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .expect("Basic auth request");
    assert_eq!(response.status(), 200);
    let live = "sk_live_51Hsecretlivekey0000";
    let rejected = Api::new(&fake, live).get("/v1/customers").await;
    assert_eq!(rejected.0, 401);
    let message = rejected.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !message.contains(live),
        "the 401 message echoes the key: {message}"
    );
    let restricted = "rk_test_secret_8c1d2e";
    Api::new(&fake, restricted)
        .create("/v1/customers", "name=R")
        .await;

    let secrets = [key, secret.as_str(), new_secret.as_str(), live, restricted];
    let logs = captured_logs();
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "the log contains the secret {secret}"
        );
    }
    // No key or webhook secret of any test in this file appears unmasked.
    for prefix in ["sk_test_", "sk_live_", "rk_test_", "whsec_"] {
        for (at, _) in logs.match_indices(prefix) {
            let next = logs[at + prefix.len()..].chars().next();
            assert_eq!(
                next,
                Some('*'),
                "an unmasked secret in the log: {}",
                &logs[at..(at + 40).min(logs.len())]
            );
        }
    }
    let (status, requests) = api
        .control(reqwest::Method::GET, "/requests", json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, trace) = api.control(reqwest::Method::GET, "/trace", json!({})).await;
    assert_eq!(status, 200);
    for (name, text) in [
        ("request log", requests.to_string()),
        ("trace", trace.to_string()),
    ] {
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "the {name} contains the secret {secret}"
            );
        }
    }
}

/// One account's objects, as ids, for the isolation test.
struct Owned {
    session: String,
    payment_intent: String,
    customer: String,
    product: String,
    price: String,
    /// A price that `price_data` made for a line item of `session`.
    inline_price: String,
    endpoint: String,
    events: Vec<String>,
}

async fn make_objects(api: &Api, receiver: &Receiver) -> Owned {
    let product = api.create("/v1/products", "name=Lamp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let price = api
        .create(
            "/v1/prices",
            &format!("product={product}&unit_amount=900&currency=usd"),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let customer = api.create("/v1/customers", "email=a%40b.test").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (endpoint, _) = api.endpoint(&receiver.url()).await;
    let session = api.create("/v1/checkout/sessions", SESSION_FORM).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, items) = api
        .get(&format!("/v1/checkout/sessions/{session}/line_items"))
        .await;
    assert_eq!(status, 200, "line items: {items}");
    let inline_price = items["data"][1]["price"]["id"]
        .as_str()
        .expect("the line item's price")
        .to_owned();
    let paid = api.create("/v1/checkout/sessions", SESSION_FORM).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, result) = api.pay(&paid).await;
    assert_eq!(status, 200, "pay: {result}");
    let payment_intent = result["session"]["payment_intent"]
        .as_str()
        .expect("payment intent")
        .to_owned();
    Owned {
        session,
        payment_intent,
        customer,
        product,
        price,
        inline_price,
        endpoint,
        events: api.event_ids().await,
    }
}

/// Asserts that `api` gets `resource_missing` for a request about another
/// account's object: a 404 when the path names it, a 400 when a parameter
/// does, as in Stripe.
async fn assert_not_found(api: &Api, method: reqwest::Method, path: &str, form: &str) {
    // Every id the fake draws has an `_` and more than 20 characters.
    let in_path = path
        .split('/')
        .any(|segment| segment.contains('_') && segment.len() > 20);
    let expected = if in_path { 404 } else { 400 };
    let (status, body) = match method.as_str() {
        "GET" => api.get(path).await,
        "DELETE" => api.send(method.clone(), path, None).await,
        _ if path.starts_with("/_fakestripe") => {
            let json: Value = serde_json::from_str(form).unwrap_or(json!({}));
            api.control(method.clone(), &path["/_fakestripe".len()..], json)
                .await
        }
        _ => api.post(path, form).await,
    };
    assert_eq!(
        status, expected,
        "{method} {path} with another account's key: {body}"
    );
    assert_eq!(
        body["error"]["code"], "resource_missing",
        "{method} {path}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_cannot_reach_each_other() {
    capture_logs();
    let fake = start_manual().await;
    let alice = Api::new(&fake, "sk_test_isolation_alice");
    let bob = Api::new(&fake, "sk_test_isolation_bob");
    let alice_connected = alice.connected("acct_isolation");
    let alice_hook = Receiver::start().await;
    let bob_hook = Receiver::start().await;
    let connected_hook = Receiver::start().await;
    let theirs = make_objects(&alice, &alice_hook).await;
    let mine = make_objects(&bob, &bob_hook).await;
    make_objects(&alice_connected, &connected_hook).await;

    use reqwest::Method;
    for intruder in [&bob, &alice_connected] {
        let Owned {
            session,
            payment_intent: pi,
            customer,
            product,
            price,
            inline_price,
            endpoint,
            ..
        } = &theirs;
        let cases: Vec<(Method, String, String)> = vec![
            (
                Method::GET,
                format!("/v1/checkout/sessions/{session}"),
                String::new(),
            ),
            (
                Method::POST,
                format!("/v1/checkout/sessions/{session}"),
                "metadata[x]=1".into(),
            ),
            (
                Method::POST,
                format!("/v1/checkout/sessions/{session}/expire"),
                String::new(),
            ),
            (
                Method::GET,
                format!("/v1/checkout/sessions/{session}/line_items"),
                String::new(),
            ),
            (
                Method::GET,
                format!("/v1/payment_intents/{pi}"),
                String::new(),
            ),
            (
                Method::POST,
                format!("/v1/payment_intents/{pi}"),
                "metadata[x]=1".into(),
            ),
            (
                Method::POST,
                format!("/v1/payment_intents/{pi}/cancel"),
                String::new(),
            ),
            (
                Method::POST,
                format!("/v1/payment_intents/{pi}/capture"),
                String::new(),
            ),
            (
                Method::POST,
                format!("/v1/payment_intents/{pi}/confirm"),
                "payment_method=pm_card_visa".into(),
            ),
            (
                Method::POST,
                "/v1/refunds".into(),
                format!("payment_intent={pi}"),
            ),
            (
                Method::GET,
                format!("/v1/customers/{customer}"),
                String::new(),
            ),
            (
                Method::POST,
                format!("/v1/customers/{customer}"),
                "name=x".into(),
            ),
            (
                Method::DELETE,
                format!("/v1/customers/{customer}"),
                String::new(),
            ),
            (
                Method::POST,
                "/v1/checkout/sessions".into(),
                format!("{SESSION_FORM}&customer={customer}"),
            ),
            (
                Method::GET,
                format!("/v1/products/{product}"),
                String::new(),
            ),
            (
                Method::POST,
                format!("/v1/products/{product}"),
                "name=x".into(),
            ),
            (
                Method::DELETE,
                format!("/v1/products/{product}"),
                String::new(),
            ),
            (Method::GET, format!("/v1/prices/{price}"), String::new()),
            (
                Method::GET,
                format!("/v1/prices/{inline_price}"),
                String::new(),
            ),
            (
                Method::POST,
                format!("/v1/prices/{price}"),
                "nickname=x".into(),
            ),
            (
                Method::GET,
                format!("/v1/webhook_endpoints/{endpoint}"),
                String::new(),
            ),
            (
                Method::POST,
                format!("/v1/webhook_endpoints/{endpoint}"),
                "disabled=true".into(),
            ),
            (
                Method::DELETE,
                format!("/v1/webhook_endpoints/{endpoint}"),
                String::new(),
            ),
            (
                Method::GET,
                format!("/v1/events/{}", theirs.events[0]),
                String::new(),
            ),
            (
                Method::POST,
                format!("/_fakestripe/checkout/sessions/{session}/pay"),
                r#"{"payment_method":"card","card_number":"4242424242424242"}"#.into(),
            ),
            (
                Method::POST,
                format!("/_fakestripe/checkout/sessions/{session}/cancel"),
                String::new(),
            ),
            (
                Method::POST,
                format!("/_fakestripe/webhook_endpoints/{endpoint}/roll_secret"),
                String::new(),
            ),
            (
                Method::POST,
                format!("/_fakestripe/events/{}/resend", theirs.events[0]),
                String::new(),
            ),
            (
                Method::GET,
                format!("/_fakestripe/objects/{session}"),
                String::new(),
            ),
            (
                Method::GET,
                format!("/_fakestripe/objects/{pi}"),
                String::new(),
            ),
        ];
        // Lists and logs show nothing of the other account. They are read
        // before the probes below, which the intruder's own log records.
        let mut views = Vec::new();
        for path in [
            "/_fakestripe/requests".to_owned(),
            "/_fakestripe/trace".into(),
            "/_fakestripe/deliveries".into(),
            "/_fakestripe/events/held".into(),
            "/v1/checkout/sessions?limit=100".into(),
            "/v1/payment_intents?limit=100".into(),
            "/v1/charges?limit=100".into(),
            "/v1/customers?limit=100".into(),
            "/v1/products?limit=100".into(),
            "/v1/prices?limit=100".into(),
            "/v1/events?limit=100".into(),
            "/v1/webhook_endpoints?limit=100".into(),
        ] {
            let (status, body) = intruder.get(&path).await;
            assert!(
                status == 200 || status == 404,
                "GET {path}: {status} {body}"
            );
            views.push((path, body.to_string()));
        }
        // A list filter naming the other account's object finds no such
        // object, the same as for an id that never existed.
        for (filter, id) in [("payment_intent", pi), ("customer", customer)] {
            let path = format!("/v1/checkout/sessions?{filter}={id}");
            let (status, body) = intruder.get(&path).await;
            assert_eq!(status, 400, "GET {path}: {body}");
            assert_eq!(body["error"]["code"], "resource_missing", "GET {path}");
            assert_eq!(body["error"]["param"], filter, "GET {path}");
        }
        for (path, text) in &views {
            for id in [session, pi, customer, product, price, endpoint]
                .into_iter()
                .chain(&theirs.events)
            {
                assert!(
                    !text.contains(id.as_str()),
                    "GET {path} by another account shows {id}"
                );
            }
        }

        for (method, path, form) in cases {
            assert_not_found(intruder, method, &path, &form).await;
        }
        // The dashboard responds in HTML, so only its status is checked.
        for path in [
            format!("/_fakestripe/dashboard/sessions/{session}"),
            format!("/_fakestripe/dashboard/objects/{session}"),
            format!("/_fakestripe/dashboard/objects/{customer}"),
        ] {
            let (status, _) = intruder.get(&path).await;
            assert_eq!(status, 404, "GET {path} with another account's key");
        }
    }

    // The same idempotency key in two accounts runs twice.
    let first = alice
        .send(
            Method::POST,
            "/v1/customers",
            Some(("application/x-www-form-urlencoded", "name=A".into())),
        )
        .await;
    let mut shared_key = bob.clone();
    shared_key
        .headers
        .push(("idempotency-key", "shared-key-1".into()));
    let mut alice_keyed = alice.clone();
    alice_keyed
        .headers
        .push(("idempotency-key", "shared-key-1".into()));
    let from_alice = alice_keyed.create("/v1/customers", "name=Alice").await;
    let from_bob = shared_key.create("/v1/customers", "name=Bob").await;
    assert_eq!(first.0, 200);
    assert_ne!(
        from_alice["id"], from_bob["id"],
        "bob's request got alice's replayed response"
    );
    assert_eq!(from_bob["name"], "Bob");

    // Control state: bob's clock, faults and reset leave alice's alone.
    let (_, alice_clock) = alice.control(Method::GET, "/clock", json!({})).await;
    bob.advance(3600).await;
    // Bob's events, read before his reset clears them.
    let bob_events = bob.event_ids().await;
    let (status, _) = bob
        .control(
            Method::PUT,
            "/faults",
            json!({"faults": [{"kind": "api_error", "status": 500, "count": 5}]}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = bob.control(Method::POST, "/reset", json!({})).await;
    assert_eq!(status, 200);
    let (_, alice_clock_after) = alice.control(Method::GET, "/clock", json!({})).await;
    assert_eq!(
        alice_clock["now"], alice_clock_after["now"],
        "bob's advance moved alice's clock"
    );
    let (status, body) = alice
        .get(&format!("/v1/checkout/sessions/{}", theirs.session))
        .await;
    assert_eq!(
        status, 200,
        "alice's session after bob's reset and fault plan: {body}"
    );
    let (_, faults) = alice.control(Method::GET, "/faults", json!({})).await;
    assert!(
        !faults.to_string().contains("api_error"),
        "bob's fault plan shows in alice's: {faults}"
    );
    let (status, gone) = bob
        .get(&format!("/v1/checkout/sessions/{}", mine.session))
        .await;
    assert_eq!(
        status, 404,
        "bob's own session is gone after his reset: {gone}"
    );

    // Webhooks: each receiver got only its own account's events.
    alice.advance(0).await;
    alice_connected.advance(0).await;
    let accounts = [
        ("alice", &alice_hook, alice.event_ids().await),
        ("bob", &bob_hook, bob_events),
        (
            "alice's connected account",
            &connected_hook,
            alice_connected.event_ids().await,
        ),
    ];
    for (name, receiver, _) in &accounts {
        let deliveries = receiver.deliveries();
        assert!(!deliveries.is_empty(), "{name}'s receiver got nothing");
        for delivery in deliveries {
            let id = delivery.event_id();
            let owner = accounts
                .iter()
                .find(|(_, _, events)| events.iter().any(|e| e == id));
            assert_eq!(
                owner.map(|(owner, _, _)| *owner),
                Some(*name),
                "{name}'s receiver got event {id}"
            );
        }
    }
    for delivery in connected_hook.deliveries() {
        assert_eq!(delivery.account.as_deref(), Some("acct_isolation"));
    }
}
