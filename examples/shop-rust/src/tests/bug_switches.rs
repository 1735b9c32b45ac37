//! Each bug switch produces the mistake it is named for. Every test pairs
//! with a test in `flows.rs` where the same steps end correctly.

use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde_json::json;

use super::{TestShop, WEBHOOK_SECRET, unix_now};
use crate::bugs::Bug;
use crate::stripe::signature;

async fn paid_session(shop: &TestShop, order_id: &str) -> (String, serde_json::Value) {
    let session_id = shop.checkout(order_id).await;
    let session = shop.stub.complete(&session_id, "paid");
    (session_id, session)
}

#[tokio::test]
async fn trust_redirect_fulfils_unpaid() {
    let shop = TestShop::start(Some(Bug::TrustRedirect)).await;
    let session_id = shop.checkout("O-1").await;
    shop.stub.complete(&session_id, "unpaid");
    let (_, order) = shop.get(&format!("/success?session_id={session_id}")).await;
    assert_eq!(order["status"], "paid");
}

#[tokio::test]
async fn fulfil_unpaid_on_completion() {
    let shop = TestShop::start(Some(Bug::FulfilUnpaid)).await;
    let session_id = shop.checkout("O-1").await;
    let session = shop.stub.complete(&session_id, "unpaid");
    shop.deliver(&shop.event("checkout.session.completed", session))
        .await;
    assert_eq!(shop.order("O-1").await["status"], "paid");
}

#[tokio::test]
async fn ignore_async_never_settles() {
    let shop = TestShop::start(Some(Bug::IgnoreAsync)).await;
    let session_id = shop.checkout("O-1").await;
    let completed = shop.stub.complete(&session_id, "unpaid");
    shop.deliver(&shop.event("checkout.session.completed", completed))
        .await;
    let settled = shop.stub.settle(&session_id);
    let status = shop
        .deliver(&shop.event("checkout.session.async_payment_succeeded", settled))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shop.order("O-1").await["status"], "awaiting_payment");
}

#[tokio::test]
async fn pi_metadata_never_fulfils() {
    let shop = TestShop::start(Some(Bug::PiMetadata)).await;
    let (session_id, session) = paid_session(&shop, "O-1").await;
    let create = &shop.stub.creates()[0];
    assert_eq!(
        create.param("payment_intent_data[metadata][order_id]"),
        None
    );
    assert_eq!(create.param("metadata[order_id]"), Some("O-1"));

    shop.deliver(&shop.event("checkout.session.completed", session))
        .await;
    let payment_intent = json!({
        "id": format!("pi_for_{session_id}"),
        "object": "payment_intent",
        "amount_received": 3000,
        "currency": "eur",
        "metadata": {},
    });
    let status = shop
        .deliver(&shop.event("payment_intent.succeeded", payment_intent))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shop.order("O-1").await["status"], "pending");
}

#[tokio::test]
async fn pi_metadata_fulfils_when_present() {
    // The switch reads the payment intent's metadata, so a payment intent
    // that does carry the order id (as payment_intent_data would) fulfils.
    let shop = TestShop::start(Some(Bug::PiMetadata)).await;
    let (session_id, _) = paid_session(&shop, "O-1").await;
    let payment_intent = json!({
        "id": format!("pi_for_{session_id}"),
        "amount_received": 3000,
        "currency": "eur",
        "metadata": {"order_id": "O-1"},
    });
    shop.deliver(&shop.event("payment_intent.succeeded", payment_intent))
        .await;
    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["amount_total"], 3000);
}

#[tokio::test]
async fn no_dedup_fulfils_each_delivery() {
    let shop = TestShop::start(Some(Bug::NoDedup)).await;
    let (_, session) = paid_session(&shop, "O-1").await;
    let event = shop.event("checkout.session.completed", session);
    shop.deliver(&event).await;
    shop.deliver(&event).await;
    assert_eq!(shop.order("O-1").await["fulfilment_count"], 2);
}

#[tokio::test]
async fn mark_before_commit_loses_event() {
    let shop = TestShop::start(Some(Bug::MarkBeforeCommit)).await;
    let (_, session) = paid_session(&shop, "O-1").await;
    let event = shop.event("checkout.session.completed", session);
    shop.stub.line_item_failures.store(1, Ordering::SeqCst);

    assert_eq!(
        shop.deliver(&event).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(shop.deliver(&event).await, StatusCode::OK);
    assert_eq!(shop.order("O-1").await["status"], "pending");
}

#[tokio::test]
async fn last_event_wins_downgrades() {
    let shop = TestShop::start(Some(Bug::LastEventWins)).await;
    let session_id = shop.checkout("O-1").await;
    let completed = shop.stub.complete(&session_id, "unpaid");
    let settled = shop.stub.settle(&session_id);
    shop.deliver(&shop.event("checkout.session.async_payment_succeeded", settled))
        .await;
    shop.deliver(&shop.event("checkout.session.completed", completed))
        .await;
    assert_eq!(shop.order("O-1").await["status"], "awaiting_payment");
}

#[tokio::test]
async fn no_signature_check_accepts_forgery() {
    let shop = TestShop::start(Some(Bug::NoSignatureCheck)).await;
    let (_, session) = paid_session(&shop, "O-1").await;
    let event = shop.event("checkout.session.completed", session);
    let body = serde_json::to_vec(&event).unwrap();
    let now = unix_now();
    let header = format!("t={now},v1={}", signature::sign("whsec_forger", now, &body));
    assert_eq!(shop.deliver_raw(&body, Some(&header)).await, StatusCode::OK);
    assert_eq!(shop.order("O-1").await["status"], "paid");
}

#[tokio::test]
async fn no_idempotency_key_duplicates_sessions() {
    let shop = TestShop::start(Some(Bug::NoIdempotencyKey)).await;
    shop.stub.lost_create_responses.store(1, Ordering::SeqCst);
    let session_id = shop.checkout("O-1").await;
    let creates = shop.stub.creates();
    assert_eq!(creates.len(), 2);
    assert!(
        creates
            .iter()
            .all(|create| create.idempotency_key.is_none())
    );
    assert_eq!(shop.stub.session_count(), 2);
    assert_eq!(session_id, "cs_test_2");
}

#[tokio::test]
async fn expired_as_failed_overwrites_paid() {
    let shop = TestShop::start(Some(Bug::ExpiredAsFailed)).await;
    let (_, session) = paid_session(&shop, "O-1").await;
    shop.deliver(&shop.event("checkout.session.completed", session.clone()))
        .await;
    shop.deliver(&shop.event("checkout.session.expired", session))
        .await;
    let order = shop.order("O-1").await;
    assert_eq!(order["status"], "payment_failed");
    assert_eq!(order["released"], true);
}

#[tokio::test]
async fn cached_session_never_sees_payment() {
    let shop = TestShop::start(Some(Bug::CachedSession)).await;
    let (session_id, session) = paid_session(&shop, "O-1").await;
    let (_, order) = shop.get(&format!("/success?session_id={session_id}")).await;
    assert_eq!(order["status"], "pending");

    shop.deliver(&shop.event("checkout.session.completed", session))
        .await;
    assert_eq!(shop.order("O-1").await["status"], "awaiting_payment");
}

#[tokio::test]
async fn encoded_template_breaks_redirect() {
    let shop = TestShop::start(Some(Bug::EncodedSessionTemplate)).await;
    shop.checkout("O-1").await;
    let success_url = shop.stub.creates()[0]
        .param("success_url")
        .unwrap()
        .to_owned();
    assert!(
        success_url.ends_with("session_id=%7BCHECKOUT_SESSION_ID%7D"),
        "{success_url}"
    );
    assert!(!success_url.contains("{CHECKOUT_SESSION_ID}"));

    // Stripe leaves the encoded token alone, so the buyer lands here.
    let path = success_url.trim_start_matches(&shop.base);
    let (status, _) = shop.get(path).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn reserialise_body_rejects_pretty_json() {
    let shop = TestShop::start(Some(Bug::ReserialiseBody)).await;
    let (_, session) = paid_session(&shop, "O-1").await;
    let event = shop.event("checkout.session.completed", session);
    let body = serde_json::to_vec_pretty(&event).unwrap();
    let now = unix_now();
    let header = format!("t={now},v1={}", signature::sign(WEBHOOK_SECRET, now, &body));
    assert_eq!(
        shop.deliver_raw(&body, Some(&header)).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(shop.order("O-1").await["status"], "pending");
}

#[tokio::test]
async fn redirect_fulfils_too_counts_twice() {
    let shop = TestShop::start(Some(Bug::RedirectFulfilsToo)).await;
    let (session_id, session) = paid_session(&shop, "O-1").await;
    shop.get(&format!("/success?session_id={session_id}")).await;
    shop.deliver(&shop.event("checkout.session.completed", session))
        .await;
    assert_eq!(shop.order("O-1").await["fulfilment_count"], 2);
}

#[tokio::test]
async fn unhandled_event_gets_500() {
    let shop = TestShop::start(Some(Bug::UnhandledEvent500)).await;
    let event = shop.event("charge.succeeded", json!({"id": "ch_1"}));
    assert_eq!(
        shop.deliver(&event).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn swallow_errors_acknowledges_failure() {
    let shop = TestShop::start(Some(Bug::SwallowErrors)).await;
    let (_, session) = paid_session(&shop, "O-1").await;
    shop.stub.line_item_failures.store(1, Ordering::SeqCst);
    let status = shop
        .deliver(&shop.event("checkout.session.completed", session))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shop.order("O-1").await["status"], "pending");
}

#[tokio::test]
async fn refetch_status_trusts_stale_read() {
    let shop = TestShop::start(Some(Bug::RefetchStatus)).await;
    let (_, session) = paid_session(&shop, "O-1").await;
    shop.stub.stale_retrieve.store(true, Ordering::SeqCst);
    shop.deliver(&shop.event("checkout.session.completed", session))
        .await;
    assert_eq!(shop.order("O-1").await["status"], "awaiting_payment");
}

#[tokio::test]
async fn line_items_from_event_fails() {
    let shop = TestShop::start(Some(Bug::LineItemsFromEvent)).await;
    let (_, session) = paid_session(&shop, "O-1").await;
    let status = shop
        .deliver(&shop.event("checkout.session.completed", session))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(shop.order("O-1").await["status"], "pending");
}
