//! Snapshots of the JSON the fake responds with: a Checkout Session before
//! and after payment, a succeeded payment intent, and the common error
//! bodies with their statuses. Ids keep their prefix, and timestamps and
//! the server's address are replaced, so a snapshot changes only when a
//! field, a value or the field order does.

mod support;

use serde_json::{Map, Value, json};
use support::{Api, Reply, create_session, form, start_manual};

/// Keys whose values are Unix timestamps.
const TIMESTAMP_KEYS: &[&str] = &[
    "created",
    "expires_at",
    "canceled_at",
    "available_on",
    "updated",
];

/// Returns whether `text` has the shape of a Stripe id: a lowercase prefix ending
/// in `_`, then at least 14 letters and digits.
fn is_id(text: &str) -> bool {
    let Some(split) = text.rfind('_') else {
        return false;
    };
    let (prefix, tail) = (&text[..split], &text[split + 1..]);
    !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        && tail.len() >= 14
        && tail.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Replaces ids (keeping their prefix), timestamps, client secrets and the
/// fake's address, which differ from run to run.
fn redact(value: &Value, base_url: &str) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let redacted = if TIMESTAMP_KEYS.contains(&key.as_str()) && item.is_i64() {
                    json!("[timestamp]")
                } else if key == "client_secret" && item.is_string() {
                    json!("[client_secret]")
                } else {
                    redact(item, base_url)
                };
                out.insert(key.clone(), redacted);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| redact(item, base_url)).collect())
        }
        Value::String(text) => json!(redact_text(text, base_url)),
        other => other.clone(),
    }
}

fn redact_text(text: &str, base_url: &str) -> String {
    let text = text.replace(base_url, "http://[fake]");
    // Ids appear alone or at the end of a URL or query string.
    let cut = text.rfind(['/', '=']).map_or(0, |i| i + 1);
    let (head, tail) = text.split_at(cut);
    if is_id(tail) {
        let split = tail.rfind('_').unwrap_or_default();
        format!("{head}{}_[id]", &tail[..split])
    } else {
        text.to_owned()
    }
}

/// Builds the redacted status and body of one snapshot.
fn snapshot_of(reply: &Reply, base_url: &str) -> Value {
    json!({ "status": reply.status, "body": redact(&reply.json, base_url) })
}

#[tokio::test]
async fn open_session_json() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_shape_session");

    let session = create_session(
        &api,
        &[
            ("client_reference_id", "order-1"),
            ("metadata[cart]", "c1"),
            ("customer_email", "ada@shop.test"),
        ],
    )
    .await;

    insta::assert_json_snapshot!("open_session", redact(&session, fake.base_url()));
}

#[tokio::test]
async fn paid_session_and_payment_intent_json() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_shape_paid");
    let session = create_session(&api, &[("payment_intent_data[metadata][order]", "o1")]).await;
    let id = session["id"].as_str().unwrap();
    api.control(
        &format!("/checkout/sessions/{id}/pay"),
        json!({"payment_method": "card", "card_number": "4242424242424242", "email": "ada@shop.test", "name": "Ada"}),
    )
    .await
    .ok();

    let paid = api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .ok()
        .clone();
    let pi = api
        .get(&format!(
            "/v1/payment_intents/{}",
            paid["payment_intent"].as_str().unwrap()
        ))
        .await
        .ok()
        .clone();

    insta::assert_json_snapshot!("paid_session", redact(&paid, fake.base_url()));
    insta::assert_json_snapshot!("succeeded_payment_intent", redact(&pi, fake.base_url()));
}

#[tokio::test]
async fn error_bodies_json() {
    let fake = start_manual().await;
    let base = fake.base_url();
    let api = Api::new(base, "sk_test_shape_errors");
    let session = create_session(&api, &[]).await;
    let expire = format!(
        "/v1/checkout/sessions/{}/expire",
        session["id"].as_str().unwrap()
    );
    api.post(&expire, "").await.ok();
    let pi = api
        .post(
            "/v1/payment_intents",
            "amount=2000&currency=usd&payment_method_types[]=card",
        )
        .await
        .ok()
        .clone();
    api.post_with("/v1/customers", "name=Ada", &[("Idempotency-Key", "k1")])
        .await
        .ok();
    let invalid_amount = form(&[
        ("mode", "payment"),
        ("success_url", "https://shop.test/ok"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "abc"),
        ("line_items[0][price_data][product_data][name]", "Pen"),
        ("line_items[0][quantity]", "1"),
    ]);

    let cases = [
        (
            "error_parameter_unknown",
            api.post("/v1/customers", "colour=red").await,
        ),
        (
            "error_parameter_missing",
            api.post(
                "/v1/checkout/sessions",
                "success_url=https%3A%2F%2Fshop.test",
            )
            .await,
        ),
        (
            "error_parameter_invalid",
            api.post("/v1/checkout/sessions", &invalid_amount).await,
        ),
        (
            "error_resource_missing",
            api.get("/v1/customers/cus_doesnotexist").await,
        ),
        ("error_unknown_route", api.get("/v1/subscriptions").await),
        (
            "error_api_key_missing",
            support::send(reqwest::Client::new().get(format!("{base}/v1/customers"))).await,
        ),
        (
            "error_api_key_invalid",
            Api::new(base, "sk_live_1234567890abcdef")
                .get("/v1/customers")
                .await,
        ),
        (
            "error_idempotency",
            api.post_with("/v1/customers", "name=Grace", &[("Idempotency-Key", "k1")])
                .await,
        ),
        ("error_session_not_open", api.post(&expire, "").await),
        (
            "error_card_declined",
            api.post(
                &format!("/v1/payment_intents/{}/confirm", pi["id"].as_str().unwrap()),
                "payment_method=pm_card_chargeDeclined",
            )
            .await,
        ),
    ];

    for (name, reply) in cases {
        insta::assert_json_snapshot!(name, snapshot_of(&reply, base));
    }
}

#[test]
fn redaction_keeps_id_prefixes() {
    let base = "http://127.0.0.1:5555";
    let value = json!({
        "id": "cs_test_a1B2c3D4e5F6g7H8i9",
        "created": 1_700_000_000,
        "url": "http://127.0.0.1:5555/c/pay/cs_test_a1B2c3D4e5F6g7H8i9",
        "request_log_url": "http://127.0.0.1:5555/_fakestripe/requests?request_id=req_Z8orrxj8Kbnrz4vI",
        "currency": "usd",
        "success_url": "https://shop.test/ok",
        "short": "pi_123",
    });

    assert_eq!(
        redact(&value, base),
        json!({
            "id": "cs_test_[id]",
            "created": "[timestamp]",
            "url": "http://[fake]/c/pay/cs_test_[id]",
            "request_log_url": "http://[fake]/_fakestripe/requests?request_id=req_[id]",
            "currency": "usd",
            "success_url": "https://shop.test/ok",
            "short": "pi_123",
        })
    );
}
