//! Each fault of the plan, shown by its effect on a real HTTP client and a
//! real webhook receiver. Every test runs the fake in-process with a manual
//! clock, so deliveries happen inside `clock/advance` and nothing sleeps.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use fakestripe_server::{ClockMode, Server, ServerConfig};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// A virtual start time, so traces do not depend on the day the test runs.
const START: i64 = 1_800_000_000;

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    event: Value,
    raw: Vec<u8>,
    signature: String,
    /// Whether the signature verified with the endpoint's secret.
    genuine: bool,
}

#[derive(Default)]
struct ReceiverState {
    secret: Mutex<String>,
    received: Mutex<Vec<Received>>,
}

/// A webhook endpoint that verifies signatures like a correct app: 400 for
/// a bad signature or a timestamp more than five minutes off, 200 otherwise.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, state }
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Types of the deliveries that verified, in arrival order.
    fn genuine_types(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|r| r.genuine)
            .map(|r| r.event["type"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let secret = state.secret.lock().unwrap().clone();
    let genuine = verify(&secret, &signature, &body);
    let event = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.received.lock().unwrap().push(Received {
        event,
        raw: body.to_vec(),
        signature,
        genuine,
    });
    if genuine {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// Stripe's scheme: `t=…,v1=…`, HMAC-SHA256 of "{t}.{body}", within 300 s.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    signatures.contains(&expected)
}

/// A client for one account of a running fake.
struct Account {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Account {
    fn new(fake: &Server, key: &str) -> Account {
        Account {
            base: fake.base_url().to_owned(),
            key: key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .form(form);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}/_fakestripe{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// Resets the account and keeps its webhook endpoints.
    async fn reset_keeping_endpoints(&self) {
        let (status, body) = self
            .control(
                reqwest::Method::POST,
                "/reset",
                json!({"keep_webhook_endpoints": true}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    async fn set_faults(&self, plan: Value) {
        let (status, body) = self.control(reqwest::Method::PUT, "/faults", plan).await;
        assert_eq!(status, 200, "{body}");
    }

    async fn advance(&self, seconds: i64) {
        let (status, body) = self
            .control(
                reqwest::Method::POST,
                "/clock/advance",
                json!({"seconds": seconds}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Registers `receiver` for every event and hands it the secret.
    async fn listen(&self, receiver: &Receiver) {
        let response = self
            .form(
                "/v1/webhook_endpoints",
                &[("url", &receiver.url), ("enabled_events[]", "*")],
                None,
            )
            .await;
        let endpoint: Value = response.json().await.unwrap();
        *receiver.state.secret.lock().unwrap() = endpoint["secret"].as_str().unwrap().to_owned();
    }

    /// Creates a 2 × 1500 usd session for `order` that copies the order id
    /// to the payment intent's metadata, and returns it.
    async fn session(&self, order: &str) -> Value {
        self.create_session(order, true).await
    }

    /// Creates a 2 × 1500 usd session for `order` and returns it. With
    /// `intent_metadata`, the order id is also sent as
    /// `payment_intent_data[metadata][order_id]`.
    async fn create_session(&self, order: &str, intent_metadata: bool) -> Value {
        let success = "http://127.0.0.1:9/success?session_id={CHECKOUT_SESSION_ID}".to_owned();
        let mut params = vec![
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "1500"),
            ("line_items[0][price_data][product_data][name]", "Mug"),
            ("line_items[0][quantity]", "2"),
            ("success_url", &success),
            ("metadata[order_id]", order),
        ];
        if intent_metadata {
            params.push(("payment_intent_data[metadata][order_id]", order));
        }
        let response = self.form("/v1/checkout/sessions", &params, None).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn pay(&self, session_id: &str) -> Value {
        let (status, body) = self
            .control(
                reqwest::Method::POST,
                &format!("/checkout/sessions/{session_id}/pay"),
                json!({"payment_method": "card", "card_number": "4242424242424242"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// Returns the payment intent id of the session in a pay call's response.
fn intent_id(paid: &Value) -> String {
    paid["session"]["payment_intent"]
        .as_str()
        .expect("a paid session has a payment intent")
        .to_owned()
}

async fn manual_fake() -> Server {
    Server::start(ServerConfig {
        clock_mode: ClockMode::Manual,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

/// An account whose clock starts at `START`, with `receiver` listening.
async fn account(fake: &Server, key: &str, receiver: &Receiver) -> Account {
    let account = Account::new(fake, key);
    let (status, _) = account
        .control(reqwest::Method::POST, "/clock", json!({"now": START}))
        .await;
    assert_eq!(status, 200);
    account.listen(receiver).await;
    account
}

#[tokio::test]
async fn lag_hides_paid_state_from_retrieve() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_lag", &receiver).await;
    acct.set_faults(json!({"seed": 1, "faults": [{"kind": "payment_status_lag", "seconds": 60}]}))
        .await;
    let session = acct.session("O-1").await;
    let id = session["id"].as_str().unwrap();
    acct.pay(id).await;
    acct.advance(0).await;

    let completed = receiver
        .received()
        .into_iter()
        .find(|r| r.event["type"] == "checkout.session.completed")
        .unwrap();
    assert_eq!(completed.event["data"]["object"]["payment_status"], "paid");
    let (_, seen) = acct.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(
        (seen["status"].as_str(), seen["payment_status"].as_str()),
        (Some("open"), Some("unpaid"))
    );
    assert!(seen["payment_intent"].is_null());
    let (_, listed) = acct.get("/v1/checkout/sessions").await;
    assert_eq!(listed["data"][0]["payment_status"], "unpaid");

    acct.advance(60).await;
    let (_, seen) = acct.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(
        (seen["status"].as_str(), seen["payment_status"].as_str()),
        (Some("complete"), Some("paid"))
    );
}

#[tokio::test]
async fn stale_read_serves_previous_version() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_stale", &receiver).await;
    acct.set_faults(json!({"seed": 2, "faults": [{"kind": "stale_read", "seconds": 10, "resources": ["checkout.session"]}]})).await;
    let session = acct.session("O-2").await;
    let id = session["id"].as_str().unwrap();

    let (status, body) = acct.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "resource_missing");
    acct.advance(10).await;
    let (status, _) = acct.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(status, 200);

    let response = acct
        .form(
            &format!("/v1/checkout/sessions/{id}"),
            &[("metadata[note]", "gift")],
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let (_, stale) = acct.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(stale["metadata"], json!({"order_id": "O-2"}));
    acct.advance(10).await;
    let (_, fresh) = acct.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(
        fresh["metadata"],
        json!({"order_id": "O-2", "note": "gift"})
    );
}

#[tokio::test]
async fn metadata_divergence_drops_or_rewrites() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_meta_missing", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "metadata_divergence", "mode": "missing", "keys": ["order_id"]}]})).await;
    let session = acct.session("O-3").await;
    let paid = acct.pay(session["id"].as_str().unwrap()).await;
    let pi = intent_id(&paid);
    let (_, intent) = acct.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(intent["metadata"], json!({}));
    assert_eq!(paid["session"]["metadata"], json!({"order_id": "O-3"}));

    let acct = account(&fake, "sk_test_meta_rewritten", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "metadata_divergence", "mode": "rewritten", "after_seconds": 30}]})).await;
    let session = acct.session("O-4").await;
    let paid = acct.pay(session["id"].as_str().unwrap()).await;
    let pi = intent_id(&paid);
    let (_, intent) = acct.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(intent["metadata"], json!({"order_id": "O-4"}));
    acct.advance(30).await;
    let (_, intent) = acct.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(intent["metadata"], json!({"order_id": "O-4-rewritten"}));
    let updated = receiver
        .received()
        .into_iter()
        .find(|r| r.event["type"] == "payment_intent.updated")
        .unwrap();
    assert_eq!(
        updated.event["data"]["previous_attributes"]["metadata"],
        json!({"order_id": "O-4"})
    );
}

#[tokio::test]
async fn metadata_rewrite_marks_empty_metadata() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_meta_rewrite_empty", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "metadata_divergence", "mode": "rewritten", "after_seconds": 30}]})).await;
    let session = acct.create_session("O-4", false).await;
    let paid = acct.pay(session["id"].as_str().unwrap()).await;
    let pi = intent_id(&paid);
    let (_, intent) = acct.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(intent["metadata"], json!({}));

    acct.advance(30).await;
    let (_, intent) = acct.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(
        intent["metadata"],
        json!({"fakestripe_metadata_divergence": "rewritten"})
    );
    let updated = receiver
        .received()
        .into_iter()
        .find(|r| r.event["type"] == "payment_intent.updated")
        .expect("payment_intent.updated is delivered");
    assert_eq!(updated.event["data"]["object"]["id"], json!(pi));
    assert_eq!(
        updated.event["data"]["previous_attributes"]["metadata"],
        json!({})
    );
}

#[tokio::test]
async fn webhook_delay_defers_deliveries() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_delay", &receiver).await;
    acct.set_faults(
        json!({"faults": [{"kind": "webhook_delay", "distribution": "fixed", "seconds": 100}]}),
    )
    .await;
    let session = acct.session("O-5").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(99).await;
    assert!(receiver.received().is_empty());
    acct.advance(1).await;
    assert_eq!(
        receiver.genuine_types(),
        [
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed",
            "charge.updated"
        ]
    );
}

#[tokio::test]
async fn webhook_order_follows_given_order() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_order", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "webhook_order", "order": ["checkout.session.completed", "payment_intent.succeeded", "payment_intent.created"]}]})).await;
    let session = acct.session("O-6").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(10).await;
    let types = receiver.genuine_types();
    // Types outside the order come first, then the order as given.
    assert_eq!(
        types,
        [
            "charge.succeeded",
            "charge.updated",
            "checkout.session.completed",
            "payment_intent.succeeded",
            "payment_intent.created"
        ]
    );
}

/// With `order`, ranks count from 1: the first pattern's events go out
/// after one `spacing_seconds`, the second's after two.
#[tokio::test]
async fn webhook_order_ranks_from_one() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_order_ranks", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "webhook_order", "spacing_seconds": 10, "order": ["checkout.session.completed", "payment_intent.succeeded"]}]})).await;
    let session = acct.session("O-6b").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    let unordered = [
        "payment_intent.created",
        "charge.succeeded",
        "charge.updated",
    ];

    acct.advance(9).await;
    assert_eq!(receiver.genuine_types(), unordered);
    acct.advance(1).await;
    assert_eq!(
        receiver.genuine_types()[unordered.len()..],
        ["checkout.session.completed"]
    );
    acct.advance(9).await;
    assert_eq!(receiver.genuine_types().len(), unordered.len() + 1);
    acct.advance(1).await;
    assert_eq!(
        receiver.genuine_types()[unordered.len()..],
        ["checkout.session.completed", "payment_intent.succeeded"]
    );
}

#[tokio::test]
async fn webhook_duplicate_repeats_event_id() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_dup", &receiver).await;
    acct.set_faults(json!({"faults": [
        {"kind": "webhook_duplicate", "types": ["checkout.session.completed"], "copies": 2},
        {"kind": "webhook_duplicate", "types": ["payment_intent.succeeded"], "copies": 3, "concurrent": true}
    ]}))
    .await;
    let session = acct.session("O-7").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(0).await;
    let received = receiver.received();
    let ids = |kind: &str| -> Vec<String> {
        received
            .iter()
            .filter(|r| r.event["type"] == kind)
            .map(|r| r.event["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let completed = ids("checkout.session.completed");
    assert_eq!(completed.len(), 3);
    assert!(completed.iter().all(|id| *id == completed[0]));
    let succeeded = ids("payment_intent.succeeded");
    assert_eq!(succeeded.len(), 4);
    assert!(succeeded.iter().all(|id| *id == succeeded[0]));
    let (_, log) = acct
        .get("/_fakestripe/deliveries?type=checkout.session.completed")
        .await;
    let duplicates = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["duplicate"] == true)
        .count();
    assert_eq!(duplicates, 2);
}

/// Entries stack, but one delivery gets at most 20 copies in all, and a
/// plan has at most 100 entries.
#[tokio::test]
async fn duplicate_copies_are_capped_in_all() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_dup_cap", &receiver).await;
    let entry = |concurrent: bool, kind: &str| json!({"kind": "webhook_duplicate", "types": [kind], "copies": 20, "concurrent": concurrent});
    acct.set_faults(json!({"faults": [
        entry(true, "payment_intent.succeeded"),
        entry(true, "payment_intent.succeeded"),
        entry(false, "checkout.session.completed"),
        entry(false, "checkout.session.completed"),
    ]}))
    .await;
    let session = acct.session("O-cap").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(3600).await;
    let count = |kind: &str| {
        receiver
            .received()
            .iter()
            .filter(|r| r.event["type"] == kind)
            .count()
    };
    assert_eq!(count("payment_intent.succeeded"), 21);
    assert_eq!(count("checkout.session.completed"), 21);

    let plan = json!({"faults": vec![entry(false, "*"); 101]});
    let (status, body) = acct.control(reqwest::Method::PUT, "/faults", plan).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "faults");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100 entries"),
        "{body}"
    );
}

#[tokio::test]
async fn webhook_drop_arrives_by_retry() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_drop", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "webhook_drop", "types": ["checkout.session.completed"], "attempts": 2}]})).await;
    let session = acct.session("O-8").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(0).await;
    assert!(
        !receiver
            .genuine_types()
            .contains(&"checkout.session.completed".to_owned())
    );
    acct.advance(60).await;
    assert!(
        !receiver
            .genuine_types()
            .contains(&"checkout.session.completed".to_owned())
    );
    acct.advance(300).await;
    assert!(
        receiver
            .genuine_types()
            .contains(&"checkout.session.completed".to_owned())
    );
    let (_, log) = acct
        .get("/_fakestripe/deliveries?type=checkout.session.completed")
        .await;
    let attempts: Vec<(u64, Value)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["attempt"].as_u64().unwrap(), d["status"].clone()))
        .collect();
    assert_eq!(
        attempts,
        [(1, Value::Null), (2, Value::Null), (3, json!(200))]
    );
    assert_eq!(
        log["data"][0]["error"],
        "connection lost (webhook_drop fault)"
    );
}

#[tokio::test]
async fn hold_releases_in_given_order() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_hold", &receiver).await;
    acct.set_faults(
        json!({"faults": [{"kind": "hold", "types": ["payment_intent.*", "checkout.session.*"]}]}),
    )
    .await;
    let session = acct.session("O-9").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(0).await;
    assert_eq!(
        receiver.genuine_types(),
        ["charge.succeeded", "charge.updated"]
    );
    let (_, held) = acct.get("/_fakestripe/events/held").await;
    let held_types: Vec<&str> = held["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        held_types,
        [
            "payment_intent.created",
            "payment_intent.succeeded",
            "checkout.session.completed"
        ]
    );
    let completed = held["data"][2]["event_id"].as_str().unwrap();
    let created = held["data"][0]["event_id"].as_str().unwrap();
    let (status, body) = acct
        .control(
            reqwest::Method::POST,
            "/events/release",
            json!({"event_ids": [completed, created]}),
        )
        .await;
    assert_eq!((status, body["released"].as_u64()), (200, Some(2)));
    acct.advance(0).await;
    assert_eq!(
        receiver.genuine_types(),
        [
            "charge.succeeded",
            "charge.updated",
            "checkout.session.completed",
            "payment_intent.created"
        ]
    );
    let (status, body) = acct
        .control(
            reqwest::Method::POST,
            "/events/release",
            json!({"event_ids": ["evt_unknown"]}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("event_ids[0]"))
    );
    let (_, body) = acct
        .control(reqwest::Method::POST, "/events/release", json!({}))
        .await;
    assert_eq!(body["released"], 1);
}

#[tokio::test]
async fn released_event_gets_duplicates() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_hold_dup", &receiver).await;
    acct.set_faults(json!({"faults": [
        {"kind": "webhook_duplicate", "types": ["checkout.session.completed"], "copies": 1, "delay_seconds": 5},
        {"kind": "hold", "types": ["checkout.session.completed"]}
    ]}))
    .await;
    let session = acct.session("O-hold-dup").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(60).await;
    let (status, body) = acct
        .control(reqwest::Method::POST, "/events/release", json!({}))
        .await;
    assert_eq!((status, body["released"].as_u64()), (200, Some(1)));
    acct.advance(3600).await;

    let (_, log) = acct
        .get("/_fakestripe/deliveries?type=checkout.session.completed")
        .await;
    let deliveries = log["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{log}");
    let duplicates: Vec<&Value> = deliveries
        .iter()
        .filter(|d| d["duplicate"] == true)
        .collect();
    assert_eq!(duplicates.len(), 1, "{log}");
    let original = deliveries.iter().find(|d| d["duplicate"] != true).unwrap();
    // The copy keeps its delay_seconds after the released delivery.
    assert_eq!(
        duplicates[0]["sent_at"].as_i64().unwrap() - original["sent_at"].as_i64().unwrap(),
        5
    );
    let genuine = receiver
        .genuine_types()
        .iter()
        .filter(|t| *t == "checkout.session.completed")
        .count();
    assert_eq!(genuine, 2);
}

#[tokio::test]
async fn api_error_fails_next_calls() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_api_error", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "api_error", "routes": ["POST /v1/checkout/sessions"], "status": 429, "count": 2}]})).await;
    for _ in 0..2 {
        let response = acct
            .form("/v1/checkout/sessions", &[("mode", "payment")], None)
            .await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["stripe-should-retry"], "true");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limit");
    }
    // The third call runs, and other routes were never affected.
    acct.session("O-10").await;
    let (_, requests) = acct.get("/_fakestripe/requests").await;
    let faults: Vec<Value> = requests["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fault"].clone())
        .collect();
    assert_eq!(faults.iter().filter(|f| !f.is_null()).count(), 2);
}

/// A session retrieve that expands its line items reads them as their
/// list does, so a fault on the list takes it. A plain retrieve is not
/// affected. The trace shows the expansion.
#[tokio::test]
async fn line_items_fault_takes_expanded_retrieve() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_expanded_items", &receiver).await;
    let session = acct.session("O-11").await;
    let path = format!("/v1/checkout/sessions/{}", session["id"].as_str().unwrap());
    acct.set_faults(json!({"faults": [{"kind": "api_error", "routes": ["GET /v1/checkout/sessions/{id}/line_items"], "status": 500, "count": 1}]})).await;

    let (plain, _) = acct.get(&path).await;
    let (expanded, error) = acct.get(&format!("{path}?expand[0]=line_items")).await;
    let (again, body) = acct.get(&format!("{path}?expand[0]=line_items")).await;

    assert_eq!(plain, 200);
    assert_eq!(expanded, 500, "{error}");
    assert_eq!(error["error"]["type"], "api_error");
    assert_eq!(again, 200);
    assert_eq!(body["line_items"]["object"], "list");
    let (_, trace) = acct.get("/_fakestripe/trace").await;
    let retrieves: Vec<(Value, Value)> = trace["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "request" && e["detail"]["path"] == path.as_str())
        .map(|e| (e["detail"]["status"].clone(), e["detail"]["expand"].clone()))
        .collect();
    assert_eq!(
        retrieves,
        [
            (json!(200), Value::Null),
            (json!(500), json!(["line_items"])),
            (json!(200), json!(["line_items"])),
        ]
    );
}

#[tokio::test]
async fn retry_during_latency_gets_409() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = Arc::new(account(&fake, "sk_test_slow_key", &receiver).await);
    acct.set_faults(json!({"faults": [{"kind": "api_error", "routes": ["POST /v1/customers"], "latency_ms": 1500, "count": 1}]})).await;
    let form = [("email", "slow@example.com")];
    let first = tokio::spawn({
        let acct = acct.clone();
        async move { acct.form("/v1/customers", &form, Some("slow-1")).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let retry = acct.form("/v1/customers", &form, Some("slow-1")).await;
    assert_eq!(retry.status(), 409);
    let body: Value = retry.json().await.unwrap();
    assert_eq!(body["error"]["code"], "lock_timeout");

    let first = first.await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let later = acct.form("/v1/customers", &form, Some("slow-1")).await;
    assert_eq!(later.headers()["idempotent-replayed"], "true");
    let (_, customers) = acct.get("/v1/customers").await;
    assert_eq!(customers["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn key_in_flight_outlives_clock_advance() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = Arc::new(account(&fake, "sk_test_key_in_flight", &receiver).await);
    acct.set_faults(json!({"faults": [{"kind": "api_error", "routes": ["POST /v1/checkout/sessions"], "latency_ms": 3000, "count": 1}]})).await;
    let form = [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "1500"),
        ("line_items[0][price_data][product_data][name]", "Mug"),
        ("line_items[0][quantity]", "1"),
        ("success_url", "http://127.0.0.1:9/success"),
    ];
    let first = tokio::spawn({
        let acct = acct.clone();
        async move {
            acct.form("/v1/checkout/sessions", &form, Some("slow-session"))
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // More than the 24 hours a key is kept, while the first request waits.
    acct.advance(90_000).await;
    let retry = acct
        .form("/v1/checkout/sessions", &form, Some("slow-session"))
        .await;
    assert_eq!(retry.status(), 409);
    let body: Value = retry.json().await.unwrap();
    assert_eq!(body["error"]["code"], "lock_timeout");

    let first = first.await.unwrap();
    assert_eq!(first.status(), 200);
    let (_, sessions) = acct.get("/v1/checkout/sessions").await;
    assert_eq!(sessions["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn abandoned_slow_call_frees_its_key() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_abandoned_key", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "api_error", "routes": ["POST /v1/customers"], "latency_ms": 2000, "count": 1}]})).await;
    let gave_up = acct
        .http
        .post(format!("{}/v1/customers", acct.base))
        .bearer_auth(&acct.key)
        .header("idempotency-key", "gave-up")
        .timeout(std::time::Duration::from_millis(200))
        .form(&[("email", "gone@example.com")])
        .send()
        .await;
    assert!(gave_up.is_err(), "the client must time out first");
    // The server notices the closed connection at its next poll; give it
    // a moment, well short of the 2 s wait.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let retry = acct
        .form(
            "/v1/customers",
            &[("email", "gone@example.com")],
            Some("gave-up"),
        )
        .await;
    assert_eq!(retry.status(), 200);
    assert!(retry.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn lost_response_commits_the_write() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_lost", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "lost_response", "routes": ["POST /v1/customers"], "count": 1}]})).await;
    let first = acct
        .form(
            "/v1/customers",
            &[("email", "a@example.com")],
            Some("key-1"),
        )
        .await;
    assert_eq!(first.status(), 500);
    let retry = acct
        .form(
            "/v1/customers",
            &[("email", "a@example.com")],
            Some("key-1"),
        )
        .await;
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let (_, customers) = acct.get("/v1/customers").await;
    assert_eq!(customers["data"].as_array().unwrap().len(), 1);

    acct.set_faults(json!({"faults": [{"kind": "lost_response", "routes": ["POST /v1/customers"], "drop_connection": true}]})).await;
    let dropped = acct
        .http
        .post(format!("{}/v1/customers", acct.base))
        .bearer_auth(&acct.key)
        .form(&[("email", "b@example.com")])
        .send()
        .await;
    let body_failed = match dropped {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(body_failed, "the client must not get an answer");
    // A retry without a key creates a second customer.
    acct.form("/v1/customers", &[("email", "b@example.com")], None)
        .await;
    let (_, customers) = acct.get("/v1/customers?email=b@example.com").await;
    assert_eq!(customers["data"].as_array().unwrap().len(), 2);
}

/// A replay runs nothing and commits nothing, so a lost_response fault
/// neither matches it nor spends one of its calls on it.
#[tokio::test]
async fn lost_response_passes_over_replays() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_lost_replay", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "lost_response", "routes": ["POST /v1/customers"], "count": 2}]})).await;
    let form = [("email", "a@example.com")];
    let first = acct.form("/v1/customers", &form, Some("key-1")).await;
    assert_eq!(first.status(), 500);
    let replay = acct.form("/v1/customers", &form, Some("key-1")).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    // The second affected call is the next one that runs.
    let second = acct.form("/v1/customers", &form, Some("key-2")).await;
    assert_eq!(second.status(), 500);
    let third = acct.form("/v1/customers", &form, Some("key-3")).await;
    assert_eq!(third.status(), 200);
    assert!(third.headers().get("idempotent-replayed").is_none());

    let (_, trace) = acct.get("/_fakestripe/trace").await;
    let lost: Vec<&Value> = trace["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "fault" && entry["detail"]["decision"] == "lost_response")
        .collect();
    assert_eq!(lost.len(), 2, "{lost:?}");
    let (_, customers) = acct.get("/v1/customers").await;
    assert_eq!(customers["data"].as_array().unwrap().len(), 3);
}

/// A call that fails validation commits nothing, so a lost_response fault
/// lets its error through and takes the next call that succeeds. The
/// request log shows the status the client got.
#[tokio::test]
async fn lost_response_takes_only_calls_that_succeed() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_lost_invalid", &receiver).await;
    acct.set_faults(
        json!({"faults": [{"kind": "lost_response", "routes": ["POST /v1/customers"]}]}),
    )
    .await;

    let invalid = acct
        .form(
            "/v1/customers",
            &[("email", "a@example.com"), ("colour", "red")],
            None,
        )
        .await;
    assert_eq!(invalid.status(), 400);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(body["error"]["param"], "colour", "{body}");

    let lost = acct
        .form("/v1/customers", &[("email", "b@example.com")], None)
        .await;
    assert_eq!(lost.status(), 500);
    let request_id = lost.headers()["request-id"].to_str().unwrap().to_owned();
    let body: Value = lost.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lost_response"),
        "{body}"
    );

    // The error links to the request's entry in the log.
    let link = body["error"]["request_log_url"].as_str().unwrap();
    let path = format!("/_fakestripe/requests?request_id={request_id}");
    assert_eq!(link, format!("{}{path}", fake.base_url()));
    let (_, log) = acct.get(&path).await;
    let entry = &log["data"][0];
    assert_eq!(entry["status"], 500, "{log}");
    assert_eq!(
        entry["fault"], "lost_response: the handler returned 200, the client got a 500",
        "{log}"
    );

    let (_, customers) = acct.get("/v1/customers").await;
    let emails: Vec<&str> = customers["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["b@example.com"]);
}

/// A plain read sends the stored bytes, but an API fault on that read must
/// still apply.
#[tokio::test]
async fn api_faults_apply_to_plain_reads() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_read_faults", &receiver).await;
    let customer: Value = acct
        .form("/v1/customers", &[("email", "r@example.com")], None)
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
    acct.set_faults(json!({"faults": [
        {"kind": "lost_response", "routes": ["GET /v1/customers/{id}"], "count": 1},
        {"kind": "api_error", "routes": ["GET /v1/customers/{id}"], "status": 503, "count": 1},
    ]}))
    .await;

    // The api_error stops the first call before it runs; the lost
    // response takes the next call that runs.
    let (status, body) = acct.get(&path).await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = acct.get(&path).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["type"], "api_error");
    let (status, body) = acct.get(&path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], "r@example.com");
}

#[tokio::test]
async fn forged_webhooks_fail_verification() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_forged", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "forged_webhook", "types": ["checkout.session.completed"], "forgeries": ["wrong_secret", "stale_timestamp", "tampered_body"]}]})).await;
    let session = acct.session("O-11").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(0).await;
    let completed: Vec<Received> = receiver
        .received()
        .into_iter()
        .filter(|r| r.event["type"] == "checkout.session.completed")
        .collect();
    assert_eq!(
        completed.iter().map(|r| r.genuine).collect::<Vec<_>>(),
        [false, false, false, true]
    );
    assert_ne!(
        completed[2].raw, completed[3].raw,
        "the tampered body differs from the signed one"
    );
    assert_ne!(completed[0].signature, completed[3].signature);
    let (_, log) = acct
        .get("/_fakestripe/deliveries?type=checkout.session.completed")
        .await;
    let forged: Vec<(Value, Value)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["forged"].clone(), d["status"].clone()))
        .collect();
    assert_eq!(
        forged,
        [
            (json!("wrong_secret"), json!(400)),
            (json!("stale_timestamp"), json!(400)),
            (json!("tampered_body"), json!(400)),
            (Value::Null, json!(200))
        ]
    );
}

/// A held event gets its forgeries when it is released, by `release` or
/// by `resend`, and a concurrent burst goes with the genuine send only.
#[tokio::test]
async fn forgeries_precede_released_events() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_forged_held", &receiver).await;
    acct.set_faults(json!({"faults": [
        {"kind": "forged_webhook", "types": ["checkout.session.completed"]},
        {"kind": "hold", "types": ["checkout.session.completed"]}
    ]}))
    .await;
    // Whether each delivery of checkout.session.completed was signed
    // with the endpoint's secret.
    let completed_sends = || -> Vec<bool> {
        receiver
            .received()
            .into_iter()
            .filter(|r| r.event["type"] == "checkout.session.completed")
            .map(|r| r.genuine)
            .collect()
    };

    let first = acct.session("O-31").await;
    acct.pay(first["id"].as_str().unwrap()).await;
    acct.advance(0).await;
    assert_eq!(completed_sends(), Vec::<bool>::new());
    let (status, body) = acct
        .control(reqwest::Method::POST, "/events/release", json!({}))
        .await;
    assert_eq!((status, body["released"].as_u64()), (200, Some(1)));
    acct.advance(0).await;
    assert_eq!(completed_sends(), [false, true]);

    let second = acct.session("O-32").await;
    acct.pay(second["id"].as_str().unwrap()).await;
    acct.advance(0).await;
    let (_, held) = acct.get("/_fakestripe/events/held").await;
    let event = held["data"][0]["event_id"].as_str().unwrap().to_owned();
    let path = format!("/events/{event}/resend");
    acct.control(
        reqwest::Method::POST,
        &path,
        json!({"copies": 3, "concurrent": true}),
    )
    .await;
    acct.advance(0).await;
    let (_, log) = acct
        .get(&format!("/_fakestripe/deliveries?event_id={event}"))
        .await;
    let sends: Vec<(Value, Value)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["forged"].clone(), d["duplicate"].clone()))
        .collect();
    assert_eq!(sends.len(), 4, "{log}");
    assert_eq!(sends[0], (json!("wrong_secret"), json!(false)), "{log}");
    let genuine = sends[1..]
        .iter()
        .filter(|(forged, _)| forged.is_null())
        .count();
    assert_eq!(genuine, 3, "{log}");
}

#[tokio::test]
async fn invalid_plan_names_the_field() {
    let fake = manual_fake().await;
    let acct = Account::new(&fake, "sk_test_invalid_plan");
    let (status, body) = acct
        .control(
            reqwest::Method::PUT,
            "/faults",
            json!({"faults": [{"kind": "webhook_dupe", "copies": 2}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "faults[0][kind]");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("webhook_duplicate")
    );
    let (status, body) = acct
        .control(
            reqwest::Method::PUT,
            "/faults",
            json!({"faults": [{"kind": "hold", "types": ["checkout.*"], "extra": 1}]}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("faults[0][extra]"))
    );
    let (_, plan) = acct.get("/_fakestripe/faults").await;
    assert_eq!(plan["faults"], json!([]));
}

/// A plan whose event type pattern matches nothing the fake sends is
/// refused with the pattern's place, and the plan in force stays.
#[tokio::test]
async fn plan_with_unsent_event_type_is_refused() {
    let fake = manual_fake().await;
    let acct = Account::new(&fake, "sk_test_unsent_types");
    let in_force = json!({"faults": [{"kind": "webhook_duplicate", "types": ["charge.*"]}]});
    let (status, _) = acct
        .control(reqwest::Method::PUT, "/faults", in_force.clone())
        .await;
    assert_eq!(status, 200);
    let cases = [
        (
            json!({"kind": "hold", "types": ["charge.succeeded", "checkout.session.complete"]}),
            "faults[0][types][1]",
            "Unknown event type `checkout.session.complete`, so this fault would never apply. \
             Did you mean `checkout.session.completed`?",
        ),
        (
            json!({"kind": "webhook_drop", "types": ["invoice.paid"]}),
            "faults[0][types][0]",
            "The fake never sends `invoice.paid` events, so this fault would never apply.",
        ),
        (
            json!({"kind": "webhook_order", "order": ["checkout.session.completed", "invoice.*"]}),
            "faults[0][order][1]",
            "`invoice.*` matches no event type that the fake sends, so this fault would never \
             apply.",
        ),
    ];
    for (fault, param, start) in cases {
        let (status, body) = acct
            .control(
                reqwest::Method::PUT,
                "/faults",
                json!({ "faults": [fault] }),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["param"], param, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(start), "{message}");
        assert!(
            message.contains("The fake sends: charge.captured, "),
            "{message}"
        );
    }
    let (_, plan) = acct.get("/_fakestripe/faults").await;
    assert_eq!(plan["faults"], in_force["faults"]);
}

/// Runs one seeded checkout with reordering faults on a fresh account and
/// returns the trace and the delivery order.
async fn seeded_run(
    fake: &Server,
    receiver: &Receiver,
    key: &str,
    seed: u64,
) -> (String, Vec<String>) {
    let acct = Account::new(fake, key);
    acct.control(reqwest::Method::POST, "/clock", json!({"now": START}))
        .await;
    acct.set_faults(json!({"seed": seed, "faults": [
        {"kind": "webhook_order", "shuffle": true},
        {"kind": "webhook_duplicate", "probability": 0.3},
        {"kind": "webhook_delay", "distribution": "uniform", "min_seconds": 0, "max_seconds": 5}
    ]}))
    .await;
    acct.listen(receiver).await;
    let session = acct.session("O-seeded").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(120).await;
    let (_, trace) = acct.get("/_fakestripe/trace").await;
    let (_, deliveries) = acct.get("/_fakestripe/deliveries").await;
    let order = deliveries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event_type"].as_str().unwrap().to_owned())
        .collect();
    (trace.to_string(), order)
}

#[tokio::test]
async fn same_seed_replays_same_trace() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let (first, order) = seeded_run(&fake, &receiver, "sk_test_seed_0", 7).await;
    for run in 1..100 {
        let (trace, _) = seeded_run(&fake, &receiver, &format!("sk_test_seed_{run}"), 7).await;
        assert_eq!(trace, first, "run {run} differs from run 0");
    }
    let mut reordered = false;
    for seed in 8..20 {
        let (_, other) = seeded_run(&fake, &receiver, &format!("sk_test_other_{seed}"), seed).await;
        reordered |= other != order;
    }
    assert!(reordered, "no other seed changed the delivery order");
}

#[tokio::test]
async fn resend_repeats_or_releases_events() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_resend", &receiver).await;
    acct.set_faults(json!({"faults": [{"kind": "hold", "types": ["checkout.session.completed"]}]}))
        .await;
    let session = acct.session("O-12").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(0).await;
    let (_, held) = acct.get("/_fakestripe/events/held").await;
    let completed = held["data"][0]["event_id"].as_str().unwrap().to_owned();
    let created = receiver.received()[0].event["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A held event is released by its first send; the copies follow at once.
    let path = format!("/events/{completed}/resend");
    let (status, body) = acct
        .control(
            reqwest::Method::POST,
            &path,
            json!({"copies": 3, "concurrent": true}),
        )
        .await;
    assert_eq!((status, body["scheduled"].as_u64()), (200, Some(3)));
    acct.advance(0).await;
    let sends = receiver
        .received()
        .iter()
        .filter(|r| r.event["id"] == completed.as_str())
        .count();
    assert_eq!(sends, 3);
    let (_, held) = acct.get("/_fakestripe/events/held").await;
    assert_eq!(held["data"], json!([]));

    // A delivered event is sent again as a duplicate.
    let path = format!("/events/{created}/resend");
    acct.control(reqwest::Method::POST, &path, json!({})).await;
    acct.advance(0).await;
    let sends = receiver
        .received()
        .iter()
        .filter(|r| r.event["id"] == created.as_str())
        .count();
    assert_eq!(sends, 2);
    let (status, body) = acct
        .control(
            reqwest::Method::POST,
            "/events/evt_missing/resend",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("resource_missing"))
    );

    // `copies` is read as a fault plan's numbers are: 2.0 is 2, and 2.5 is
    // no whole number.
    let path = format!("/events/{created}/resend");
    let (status, body) = acct
        .control(reqwest::Method::POST, &path, json!({"copies": 2.0}))
        .await;
    assert_eq!(
        (status, body["scheduled"].as_u64()),
        (200, Some(2)),
        "{body}"
    );
    let (status, body) = acct
        .control(reqwest::Method::POST, &path, json!({"copies": 2.5}))
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("expected a whole number from 1 to 20, got 2.5"),
        "{message}"
    );
    let (status, body) = acct
        .control(reqwest::Method::POST, &path, json!({"copies": 21}))
        .await;
    assert_eq!((status, &body["error"]["param"]), (400, &json!("copies")));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("got 21"), "{message}");
}

/// A reset and the same seeded plan before each run, as the harness does
/// before each scenario, give new session and event ids every time, so an
/// app that keeps the event ids it has handled takes every event.
#[tokio::test]
async fn seeded_plan_after_reset_draws_new_ids() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_reset_seed", &receiver).await;
    let mut sessions = Vec::new();
    for order in ["O-16", "O-17", "O-18"] {
        acct.reset_keeping_endpoints().await;
        acct.set_faults(json!({"seed": 0, "faults": []})).await;
        let session = acct.session(order).await;
        acct.pay(session["id"].as_str().unwrap()).await;
        acct.advance(0).await;
        sessions.push(session["id"].as_str().unwrap().to_owned());
    }

    let unique: std::collections::HashSet<&String> = sessions.iter().collect();
    assert_eq!(unique.len(), 3, "session ids repeat: {sessions:?}");
    let events: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.event["id"].as_str().unwrap().to_owned())
        .collect();
    let unique: std::collections::HashSet<&String> = events.iter().collect();
    assert!(events.len() >= 3 * 4, "{events:?}");
    assert_eq!(unique.len(), events.len(), "event ids repeat: {events:?}");
}

#[tokio::test]
async fn reset_can_keep_webhook_endpoints() {
    let fake = manual_fake().await;
    let receiver = Receiver::start().await;
    let acct = account(&fake, "sk_test_reset", &receiver).await;
    let first = acct.session("O-13").await;
    let (_, before) = acct.get("/_fakestripe/trace").await;
    let last_seq = before["data"].as_array().unwrap().last().unwrap()["seq"]
        .as_u64()
        .unwrap();

    acct.reset_keeping_endpoints().await;
    let (status, _) = acct
        .get(&format!(
            "/v1/checkout/sessions/{}",
            first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 404);
    let (_, endpoints) = acct.get("/v1/webhook_endpoints").await;
    assert_eq!(endpoints["data"].as_array().unwrap().len(), 1);
    let (_, clock) = acct.get("/_fakestripe/clock").await;
    assert_eq!(clock["now"], START);

    // The kept endpoint still gets events, signed with the same secret.
    let session = acct.session("O-14").await;
    acct.pay(session["id"].as_str().unwrap()).await;
    acct.advance(0).await;
    assert!(
        receiver
            .genuine_types()
            .contains(&"checkout.session.completed".to_owned())
    );

    // The harness's own read skips faults and the request log.
    acct.set_faults(json!({"faults": [{"kind": "stale_read", "seconds": 60}]}))
        .await;
    let fresh = acct.session("O-15").await;
    let id = fresh["id"].as_str().unwrap();
    let (status, object) = acct.get(&format!("/_fakestripe/objects/{id}")).await;
    assert_eq!((status, object["id"].as_str()), (200, Some(id)));
    let (_, requests) = acct.get("/_fakestripe/requests").await;
    assert!(
        requests["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["path"].as_str().unwrap().starts_with("/_fakestripe"))
    );

    // Sequence numbers go on across the reset.
    let (_, tail) = acct
        .get(&format!("/_fakestripe/trace?after={last_seq}"))
        .await;
    let tail = tail["data"].as_array().unwrap();
    assert!(tail.iter().any(|e| e["kind"] == "event"));
    assert!(tail.iter().all(|e| e["seq"].as_u64().unwrap() > last_seq));
    let (status, _) = acct.get("/_fakestripe/trace?after=abc").await;
    assert_eq!(status, 400);

    let (_, plain) = acct
        .control(reqwest::Method::POST, "/reset", json!({}))
        .await;
    assert_eq!(plain["reset"], true);
    let (_, endpoints) = acct.get("/v1/webhook_endpoints").await;
    assert_eq!(endpoints["data"], json!([]));
}
