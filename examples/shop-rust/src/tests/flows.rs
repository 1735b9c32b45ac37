//! The correct behaviour, with no bug switch on.

use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde_json::json;

use super::{TestShop, WEBHOOK_SECRET, checkout_body, unix_now};
use crate::stripe::signature;

#[tokio::test]
async fn healthz_ok() {
    let shop = TestShop::start(None).await;
    let response = reqwest::get(format!("{}/healthz", shop.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn checkout_creates_pending_order() {
    let shop = TestShop::start(None).await;
    let (status, body) = shop.post_json("/checkout", &checkout_body("O-1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["order_id"], "O-1");
    assert_eq!(body["session_id"], "cs_test_1");
    assert_eq!(body["url"], "https://checkout.example.test/pay/cs_test_1");

    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "pending");
    assert_eq!(order["fulfilment_count"], 0);
    assert_eq!(order["session_id"], "cs_test_1");
    assert_eq!(order["released"], false);
    assert_eq!(order["amount_total"], 3000);
    assert_eq!(order["currency"], "eur");
    assert_eq!(order["email"], "shopper@example.test");
    assert_eq!(order["items"][0]["name"], "Mug");
    assert_eq!(order["payment_intent"], serde_json::Value::Null);
}

#[tokio::test]
async fn checkout_sends_session_params() {
    let shop = TestShop::start(None).await;
    shop.checkout("O-1").await;
    let creates = shop.stub.creates();
    assert_eq!(creates.len(), 1);
    let create = &creates[0];

    let expected = [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "eur"),
        ("line_items[0][price_data][unit_amount]", "1500"),
        ("line_items[0][price_data][product_data][name]", "Mug"),
        ("line_items[0][quantity]", "2"),
        ("metadata[order_id]", "O-1"),
        ("client_reference_id", "O-1"),
        ("payment_intent_data[metadata][order_id]", "O-1"),
        ("customer_email", "shopper@example.test"),
    ];
    for (key, value) in expected {
        assert_eq!(create.param(key), Some(value), "param {key}");
    }
    assert_eq!(
        create.param("success_url"),
        Some(format!("{}/success?session_id={{CHECKOUT_SESSION_ID}}", shop.base).as_str())
    );
    assert_eq!(
        create.param("cancel_url"),
        Some(format!("{}/cancel?order_id=O-1", shop.base).as_str())
    );
    assert!(create.idempotency_key.is_some());
}

/// An embedded session returns to the success page by `return_url` and
/// has no cancel link.
#[tokio::test]
async fn embedded_checkout_sends_return_url() {
    let shop = TestShop::start_with(None, true).await;
    shop.checkout("O-1").await;
    let create = &shop.stub.creates()[0];
    assert_eq!(create.param("ui_mode"), Some("embedded_page"));
    assert_eq!(
        create.param("return_url"),
        Some(format!("{}/success?session_id={{CHECKOUT_SESSION_ID}}", shop.base).as_str())
    );
    assert_eq!(create.param("success_url"), None);
    assert_eq!(create.param("cancel_url"), None);
}

#[tokio::test]
async fn checkout_with_catalogue_price() {
    let shop = TestShop::start(None).await;
    let body = json!({
        "order_id": "O-1",
        "items": [{"price": "price_123", "quantity": 3}],
        "email": "shopper@example.test",
    });
    let (status, response) = shop.post_json("/checkout", &body).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let create = &shop.stub.creates()[0];
    assert_eq!(create.param("line_items[0][price]"), Some("price_123"));
    assert_eq!(create.param("line_items[0][quantity]"), Some("3"));
    assert_eq!(create.param("line_items[0][price_data][currency]"), None);
}

#[tokio::test]
async fn checkout_retries_with_same_key() {
    let shop = TestShop::start(None).await;
    shop.stub.lost_create_responses.store(2, Ordering::SeqCst);
    let session_id = shop.checkout("O-1").await;

    let creates = shop.stub.creates();
    assert_eq!(creates.len(), 3, "two lost responses, then success");
    let first_key = creates[0].idempotency_key.clone();
    assert!(first_key.is_some());
    assert!(
        creates
            .iter()
            .all(|create| create.idempotency_key == first_key)
    );
    assert_eq!(shop.stub.session_count(), 1);
    assert_eq!(session_id, "cs_test_1");
}

#[tokio::test]
async fn checkout_gives_up_after_three_retries() {
    let shop = TestShop::start(None).await;
    shop.stub.lost_create_responses.store(10, Ordering::SeqCst);
    let (status, body) = shop.post_json("/checkout", &checkout_body("O-1")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(shop.stub.creates().len(), 4);
}

#[tokio::test]
async fn new_attempt_gets_new_key() {
    let shop = TestShop::start(None).await;
    shop.checkout("O-1").await;
    shop.checkout("O-1").await;
    let creates = shop.stub.creates();
    assert_eq!(creates.len(), 2);
    assert_ne!(creates[0].idempotency_key, creates[1].idempotency_key);
    assert_eq!(shop.order("O-1").await["session_id"], "cs_test_2");
}

#[tokio::test]
async fn invalid_checkout_rejected() {
    let shop = TestShop::start(None).await;
    let bodies = [
        json!({"order_id": "O-1", "items": [], "currency": "eur"}),
        json!({"order_id": "O-1"}),
        json!({"items": [{"price": "price_1", "quantity": 1}]}),
    ];
    for body in bodies {
        let (status, response) = shop.post_json("/checkout", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {response}");
        assert!(response["error"].is_string(), "{response}");
    }
    assert!(shop.stub.creates().is_empty());
}

#[tokio::test]
async fn card_payment_fulfilled_once() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let session = shop.stub.complete(&session_id, "paid");

    let status = shop
        .deliver(&shop.event("checkout.session.completed", session))
        .await;
    assert_eq!(status, StatusCode::OK);

    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["fulfilment_count"], 1);
    assert_eq!(order["session_id"], session_id);
    assert_eq!(order["payment_intent"], format!("pi_for_{session_id}"));
    assert_eq!(order["amount_total"], 3000);
    assert_eq!(order["currency"], "eur");
    assert_eq!(order["released"], false);
    assert_eq!(order["email"], "buyer@example.test");
    assert_eq!(order["shipped_items"][0]["description"], "Mug");
    assert_eq!(order["shipped_items"][0]["quantity"], 2);
}

#[tokio::test]
async fn duplicate_delivery_ignored() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let event = shop.event(
        "checkout.session.completed",
        shop.stub.complete(&session_id, "paid"),
    );
    for _ in 0..3 {
        assert_eq!(shop.deliver(&event).await, StatusCode::OK);
    }
    assert_eq!(shop.order("O-1").await["fulfilment_count"], 1);
}

#[tokio::test]
async fn concurrent_duplicates_fulfil_once() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let event = shop.event(
        "checkout.session.completed",
        shop.stub.complete(&session_id, "paid"),
    );
    let (first, second) = tokio::join!(shop.deliver(&event), shop.deliver(&event));
    assert_eq!(first, StatusCode::OK);
    assert_eq!(second, StatusCode::OK);
    assert_eq!(shop.order("O-1").await["fulfilment_count"], 1);
}

#[tokio::test]
async fn async_payment_in_order() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let completed = shop.stub.complete(&session_id, "unpaid");
    let status = shop
        .deliver(&shop.event("checkout.session.completed", completed))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shop.order("O-1").await["status"], "awaiting_payment");

    // No second session while the first payment is in flight.
    let (status, _) = shop.post_json("/checkout", &checkout_body("O-1")).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let settled = shop.stub.settle(&session_id);
    let status = shop
        .deliver(&shop.event("checkout.session.async_payment_succeeded", settled))
        .await;
    assert_eq!(status, StatusCode::OK);
    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["fulfilment_count"], 1);
}

#[tokio::test]
async fn async_success_before_completion() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let completed = shop.stub.complete(&session_id, "unpaid");
    let settled = shop.stub.settle(&session_id);

    let succeeded = shop.event("checkout.session.async_payment_succeeded", settled);
    let completed = shop.event("checkout.session.completed", completed);
    assert_eq!(shop.deliver(&succeeded).await, StatusCode::OK);
    assert_eq!(shop.deliver(&completed).await, StatusCode::OK);

    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["fulfilment_count"], 1);
}

#[tokio::test]
async fn async_failure_then_late_completion() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let completed = shop.stub.complete(&session_id, "unpaid");

    let failed = shop.event("checkout.session.async_payment_failed", completed.clone());
    let completed = shop.event("checkout.session.completed", completed);
    assert_eq!(shop.deliver(&failed).await, StatusCode::OK);
    assert_eq!(shop.deliver(&completed).await, StatusCode::OK);

    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "payment_failed");
    assert_eq!(order["released"], true);
    assert_eq!(order["fulfilment_count"], 0);
}

#[tokio::test]
async fn expiry_cancels_and_releases() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let expired = shop.stub.expire(&session_id);
    let status = shop
        .deliver(&shop.event("checkout.session.expired", expired))
        .await;
    assert_eq!(status, StatusCode::OK);

    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["released"], true);
    assert_eq!(order["fulfilment_count"], 0);
}

#[tokio::test]
async fn expiry_after_payment_ignored() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let paid = shop.stub.complete(&session_id, "paid");
    shop.deliver(&shop.event("checkout.session.completed", paid.clone()))
        .await;

    let mut expired = paid;
    expired["status"] = json!("expired");
    let status = shop
        .deliver(&shop.event("checkout.session.expired", expired))
        .await;
    assert_eq!(status, StatusCode::OK);

    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["released"], false);
    assert_eq!(order["fulfilment_count"], 1);
}

#[tokio::test]
async fn expiry_of_replaced_session_ignored() {
    let shop = TestShop::start(None).await;
    let first = shop.checkout("O-1").await;
    let second = shop.checkout("O-1").await;
    assert_ne!(first, second);

    let expired = shop.stub.expire(&first);
    shop.deliver(&shop.event("checkout.session.expired", expired))
        .await;
    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "pending");
    assert_eq!(order["released"], false);
    assert_eq!(order["session_id"], second);
}

#[tokio::test]
async fn cancelled_order_can_check_out_again() {
    let shop = TestShop::start(None).await;
    let first = shop.checkout("O-1").await;
    let expired = shop.stub.expire(&first);
    shop.deliver(&shop.event("checkout.session.expired", expired))
        .await;
    assert_eq!(shop.order("O-1").await["status"], "cancelled");

    let second = shop.checkout("O-1").await;
    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "pending");
    assert_eq!(order["released"], false);
    assert_eq!(order["session_id"], second);
}

#[tokio::test]
async fn paid_order_rejects_checkout() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let paid = shop.stub.complete(&session_id, "paid");
    shop.deliver(&shop.event("checkout.session.completed", paid))
        .await;
    let (status, body) = shop.post_json("/checkout", &checkout_body("O-1")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(shop.stub.creates().len(), 1);
}

#[tokio::test]
async fn failed_line_items_retried() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let event = shop.event(
        "checkout.session.completed",
        shop.stub.complete(&session_id, "paid"),
    );
    shop.stub.line_item_failures.store(1, Ordering::SeqCst);

    assert_eq!(
        shop.deliver(&event).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(shop.order("O-1").await["status"], "pending");

    // Stripe's retry of the same event.
    assert_eq!(shop.deliver(&event).await, StatusCode::OK);
    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["fulfilment_count"], 1);
}

#[tokio::test]
async fn payload_trusted_over_stale_retrieve() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let paid = shop.stub.complete(&session_id, "paid");
    shop.stub.stale_retrieve.store(true, Ordering::SeqCst);
    shop.deliver(&shop.event("checkout.session.completed", paid))
        .await;
    assert_eq!(shop.order("O-1").await["status"], "paid");
}

#[tokio::test]
async fn forged_deliveries_rejected() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let event = shop.event(
        "checkout.session.completed",
        shop.stub.complete(&session_id, "paid"),
    );
    let body = serde_json::to_vec(&event).unwrap();
    let now = unix_now();
    let sign = |secret: &str, timestamp: i64, body: &[u8]| {
        format!(
            "t={timestamp},v1={}",
            signature::sign(secret, timestamp, body)
        )
    };

    let mut changed = body.clone();
    let position = changed.iter().position(|byte| *byte == b'1').unwrap();
    changed[position] = b'2';
    let cases: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("no header", body.clone(), None),
        (
            "wrong secret",
            body.clone(),
            Some(sign("whsec_other", now, &body)),
        ),
        (
            "ten minutes old",
            body.clone(),
            Some(sign(WEBHOOK_SECRET, now - 600, &body)),
        ),
        (
            "one byte changed",
            changed,
            Some(sign(WEBHOOK_SECRET, now, &body)),
        ),
        ("garbled header", body.clone(), Some("v1=abc".to_owned())),
    ];
    for (name, body, header) in cases {
        let status = shop.deliver_raw(&body, header.as_deref()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
    }
    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "pending");
    assert_eq!(order["fulfilment_count"], 0);
}

#[tokio::test]
async fn rolled_secret_accepted() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let event = shop.event(
        "checkout.session.completed",
        shop.stub.complete(&session_id, "paid"),
    );
    let body = serde_json::to_vec(&event).unwrap();
    let now = unix_now();
    let header = format!(
        "t={now},v1={},v1={}",
        signature::sign("whsec_old", now, &body),
        signature::sign(WEBHOOK_SECRET, now, &body)
    );
    assert_eq!(shop.deliver_raw(&body, Some(&header)).await, StatusCode::OK);
    assert_eq!(shop.order("O-1").await["status"], "paid");
}

#[tokio::test]
async fn pretty_printed_body_accepted() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let mut session = shop.stub.complete(&session_id, "paid");
    session["metadata"]["note"] = json!("café / naïve");
    let event = shop.event("checkout.session.completed", session);
    let body = serde_json::to_vec_pretty(&event).unwrap();
    let now = unix_now();
    let header = format!("t={now},v1={}", signature::sign(WEBHOOK_SECRET, now, &body));
    assert_eq!(shop.deliver_raw(&body, Some(&header)).await, StatusCode::OK);
    assert_eq!(shop.order("O-1").await["status"], "paid");
}

#[tokio::test]
async fn unhandled_event_acknowledged() {
    let shop = TestShop::start(None).await;
    let event = shop.event(
        "payment_intent.succeeded",
        json!({"id": "pi_1", "object": "payment_intent", "metadata": {}}),
    );
    assert_eq!(shop.deliver(&event).await, StatusCode::OK);
}

#[tokio::test]
async fn event_for_unknown_order_acknowledged() {
    let shop = TestShop::start(None).await;
    let session = json!({
        "id": "cs_test_other",
        "payment_status": "paid",
        "metadata": {"order_id": "O-404"},
    });
    let event = shop.event("checkout.session.completed", session);
    assert_eq!(shop.deliver(&event).await, StatusCode::OK);
}

#[tokio::test]
async fn unreadable_session_rejected() {
    let shop = TestShop::start(None).await;
    let event = shop.event("checkout.session.completed", json!({"no_id": true}));
    assert_eq!(shop.deliver(&event).await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn success_page_fulfils_paid_session() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let paid = shop.stub.complete(&session_id, "paid");

    let (status, order) = shop.get(&format!("/success?session_id={session_id}")).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "paid");
    assert_eq!(order["fulfilment_count"], 1);

    // The webhook that follows changes nothing, and a reload neither.
    shop.deliver(&shop.event("checkout.session.completed", paid))
        .await;
    shop.get(&format!("/success?session_id={session_id}")).await;
    assert_eq!(shop.order("O-1").await["fulfilment_count"], 1);
}

#[tokio::test]
async fn success_page_leaves_unpaid_pending() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    shop.stub.complete(&session_id, "unpaid");
    let (status, order) = shop.get(&format!("/success?session_id={session_id}")).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "pending");
    assert_eq!(order["fulfilment_count"], 0);
}

#[tokio::test]
async fn success_page_rejects_bad_ids() {
    let shop = TestShop::start(None).await;
    let cases = [
        (
            "/success?session_id={CHECKOUT_SESSION_ID}",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/success?session_id=%7BCHECKOUT_SESSION_ID%7D",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/success?session_id=cs_test_1%2Fline_items",
            StatusCode::BAD_REQUEST,
        ),
        ("/success", StatusCode::BAD_REQUEST),
        ("/success?session_id=cs_test_unknown", StatusCode::NOT_FOUND),
    ];
    for (path, expected) in cases {
        let (status, body) = shop.get(path).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
}

#[tokio::test]
async fn cancel_page_changes_nothing() {
    let shop = TestShop::start(None).await;
    shop.checkout("O-1").await;
    let (status, order) = shop.get("/cancel?order_id=O-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order["status"], "pending");
    assert_eq!(order["released"], false);

    let (status, _) = shop.get("/cancel?order_id=O-404").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_order_not_found() {
    let shop = TestShop::start(None).await;
    let (status, body) = shop.get("/orders/O-404").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("O-404"));
}

#[tokio::test]
async fn reset_deletes_orders_and_events() {
    let shop = TestShop::start(None).await;
    let session_id = shop.checkout("O-1").await;
    let event = shop.event(
        "checkout.session.completed",
        shop.stub.complete(&session_id, "paid"),
    );
    shop.deliver(&event).await;

    let (status, body) = shop.post_json("/_reset", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = shop.get("/orders/O-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // After a reset the same event id is new again.
    shop.checkout("O-1").await;
    assert_eq!(shop.deliver(&event).await, StatusCode::OK);
    assert_eq!(shop.order("O-1").await["status"], "paid");
}
