//! Tests that drive the shop over HTTP on 127.0.0.1, against a stub of the
//! Stripe calls it makes.

mod bug_switches;
mod flows;
mod stub;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::bugs::Bug;
use crate::config::Config;
use crate::routes::{AppState, app};
use crate::stripe::signature;

const WEBHOOK_SECRET: &str = "whsec_shop";

/// A shop on an ephemeral port, with its stub Stripe.
struct TestShop {
    base: String,
    stub: Arc<stub::Stub>,
    http: reqwest::Client,
    next_event: std::sync::atomic::AtomicUsize,
}

/// Serves `router` on an ephemeral port and returns its base URL.
async fn spawn_server(router: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl TestShop {
    async fn start(bug: Option<Bug>) -> TestShop {
        TestShop::start_with(bug, false).await
    }

    /// Starts the shop with `bug`, its sessions in embedded Checkout when
    /// `embedded` is set.
    async fn start_with(bug: Option<Bug>, embedded: bool) -> TestShop {
        let stub = Arc::new(stub::Stub::default());
        let stripe_api_base = spawn_server(stub::router(stub.clone())).await;

        // The shop needs its own address for success_url before it serves.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let config = Config {
            port: address.port(),
            app_base_url: format!("http://{address}"),
            stripe_api_base,
            stripe_secret_key: stub::SECRET_KEY.to_owned(),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            database: None,
            bug,
            payment_method_types: Vec::new(),
            embedded,
        };
        let state = AppState::new(config).unwrap();
        tokio::spawn(async move { axum::serve(listener, app(state)).await });

        TestShop {
            base: format!("http://{address}"),
            stub,
            http: reqwest::Client::new(),
            next_event: std::sync::atomic::AtomicUsize::new(1),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Starts a checkout for one mug (2 × 1500 eur) and returns the
    /// session id.
    async fn checkout(&self, order_id: &str) -> String {
        let (status, body) = self.post_json("/checkout", &checkout_body(order_id)).await;
        assert_eq!(status, StatusCode::OK, "checkout failed: {body}");
        body["session_id"].as_str().unwrap().to_owned()
    }

    async fn order(&self, order_id: &str) -> Value {
        let (status, body) = self.get(&format!("/orders/{order_id}")).await;
        assert_eq!(status, StatusCode::OK, "order {order_id}: {body}");
        body
    }

    /// Delivers `event` signed with the endpoint secret, as Stripe would.
    async fn deliver(&self, event: &Value) -> StatusCode {
        let body = serde_json::to_vec(event).unwrap();
        let now = unix_now();
        let header = format!("t={now},v1={}", signature::sign(WEBHOOK_SECRET, now, &body));
        self.deliver_raw(&body, Some(&header)).await
    }

    async fn deliver_raw(&self, body: &[u8], header: Option<&str>) -> StatusCode {
        let mut request = self
            .http
            .post(format!("{}/webhooks/stripe", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(header) = header {
            request = request.header("Stripe-Signature", header);
        }
        request.send().await.unwrap().status()
    }

    /// Wraps `object` in an event with a fresh id.
    fn event(&self, event_type: &str, object: Value) -> Value {
        let number = self
            .next_event
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        event_with_id(&format!("evt_{number}"), event_type, object)
    }
}

fn event_with_id(id: &str, event_type: &str, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "type": event_type,
        "created": unix_now(),
        "livemode": false,
        "data": {"object": object},
    })
}

fn checkout_body(order_id: &str) -> Value {
    json!({
        "order_id": order_id,
        "items": [{"name": "Mug", "unit_amount": 1500, "quantity": 2}],
        "currency": "eur",
        "email": "shopper@example.test",
    })
}
