//! Webhook delivery over real HTTP to a receiver on 127.0.0.1: signatures
//! checked with an independent HMAC, the event body, `pending_webhooks`,
//! `enabled_events`, retries on the manual clock, the delivery log, secret
//! rolling, and a hanging endpoint in real-time mode.

mod support;

use std::time::Duration;

use fakestripe_server::ServerConfig;
use serde_json::{Value, json};
use support::{
    Api, Receiver, SilentEndpoint, create_session, expected_v1, parse_signature, signed_by, start,
    start_manual, wall_clock,
};

/// Creates a product, which records exactly one `product.created` event
/// caused by this request.
async fn create_product(api: &Api, headers: &[(&str, &str)]) -> support::Reply {
    let reply = api.post_with("/v1/products", "name=Lamp", headers).await;
    reply.ok();
    reply
}

/// Registers two endpoints of `receiver` for `event_type`: `/current`, in
/// the version of the account's events, and `/pinned`, pinned to
/// `api_version`.
async fn current_and_pinned_endpoints(
    api: &Api,
    receiver: &Receiver,
    event_type: &str,
    api_version: &str,
) {
    api.webhook_endpoint(&receiver.url("/current"), &[event_type])
        .await;
    let pinned = support::form(&[
        ("url", &receiver.url("/pinned")),
        ("enabled_events[]", event_type),
        ("api_version", api_version),
    ]);
    api.post("/v1/webhook_endpoints", &pinned).await.ok();
}

#[tokio::test]
async fn delivery_is_signed_over_timestamp_and_body() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_signed");
    let receiver = Receiver::start().await;
    let (_, secret) = api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;
    let session = create_session(&api, &[]).await;
    api.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .ok();

    assert!(
        receiver.received().is_empty(),
        "the manual clock delivers nothing before an advance"
    );
    api.run_due().await;

    let received = receiver.received_at("/hook");
    let types: Vec<String> = received
        .iter()
        .map(|r| r.event()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        api.event_types_oldest_first().await,
        "one delivery per event, in the order they happened"
    );
    for delivery in &received {
        let signature = parse_signature(&delivery.signature);
        assert!(
            delivery
                .signature
                .starts_with(&format!("t={},v1=", signature.timestamp)),
            "{}",
            delivery.signature
        );
        assert_eq!(
            signature.v1.len(),
            1,
            "one secret signs: {}",
            delivery.signature
        );
        assert_eq!(signature.v1[0].len(), 64);
        assert_eq!(
            signature.v1[0],
            expected_v1(&secret, signature.timestamp, &delivery.body)
        );
        assert!(!signed_by(delivery, "whsec_someoneelse"));
    }
}

#[tokio::test]
async fn signature_time_is_wall_clock_after_advance() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_wall_clock");
    let receiver = Receiver::start().await;
    let (_, secret) = api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;
    let three_days = 3 * 24 * 3600;

    api.advance(three_days).await;
    create_product(&api, &[]).await;
    api.run_due().await;

    let delivery = &receiver.received_at("/hook")[0];
    let timestamp = parse_signature(&delivery.signature).timestamp;
    let wall = wall_clock() as i64;
    assert!(
        (wall - 5..=wall + 1).contains(&timestamp),
        "t={timestamp}, wall clock {wall}"
    );
    let created = delivery.event()["created"].as_i64().unwrap();
    assert!(
        created >= wall + three_days - 5,
        "event.created {created} follows the virtual clock"
    );
    assert!(signed_by(delivery, &secret));
}

#[tokio::test]
async fn event_body_has_object_version_and_request() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_body");
    let receiver = Receiver::start().await;
    api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;

    let reply = create_product(&api, &[("Idempotency-Key", "lamp-1")]).await;
    api.run_due().await;

    let event = receiver.received_at("/hook")[0].event();
    assert_eq!(event["object"], "event");
    assert_eq!(event["type"], "product.created");
    assert_eq!(event["data"]["object"]["id"], reply.json["id"]);
    assert_eq!(event["data"]["object"]["name"], "Lamp");
    assert_eq!(event["api_version"], "2026-03-25.dahlia");
    assert_eq!(event["livemode"], false);
    assert_eq!(event["request"]["id"], reply.header("request-id").unwrap());
    assert_eq!(event["request"]["idempotency_key"], "lamp-1");
    assert_eq!(
        event["pending_webhooks"], 1,
        "the body is rendered before this delivery succeeds"
    );

    let stored = api
        .get(&format!("/v1/events/{}", event["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        stored.ok()["pending_webhooks"],
        0,
        "a successful delivery decrements pending_webhooks"
    );
    assert_eq!(stored.ok()["data"], event["data"]);
}

#[tokio::test]
async fn event_without_endpoint_has_no_pending_webhooks() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_no_endpoint");

    create_product(&api, &[]).await;

    let events = api.all_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["pending_webhooks"], 0);
}

/// Stripe fills `request.id` for every event an API request caused.
#[tokio::test]
async fn customer_created_event_carries_request_id() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_customer_request");

    let reply = api
        .post_with("/v1/customers", "name=Ada", &[("Idempotency-Key", "ada-1")])
        .await;
    reply.ok();

    let events = api.all_events().await;
    assert_eq!(events[0]["type"], "customer.created");
    assert_eq!(
        events[0]["request"]["id"],
        reply.header("request-id").unwrap()
    );
    assert_eq!(events[0]["request"]["idempotency_key"], "ada-1");
}

/// Stripe renders events sent to an endpoint that has an `api_version` in
/// that version instead of the account's default.
#[tokio::test]
async fn endpoint_api_version_sets_event_version() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_endpoint_version");
    let receiver = Receiver::start().await;
    let body = support::form(&[
        ("url", &receiver.url("/hook")),
        ("enabled_events[]", "*"),
        ("api_version", "2024-06-20"),
    ]);
    api.post("/v1/webhook_endpoints", &body).await.ok();

    create_product(&api, &[]).await;
    api.run_due().await;

    let event = receiver.received_at("/hook")[0].event();
    assert_eq!(event["api_version"], "2024-06-20");
}

/// A session in an event has the `ui_mode` names of the version the event
/// is sent in, not those of the request that created the session.
#[tokio::test]
async fn pinned_endpoint_gets_its_ui_mode_names() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_ui_mode");
    let receiver = Receiver::start().await;
    current_and_pinned_endpoints(&api, &receiver, "checkout.session.expired", "2020-08-27").await;

    let current_session = create_session(&api, &[]).await;
    let old_session = api
        .post_with(
            "/v1/checkout/sessions",
            &support::session_body("usd", &[]),
            &[("Stripe-Version", "2020-08-27")],
        )
        .await;
    for session in [&current_session, old_session.ok()] {
        let id = session["id"].as_str().unwrap();
        api.post(&format!("/v1/checkout/sessions/{id}/expire"), "")
            .await
            .ok();
    }
    api.run_due().await;

    let modes = |path: &str| -> Vec<(String, String)> {
        receiver
            .received_at(path)
            .iter()
            .map(|received| {
                let event = received.event();
                (
                    event["api_version"].as_str().unwrap().to_owned(),
                    event["data"]["object"]["ui_mode"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect()
    };
    let current = ("2026-03-25.dahlia".to_owned(), "hosted_page".to_owned());
    let old = ("2020-08-27".to_owned(), "hosted".to_owned());
    assert_eq!(modes("/current"), [current.clone(), current]);
    assert_eq!(modes("/pinned"), [old.clone(), old]);
}

/// An endpoint pinned to a version before 2022-11-15 gets a payment
/// intent with its `charges` list, as Stripe sent it then. The current
/// version has no such field.
#[tokio::test]
async fn pinned_endpoint_gets_charges_list() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_charges_list");
    let receiver = Receiver::start().await;
    current_and_pinned_endpoints(&api, &receiver, "payment_intent.succeeded", "2022-08-01").await;

    let session = create_session(&api, &[]).await;
    api.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .ok();
    api.run_due().await;

    let pinned = receiver.received_at("/pinned")[0].event();
    let current = receiver.received_at("/current")[0].event();
    let intent = &pinned["data"]["object"];
    assert_eq!(intent["charges"]["object"], "list");
    assert_eq!(intent["charges"]["data"][0]["id"], intent["latest_charge"]);
    assert_eq!(intent["charges"]["data"][0]["refunds"]["total_count"], 0);
    assert_eq!(current["data"]["object"].get("charges"), None);
}

/// An endpoint pinned to a version before 2025-03-31 gets a completed
/// session with its shipping details in the top-level `shipping_details`
/// too. The current version has them in `collected_information` only.
#[tokio::test]
async fn pinned_endpoint_gets_top_level_shipping_details() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_shipping_details");
    let receiver = Receiver::start().await;
    current_and_pinned_endpoints(&api, &receiver, "checkout.session.completed", "2024-06-20").await;

    let session = create_session(
        &api,
        &[("shipping_address_collection[allowed_countries][0]", "US")],
    )
    .await;
    api.control(
        &format!("/checkout/sessions/{}/pay", session["id"].as_str().unwrap()),
        json!({"payment_method": "card", "card_number": "4242424242424242", "name": "Ada Lovelace"}),
    )
    .await
    .ok();
    api.run_due().await;

    let pinned = receiver.received_at("/pinned")[0].event();
    let current = receiver.received_at("/current")[0].event();
    let collected = &current["data"]["object"]["collected_information"]["shipping_details"];
    assert_eq!(collected["name"], "Ada Lovelace");
    assert_eq!(collected["address"]["line1"], "1 Example Street");
    assert_eq!(&pinned["data"]["object"]["shipping_details"], collected);
    assert_eq!(current["data"]["object"].get("shipping_details"), None);
}

/// An endpoint pinned to a version before 2025-03-31 gets payment intents
/// and charges with `invoice`, null for a payment that no invoice made.
/// The current version has no such field.
#[tokio::test]
async fn pinned_endpoint_gets_invoice_of_payments() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_invoice");
    let receiver = Receiver::start().await;
    current_and_pinned_endpoints(&api, &receiver, "*", "2024-06-20").await;

    let session = create_session(&api, &[]).await;
    api.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .ok();
    api.run_due().await;

    let of_type = |path: &str, event_type: &str| {
        receiver
            .received_at(path)
            .iter()
            .map(|delivery| delivery.event())
            .find(|event| event["type"] == event_type)
            .unwrap_or_else(|| panic!("no {event_type} at {path}"))
    };
    for event_type in ["payment_intent.succeeded", "charge.succeeded"] {
        let pinned = of_type("/pinned", event_type);
        let current = of_type("/current", event_type);
        let object = pinned["data"]["object"].as_object().unwrap();
        assert_eq!(object.get("invoice"), Some(&Value::Null), "{event_type}");
        let keys: Vec<&String> = object.keys().collect();
        let position = |name: &str| keys.iter().position(|key| *key == name);
        assert!(
            position("id") < position("invoice") && position("invoice") < position("livemode"),
            "{event_type}: {keys:?}"
        );
        assert_eq!(
            current["data"]["object"].get("invoice"),
            None,
            "{event_type}"
        );
    }
}

#[tokio::test]
async fn enabled_events_filter_deliveries() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_filter");
    let receiver = Receiver::start().await;
    api.webhook_endpoint(&receiver.url("/all"), &["*"]).await;
    api.webhook_endpoint(&receiver.url("/completed"), &["checkout.session.completed"])
        .await;
    let session = create_session(&api, &[]).await;
    api.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .ok();

    api.run_due().await;

    assert_eq!(receiver.received_at("/all").len(), 5);
    let completed = receiver.received_at("/completed");
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].event()["type"], "checkout.session.completed");
    assert_eq!(completed[0].event()["data"]["object"]["id"], session["id"]);
    let events = api.all_events().await;
    for event in &events {
        assert_eq!(event["pending_webhooks"], 0, "{}", event["type"]);
    }
}

#[tokio::test]
async fn failing_receiver_gets_third_attempt_after_backoff() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_retry");
    let receiver = Receiver::start().await;
    let (endpoint_id, secret) = api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;
    receiver.fail_next(2);
    let start = api.now().await;
    create_product(&api, &[]).await;

    api.run_due().await;
    assert_eq!(receiver.received_at("/hook").len(), 1);
    api.advance(59).await;
    assert_eq!(
        receiver.received_at("/hook").len(),
        1,
        "the first retry waits 60 s"
    );
    api.advance(1).await;
    assert_eq!(receiver.received_at("/hook").len(), 2);
    api.advance(299).await;
    assert_eq!(
        receiver.received_at("/hook").len(),
        2,
        "the second retry waits 300 s more"
    );
    api.advance(1).await;

    let received = receiver.received_at("/hook");
    assert_eq!(received.len(), 3);
    let event_id = received[0].event()["id"].clone();
    assert!(
        received.iter().all(|r| r.event()["id"] == event_id),
        "every attempt carries the same event"
    );
    assert!(received.iter().all(|r| signed_by(r, &secret)));

    let deliveries = api.deliveries().await;
    assert_eq!(deliveries.len(), 3);
    for (index, (status, scheduled)) in [(500, start), (500, start + 60), (200, start + 360)]
        .into_iter()
        .enumerate()
    {
        let record = &deliveries[index];
        assert_eq!(record["event_id"], event_id);
        assert_eq!(record["event_type"], "product.created");
        assert_eq!(record["endpoint"], endpoint_id);
        assert_eq!(record["url"], receiver.url("/hook"));
        assert_eq!(record["attempt"], index + 1);
        assert_eq!(record["status"], status);
        assert_eq!(record["scheduled_at"], scheduled);
        assert_eq!(record["sent_at"], scheduled);
        assert_eq!(record["error"], Value::Null);
        assert!(record["latency_ms"].is_u64());
        assert!(record["response_body"].is_string());
        assert_eq!(record["forged"], Value::Null);
        assert_eq!(record["duplicate"], false);
    }
    let event = api
        .get(&format!("/v1/events/{}", event_id.as_str().unwrap()))
        .await;
    assert_eq!(event.ok()["pending_webhooks"], 0);
}

#[tokio::test]
async fn deliveries_filter_by_event_and_type() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_delivery_filter");
    let receiver = Receiver::start().await;
    api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;
    let session = create_session(&api, &[]).await;
    api.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .ok();
    api.run_due().await;
    let completed = api
        .get("/v1/events?type=checkout.session.completed")
        .await
        .ok()["data"][0]
        .clone();

    let by_type = api
        .control_get("/deliveries?type=charge.succeeded")
        .await
        .ok()["data"]
        .clone();
    let by_event = api
        .control_get(&format!(
            "/deliveries?event_id={}",
            completed["id"].as_str().unwrap()
        ))
        .await
        .ok()["data"]
        .clone();

    assert_eq!(api.deliveries().await.len(), 5);
    assert_eq!(by_type.as_array().unwrap().len(), 1);
    assert_eq!(by_type[0]["event_type"], "charge.succeeded");
    assert_eq!(by_event.as_array().unwrap().len(), 1);
    assert_eq!(by_event[0]["event_type"], "checkout.session.completed");
    api.control_get("/deliveries?colour=red").await.expect(400);
}

/// The fake speaks no TLS, so a delivery to an https URL fails with that
/// cause, not a refused connection, although its port listens.
#[tokio::test]
async fn https_endpoint_delivery_names_plain_http() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_https");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("https://{addr}/hook");
    api.webhook_endpoint(&url, &["*"]).await;
    create_product(&api, &[]).await;

    api.run_due().await;
    let deliveries = api.deliveries().await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["status"], Value::Null);
    assert_eq!(
        deliveries[0]["error"],
        "not sent: the fake delivers webhooks over plain HTTP only; register an http:// URL"
    );
    drop(listener);
}

#[tokio::test]
async fn refused_connection_is_retried() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_refused");
    // Reserve a free port, then close it so the first attempt is refused.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/hook");
    let (_, secret) = api.webhook_endpoint(&url, &["*"]).await;
    create_product(&api, &[]).await;

    api.run_due().await;
    let first = api.deliveries().await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["status"], Value::Null);
    assert_eq!(first[0]["error"], "connection refused");

    let receiver = Receiver::serve(tokio::net::TcpListener::bind(addr).await.unwrap());
    api.advance(60).await;

    let received = receiver.received_at("/hook");
    assert_eq!(received.len(), 1);
    assert!(signed_by(&received[0], &secret));
    let deliveries = api.deliveries().await;
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[1]["attempt"], 2);
    assert_eq!(deliveries[1]["status"], 200);
}

#[tokio::test]
async fn rolled_secret_signs_twice_until_expiry() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_roll");
    let receiver = Receiver::start().await;
    let (endpoint_id, old_secret) = api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;

    let rolled = api
        .control(
            &format!("/webhook_endpoints/{endpoint_id}/roll_secret"),
            json!({"expires_in_seconds": 3600}),
        )
        .await;
    let new_secret = rolled.ok()["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    assert!(new_secret.starts_with("whsec_"));

    create_product(&api, &[]).await;
    api.run_due().await;
    api.advance(3599).await;
    create_product(&api, &[]).await;
    api.run_due().await;
    api.advance(1).await;
    create_product(&api, &[]).await;
    api.run_due().await;

    let received = receiver.received_at("/hook");
    assert_eq!(received.len(), 3);
    for (index, delivery) in received[..2].iter().enumerate() {
        assert_eq!(
            parse_signature(&delivery.signature).v1.len(),
            2,
            "delivery {index}: {}",
            delivery.signature
        );
        assert!(signed_by(delivery, &new_secret), "delivery {index}");
        assert!(signed_by(delivery, &old_secret), "delivery {index}");
    }
    let after_expiry = &received[2];
    assert_eq!(
        parse_signature(&after_expiry.signature).v1.len(),
        1,
        "{}",
        after_expiry.signature
    );
    assert!(signed_by(after_expiry, &new_secret));
    assert!(!signed_by(after_expiry, &old_secret));
}

#[tokio::test]
async fn roll_secret_of_unknown_endpoint_is_404() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_roll_missing");

    let reply = api
        .control("/webhook_endpoints/we_missing/roll_secret", json!({}))
        .await;

    reply.expect(404);
    assert_eq!(reply.error()["code"], "resource_missing");
}

/// In real-time mode an endpoint that never responds holds up no other:
/// the healthy endpoint gets both events while the stuck one's first send
/// still waits out its 10 s delivery timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_endpoint_does_not_block_another() {
    let fake = start(ServerConfig {
        delivery_timeout: Duration::from_secs(10),
        ..Default::default()
    })
    .await;
    let api = Api::new(fake.base_url(), "sk_test_wh_hang");
    let stuck = Receiver::start().await;
    stuck.hang_for(Duration::from_secs(60));
    let healthy = Receiver::start().await;
    api.webhook_endpoint(&stuck.url("/stuck"), &["*"]).await;
    api.webhook_endpoint(&healthy.url("/healthy"), &["*"]).await;

    create_product(&api, &[]).await;
    let first = healthy
        .wait_for("/healthy", 1, Duration::from_secs(10))
        .await;
    create_product(&api, &[]).await;
    let both = healthy
        .wait_for("/healthy", 2, Duration::from_secs(10))
        .await;
    let recorded = api.deliveries().await;

    assert_eq!(first.len(), 1);
    assert_eq!(both.len(), 2);
    assert!(
        !stuck.received_at("/stuck").is_empty(),
        "the stuck endpoint was tried too"
    );
    let stuck_outcomes = |deliveries: &[Value]| -> Vec<Value> {
        deliveries
            .iter()
            .filter(|d| d["url"] == stuck.url("/stuck"))
            .cloned()
            .collect()
    };
    assert_eq!(
        stuck_outcomes(&recorded),
        Vec::<Value>::new(),
        "the healthy endpoint waited behind the stuck one's send"
    );

    // The stuck attempt ends when the delivery timeout passes.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let timed_out = loop {
        let found = stuck_outcomes(&api.deliveries().await);
        if !found.is_empty() || std::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let timed_out = timed_out
        .first()
        .expect("the stuck delivery is recorded after its timeout");
    assert_eq!(timed_out["error"], "timed out");
    assert_eq!(timed_out["status"], Value::Null);
}

/// Pays a new euro session by SEPA Direct Debit, which settles with
/// `outcome` 60 s later.
async fn pay_by_debit_settling_in_60s(api: &Api, outcome: &str) {
    let session = api
        .post("/v1/checkout/sessions", &support::session_body("eur", &[]))
        .await
        .ok()
        .clone();
    api.control(
        &format!("/checkout/sessions/{}/pay", session["id"].as_str().unwrap()),
        json!({"payment_method": "sepa_debit", "outcome": outcome, "delay_seconds": 60}),
    )
    .await
    .ok();
}

/// In real-time mode, an advance sends what was already due before what
/// falls due in the window it jumps over. A debit that fails 60 s after
/// payment sends its failure events only after the checkout's own events,
/// which a slow endpoint is still receiving when the advance comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_time_advance_keeps_time_order() {
    let fake = start(ServerConfig::default()).await;
    let api = Api::new(fake.base_url(), "sk_test_wh_rt_order");
    let receiver = Receiver::start().await;
    receiver.hang_for(Duration::from_millis(150));
    api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;
    pay_by_debit_settling_in_60s(&api, "failed").await;
    // Lets the background dispatcher take the due events and start on them.
    tokio::time::sleep(Duration::from_millis(100)).await;

    api.advance(60).await;

    let arrived: Vec<String> = receiver
        .received_at("/hook")
        .iter()
        .map(|r| r.event()["type"].as_str().unwrap().to_owned())
        .collect();
    let later = [
        "charge.failed",
        "payment_intent.payment_failed",
        "checkout.session.async_payment_failed",
    ];
    let first_later = arrived
        .iter()
        .position(|t| later.contains(&t.as_str()))
        .unwrap_or_else(|| panic!("no failure event arrived: {arrived:?}"));
    let last_earlier = arrived
        .iter()
        .rposition(|t| !later.contains(&t.as_str()))
        .unwrap();
    assert!(
        arrived.contains(&"checkout.session.completed".to_owned()),
        "{arrived:?}"
    );
    assert!(
        last_earlier < first_later,
        "events due at payment arrived after the failure 60 s later: {arrived:?}"
    );
}

/// Stripe documents `previous_attributes` as sent with `*.updated` events
/// only, though a payment changes the intent and the session too.
#[tokio::test]
async fn previous_attributes_only_on_updated() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_previous");
    let session = create_session(&api, &[]).await;
    api.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .ok();
    let customer = api.post("/v1/customers", "email=a%40shop.test").await;
    let customer_id = customer.ok()["id"].as_str().unwrap();
    api.post(&format!("/v1/customers/{customer_id}"), "name=Ada")
        .await
        .ok();
    api.run_due().await;

    let events = api.all_events().await;
    let mut with_previous: Vec<&str> = events
        .iter()
        .filter(|event| event["data"].get("previous_attributes").is_some())
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    with_previous.sort_unstable();
    assert_eq!(with_previous, ["charge.updated", "customer.updated"]);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"payment_intent.succeeded"), "{types:?}");
    assert!(types.contains(&"charge.succeeded"), "{types:?}");
    let updated = events
        .iter()
        .find(|e| e["type"] == "customer.updated")
        .unwrap();
    assert_eq!(updated["data"]["previous_attributes"]["name"], Value::Null);
}

/// In real-time mode, the events that fall due inside an advance go to
/// each endpoint in parallel: a slow endpoint does not hold up a fast one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_time_advance_sends_endpoints_in_parallel() {
    let fake = start(ServerConfig::default()).await;
    let api = Api::new(fake.base_url(), "sk_test_wh_rt_parallel");
    let slow = Receiver::start().await;
    slow.hang_for(Duration::from_millis(400));
    let fast = Receiver::start().await;
    api.webhook_endpoint(&slow.url("/slow"), &["*"]).await;
    api.webhook_endpoint(&fast.url("/fast"), &["*"]).await;
    pay_by_debit_settling_in_60s(&api, "succeeded").await;

    api.advance(60).await;

    let settled = [
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.async_payment_succeeded",
    ];
    let arrivals = |receiver: &Receiver, path: &str| -> Vec<f64> {
        receiver
            .received_at(path)
            .iter()
            .filter(|r| settled.contains(&r.event()["type"].as_str().unwrap()))
            .map(|r| r.arrived_at)
            .collect()
    };
    let slow_times = arrivals(&slow, "/slow");
    let fast_times = arrivals(&fast, "/fast");
    assert_eq!(slow_times.len(), 3, "{slow_times:?}");
    assert_eq!(fast_times.len(), 3, "{fast_times:?}");
    // The slow endpoint takes 400 ms per delivery; the fast one got all
    // three before the slow one got its second.
    assert!(
        fast_times[2] < slow_times[1],
        "fast {fast_times:?} waited for slow {slow_times:?}"
    );
}

#[tokio::test]
async fn disabled_endpoint_receives_nothing() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_disabled");
    let receiver = Receiver::start().await;
    let (endpoint_id, _) = api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;

    let updated = api
        .post(
            &format!("/v1/webhook_endpoints/{endpoint_id}"),
            "disabled=true",
        )
        .await;
    create_product(&api, &[]).await;
    api.run_due().await;

    assert_eq!(updated.ok()["status"], "disabled");
    assert!(receiver.received().is_empty());
    assert_eq!(api.all_events().await[0]["pending_webhooks"], 0);
}

#[tokio::test]
async fn deleted_endpoint_gets_no_more_retries() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_deleted");
    let receiver = Receiver::start().await;
    let (endpoint_id, _) = api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;
    receiver.fail_next(1);
    create_product(&api, &[]).await;
    api.run_due().await;

    api.delete(&format!("/v1/webhook_endpoints/{endpoint_id}"))
        .await
        .ok();
    api.advance(3600).await;

    assert_eq!(receiver.received_at("/hook").len(), 1);
    assert_eq!(api.deliveries().await.len(), 1);
}

/// Returns the `delivery_skipped` lines of the account's trace.
async fn skipped_deliveries(api: &Api) -> Vec<Value> {
    let trace = api.control_get("/trace").await;
    trace.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "delivery_skipped")
        .cloned()
        .collect()
}

#[tokio::test]
async fn disabled_endpoint_gets_no_more_retries() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_disabled_retry");
    let receiver = Receiver::start().await;
    let (endpoint_id, _) = api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;
    receiver.fail_next(1);
    create_product(&api, &[]).await;
    api.run_due().await;

    api.post(
        &format!("/v1/webhook_endpoints/{endpoint_id}"),
        "disabled=true",
    )
    .await
    .ok();
    api.advance(3600).await;
    // Enabling the endpoint again does not bring back the skipped retry.
    api.post(
        &format!("/v1/webhook_endpoints/{endpoint_id}"),
        "disabled=false",
    )
    .await
    .ok();
    api.advance(3 * 24 * 3600).await;

    assert_eq!(receiver.received_at("/hook").len(), 1);
    assert_eq!(api.deliveries().await.len(), 1);
    let skipped = skipped_deliveries(&api).await;
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["detail"]["endpoint"], endpoint_id.as_str());
    assert_eq!(skipped[0]["detail"]["attempt"], 2);
    assert_eq!(skipped[0]["detail"]["reason"], "endpoint disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_deliveries_skip_deleted_endpoint() {
    let fake = start(ServerConfig::default()).await;
    let api = Api::new(fake.base_url(), "sk_test_wh_deleted_queue");
    let receiver = Receiver::start().await;
    receiver.hang_for(Duration::from_millis(800));
    let (endpoint_id, _) = api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;

    // The first delivery hangs, so the next two wait in the endpoint's
    // queue, already signed, while the endpoint is deleted.
    create_product(&api, &[]).await;
    receiver.wait_for("/hook", 1, Duration::from_secs(5)).await;
    create_product(&api, &[]).await;
    create_product(&api, &[]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.delete(&format!("/v1/webhook_endpoints/{endpoint_id}"))
        .await
        .ok();
    tokio::time::sleep(Duration::from_millis(2500)).await;

    assert_eq!(receiver.received_at("/hook").len(), 1);
    assert_eq!(api.deliveries().await.len(), 1);
    let skipped = skipped_deliveries(&api).await;
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .all(|entry| entry["detail"]["reason"] == "endpoint deleted"),
        "{skipped:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_drops_queued_deliveries() {
    let fake = start(ServerConfig::default()).await;
    let api = Api::new(fake.base_url(), "sk_test_wh_reset_queue");
    let receiver = Receiver::start().await;
    receiver.hang_for(Duration::from_millis(500));
    api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;

    // The first delivery hangs, so the next two wait in the endpoint's
    // queue when the reset comes.
    create_product(&api, &[]).await;
    receiver.wait_for("/hook", 1, Duration::from_secs(5)).await;
    create_product(&api, &[]).await;
    create_product(&api, &[]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.control("/reset", json!({"keep_webhook_endpoints": true}))
        .await
        .ok();
    let at_reset = receiver.received_at("/hook").len();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert_eq!(at_reset, 1);
    assert_eq!(receiver.received_at("/hook").len(), 1);
    assert!(api.deliveries().await.is_empty());
    let trace = api.control_get("/trace").await;
    let deliveries: Vec<&Value> = trace.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "delivery")
        .collect();
    assert!(deliveries.is_empty(), "{deliveries:?}");
}

/// A delivery timeout far longer than the client timeout of the reset
/// calls below, so a reset that waited for a hanging send would fail them.
const LONG_DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The client timeout of a reset or an advance that must not wait for a
/// hanging endpoint.
const PROMPT: Duration = Duration::from_secs(5);

/// Starts a fake with `LONG_DELIVERY_TIMEOUT` and the given clock.
async fn start_with_long_timeout(
    clock_mode: fakestripe_server::ClockMode,
) -> fakestripe_server::Server {
    start(ServerConfig {
        clock_mode,
        delivery_timeout: LONG_DELIVERY_TIMEOUT,
        ..Default::default()
    })
    .await
}

/// Sends a request with the `PROMPT` client timeout, with `body` as JSON
/// when given. Returns the status and body, or the client's error when no
/// response came in time.
async fn within_prompt(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let client = reqwest::Client::builder()
        .timeout(PROMPT)
        .build()
        .expect("building a client");
    let mut request = client
        .request(method.clone(), format!("{}{path}", api.base))
        .bearer_auth(&api.key);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request
        .send()
        .await
        .map_err(|err| format!("{method} {path}: {err}"))?;
    let status = response.status().as_u16();
    let body = response
        .json()
        .await
        .map_err(|err| format!("{method} {path}: reading the body: {err}"))?;
    Ok((status, body))
}

/// POSTs to the control API with the `PROMPT` client timeout.
async fn control_within_prompt(api: &Api, path: &str, body: Value) -> Result<(u16, Value), String> {
    let path = format!("/_fakestripe{path}");
    within_prompt(api, reqwest::Method::POST, &path, Some(body)).await
}

/// Asserts that the account contains nothing of its state before a reset:
/// no events, no delivery attempts, no delivery lines in the trace, and no
/// scheduled work, such as a retry, within a day.
async fn assert_fresh_after_reset(api: &Api) {
    assert!(
        api.all_events().await.is_empty(),
        "events survived the reset"
    );
    let deliveries = api.deliveries().await;
    assert!(deliveries.is_empty(), "{deliveries:?}");
    let trace = api.control_get("/trace").await;
    let traced: Vec<&Value> = trace.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "delivery")
        .collect();
    assert!(traced.is_empty(), "{traced:?}");
    let advanced = api.advance(24 * 3600).await;
    assert_eq!(
        advanced["ran"], 0,
        "work was scheduled after the reset: {advanced}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_cuts_off_hanging_delivery() {
    let fake = start_with_long_timeout(fakestripe_server::ClockMode::RealTime { speed: 1.0 }).await;
    let api = Api::new(fake.base_url(), "sk_test_wh_reset_hanging");
    let silent = SilentEndpoint::start().await;
    api.webhook_endpoint(&silent.url("/hook"), &["*"]).await;
    let old = create_product(&api, &[]).await.json["id"].clone();
    create_product(&api, &[]).await;
    let in_flight = silent.wait_for_events(1, PROMPT).await;
    assert_eq!(
        in_flight.len(),
        1,
        "the first delivery reached the endpoint"
    );

    let reset =
        control_within_prompt(&api, "/reset", json!({"keep_webhook_endpoints": true})).await;

    let (status, body) = reset.expect("the reset returns without waiting for the hanging send");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reset"], true);
    assert_eq!(
        silent.wait_for_closed(1, PROMPT).await,
        1,
        "the fake closed the connection of the send it cut off"
    );
    assert_fresh_after_reset(&api).await;
    // The endpoint was kept. The next event goes out, and the second
    // delivery of the old state, which was queued, never does.
    let new = create_product(&api, &[]).await.json["id"].clone();
    assert_ne!(new, old);
    let events = silent.wait_for_events(2, PROMPT).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], in_flight[0]);
    let new_event = api.all_events().await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(events[1], new_event);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_ends_manual_advance_on_hanging_endpoint() {
    let fake = start_with_long_timeout(fakestripe_server::ClockMode::Manual).await;
    let api = Api::new(fake.base_url(), "sk_test_wh_reset_advance");
    let silent = SilentEndpoint::start().await;
    api.webhook_endpoint(&silent.url("/hook"), &["*"]).await;
    create_product(&api, &[]).await;
    create_product(&api, &[]).await;
    let advancing = advance_in_background(&api);
    assert_eq!(silent.wait_for_events(1, PROMPT).await.len(), 1);

    let reset = control_within_prompt(&api, "/reset", json!({})).await;

    let (status, body) = reset.expect("the reset returns without waiting for the advance");
    assert_eq!(status, 200, "{body}");
    let (status, body) = advancing
        .await
        .expect("the advance task")
        .expect("the advance returns once the reset ends it");
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("reset while this advance ran"),
        "{message}"
    );
    assert_eq!(silent.wait_for_closed(1, PROMPT).await, 1);
    assert_eq!(
        silent.events().len(),
        1,
        "the second delivery was never sent"
    );
    assert_fresh_after_reset(&api).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_cuts_off_hanging_concurrent_copies() {
    let fake = start_with_long_timeout(fakestripe_server::ClockMode::RealTime { speed: 1.0 }).await;
    let api = Api::new(fake.base_url(), "sk_test_wh_reset_burst");
    let silent = SilentEndpoint::start().await;
    api.webhook_endpoint(&silent.url("/hook"), &["*"]).await;
    api.put_control(
        "/faults",
        json!({"faults": [{"kind": "webhook_duplicate", "types": ["product.created"], "copies": 2, "concurrent": true}]}),
    )
    .await
    .ok();
    create_product(&api, &[]).await;
    assert_eq!(
        silent.wait_for_events(3, PROMPT).await.len(),
        3,
        "the delivery and its two copies reached the endpoint"
    );

    let reset =
        control_within_prompt(&api, "/reset", json!({"keep_webhook_endpoints": true})).await;

    let (status, body) = reset.expect("the reset returns without waiting for the copies");
    assert_eq!(status, 200, "{body}");
    assert_eq!(silent.wait_for_closed(3, PROMPT).await, 3);
    assert_fresh_after_reset(&api).await;
}

/// Two accounts of a fake with `LONG_DELIVERY_TIMEOUT`: the first has an
/// endpoint that never responds and a product whose event is on its way
/// there, the second an endpoint that responds.
struct OneAccountStuck {
    /// Kept so that the fake runs until the test ends.
    _fake: fakestripe_server::Server,
    api: Api,
    other: Api,
    silent: SilentEndpoint,
    receiver: Receiver,
    product: String,
}

impl OneAccountStuck {
    async fn start(clock_mode: fakestripe_server::ClockMode, tag: &str) -> OneAccountStuck {
        let fake = start_with_long_timeout(clock_mode).await;
        let api = Api::new(fake.base_url(), &format!("sk_test_wh_{tag}"));
        let other = Api::new(fake.base_url(), &format!("sk_test_wh_{tag}_neighbour"));
        let silent = SilentEndpoint::start().await;
        let receiver = Receiver::start().await;
        api.webhook_endpoint(&silent.url("/hook"), &["*"]).await;
        other.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;
        let product = create_product(&api, &[]).await.json["id"]
            .as_str()
            .unwrap()
            .to_owned();
        OneAccountStuck {
            _fake: fake,
            api,
            other,
            silent,
            receiver,
            product,
        }
    }
}

/// While a manual advance waits on an endpoint that never responds, the
/// account's objects, events and logs can be read, and another account
/// advances and delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_advance_stalls_no_other_work() {
    let stuck = OneAccountStuck::start(fakestripe_server::ClockMode::Manual, "stuck_advance").await;
    let (api, other) = (&stuck.api, &stuck.other);
    let advancing = advance_in_background(api);
    assert_eq!(stuck.silent.wait_for_events(1, PROMPT).await.len(), 1);

    for path in [
        format!("/v1/products/{}", stuck.product),
        "/v1/events".to_owned(),
        "/_fakestripe/deliveries".to_owned(),
        "/_fakestripe/clock".to_owned(),
    ] {
        let (status, body) = within_prompt(api, reqwest::Method::GET, &path, None)
            .await
            .expect("a read of the account with the stuck advance responds");
        assert_eq!(status, 200, "{path}: {body}");
    }
    create_product(other, &[]).await;
    let (status, body) = control_within_prompt(other, "/clock/advance", json!({"seconds": 60}))
        .await
        .expect("the other account's advance returns");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ran"], 1);
    assert_eq!(stuck.receiver.received_at("/hook").len(), 1);

    // The stuck advance is still waiting, and a reset ends it.
    reset_ends_stuck_advance(api, advancing).await;
}

/// Starts a 60-second advance of `api`'s clock in a task of its own, whose
/// result is the status and body, or the client's error after `PROMPT`.
fn advance_in_background(api: &Api) -> tokio::task::JoinHandle<Result<(u16, Value), String>> {
    let api = api.clone();
    tokio::spawn(async move {
        control_within_prompt(&api, "/clock/advance", json!({"seconds": 60})).await
    })
}

/// Checks that `advancing` still waits on a hanging endpoint, and that a
/// reset of the account ends it with a 409.
async fn reset_ends_stuck_advance(
    api: &Api,
    advancing: tokio::task::JoinHandle<Result<(u16, Value), String>>,
) {
    assert!(!advancing.is_finished());
    control_within_prompt(api, "/reset", json!({}))
        .await
        .expect("the reset returns");
    let (status, _) = advancing
        .await
        .unwrap()
        .expect("the advance returns after the reset");
    assert_eq!(status, 409);
}

/// With the manual clock, the deliveries of one instant go to each
/// endpoint in parallel: an endpoint that never responds holds up no other,
/// and each endpoint still gets its own in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_advance_sends_endpoints_in_parallel() {
    let fake = start_with_long_timeout(fakestripe_server::ClockMode::Manual).await;
    let api = Api::new(fake.base_url(), "sk_test_wh_manual_parallel");
    let silent = SilentEndpoint::start().await;
    let receiver = Receiver::start().await;
    // Whichever endpoint comes first in the schedule, a send to the silent
    // one is due before the receiver's second event.
    api.webhook_endpoint(&silent.url("/hook"), &["*"]).await;
    api.webhook_endpoint(&receiver.url("/hook"), &["*"]).await;
    create_product(&api, &[]).await;
    create_product(&api, &[]).await;
    let advancing = advance_in_background(&api);

    let received: Vec<Value> = receiver
        .wait_for("/hook", 2, PROMPT)
        .await
        .iter()
        .map(|r| r.event()["id"].clone())
        .collect();

    let mut created: Vec<Value> = api
        .all_events()
        .await
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    created.reverse();
    assert_eq!(received, created, "both events, oldest first");
    assert_eq!(silent.events().len(), 1, "the first send still hangs");
    reset_ends_stuck_advance(&api, advancing).await;
}

/// A real-time delivery that hangs holds up neither the account's reads
/// nor another account's advance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_real_time_delivery_stalls_no_other_work() {
    let real_time = fakestripe_server::ClockMode::RealTime { speed: 1.0 };
    let stuck = OneAccountStuck::start(real_time, "stuck_real_time").await;
    let (api, other) = (&stuck.api, &stuck.other);
    assert_eq!(stuck.silent.wait_for_events(1, PROMPT).await.len(), 1);

    let path = format!("/v1/products/{}", stuck.product);
    let (status, body) = within_prompt(api, reqwest::Method::GET, &path, None)
        .await
        .expect("a retrieve while the delivery hangs responds");
    assert_eq!(status, 200, "{body}");
    let session = create_session(other, &[]).await;
    let (status, body) =
        control_within_prompt(other, "/clock/advance", json!({"seconds": 25 * 3600}))
            .await
            .expect("the other account's advance returns");
    assert_eq!(status, 200, "{body}");
    let expired = other
        .get(&format!(
            "/v1/checkout/sessions/{}",
            session["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(expired.ok()["status"], "expired");
    let types: Vec<String> = stuck
        .receiver
        .received_at("/hook")
        .iter()
        .map(|r| r.event()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["checkout.session.expired"]);
}

#[tokio::test]
async fn connect_endpoint_is_rejected_as_unmodelled() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_connect");
    let url = "http://127.0.0.1:9/hook";

    let rejected = api
        .post(
            "/v1/webhook_endpoints",
            &support::form(&[("url", url), ("enabled_events[]", "*"), ("connect", "true")]),
        )
        .await;
    rejected.expect(400);
    assert_eq!(rejected.error()["param"], "connect");
    let message = rejected.error()["message"].as_str().unwrap();
    assert!(message.contains("does not model"), "{message}");
    let listed = api.get("/v1/webhook_endpoints").await;
    assert!(listed.ok()["data"].as_array().unwrap().is_empty());

    let accepted = api
        .post(
            "/v1/webhook_endpoints",
            &support::form(&[
                ("url", url),
                ("enabled_events[]", "*"),
                ("connect", "false"),
            ]),
        )
        .await;
    assert_eq!(accepted.ok()["status"], "enabled");
}

#[tokio::test]
async fn completed_event_carries_paid_session() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_completed_body");
    let receiver = Receiver::start().await;
    api.webhook_endpoint(&receiver.url("/hook"), &["checkout.session.completed"])
        .await;
    let session = create_session(&api, &[("client_reference_id", "order-5")]).await;

    api.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .ok();
    api.run_due().await;

    let event = receiver.received_at("/hook")[0].event();
    let object = &event["data"]["object"];
    assert_eq!(object["id"], session["id"]);
    assert_eq!(object["status"], "complete");
    assert_eq!(object["payment_status"], "paid");
    assert_eq!(object["client_reference_id"], "order-5");
    assert!(
        object["payment_intent"]
            .as_str()
            .unwrap()
            .starts_with("pi_")
    );
    assert_eq!(
        event["request"]["id"],
        Value::Null,
        "the customer, not an API request, paid"
    );
    assert!(
        object
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with('_')),
        "private fields leaked: {object}"
    );
}

/// A webhook receiver on raw TCP, for tests about connections and responses
/// that HTTP servers would not send. It numbers each connection it
/// accepts, records each request's connection and event type, and writes
/// `answer` after reading the request.
struct RawReceiver {
    addr: std::net::SocketAddr,
    requests: std::sync::Arc<std::sync::Mutex<Vec<(usize, String)>>>,
}

impl RawReceiver {
    async fn start(answer: fn(&mut tokio::net::TcpStream) -> RawAnswer<'_>) -> RawReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the raw receiver");
        let addr = listener.local_addr().expect("raw receiver address");
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = requests.clone();
        tokio::spawn(async move {
            let mut accepted = 0;
            while let Ok((mut stream, _)) = listener.accept().await {
                accepted += 1;
                let connection = accepted;
                let log = log.clone();
                tokio::spawn(async move {
                    while let Some(body) = read_request(&mut stream).await {
                        let event: Value = serde_json::from_slice(&body).unwrap_or_default();
                        let kind = event["type"].as_str().unwrap_or_default().to_owned();
                        log.lock().unwrap().push((connection, kind));
                        if answer(&mut stream).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        RawReceiver { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn requests(&self) -> Vec<(usize, String)> {
        self.requests.lock().unwrap().clone()
    }
}

type RawAnswer<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send + 'a>>;

/// Reads one HTTP/1.1 request with a Content-Length body and returns the
/// body, or `None` once the connection closes.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(body)
}

fn answer_ok(stream: &mut tokio::net::TcpStream) -> RawAnswer<'_> {
    use tokio::io::AsyncWriteExt;
    Box::pin(async move {
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
    })
}

/// Writes a 200 whose chunked body runs on for two seconds, far past the
/// part the delivery log keeps, then breaks off.
fn answer_endless_body(stream: &mut tokio::net::TcpStream) -> RawAnswer<'_> {
    use tokio::io::AsyncWriteExt;
    Box::pin(async move {
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await?;
        let chunk = format!("400\r\n{}\r\n", "0123456789abcdef".repeat(64));
        let until = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < until {
            stream.write_all(chunk.as_bytes()).await?;
        }
        Err(std::io::Error::other("the body breaks off"))
    })
}

/// Writes a 200 that announces 100 bytes of body, sends 10, and then
/// stalls for three seconds.
fn answer_stalled_body(stream: &mut tokio::net::TcpStream) -> RawAnswer<'_> {
    use tokio::io::AsyncWriteExt;
    Box::pin(async move {
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
            .await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        Err(std::io::Error::other("the body never ends"))
    })
}

/// Concurrent duplicates must reach the app together. Each copy opens its
/// own connection and waits for the others before it is written, so none
/// takes the connection an earlier delivery left open and gets ahead.
#[tokio::test]
async fn concurrent_copies_each_open_a_connection() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_burst");
    let receiver = RawReceiver::start(answer_ok).await;
    api.webhook_endpoint(&receiver.url(), &["*"]).await;
    let plan = json!({"faults": [{"kind": "webhook_duplicate",
        "types": ["checkout.session.completed"], "copies": 3, "concurrent": true}]});
    let reply = api.put_control("/faults", plan).await;
    reply.ok();
    let session = create_session(&api, &[]).await;
    api.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .ok();
    api.run_due().await;

    let requests = receiver.requests();
    let burst: Vec<usize> = requests
        .iter()
        .filter(|(_, kind)| kind == "checkout.session.completed")
        .map(|(connection, _)| *connection)
        .collect();
    assert_eq!(burst.len(), 4, "{requests:?}");
    let earlier: Vec<usize> = requests
        .iter()
        .filter(|(_, kind)| kind != "checkout.session.completed")
        .map(|(connection, _)| *connection)
        .collect();
    assert!(!earlier.is_empty(), "{requests:?}");
    for connection in &burst {
        assert!(
            !earlier.contains(connection),
            "a copy went on connection {connection}, which carried an earlier event: {requests:?}"
        );
    }
    let mut distinct = burst.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "one connection per copy: {requests:?}");
}

#[tokio::test]
async fn endless_answer_is_cut_at_the_logged_part() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_endless");
    let receiver = RawReceiver::start(answer_endless_body).await;
    api.webhook_endpoint(&receiver.url(), &["product.created"])
        .await;
    create_product(&api, &[]).await;
    api.run_due().await;

    let deliveries = api.deliveries().await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0]["status"], 200);
    assert_eq!(deliveries[0]["error"], Value::Null);
    assert_eq!(
        deliveries[0]["response_body"],
        "0123456789abcdef".repeat(32),
        "the first 512 bytes of the answer"
    );
}

#[tokio::test]
async fn stalled_answer_fails_and_is_retried() {
    let fake = start(ServerConfig {
        clock_mode: fakestripe_server::ClockMode::Manual,
        delivery_timeout: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let api = Api::new(fake.base_url(), "sk_test_wh_stalled");
    let receiver = RawReceiver::start(answer_stalled_body).await;
    api.webhook_endpoint(&receiver.url(), &["product.created"])
        .await;
    create_product(&api, &[]).await;
    api.run_due().await;
    api.advance(60).await;

    let deliveries = api.deliveries().await;
    assert_eq!(
        deliveries.len(),
        2,
        "the first attempt failed: {deliveries:?}"
    );
    for record in &deliveries {
        assert_eq!(record["status"], 200);
        assert_eq!(record["error"], "timed out reading the response body");
    }
    assert_eq!(deliveries[1]["attempt"], 2);
}

/// What a racing webhook handler did, in order: `check` when a copy came
/// in, `record` after the API call that follows the check.
type Steps = std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>;

/// A listener that takes 10 ms to get to each connection after the first,
/// as an app whose event loop is busy does.
struct BusyListener {
    inner: tokio::net::TcpListener,
    accepted: usize,
}

impl axum::serve::Listener for BusyListener {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        if self.accepted > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.accepted += 1;
        self.inner.accept().await.expect("accepting a connection")
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A handler that checks for a duplicate, reads the session from the API,
/// and only then records the event: the shape of a duplicate check that
/// is not one transaction. The app gets to each connection 10 ms after
/// the last. Without the fake's slower API during a burst, the first
/// copy's API call would return before the later copies are checked, and
/// the race would go unseen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_copies_all_arrive_before_a_record() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_race");
    let steps: Steps = Default::default();
    let state = (steps.clone(), fake.base_url().to_owned());
    let router = axum::Router::new()
        .fallback(
            |axum::extract::State((steps, base)): axum::extract::State<(Steps, String)>,
             body: axum::body::Bytes| async move {
                let event: Value = serde_json::from_slice(&body).unwrap_or_default();
                steps.lock().unwrap().push("check");
                let session = event["data"]["object"]["id"].as_str().unwrap_or_default();
                Api::new(&base, "sk_test_wh_race")
                    .get(&format!("/v1/checkout/sessions/{session}"))
                    .await
                    .ok();
                steps.lock().unwrap().push("record");
            },
        )
        .with_state(state);
    let inner = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the racing receiver");
    let url = format!("http://{}/hook", inner.local_addr().unwrap());
    let listener = BusyListener { inner, accepted: 0 };
    tokio::spawn(async move { axum::serve(listener, router).await });
    api.webhook_endpoint(&url, &["checkout.session.completed"])
        .await;
    let plan = json!({"faults": [{"kind": "webhook_duplicate",
        "types": ["checkout.session.completed"], "copies": 3, "concurrent": true}]});
    api.put_control("/faults", plan).await.ok();
    let session = create_session(&api, &[]).await;
    api.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .ok();
    api.run_due().await;

    let steps = steps.lock().unwrap().clone();
    assert_eq!(steps.len(), 8, "{steps:?}");
    assert_eq!(
        steps[..4],
        ["check"; 4],
        "every copy was checked before any was recorded: {steps:?}"
    );
}

/// A signing secret comes from the account's key as well as its seed.
/// Two accounts that set the same seed draw the same ids but different
/// secrets, and the same key and seed on another server draw the same
/// secret again.
#[tokio::test]
async fn same_seed_accounts_get_their_own_secrets() {
    let fake = start_manual().await;
    let other_fake = start_manual().await;
    let mut endpoints = Vec::new();
    for (server, key) in [
        (&fake, "sk_test_wh_seed_a"),
        (&fake, "sk_test_wh_seed_b"),
        (&other_fake, "sk_test_wh_seed_a"),
    ] {
        let api = Api::new(server.base_url(), key);
        api.put_control("/faults", json!({"seed": 42, "faults": []}))
            .await
            .ok();
        endpoints.push(
            api.webhook_endpoint("http://127.0.0.1:9/hook", &["*"])
                .await,
        );
    }

    let (id_a, secret_a) = &endpoints[0];
    let (id_b, secret_b) = &endpoints[1];
    let (id_again, secret_again) = &endpoints[2];
    assert_eq!(id_a, id_b, "the seed decides the ids");
    assert_ne!(secret_a, secret_b);
    assert_eq!(id_a, id_again);
    assert_eq!(secret_a, secret_again);

    for secret in [secret_a, secret_b] {
        assert!(secret.starts_with("whsec_"), "{secret}");
        assert_eq!(secret.len(), "whsec_".len() + 32, "{secret}");
        assert!(
            secret[6..].bytes().all(|b| b.is_ascii_alphanumeric()),
            "{secret}"
        );
    }
}

/// The URL parser drops line breaks and tabs, so a URL with one must be
/// rejected rather than stored as typed and sent to another path.
#[tokio::test]
async fn endpoint_url_with_a_line_break_is_rejected() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_crlf");
    let url = "http://127.0.0.1:9/crlf\r\nX-Injected: y";
    let body = support::form(&[("url", url), ("enabled_events[]", "*")]);
    let created = api.post("/v1/webhook_endpoints", &body).await;
    assert_eq!(created.expect(400)["error"]["param"], "url");

    let (id, _) = api
        .webhook_endpoint("http://127.0.0.1:9/hook", &["*"])
        .await;
    let body = support::form(&[("url", "http://127.0.0.1:9/\thook")]);
    let updated = api
        .post(&format!("/v1/webhook_endpoints/{id}"), &body)
        .await;
    assert_eq!(updated.expect(400)["error"]["param"], "url");
    let stored = api.get(&format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(stored.ok()["url"], "http://127.0.0.1:9/hook");
}

/// A webhook app served by Python's `http.server`, which takes one
/// connection at a time and queues five more. Ended when dropped.
struct PythonApp {
    child: std::process::Child,
    url: String,
}

impl PythonApp {
    async fn start() -> PythonApp {
        const SERVER: &str = r#"
import http.server, sys

class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
"#;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("python3")
            .args(["-c", SERVER, &port.to_string()])
            .spawn()
            .expect("starting python3, which the tests need");
        let mut up = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            up,
            "the Python app did not listen on port {port} within 5 s"
        );
        PythonApp {
            child,
            url: format!("http://127.0.0.1:{port}/hook"),
        }
    }
}

impl Drop for PythonApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An app that takes one connection at a time, with a short queue for the
/// rest, lets only some copies of a burst connect until it has responded to
/// the first. The burst must not wait for every copy to connect before it
/// writes, or the first copy, the genuine delivery among them, would wait
/// out the delivery timeout and every attempt would fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_reaches_an_app_with_a_short_queue() {
    let fake = start(ServerConfig {
        clock_mode: fakestripe_server::ClockMode::Manual,
        delivery_timeout: Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    let api = Api::new(fake.base_url(), "sk_test_wh_short_queue");
    let app = PythonApp::start().await;
    api.webhook_endpoint(&app.url, &["product.created"]).await;
    let plan = json!({"faults": [{"kind": "webhook_duplicate",
        "types": ["product.created"], "copies": 8, "concurrent": true}]});
    api.put_control("/faults", plan).await.ok();
    create_product(&api, &[]).await;
    api.run_due().await;

    let deliveries = api.deliveries().await;
    assert_eq!(deliveries.len(), 9, "{deliveries:?}");
    for record in &deliveries {
        assert_eq!(record["status"], 200, "{record}");
        assert_eq!(record["error"], Value::Null, "{record}");
    }
}

/// An endpoint's pinned version follows the same rule as the
/// `Stripe-Version` header: no released version is dated in the future.
#[tokio::test]
async fn endpoint_api_version_from_the_future_is_rejected() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_future_version");
    for version in ["2099-01-01", "2099-01-01.bogus", "banana"] {
        let body = support::form(&[
            ("url", "http://127.0.0.1:9/hook"),
            ("enabled_events[]", "*"),
            ("api_version", version),
        ]);
        let reply = api.post("/v1/webhook_endpoints", &body).await;
        assert_eq!(
            reply.expect(400)["error"]["param"],
            "api_version",
            "{version}"
        );
    }
    let body = support::form(&[
        ("url", "http://127.0.0.1:9/hook"),
        ("enabled_events[]", "*"),
        ("api_version", "2025-03-31.basil"),
    ]);
    let reply = api.post("/v1/webhook_endpoints", &body).await;
    assert_eq!(reply.ok()["api_version"], "2025-03-31.basil");
}

/// An endpoint subscribes only to event types Stripe has. A made-up type
/// or a typo is a 400 naming its index, with a suggestion only when one
/// is close.
#[tokio::test]
async fn enabled_events_unknown_type_rejected() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_event_types");
    let subscribe = |events: &[&str]| {
        let mut pairs = vec![("url", "http://127.0.0.1:9/hook")];
        pairs.extend(events.iter().map(|event| ("enabled_events[]", *event)));
        support::form(&pairs)
    };
    let made_up = api
        .post(
            "/v1/webhook_endpoints",
            &subscribe(&["invoice.paid", "nope.event"]),
        )
        .await;
    let error = &made_up.expect(400)["error"];
    assert_eq!(error["param"], "enabled_events[1]");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("`nope.event`"), "{message}");
    assert!(!message.contains("Did you mean"), "{message}");

    let typo = api
        .post(
            "/v1/webhook_endpoints",
            &subscribe(&["checkout.session.complete"]),
        )
        .await;
    let message = typo.expect(400)["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("Did you mean `checkout.session.completed`?"),
        "{message}"
    );

    let others = api
        .post(
            "/v1/webhook_endpoints",
            &subscribe(&["invoice.paid", "customer.subscription.created"]),
        )
        .await;
    assert_eq!(
        others.ok()["enabled_events"],
        json!(["invoice.paid", "customer.subscription.created"])
    );
    // The fault's own event type is not one an endpoint can name.
    let fault_only = api
        .post(
            "/v1/webhook_endpoints",
            &subscribe(&["payment_intent.updated"]),
        )
        .await;
    assert_eq!(
        fault_only.expect(400)["error"]["param"],
        "enabled_events[0]"
    );

    let listed = api.get("/v1/webhook_endpoints").await;
    assert_eq!(listed.ok()["data"].as_array().unwrap().len(), 1);
}

/// Stripe has no `payment_intent.updated` event, so changing a payment
/// intent's metadata through the API records no event.
#[tokio::test]
async fn payment_intent_update_records_no_event() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_wh_pi_update");
    let created = api
        .post("/v1/payment_intents", "amount=500&currency=usd")
        .await;
    let id = created.ok()["id"].as_str().unwrap().to_owned();
    let updated = api
        .post(&format!("/v1/payment_intents/{id}"), "metadata[order]=O-1")
        .await;
    assert_eq!(updated.ok()["metadata"]["order"], "O-1");
    let types: Vec<String> = api
        .all_events()
        .await
        .iter()
        .map(|event| event["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["payment_intent.created"]);
}
