//! Checkout Sessions over real HTTP. The tests cover create, retrieve,
//! update, list, expire and line items, the customer's pay flows through
//! the control API, and expiry on the manual clock. Each flow's event
//! sequence is checked against the list at the top of `simulate.rs`.

mod support;

use fakestripe_server::Server;
use serde_json::{Value, json};
use support::{Api, create_session, form, session_body, start_manual};

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("list.data")
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

fn id_of(object: &Value) -> String {
    object["id"].as_str().expect("object id").to_owned()
}

/// Builds the form body of an `elements` session of one mug, plus `extra`.
fn elements_session_body(extra: (&str, &str)) -> String {
    form(&[
        ("mode", "payment"),
        ("ui_mode", "elements"),
        ("return_url", "https://shop.test/return"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "900"),
        ("line_items[0][price_data][product_data][name]", "Mug"),
        ("line_items[0][quantity]", "1"),
        extra,
    ])
}

/// Creates a euro session, which SEPA Direct Debit may pay.
async fn create_eur_session(api: &Api) -> Value {
    api.post("/v1/checkout/sessions", &session_body("eur", &[]))
        .await
        .ok()
        .clone()
}

async fn pay_sepa(api: &Api, session_id: &str, outcome: &str, delay_seconds: i64) -> Value {
    api.control(
        &format!("/checkout/sessions/{session_id}/pay"),
        json!({ "payment_method": "sepa_debit", "outcome": outcome, "delay_seconds": delay_seconds }),
    )
    .await
    .ok()
    .clone()
}

#[tokio::test]
async fn create_computes_amounts_from_line_items() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_create");
    let now = api.now().await;

    let session = create_session(&api, &[]).await;

    let id = id_of(&session);
    assert!(id.starts_with("cs_test_"), "{id}");
    assert_eq!(session["object"], "checkout.session");
    assert_eq!(session["amount_subtotal"], 3500);
    assert_eq!(session["amount_total"], 3500);
    assert_eq!(session["currency"], "usd");
    assert_eq!(session["mode"], "payment");
    assert_eq!(session["status"], "open");
    assert_eq!(session["payment_status"], "unpaid");
    assert_eq!(session["payment_intent"], Value::Null);
    assert_eq!(session["created"], now);
    assert_eq!(session["expires_at"], now + 24 * 3600);
    assert_eq!(session["url"], format!("{}/c/pay/{id}", fake.base_url()));
    assert_eq!(session["success_url"], "https://shop.test/ok");
    assert!(
        session
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with('_')),
        "private fields leaked: {session}"
    );

    let page = reqwest::get(session["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains(&id));
}

#[tokio::test]
async fn retrieve_returns_created_session() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_retrieve");
    let session = create_session(
        &api,
        &[("client_reference_id", "order-9"), ("metadata[cart]", "c9")],
    )
    .await;

    let fetched = api
        .get(&format!("/v1/checkout/sessions/{}", id_of(&session)))
        .await;

    assert_eq!(fetched.ok(), &session);
    assert_eq!(fetched.ok()["client_reference_id"], "order-9");
    assert_eq!(fetched.ok()["metadata"], json!({"cart": "c9"}));
}

#[tokio::test]
async fn update_merges_metadata() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_update");
    let session = create_session(&api, &[("metadata[cart]", "c1"), ("metadata[step]", "1")]).await;
    let path = format!("/v1/checkout/sessions/{}", id_of(&session));

    let updated = api
        .post(
            &path,
            "metadata[step]=2&metadata[cart]=&metadata[coupon]=none",
        )
        .await;

    assert_eq!(
        updated.ok()["metadata"],
        json!({"step": "2", "coupon": "none"})
    );
    assert_eq!(
        api.get(&path).await.ok()["metadata"],
        json!({"step": "2", "coupon": "none"})
    );
    let unknown = api.post(&path, "colour=red").await;
    unknown.expect(400);
    assert_eq!(unknown.error()["param"], "colour");
}

#[tokio::test]
async fn line_items_keep_given_order() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_line_items");
    let session = create_session(&api, &[]).await;
    let path = format!("/v1/checkout/sessions/{}/line_items", id_of(&session));

    let list = api.get(&path).await.ok().clone();

    assert_eq!(list["object"], "list");
    assert_eq!(list["url"], path);
    assert_eq!(list["has_more"], false);
    // The url is the endpoint's, however the request spelled the path.
    let encoded = format!(
        "/v1/checkout/sessions/{}/line_items/",
        id_of(&session).replace('_', "%5F")
    );
    assert_eq!(api.get(&encoded).await.ok()["url"], path);
    let sessions = api.get("/v1/checkout/sessions//?limit=1").await;
    assert_eq!(sessions.ok()["url"], "/v1/checkout/sessions");
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["object"], "item");
    assert_eq!(items[0]["description"], "T-shirt");
    assert_eq!(items[0]["quantity"], 2);
    assert_eq!(items[0]["price"]["unit_amount"], 1500);
    assert_eq!(items[0]["amount_total"], 3000);
    assert_eq!(items[1]["description"], "Socks");
    assert_eq!(items[1]["amount_total"], 500);
    assert!(items[0]["id"].as_str().unwrap().starts_with("li_"));

    let first = api.get(&format!("{path}?limit=1")).await.ok().clone();
    assert_eq!(ids(&first), [id_of(&items[0])]);
    assert_eq!(first["has_more"], true);
}

#[tokio::test]
async fn list_filters_by_payment_intent_customer_and_status() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_list");
    let customer = api
        .post("/v1/customers", "email=buyer%40shop.test")
        .await
        .ok()
        .clone();
    let customer_id = id_of(&customer);
    let paid = create_session(&api, &[]).await;
    let open = create_session(&api, &[("customer", &customer_id)]).await;
    let expired = create_session(&api, &[]).await;
    api.pay_card(&id_of(&paid), "4242424242424242").await.ok();
    api.post(
        &format!("/v1/checkout/sessions/{}/expire", id_of(&expired)),
        "",
    )
    .await
    .ok();
    let paid = api
        .get(&format!("/v1/checkout/sessions/{}", id_of(&paid)))
        .await
        .ok()
        .clone();
    let pi_id = paid["payment_intent"].as_str().unwrap();

    let all = api.get("/v1/checkout/sessions").await.ok().clone();
    assert_eq!(ids(&all), [id_of(&expired), id_of(&open), id_of(&paid)]);
    for (status, expected) in [("complete", &paid), ("open", &open), ("expired", &expired)] {
        let filtered = api
            .get(&format!("/v1/checkout/sessions?status={status}"))
            .await;
        assert_eq!(ids(filtered.ok()), [id_of(expected)], "status={status}");
    }
    let by_customer = api
        .get(&format!("/v1/checkout/sessions?customer={customer_id}"))
        .await;
    assert_eq!(ids(by_customer.ok()), [id_of(&open)]);
    let by_pi = api
        .get(&format!("/v1/checkout/sessions?payment_intent={pi_id}"))
        .await;
    assert_eq!(ids(by_pi.ok()), [id_of(&paid)]);
    let bad_status = api.get("/v1/checkout/sessions?status=paid").await;
    bad_status.expect(400);
    assert_eq!(bad_status.error()["param"], "status");
}

#[tokio::test]
async fn expire_works_only_while_open() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_expire");
    let session = create_session(&api, &[]).await;
    let path = format!("/v1/checkout/sessions/{}/expire", id_of(&session));

    let expired = api.post(&path, "").await;
    let again = api.post(&path, "").await;

    assert_eq!(expired.ok()["status"], "expired");
    assert_eq!(expired.ok()["url"], Value::Null);
    again.expect(400);
    assert_eq!(again.error()["type"], "invalid_request_error");
    assert!(
        again.error()["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{}",
        again.error()
    );
    assert_eq!(
        api.event_types_oldest_first().await,
        ["checkout.session.expired"]
    );

    let paid = create_session(&api, &[]).await;
    api.pay_card(&id_of(&paid), "4242424242424242").await.ok();
    let complete = api
        .post(
            &format!("/v1/checkout/sessions/{}/expire", id_of(&paid)),
            "",
        )
        .await;
    complete.expect(400);
}

#[tokio::test]
async fn expire_event_carries_request_id() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_expire_request");
    let session = create_session(&api, &[]).await;

    let reply = api
        .post(
            &format!("/v1/checkout/sessions/{}/expire", id_of(&session)),
            "",
        )
        .await;

    reply.ok();
    let events = api.all_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["request"]["id"],
        reply.header("request-id").unwrap()
    );
    assert_eq!(events[0]["data"]["object"]["status"], "expired");
}

#[tokio::test]
async fn customer_and_customer_email_are_exclusive() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_customer_email");
    let customer = api
        .post("/v1/customers", "email=a%40shop.test")
        .await
        .ok()
        .clone();

    let both = api
        .post(
            "/v1/checkout/sessions",
            &session_body(
                "usd",
                &[
                    ("customer", &id_of(&customer)),
                    ("customer_email", "b@shop.test"),
                ],
            ),
        )
        .await;
    both.expect(400);
    assert_eq!(both.error()["param"], "customer_email");

    let unknown = api
        .post(
            "/v1/checkout/sessions",
            &session_body("usd", &[("customer", "cus_nobody")]),
        )
        .await;
    unknown.expect(400);
    assert_eq!(unknown.error()["param"], "customer");

    let email_only = create_session(&api, &[("customer_email", "b@shop.test")]).await;
    assert_eq!(email_only["customer_email"], "b@shop.test");
    assert_eq!(email_only["customer"], Value::Null);
}

/// Stripe documents that a customer's email is prefilled and not
/// editable in Checkout, and that a customer without one takes the email
/// entered there.
#[tokio::test]
async fn customer_email_is_fixed_on_the_page() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_fixed_email");
    let with_email = api.post("/v1/customers", "email=a%40shop.test").await;
    let with_email = id_of(with_email.ok());
    let session = id_of(&create_session(&api, &[("customer", &with_email)]).await);

    let input = email_input(&fake, &session).await;
    assert!(input.contains("value=\"a@shop.test\""), "{input}");
    assert!(input.contains("readonly"), "{input}");

    let path = format!("/checkout/sessions/{session}/pay");
    let other = json!({"payment_method": "card", "card_number": "4242424242424242", "email": "b@shop.test"});
    let changed = api.control(&path, other).await;
    changed.expect(400);
    assert_eq!(changed.error()["param"], "email");
    // The same address in other letters is the customer's, as stored.
    let recased = json!({"payment_method": "card", "card_number": "4242424242424242", "email": "A@Shop.TEST"});
    let paid = api.control(&path, recased).await;
    assert_eq!(
        paid.ok()["session"]["customer_details"]["email"],
        "a@shop.test"
    );

    let without = api.post("/v1/customers", "name=Ada").await;
    let without = id_of(without.ok());
    let session = id_of(&create_session(&api, &[("customer", &without)]).await);
    let body = json!({"payment_method": "card", "card_number": "4242424242424242", "email": "c@shop.test"});
    api.control(&format!("/checkout/sessions/{session}/pay"), body)
        .await
        .ok();
    let customer = api.get(&format!("/v1/customers/{without}")).await;
    assert_eq!(customer.ok()["email"], "c@shop.test");
}

/// Stripe reads an empty value as a request to unset a field, which a
/// create cannot do, so every create rejects one outside `metadata` and
/// names the parameter. stripe-node sends `null` as an empty value, so an
/// app that passes along a missing email would fail on Stripe.
#[tokio::test]
async fn creates_reject_empty_strings() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_empty_strings");
    let session_with = |extra: &str| format!("{}&{extra}", session_body("usd", &[]));
    let cases = [
        (
            "/v1/checkout/sessions",
            session_with("customer_email="),
            "customer_email",
        ),
        (
            "/v1/checkout/sessions",
            session_with("client_reference_id="),
            "client_reference_id",
        ),
        (
            "/v1/checkout/sessions",
            session_with("payment_intent_data[description]="),
            "payment_intent_data[description]",
        ),
        ("/v1/customers", "email=".to_owned(), "email"),
        (
            "/v1/products",
            "name=Lamp&description=".to_owned(),
            "description",
        ),
        (
            "/v1/payment_intents",
            "amount=500&currency=".to_owned(),
            "currency",
        ),
    ];
    for (path, body, param) in cases {
        let reply = api.post(path, &body).await;
        let error = reply.expect(400);
        assert_eq!(error["error"]["param"], param, "{path} {body}");
        assert_eq!(error["error"]["code"], "parameter_invalid_empty");
        assert_eq!(
            error["error"]["doc_url"],
            "https://stripe.com/docs/error-codes/parameter-invalid-empty"
        );
        assert_eq!(
            error["error"]["message"],
            format!(
                "You passed an empty string for '{param}'. We assume empty values are an attempt to unset a parameter; however '{param}' cannot be unset. You should remove '{param}' from your request or supply a non-empty value."
            ),
            "{path} {body}"
        );
    }

    // A parameter the endpoint does not know is unknown, empty or not, and
    // a field Stripe lists as emptyable on create takes an empty value.
    let unknown = api.post("/v1/customers", "email=a@b.co&bogus_param=").await;
    assert_eq!(unknown.expect(400)["error"]["code"], "parameter_unknown");
    let endpoint = api
        .post(
            "/v1/webhook_endpoints",
            "url=http://127.0.0.1:9/hook&enabled_events[]=*&description=",
        )
        .await;
    endpoint.ok();

    // An empty metadata value removes the key, and takes no error.
    let session = api
        .post(
            "/v1/checkout/sessions",
            &session_with("metadata[note]=&metadata[order_id]=O-1"),
        )
        .await;
    assert_eq!(session.ok()["metadata"], json!({"order_id": "O-1"}));
}

#[tokio::test]
async fn expires_at_bounds_are_enforced() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_expires_at");
    let now = api.now().await;

    for (offset, accepted) in [
        (1_799, false),
        (1_800, true),
        (86_400, true),
        (86_401, false),
    ] {
        let at = (now + offset).to_string();
        let reply = api
            .post(
                "/v1/checkout/sessions",
                &session_body("usd", &[("expires_at", &at)]),
            )
            .await;
        if accepted {
            assert_eq!(reply.ok()["expires_at"], now + offset);
        } else {
            reply.expect(400);
            assert_eq!(reply.error()["param"], "expires_at", "offset {offset}");
        }
    }
}

#[tokio::test]
async fn subscription_and_setup_modes_are_not_supported() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_modes");

    for mode in ["subscription", "setup"] {
        let body = session_body("usd", &[]).replace("mode=payment", &format!("mode={mode}"));
        let reply = api.post("/v1/checkout/sessions", &body).await;

        reply.expect(400);
        assert_eq!(reply.error()["param"], "mode");
        let message = reply.error()["message"].as_str().unwrap();
        assert!(
            message.contains("not supported") && message.contains("yet"),
            "{mode}: {message}"
        );
    }
}

#[tokio::test]
async fn card_payment_completes_session() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_card");
    let session = create_session(
        &api,
        &[
            ("metadata[cart]", "c1"),
            ("payment_intent_data[metadata][order]", "o1"),
        ],
    )
    .await;
    let id = id_of(&session);

    let result = api.pay_card(&id, "4242424242424242").await.ok().clone();

    assert_eq!(result["result"], "succeeded");
    assert_eq!(result["redirect_url"], "https://shop.test/ok");
    let session = api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .ok()
        .clone();
    assert_eq!(session["status"], "complete");
    assert_eq!(session["payment_status"], "paid");
    assert_eq!(session["url"], Value::Null);
    assert_eq!(session["metadata"], json!({"cart": "c1"}));
    let pi_id = session["payment_intent"]
        .as_str()
        .expect("a paid session has a payment intent");

    let pi = api
        .get(&format!("/v1/payment_intents/{pi_id}"))
        .await
        .ok()
        .clone();
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["amount"], 3500);
    assert_eq!(pi["amount_received"], 3500);
    assert_eq!(
        pi["metadata"],
        json!({"order": "o1"}),
        "the payment intent takes payment_intent_data.metadata only"
    );

    let charge_id = pi["latest_charge"].as_str().expect("latest_charge");
    let charge = api
        .get(&format!("/v1/charges/{charge_id}"))
        .await
        .ok()
        .clone();
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["paid"], true);
    assert_eq!(charge["amount"], 3500);
    assert_eq!(charge["payment_intent"], pi_id);
    assert_eq!(charge["payment_method_details"]["card"]["last4"], "4242");

    let txn_id = charge["balance_transaction"]
        .as_str()
        .expect("a captured charge has a balance transaction");
    let txn = api
        .get(&format!("/v1/balance_transactions/{txn_id}"))
        .await
        .ok()
        .clone();
    assert_eq!(txn["amount"], 3500);
    assert_eq!(txn["source"], charge_id);
    assert_eq!(txn["type"], "charge");
    let fee = txn["fee"].as_i64().unwrap();
    assert!(fee > 0);
    assert_eq!(txn["net"], 3500 - fee);

    assert_eq!(
        api.event_types_oldest_first().await,
        [
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed",
            "charge.updated",
        ]
    );
}

#[tokio::test]
async fn generic_decline_then_second_card_succeeds() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_decline_retry");
    let id = id_of(&create_session(&api, &[]).await);

    let declined = api.pay_card(&id, "4000000000000002").await.ok().clone();

    assert_eq!(declined["result"], "declined");
    assert_eq!(declined["redirect_url"], Value::Null);
    assert_eq!(declined["error"]["code"], "card_declined");
    assert_eq!(declined["error"]["decline_code"], "generic_decline");
    let open = api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .ok()
        .clone();
    assert_eq!(open["status"], "open");
    assert_eq!(open["payment_status"], "unpaid");
    let pi_id = open["payment_intent"]
        .as_str()
        .expect("the first attempt creates the payment intent")
        .to_owned();
    let pi = api
        .get(&format!("/v1/payment_intents/{pi_id}"))
        .await
        .ok()
        .clone();
    assert_eq!(pi["status"], "requires_payment_method");
    assert_eq!(pi["last_payment_error"]["code"], "card_declined");

    let paid = api.pay_card(&id, "4242424242424242").await.ok().clone();

    assert_eq!(paid["result"], "succeeded");
    assert_eq!(paid["session"]["payment_status"], "paid");
    assert_eq!(
        paid["session"]["payment_intent"], pi_id,
        "the retry reuses the payment intent"
    );
    assert_eq!(
        api.event_types_oldest_first().await,
        [
            "payment_intent.created",
            "charge.failed",
            "payment_intent.payment_failed",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed",
            "charge.updated",
        ]
    );
}

#[tokio::test]
async fn insufficient_funds_sets_decline_code() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_insufficient");
    let id = id_of(&create_session(&api, &[]).await);

    let declined = api.pay_card(&id, "4000000000009995").await.ok().clone();

    assert_eq!(declined["result"], "declined");
    assert_eq!(declined["error"]["code"], "card_declined");
    assert_eq!(declined["error"]["decline_code"], "insufficient_funds");
    let charge_id = declined["error"]["charge"].as_str().unwrap();
    let charge = api
        .get(&format!("/v1/charges/{charge_id}"))
        .await
        .ok()
        .clone();
    assert_eq!(charge["status"], "failed");
    assert_eq!(charge["outcome"]["reason"], "insufficient_funds");
    assert_eq!(
        api.event_types_oldest_first().await,
        [
            "payment_intent.created",
            "charge.failed",
            "payment_intent.payment_failed"
        ]
    );
}

#[tokio::test]
async fn three_d_secure_card_succeeds_after_authentication() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_3ds_ok");
    let id = id_of(&create_session(&api, &[]).await);

    let result = api.pay_card(&id, "4000002500003155").await.ok().clone();

    assert_eq!(result["result"], "succeeded");
    assert_eq!(result["session"]["payment_status"], "paid");
    assert_eq!(
        api.event_types_oldest_first().await,
        [
            "payment_intent.created",
            "payment_intent.requires_action",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed",
            "charge.updated",
        ]
    );
}

#[tokio::test]
async fn three_d_secure_failure_keeps_session_open() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_3ds_fail");
    let id = id_of(&create_session(&api, &[]).await);

    let result = api
        .control(
            &format!("/checkout/sessions/{id}/pay"),
            json!({"payment_method": "card", "card_number": "4000002500003155", "three_d_secure": "fail"}),
        )
        .await
        .ok()
        .clone();

    assert_eq!(result["result"], "declined");
    assert_eq!(
        result["error"]["code"],
        "payment_intent_authentication_failure"
    );
    let session = api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .ok()
        .clone();
    assert_eq!(session["status"], "open");
    let pi = api
        .get(&format!(
            "/v1/payment_intents/{}",
            session["payment_intent"].as_str().unwrap()
        ))
        .await;
    assert_eq!(pi.ok()["status"], "requires_payment_method");
    assert_eq!(
        api.event_types_oldest_first().await,
        [
            "payment_intent.created",
            "payment_intent.requires_action",
            "payment_intent.payment_failed"
        ]
    );
}

#[tokio::test]
async fn async_payment_settles_paid_after_delay() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_sepa_ok");
    let id = id_of(&create_eur_session(&api).await);
    let path = format!("/v1/checkout/sessions/{id}");

    let result = pay_sepa(&api, &id, "succeeded", 600).await;

    assert_eq!(result["result"], "processing");
    assert_eq!(result["redirect_url"], "https://shop.test/ok");
    let pending = api.get(&path).await.ok().clone();
    assert_eq!(pending["status"], "complete");
    assert_eq!(pending["payment_status"], "unpaid");
    let pi_path = format!(
        "/v1/payment_intents/{}",
        pending["payment_intent"].as_str().unwrap()
    );
    assert_eq!(api.get(&pi_path).await.ok()["status"], "processing");

    api.advance(599).await;
    assert_eq!(
        api.get(&path).await.ok()["payment_status"],
        "unpaid",
        "one second before the delay ends"
    );

    api.advance(1).await;
    assert_eq!(api.get(&path).await.ok()["payment_status"], "paid");
    assert_eq!(api.get(&pi_path).await.ok()["status"], "succeeded");
    let types = api.event_types_oldest_first().await;
    assert_eq!(
        types,
        [
            "payment_intent.created",
            "checkout.session.completed",
            "payment_intent.processing",
            "charge.pending",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.async_payment_succeeded",
            "charge.updated",
        ]
    );
}

/// The settled flow, in the order `simulate.rs` documents it.
#[tokio::test]
async fn async_success_events_match_documented_sequence() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_sepa_sequence");
    let id = id_of(&create_eur_session(&api).await);
    pay_sepa(&api, &id, "succeeded", 600).await;

    api.advance(600).await;

    assert_eq!(
        api.event_types_oldest_first().await,
        [
            "payment_intent.created",
            "checkout.session.completed",
            "payment_intent.processing",
            "charge.pending",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.async_payment_succeeded",
            "charge.updated",
        ]
    );
}

#[tokio::test]
async fn async_payment_fails_after_delay() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_sepa_fail");
    let id = id_of(&create_eur_session(&api).await);
    let path = format!("/v1/checkout/sessions/{id}");

    pay_sepa(&api, &id, "failed", 600).await;
    api.advance(599).await;
    assert_eq!(
        api.event_types_oldest_first().await,
        [
            "payment_intent.created",
            "checkout.session.completed",
            "payment_intent.processing",
            "charge.pending"
        ],
        "nothing settles before the delay ends"
    );
    api.advance(1).await;

    let session = api.get(&path).await.ok().clone();
    assert_eq!(session["status"], "complete");
    assert_eq!(session["payment_status"], "unpaid");
    let pi = api
        .get(&format!(
            "/v1/payment_intents/{}",
            session["payment_intent"].as_str().unwrap()
        ))
        .await;
    assert_eq!(pi.ok()["status"], "requires_payment_method");
    assert_eq!(
        api.event_types_oldest_first().await,
        [
            "payment_intent.created",
            "checkout.session.completed",
            "payment_intent.processing",
            "charge.pending",
            "charge.failed",
            "payment_intent.payment_failed",
            "checkout.session.async_payment_failed",
        ]
    );
}

#[tokio::test]
async fn sepa_is_rejected_for_usd_session() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_sepa_usd");
    let id = id_of(&create_session(&api, &[]).await);

    let reply = api
        .control(
            &format!("/checkout/sessions/{id}/pay"),
            json!({"payment_method": "sepa_debit", "outcome": "succeeded"}),
        )
        .await;

    reply.expect(400);
    assert_eq!(reply.error()["param"], "payment_method");
    assert_eq!(api.all_events().await, Vec::<Value>::new());
}

#[tokio::test]
async fn listed_methods_match_the_page() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_listed_methods");
    let cases = [
        ("usd", vec!["card", "us_bank_account"]),
        ("eur", vec!["card", "sepa_debit"]),
        ("gbp", vec!["card"]),
    ];
    for (currency, expected) in cases {
        let reply = api
            .post("/v1/checkout/sessions", &session_body(currency, &[]))
            .await;
        let session = reply.ok();
        assert_eq!(
            session["payment_method_types"],
            json!(expected),
            "{currency}"
        );

        let url = session["url"].as_str().unwrap();
        let page = reqwest::get(url).await.unwrap().text().await.unwrap();
        let offered: Vec<&str> = page
            .split("name=\"payment_method\" value=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert_eq!(offered, expected, "{currency}");
    }
}

#[tokio::test]
async fn customer_creation_always_creates_customer() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_customer_creation");
    let id = id_of(&create_session(&api, &[("customer_creation", "always")]).await);

    api.control(
        &format!("/checkout/sessions/{id}/pay"),
        json!({"payment_method": "card", "card_number": "4242424242424242", "email": "ada@shop.test", "name": "Ada Lovelace"}),
    )
    .await
    .ok();

    let session = api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .ok()
        .clone();
    assert_eq!(session["customer_details"]["email"], "ada@shop.test");
    assert_eq!(session["customer_details"]["name"], "Ada Lovelace");
    let customer_id = session["customer"]
        .as_str()
        .expect("customer_creation=always sets the session's customer");
    let customer = api
        .get(&format!("/v1/customers/{customer_id}"))
        .await
        .ok()
        .clone();
    assert_eq!(customer["email"], "ada@shop.test");
    assert_eq!(customer["name"], "Ada Lovelace");
    let pi = api
        .get(&format!(
            "/v1/payment_intents/{}",
            session["payment_intent"].as_str().unwrap()
        ))
        .await;
    assert_eq!(pi.ok()["customer"], customer_id);
}

#[tokio::test]
async fn if_required_creates_no_customer() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_if_required");
    let id = id_of(&create_session(&api, &[]).await);

    api.pay_card(&id, "4242424242424242").await.ok();

    let session = api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .ok()
        .clone();
    assert_eq!(session["customer_creation"], "if_required");
    assert_eq!(session["customer"], Value::Null);
    assert_eq!(api.get("/v1/customers").await.ok()["data"], json!([]));
}

#[tokio::test]
async fn success_url_replaces_only_literal_token() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_token");
    let success_url =
        "https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}&raw=%7BCHECKOUT_SESSION_ID%7D";
    let body = form(&[
        ("mode", "payment"),
        ("success_url", success_url),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "700"),
        ("line_items[0][price_data][product_data][name]", "Book"),
        ("line_items[0][quantity]", "1"),
    ]);
    let session = api.post("/v1/checkout/sessions", &body).await.ok().clone();
    let id = id_of(&session);
    assert_eq!(
        session["success_url"], success_url,
        "the stored success_url keeps the token"
    );

    let result = api.pay_card(&id, "4242424242424242").await.ok().clone();

    assert_eq!(
        result["redirect_url"],
        format!("https://shop.test/ok?session_id={id}&raw=%7BCHECKOUT_SESSION_ID%7D")
    );
}

#[tokio::test]
async fn session_expires_at_expires_at() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_clock_expiry");
    let now = api.now().await;
    let expires_at = (now + 1800).to_string();
    let id = id_of(&create_session(&api, &[("expires_at", &expires_at)]).await);
    let path = format!("/v1/checkout/sessions/{id}");

    api.advance(1799).await;
    let still_open = api.get(&path).await.ok().clone();
    assert_eq!(still_open["status"], "open");
    assert!(still_open["url"].is_string());
    assert_eq!(api.all_events().await, Vec::<Value>::new());

    api.advance(1).await;
    let expired = api.get(&path).await.ok().clone();
    assert_eq!(expired["status"], "expired");
    assert_eq!(expired["url"], Value::Null);
    let events = api.all_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "checkout.session.expired");
    assert_eq!(events[0]["created"], now + 1800);
    assert_eq!(
        events[0]["request"]["id"],
        Value::Null,
        "the clock, not a request, expired the session"
    );

    let late = api.pay_card(&id, "4242424242424242").await;
    late.expect(400);
    assert_eq!(late.error()["code"], "checkout_session_not_open");
}

/// Setting the clock forward runs what falls due on the way, at its own
/// time, as an advance does.
#[tokio::test]
async fn setting_clock_forward_expires_sessions() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_clock_set");
    let now = api.now().await;
    let first = (now + 1800).to_string();
    let second = (now + 3600).to_string();
    let first = id_of(&create_session(&api, &[("expires_at", &first)]).await);
    let second = id_of(&create_session(&api, &[("expires_at", &second)]).await);

    let clock = api
        .control("/clock", json!({"now": now + 2 * 24 * 3600}))
        .await;
    assert_eq!(clock.ok()["now"], now + 2 * 24 * 3600);
    assert_eq!(clock.ok()["ran"], 2);

    for id in [&first, &second] {
        let session = api.get(&format!("/v1/checkout/sessions/{id}")).await;
        assert_eq!(session.ok()["status"], "expired", "{id}");
    }
    let mut created: Vec<i64> = api
        .all_events()
        .await
        .iter()
        .filter(|event| event["type"] == "checkout.session.expired")
        .map(|event| event["created"].as_i64().unwrap())
        .collect();
    created.sort_unstable();
    assert_eq!(created, [now + 1800, now + 3600]);
}

#[tokio::test]
async fn expiry_cancels_waiting_payment_intent() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_expiry_cancel");
    let id = id_of(&create_session(&api, &[]).await);
    api.pay_card(&id, "4000000000000002").await.ok();

    api.advance(24 * 3600).await;

    let session = api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .ok()
        .clone();
    assert_eq!(session["status"], "expired");
    let pi = api
        .get(&format!(
            "/v1/payment_intents/{}",
            session["payment_intent"].as_str().unwrap()
        ))
        .await;
    assert_eq!(pi.ok()["status"], "canceled");
    assert_eq!(
        api.event_types_oldest_first().await,
        [
            "payment_intent.created",
            "charge.failed",
            "payment_intent.payment_failed",
            "payment_intent.canceled",
            "checkout.session.expired",
        ]
    );
}

#[tokio::test]
async fn failed_session_create_stores_no_product() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_orphan_product");
    let body = form(&[
        ("mode", "payment"),
        ("success_url", "https://shop.test/ok"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "700"),
        ("line_items[0][price_data][product_data][name]", "Book"),
    ]);

    let reply = api.post("/v1/checkout/sessions", &body).await;

    reply.expect(400);
    assert_eq!(reply.error()["param"], "line_items[0][quantity]");
    assert_eq!(api.get("/v1/products").await.ok()["data"], json!([]));
}

/// A product may take any id, including the store key of the line items
/// of a session not yet created. The session then takes another id, and
/// the product stays.
#[tokio::test]
async fn session_id_skips_taken_line_items_key() {
    let fake = start_manual().await;
    let key = "sk_test_taken_line_items";
    let api = Api::new(fake.base_url(), key);
    create_session(&api, &[]).await;
    let account = fake.shared().account(key, None);
    let taken_keys: Vec<String> = {
        let mut data = account.lock();
        let mut upcoming = data.ids.clone();
        let keys: Vec<String> = (0..8)
            .map(|_| fakestripe_server::wire::expand::line_items_key(&upcoming.next("cs_test_")))
            .collect();
        for taken in &keys {
            data.store.insert(
                "product",
                taken,
                &json!({"id": taken, "object": "product"}),
                0,
            );
        }
        keys
    };

    let session = create_session(&api, &[]).await;
    let id = session["id"].as_str().unwrap();
    let items = api
        .get(&format!("/v1/checkout/sessions/{id}/line_items"))
        .await;
    assert_eq!(items.ok()["data"].as_array().unwrap().len(), 2);
    let data = account.lock();
    for taken in &taken_keys {
        assert_eq!(
            data.store.get("product", taken),
            Some(json!({"id": taken, "object": "product"})),
            "the product at {taken} is kept"
        );
    }
}

/// Returns the line of a session's hosted page that has its email field.
async fn email_input(fake: &Server, session: &str) -> String {
    let page = reqwest::get(format!("{}/c/pay/{session}", fake.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    page.lines()
        .find(|line| line.contains("id=\"email\""))
        .expect("the page has an email field")
        .to_owned()
}

/// A session's `customer_email` is shown fixed as well: the page makes
/// the field read-only, and a payment with another email is a 400.
#[tokio::test]
async fn session_customer_email_is_fixed() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_fixed_customer_email");
    let session = id_of(&create_session(&api, &[("customer_email", "mo@shop.test")]).await);

    let input = email_input(&fake, &session).await;
    let path = format!("/checkout/sessions/{session}/pay");
    let other = json!({"payment_method": "card", "card_number": "4242424242424242", "email": "b@shop.test"});
    let changed = api.control(&path, other).await;

    assert!(input.contains("value=\"mo@shop.test\""), "{input}");
    assert!(input.contains("readonly"), "{input}");
    changed.expect(400);
    assert_eq!(changed.error()["param"], "email");
}

/// Checkout in payment mode always collects an email, so a session paid
/// through the control API without one still completes with an email.
#[tokio::test]
async fn payment_without_email_enters_the_default() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_default_email");
    let cases: [(&[(&str, &str)], &str); 2] = [
        (&[], "customer@example.com"),
        (&[("customer_email", "mo@shop.test")], "mo@shop.test"),
    ];
    for (extra, email) in cases {
        let id = id_of(&create_session(&api, extra).await);
        let body = json!({"payment_method": "card", "card_number": "4242424242424242"});
        let paid = api
            .control(&format!("/checkout/sessions/{id}/pay"), body)
            .await;
        assert_eq!(paid.ok()["session"]["customer_details"]["email"], email);
    }
}

/// A Stripe parameter the fake does not model is named as such, not
/// reported as unknown, which would read as a typo.
#[tokio::test]
async fn unmodelled_session_parameter_is_named() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_unmodelled");
    for (extra, param) in [
        ("automatic_tax[enabled]=true", "automatic_tax"),
        (
            "shipping_options[0][shipping_rate]=shr_nope",
            "shipping_options",
        ),
        ("adaptive_pricing[enabled]=true", "adaptive_pricing"),
        ("tax_id_collection[enabled]=true", "tax_id_collection"),
        (
            "line_items[0][tax_rates][0]=txr_nope",
            "line_items[0][tax_rates]",
        ),
        (
            "line_items[1][dynamic_tax_rates][0]=txr_nope",
            "line_items[1][dynamic_tax_rates]",
        ),
    ] {
        let body = format!("{}&{extra}", session_body("usd", &[]));
        let reply = api.post("/v1/checkout/sessions", &body).await;
        let error = reply.expect(400);
        assert_eq!(error["error"]["param"], param);
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "{param} is a Checkout Session parameter that fakestripe does not model yet."
            )),
            "{message}"
        );
    }

    // Turning off what the fake does not model requests nothing.
    let off = format!("{}&automatic_tax[enabled]=false", session_body("usd", &[]));
    let session = api.post("/v1/checkout/sessions", &off).await;
    assert_eq!(session.ok()["automatic_tax"]["enabled"], false);

    let typo = format!("{}&automatic_taxes=1", session_body("usd", &[]));
    let reply = api.post("/v1/checkout/sessions", &typo).await;
    assert_eq!(reply.expect(400)["error"]["code"], "parameter_unknown");
}

/// With phone number collection on, the phone given at payment lands in
/// `customer_details.phone` and on the customer that Checkout creates.
#[tokio::test]
async fn phone_number_collection_records_the_phone() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_phone");
    let session = create_session(
        &api,
        &[
            ("phone_number_collection[enabled]", "true"),
            ("customer_creation", "always"),
        ],
    )
    .await;
    assert_eq!(session["phone_number_collection"], json!({"enabled": true}));
    let id = id_of(&session);

    let body = json!({"payment_method": "card", "card_number": "4242424242424242", "phone": "+4930123456"});
    let paid = api
        .control(&format!("/checkout/sessions/{id}/pay"), body)
        .await
        .ok()
        .clone();
    assert_eq!(paid["session"]["customer_details"]["phone"], "+4930123456");
    let customer_id = paid["session"]["customer"].as_str().expect("a customer");
    let customer = api.get(&format!("/v1/customers/{customer_id}")).await;
    assert_eq!(customer.ok()["phone"], "+4930123456");
}

/// Checkout requires the phone field, so a payment through the control
/// API without one enters a fixed test number, and a session that does
/// not collect phones takes none.
#[tokio::test]
async fn phone_number_defaults_and_is_rejected_when_off() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_phone_default");
    let collecting = create_session(&api, &[("phone_number_collection[enabled]", "true")]).await;
    let paid = api.pay_card(&id_of(&collecting), "4242424242424242").await;
    assert_eq!(
        paid.ok()["session"]["customer_details"]["phone"],
        "+15555550100"
    );

    let off = create_session(&api, &[("phone_number_collection[enabled]", "false")]).await;
    assert_eq!(off["phone_number_collection"], json!({"enabled": false}));
    let body = json!({"payment_method": "card", "card_number": "4242424242424242", "phone": "+4930123456"});
    let reply = api
        .control(&format!("/checkout/sessions/{}/pay", id_of(&off)), body)
        .await;
    assert_eq!(reply.expect(400)["error"]["param"], "phone");

    let plain = create_session(&api, &[]).await;
    let paid = api.pay_card(&id_of(&plain), "4242424242424242").await;
    assert_eq!(
        paid.ok()["session"]["customer_details"]["phone"],
        Value::Null
    );

    let missing = session_body("usd", &[("phone_number_collection[foo]", "1")]);
    let reply = api.post("/v1/checkout/sessions", &missing).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "phone_number_collection[enabled]"
    );
}

/// `custom_text` is echoed position by position, with the positions not
/// sent left null, and its messages are limited to 1200 characters.
#[tokio::test]
async fn custom_text_is_echoed_and_limited() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_custom_text");
    let session = create_session(
        &api,
        &[
            ("custom_text[submit][message]", "We ship within 24 hours."),
            (
                "custom_text[terms_of_service_acceptance][message]",
                "I agree to the [terms](https://shop.test/terms).",
            ),
        ],
    )
    .await;
    assert_eq!(
        session["custom_text"],
        json!({
            "after_submit": null,
            "shipping_address": null,
            "submit": {"message": "We ship within 24 hours."},
            "terms_of_service_acceptance": {"message": "I agree to the [terms](https://shop.test/terms)."},
        })
    );
    let id = id_of(&session);
    let retrieved = api.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(
        retrieved.ok()["custom_text"]["submit"]["message"],
        "We ship within 24 hours."
    );

    let longest = "a".repeat(1200);
    let session = create_session(&api, &[("custom_text[after_submit][message]", &longest)]).await;
    assert_eq!(session["custom_text"]["after_submit"]["message"], longest);
    let too_long = "a".repeat(1201);
    let body = session_body("usd", &[("custom_text[after_submit][message]", &too_long)]);
    let reply = api.post("/v1/checkout/sessions", &body).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "custom_text[after_submit][message]"
    );

    // An elements session is shown by the app's own page, not Checkout's.
    let body = elements_session_body(("custom_text[submit][message]", "Thanks"));
    let reply = api.post("/v1/checkout/sessions", &body).await;
    assert_eq!(reply.expect(400)["error"]["param"], "custom_text");

    let body = session_body("usd", &[("custom_text[footer][message]", "x")]);
    let reply = api.post("/v1/checkout/sessions", &body).await;
    let error = reply.expect(400);
    assert_eq!(error["error"]["code"], "parameter_unknown");
    assert_eq!(error["error"]["param"], "custom_text[footer]");
}

/// `consent_collection` is echoed, and a payment fills `consent` with the
/// accepted terms and the customer's promotions choice.
#[tokio::test]
async fn consent_collection_fills_consent_on_payment() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_consent");
    let session = create_session(
        &api,
        &[
            ("consent_collection[terms_of_service]", "required"),
            ("consent_collection[promotions]", "auto"),
            (
                "consent_collection[payment_method_reuse_agreement][position]",
                "hidden",
            ),
        ],
    )
    .await;
    assert_eq!(
        session["consent_collection"],
        json!({
            "payment_method_reuse_agreement": {"position": "hidden"},
            "promotions": "auto",
            "terms_of_service": "required",
        })
    );
    assert_eq!(session["consent"], Value::Null);
    let id = id_of(&session);

    let body = json!({"payment_method": "card", "card_number": "4242424242424242", "promotions": "opt_in"});
    let paid = api
        .control(&format!("/checkout/sessions/{id}/pay"), body)
        .await
        .ok()
        .clone();
    assert_eq!(
        paid["session"]["consent"],
        json!({"promotions": "opt_in", "terms_of_service": "accepted"})
    );

    // Terms only: the promotions choice stays null, and so does the
    // consent of a session that collects none.
    let terms_only = create_session(
        &api,
        &[("consent_collection[terms_of_service]", "required")],
    )
    .await;
    let paid = api.pay_card(&id_of(&terms_only), "4242424242424242").await;
    assert_eq!(
        paid.ok()["session"]["consent"],
        json!({"promotions": null, "terms_of_service": "accepted"})
    );
    let plain = create_session(&api, &[]).await;
    let paid = api.pay_card(&id_of(&plain), "4242424242424242").await;
    assert_eq!(paid.ok()["session"]["consent"], Value::Null);

    let body = session_body("usd", &[("consent_collection[promotions]", "always")]);
    let reply = api.post("/v1/checkout/sessions", &body).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "consent_collection[promotions]"
    );
}

/// `currency` is accepted when it matches the line items and rejected,
/// naming `currency`, when it does not.
#[tokio::test]
async fn currency_must_match_line_items() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_currency");
    let session = create_session(&api, &[("currency", "usd")]).await;
    assert_eq!(session["currency"], "usd");
    assert_eq!(session["amount_total"], 3500);

    let body = session_body("usd", &[("currency", "eur")]);
    let reply = api.post("/v1/checkout/sessions", &body).await;
    let error = reply.expect(400);
    assert_eq!(error["error"]["param"], "currency");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("eur") && message.contains("usd"),
        "{message}"
    );
}

/// Creates a customer with an email and returns its id.
async fn create_customer(api: &Api) -> String {
    let customer = api
        .post("/v1/customers", &form(&[("email", "ada@example.com")]))
        .await
        .ok()
        .clone();
    id_of(&customer)
}

/// Returns the HTML of the hosted page at `page_url`.
async fn page_html(page_url: &str) -> String {
    reqwest::get(page_url).await.unwrap().text().await.unwrap()
}

/// Posts the payment form of the hosted page at `page_url`, without
/// following the redirect that a payment responds with.
async fn post_page_form(page_url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    http.post(page_url).form(fields).send().await.unwrap()
}

/// With `billing_address_collection=required` the hosted page requires a
/// billing address and rejects a form without its street. The address
/// entered lands in `customer_details.address`, in the payment method's
/// `billing_details`, and with `customer_update[address]=auto` on the
/// session's customer.
#[tokio::test]
async fn hosted_page_collects_billing_address() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_page_address");
    let customer_id = create_customer(&api).await;
    let session = create_session(
        &api,
        &[
            ("customer", &customer_id),
            ("billing_address_collection", "required"),
            ("customer_update[address]", "auto"),
        ],
    )
    .await;
    let page_url = format!("{}/c/pay/{}", fake.base_url(), id_of(&session));
    let page = page_html(&page_url).await;
    assert!(page.contains("id=\"address-line1\""), "{page}");
    assert!(page.contains("id=\"address-country\""), "{page}");

    let without_street = post_page_form(
        &page_url,
        &[
            ("payment_method", "card"),
            ("card_number", "4242424242424242"),
            ("address[country]", "DE"),
        ],
    )
    .await;
    assert_eq!(without_street.status(), 400);
    let rejected = without_street.text().await.unwrap();
    assert!(rejected.contains("billing address"), "{rejected}");

    // Bytes that are not UTF-8, which a form decodes to U+FFFD, and a
    // control character are not text a customer can enter.
    let page_client = reqwest::Client::new();
    let not_text = page_client
        .post(&page_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("payment_method=card&card_number=4242424242424242&name=%ff%fe&address[line1]=x&address[country]=DE")
        .send()
        .await
        .unwrap();
    assert_eq!(not_text.status(), 400);
    let rejected = not_text.text().await.unwrap();
    assert!(
        rejected.contains("Invalid `name`: it holds U+FFFD"),
        "{rejected}"
    );
    let reply = api
        .control(
            &format!("/checkout/sessions/{}/pay", id_of(&session)),
            json!({
                "payment_method": "card",
                "card_number": "4242424242424242",
                "address": {"line1": "a\u{0}b", "country": "DE"},
            }),
        )
        .await;
    let control = reply.expect(400);
    assert_eq!(control["error"]["param"], "address[line1]");

    // Two letters that name no country are refused as the page would.
    let unknown_country = post_page_form(
        &page_url,
        &[
            ("payment_method", "card"),
            ("card_number", "4242424242424242"),
            ("address[line1]", "Unter den Linden 1"),
            ("address[country]", "QQ"),
        ],
    )
    .await;
    assert_eq!(unknown_country.status(), 400);
    let rejected = unknown_country.text().await.unwrap();
    assert!(
        rejected.contains("`QQ` is not a country code that Checkout takes"),
        "{rejected}"
    );

    let paid = post_page_form(
        &page_url,
        &[
            ("payment_method", "card"),
            ("card_number", "4242424242424242"),
            ("address[line1]", "Unter den Linden 1"),
            ("address[city]", "Berlin"),
            ("address[postal_code]", "10117"),
            ("address[country]", "de"),
        ],
    )
    .await;
    assert_eq!(paid.status(), 303);

    let completed = api
        .get(&format!("/v1/checkout/sessions/{}", id_of(&session)))
        .await;
    let entered = json!({
        "city": "Berlin",
        "country": "DE",
        "line1": "Unter den Linden 1",
        "line2": null,
        "postal_code": "10117",
        "state": null,
    });
    assert_eq!(completed.ok()["customer_details"]["address"], entered);
    let updated = api.get(&format!("/v1/customers/{customer_id}")).await;
    assert_eq!(updated.ok()["address"], entered);
    let pi_id = completed.ok()["payment_intent"].as_str().unwrap();
    let pi = api.get(&format!("/v1/payment_intents/{pi_id}")).await;
    let pm_id = pi.ok()["payment_method"].as_str().unwrap();
    let pm = api.get(&format!("/v1/payment_methods/{pm_id}")).await;
    assert_eq!(pm.ok()["billing_details"]["address"], entered);
}

/// With `shipping_address_collection` the hosted page requires shipping
/// details, offering the allowed countries only. The details entered land
/// in `collected_information.shipping_details`, in the payment intent's
/// `shipping`, and with `customer_update[shipping]=auto` in the customer's
/// `shipping`.
#[tokio::test]
async fn hosted_page_collects_shipping_details() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_page_shipping");
    let customer_id = create_customer(&api).await;
    let session = create_session(
        &api,
        &[
            ("customer", &customer_id),
            ("shipping_address_collection[allowed_countries][0]", "DE"),
            ("shipping_address_collection[allowed_countries][1]", "AT"),
            ("customer_update[shipping]", "auto"),
        ],
    )
    .await;
    assert_eq!(
        session["shipping_address_collection"],
        json!({"allowed_countries": ["DE", "AT"]})
    );
    let page_url = format!("{}/c/pay/{}", fake.base_url(), id_of(&session));
    let page = page_html(&page_url).await;
    assert!(page.contains("id=\"shipping-line1\""), "{page}");
    assert!(page.contains("<option value=\"AT\""), "{page}");
    assert!(!page.contains("<option value=\"US\""), "{page}");

    let without_name = post_page_form(
        &page_url,
        &[
            ("payment_method", "card"),
            ("card_number", "4242424242424242"),
            ("shipping[address][line1]", "Ring 1"),
            ("shipping[address][country]", "AT"),
        ],
    )
    .await;
    assert_eq!(without_name.status(), 400);
    let rejected = without_name.text().await.unwrap();
    assert!(rejected.contains("shipping details"), "{rejected}");

    let paid = post_page_form(
        &page_url,
        &[
            ("payment_method", "card"),
            ("card_number", "4242424242424242"),
            ("shipping[name]", "Ada Lovelace"),
            ("shipping[address][line1]", "Ring 1"),
            ("shipping[address][city]", "Wien"),
            ("shipping[address][postal_code]", "1010"),
            ("shipping[address][country]", "AT"),
        ],
    )
    .await;
    assert_eq!(paid.status(), 303);

    let address = json!({
        "city": "Wien",
        "country": "AT",
        "line1": "Ring 1",
        "line2": null,
        "postal_code": "1010",
        "state": null,
    });
    let completed = api
        .get(&format!("/v1/checkout/sessions/{}", id_of(&session)))
        .await;
    assert_eq!(
        completed.ok()["collected_information"]["shipping_details"],
        json!({"address": address, "name": "Ada Lovelace"})
    );
    let updated = api.get(&format!("/v1/customers/{customer_id}")).await;
    assert_eq!(
        updated.ok()["shipping"],
        json!({"address": address, "name": "Ada Lovelace", "phone": null})
    );
    let pi_id = completed.ok()["payment_intent"].as_str().unwrap();
    let pi = api.get(&format!("/v1/payment_intents/{pi_id}")).await;
    assert_eq!(pi.ok()["shipping"]["address"], address);
    assert_eq!(pi.ok()["shipping"]["name"], "Ada Lovelace");
}

/// With `customer_update[name]=auto` the name entered at payment replaces
/// the customer's, with `customer.updated`; without it the name stays.
#[tokio::test]
async fn customer_update_name_auto_renames_customer() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_customer_update");
    let customer = api
        .post(
            "/v1/customers",
            &form(&[("name", "Old Name"), ("email", "ada@example.com")]),
        )
        .await
        .ok()
        .clone();
    let customer_id = id_of(&customer);
    let pay_as_ada = json!({"payment_method": "card", "card_number": "4242424242424242", "name": "Ada Lovelace"});

    let keeping = create_session(&api, &[("customer", &customer_id)]).await;
    api.control(
        &format!("/checkout/sessions/{}/pay", id_of(&keeping)),
        pay_as_ada.clone(),
    )
    .await
    .ok();
    let unchanged = api.get(&format!("/v1/customers/{customer_id}")).await;
    assert_eq!(unchanged.ok()["name"], "Old Name");

    let session = create_session(
        &api,
        &[
            ("customer", &customer_id),
            ("customer_update[name]", "auto"),
            ("customer_update[address]", "never"),
        ],
    )
    .await;
    assert!(
        session.get("customer_update").is_none(),
        "the session object has no customer_update field"
    );
    let paid = api
        .control(
            &format!("/checkout/sessions/{}/pay", id_of(&session)),
            pay_as_ada,
        )
        .await
        .ok()
        .clone();
    assert_eq!(paid["session"]["customer_details"]["name"], "Ada Lovelace");
    let renamed = api.get(&format!("/v1/customers/{customer_id}")).await;
    assert_eq!(renamed.ok()["name"], "Ada Lovelace");
    let updates: Vec<Value> = api
        .all_events()
        .await
        .into_iter()
        .filter(|event| event["type"] == "customer.updated")
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(
        updates[0]["data"]["previous_attributes"],
        json!({"name": "Old Name"})
    );
    assert_eq!(updates[0]["data"]["object"]["name"], "Ada Lovelace");

    let body = session_body("usd", &[("customer_update[name]", "auto")]);
    let reply = api.post("/v1/checkout/sessions", &body).await;
    assert_eq!(reply.expect(400)["error"]["param"], "customer_update");
    let body = session_body(
        "usd",
        &[
            ("customer", &customer_id),
            ("customer_update[name]", "always"),
        ],
    );
    let reply = api.post("/v1/checkout/sessions", &body).await;
    assert_eq!(reply.expect(400)["error"]["param"], "customer_update[name]");
}

/// `payment_intent_data[shipping]` reaches the payment intent and its
/// charge, and a Connect setting of `payment_intent_data` is named as not
/// modelled rather than unknown.
#[tokio::test]
async fn payment_intent_data_shipping_reaches_charge() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_pid_shipping");
    let session = create_session(
        &api,
        &[
            ("payment_intent_data[shipping][name]", "Ada Lovelace"),
            (
                "payment_intent_data[shipping][address][line1]",
                "12 Analytical Row",
            ),
            ("payment_intent_data[shipping][address][city]", "London"),
            ("payment_intent_data[shipping][address][country]", "GB"),
            ("payment_intent_data[shipping][carrier]", "Royal Mail"),
            ("payment_intent_data[transfer_group]", "order_77"),
        ],
    )
    .await;
    let paid = api.pay_card(&id_of(&session), "4242424242424242").await;
    let pi_id = paid.ok()["session"]["payment_intent"]
        .as_str()
        .expect("a payment intent")
        .to_owned();
    let expected = json!({
        "address": {
            "city": "London",
            "country": "GB",
            "line1": "12 Analytical Row",
            "line2": null,
            "postal_code": null,
            "state": null,
        },
        "carrier": "Royal Mail",
        "name": "Ada Lovelace",
        "phone": null,
        "tracking_number": null,
    });
    let pi = api
        .get(&format!("/v1/payment_intents/{pi_id}"))
        .await
        .ok()
        .clone();
    assert_eq!(pi["shipping"], expected);
    assert_eq!(pi["transfer_group"], "order_77");
    let charge_id = pi["latest_charge"].as_str().expect("latest_charge");
    let charge = api.get(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge.ok()["shipping"], expected);

    let body = session_body(
        "usd",
        &[("payment_intent_data[shipping][address][line1]", "1 Main St")],
    );
    let reply = api.post("/v1/checkout/sessions", &body).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "payment_intent_data[shipping][name]"
    );

    let body = session_body("usd", &[("payment_intent_data[on_behalf_of]", "acct_1")]);
    let error = api
        .post("/v1/checkout/sessions", &body)
        .await
        .expect(400)
        .clone();
    assert_eq!(error["error"]["param"], "payment_intent_data[on_behalf_of]");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("does not model"), "{message}");

    let body = session_body("usd", &[("payment_intent_data[colour]", "red")]);
    let reply = api.post("/v1/checkout/sessions", &body).await;
    assert_eq!(reply.expect(400)["error"]["code"], "parameter_unknown");
}

/// Returns the billing address that the tests of collected details enter.
fn entered_address() -> Value {
    json!({
        "city": "Berlin",
        "country": "DE",
        "line1": "Unter den Linden 1",
        "line2": null,
        "postal_code": "10117",
        "state": null,
    })
}

/// Returns the shipping address that the tests of collected details
/// enter.
fn entered_shipping_address() -> Value {
    json!({
        "city": "Wien",
        "country": "AT",
        "line1": "Ring 1",
        "line2": "Stiege 2",
        "postal_code": "1010",
        "state": null,
    })
}

/// Pays `session` through the control API as Ada, entering the addresses
/// above where the session collects them, and returns the completed
/// session. A bank debit is due to settle a minute later.
async fn pay_with_addresses(api: &Api, session: &Value, payment_method: &str) -> Value {
    let mut body = json!({
        "payment_method": payment_method,
        "email": "ada@shop.test",
        "name": "Ada Lovelace",
    });
    if session["billing_address_collection"] == "required" {
        body["address"] = entered_address();
    }
    if !session["shipping_address_collection"].is_null() {
        body["shipping"] =
            json!({"name": "Charles Babbage", "address": entered_shipping_address()});
    }
    if payment_method == "card" {
        body["card_number"] = json!("4242424242424242");
    } else {
        body["outcome"] = json!("succeeded");
        body["delay_seconds"] = json!(60);
    }
    let session_id = id_of(session);
    api.control(&format!("/checkout/sessions/{session_id}/pay"), body)
        .await
        .ok()["session"]
        .clone()
}

/// A customer that Checkout creates carries the billing address as its
/// `address` and the shipping details as its `shipping`, from its
/// `customer.created` event on.
#[tokio::test]
async fn created_customer_carries_collected_addresses() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_created_customer_addresses");
    let session = create_session(
        &api,
        &[
            ("customer_creation", "always"),
            ("billing_address_collection", "required"),
            ("shipping_address_collection[allowed_countries][0]", "AT"),
            ("phone_number_collection[enabled]", "true"),
        ],
    )
    .await;

    let completed = pay_with_addresses(&api, &session, "card").await;

    let customer_id = completed["customer"].as_str().expect("a created customer");
    let customer = api
        .get(&format!("/v1/customers/{customer_id}"))
        .await
        .ok()
        .clone();
    let shipping = json!({
        "address": entered_shipping_address(),
        "name": "Charles Babbage",
        "phone": null,
    });
    assert_eq!(customer["address"], entered_address());
    assert_eq!(customer["shipping"], shipping);
    assert_eq!(customer["name"], "Ada Lovelace");
    assert_eq!(customer["email"], "ada@shop.test");
    assert_eq!(customer["phone"], "+15555550100");
    let created: Vec<Value> = api
        .all_events()
        .await
        .into_iter()
        .filter(|event| event["type"] == "customer.created")
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["data"]["object"]["address"], entered_address());
    assert_eq!(created[0]["data"]["object"]["shipping"], shipping);

    // Without address collection the created customer has neither.
    let plain = create_session(&api, &[("customer_creation", "always")]).await;
    let paid = api.pay_card(&id_of(&plain), "4242424242424242").await;
    let plain_customer = paid.ok()["session"]["customer"]
        .as_str()
        .unwrap()
        .to_owned();
    let plain_customer = api.get(&format!("/v1/customers/{plain_customer}")).await;
    assert_eq!(plain_customer.ok()["address"], Value::Null);
    assert_eq!(plain_customer.ok()["shipping"], Value::Null);
}

/// The shipping details entered on the page become the payment intent's
/// `shipping` and its charge's, for a card and for a bank debit that
/// settles later. A `payment_intent_data[shipping]` keeps its carrier and
/// tracking number, but the customer's name and address replace its own.
#[tokio::test]
async fn collected_shipping_reaches_payment_intent_and_charge() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_collected_shipping_intent");
    let expected = json!({
        "address": entered_shipping_address(),
        "carrier": null,
        "name": "Charles Babbage",
        "phone": null,
        "tracking_number": null,
    });
    let collect = ("shipping_address_collection[allowed_countries][0]", "AT");

    let card_session = create_session(&api, &[collect]).await;
    let eur_session = api
        .post("/v1/checkout/sessions", &session_body("eur", &[collect]))
        .await
        .ok()
        .clone();
    for (session, method) in [(&card_session, "card"), (&eur_session, "sepa_debit")] {
        let completed = pay_with_addresses(&api, session, method).await;
        let pi_id = completed["payment_intent"]
            .as_str()
            .expect("a payment intent");
        let pi = api
            .get(&format!("/v1/payment_intents/{pi_id}"))
            .await
            .ok()
            .clone();
        assert_eq!(pi["shipping"], expected, "{method}");
        let charge_id = pi["latest_charge"].as_str().expect("latest_charge");
        let charge = api.get(&format!("/v1/charges/{charge_id}")).await;
        assert_eq!(charge.ok()["shipping"], expected, "{method}");
    }

    let with_intent_shipping = create_session(
        &api,
        &[
            collect,
            ("payment_intent_data[shipping][name]", "Warehouse"),
            (
                "payment_intent_data[shipping][address][line1]",
                "1 Dock Road",
            ),
            ("payment_intent_data[shipping][address][country]", "GB"),
            ("payment_intent_data[shipping][carrier]", "Royal Mail"),
            ("payment_intent_data[shipping][tracking_number]", "RM123"),
        ],
    )
    .await;
    let completed = pay_with_addresses(&api, &with_intent_shipping, "card").await;
    let pi_id = completed["payment_intent"].as_str().unwrap();
    let pi = api.get(&format!("/v1/payment_intents/{pi_id}")).await;
    let shipping = &pi.ok()["shipping"];
    assert_eq!(shipping["name"], "Charles Babbage");
    assert_eq!(shipping["address"], entered_shipping_address());
    assert_eq!(shipping["carrier"], "Royal Mail");
    assert_eq!(shipping["tracking_number"], "RM123");
}

/// The payment method Checkout makes carries the email, name and billing
/// address entered as its `billing_details`, and so does its charge.
/// Without address collection the address stays null.
#[tokio::test]
async fn payment_method_carries_entered_billing_details() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_pm_billing_details");
    let session = create_session(&api, &[("billing_address_collection", "required")]).await;

    let completed = pay_with_addresses(&api, &session, "card").await;

    let pi_id = completed["payment_intent"]
        .as_str()
        .expect("a payment intent");
    let pi = api
        .get(&format!("/v1/payment_intents/{pi_id}"))
        .await
        .ok()
        .clone();
    let pm_id = pi["payment_method"].as_str().expect("a payment method");
    let pm = api.get(&format!("/v1/payment_methods/{pm_id}")).await;
    let expected = json!({
        "address": entered_address(),
        "email": "ada@shop.test",
        "name": "Ada Lovelace",
        "phone": null,
    });
    assert_eq!(pm.ok()["billing_details"], expected);
    let charge_id = pi["latest_charge"].as_str().expect("latest_charge");
    let charge = api.get(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge.ok()["billing_details"], expected);

    let plain = create_session(&api, &[]).await;
    let paid = api.pay_card(&id_of(&plain), "4242424242424242").await;
    let pi_id = paid.ok()["session"]["payment_intent"].as_str().unwrap();
    let pi = api.get(&format!("/v1/payment_intents/{pi_id}")).await;
    let pm_id = pi.ok()["payment_method"].as_str().unwrap();
    let pm = api.get(&format!("/v1/payment_methods/{pm_id}")).await;
    assert_eq!(pm.ok()["billing_details"]["address"], Value::Null);
    assert_eq!(pm.ok()["billing_details"]["email"], "customer@example.com");
}

/// Before API version 2025-03-31 a session also shows its shipping
/// details in a top-level field: `shipping_details` from 2022-08-01 on,
/// `shipping` before. The field is null until the customer pays, and
/// sorts among the other fields as Stripe's do.
#[tokio::test]
async fn older_versions_show_top_level_shipping() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_top_level_shipping");
    let session = create_session(
        &api,
        &[("shipping_address_collection[allowed_countries][0]", "AT")],
    )
    .await;
    let path = format!("/v1/checkout/sessions/{}", id_of(&session));
    let acacia = [("Stripe-Version", "2024-06-20")];
    let before_rename = [("Stripe-Version", "2020-08-27")];
    let basil = [("Stripe-Version", "2025-03-31.basil")];

    let open = api.get_with(&path, &acacia).await;
    assert_eq!(open.ok()["shipping_details"], Value::Null);
    assert!(
        open.ok().get("shipping_details").is_some(),
        "{:?}",
        open.ok()
    );

    pay_with_addresses(&api, &session, "card").await;

    let details = json!({"address": entered_shipping_address(), "name": "Charles Babbage"});
    let old = api.get_with(&path, &acacia).await;
    assert_eq!(old.ok()["shipping_details"], details);
    assert_eq!(
        old.ok()["collected_information"]["shipping_details"],
        details
    );
    assert_eq!(old.ok().get("shipping"), None);
    let keys: Vec<&String> = old.ok().as_object().unwrap().keys().collect();
    let position = |name: &str| keys.iter().position(|key| *key == name).unwrap();
    assert_eq!(
        position("shipping_details"),
        position("shipping_cost") + 1,
        "{keys:?}"
    );
    assert_eq!(
        position("shipping_options"),
        position("shipping_details") + 1,
        "{keys:?}"
    );

    let oldest = api.get_with(&path, &before_rename).await;
    assert_eq!(oldest.ok()["shipping"], details);
    assert_eq!(oldest.ok().get("shipping_details"), None);

    for version in [&basil[..], &[]] {
        let current = api.get_with(&path, version).await;
        assert_eq!(current.ok().get("shipping_details"), None, "{version:?}");
        assert_eq!(current.ok().get("shipping"), None, "{version:?}");
        assert_eq!(
            current.ok()["collected_information"]["shipping_details"],
            details
        );
    }

    let listed = api.get_with("/v1/checkout/sessions?limit=1", &acacia).await;
    assert_eq!(listed.ok()["data"][0]["shipping_details"], details);
}

/// Before API version 2025-03-31 a payment intent and a charge have an
/// `invoice` field, null for a Checkout payment, in reads and lists.
#[tokio::test]
async fn older_versions_show_invoice_of_payments() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_invoice_field");
    let session = create_session(&api, &[]).await;
    api.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .ok();
    let paid = api
        .get(&format!("/v1/checkout/sessions/{}", id_of(&session)))
        .await;
    let pi_id = paid.ok()["payment_intent"].as_str().unwrap().to_owned();
    let acacia = [("Stripe-Version", "2024-06-20")];
    let basil = [("Stripe-Version", "2025-03-31.basil")];

    let intent = api
        .get_with(&format!("/v1/payment_intents/{pi_id}"), &acacia)
        .await;
    assert_eq!(
        intent.ok().get("invoice"),
        Some(&Value::Null),
        "{:?}",
        intent.ok()
    );
    let charge_id = intent.ok()["latest_charge"].as_str().unwrap().to_owned();
    let charge = api
        .get_with(&format!("/v1/charges/{charge_id}"), &acacia)
        .await;
    assert_eq!(
        charge.ok().get("invoice"),
        Some(&Value::Null),
        "{:?}",
        charge.ok()
    );
    let listed = api.get_with("/v1/payment_intents?limit=1", &acacia).await;
    assert_eq!(listed.ok()["data"][0].get("invoice"), Some(&Value::Null));

    for version in [&basil[..], &[]] {
        let intent = api
            .get_with(&format!("/v1/payment_intents/{pi_id}"), version)
            .await;
        assert_eq!(intent.ok().get("invoice"), None, "{version:?}");
        let charge = api
            .get_with(&format!("/v1/charges/{charge_id}"), version)
            .await;
        assert_eq!(charge.ok().get("invoice"), None, "{version:?}");
    }
}

/// A customer's `shipping` is set on create, replaced on update and
/// unset by an empty value, and needs a name and an address.
#[tokio::test]
async fn customer_shipping_is_set_replaced_and_unset() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_customer_shipping");
    let created = api
        .post(
            "/v1/customers",
            "shipping[name]=Ada&shipping[address][line1]=1+Main+St&shipping[address][country]=GB&shipping[phone]=%2B441234",
        )
        .await;
    let shipping = &created.ok()["shipping"];
    assert_eq!(shipping["name"], "Ada");
    assert_eq!(shipping["phone"], "+441234");
    assert_eq!(shipping["address"]["line1"], "1 Main St");
    assert_eq!(shipping["address"]["country"], "GB");
    assert_eq!(shipping["address"]["city"], Value::Null);
    let path = format!("/v1/customers/{}", id_of(created.ok()));

    let updated = api
        .post(
            &path,
            "shipping[name]=Charles&shipping[address][line1]=2+High+St",
        )
        .await;
    assert_eq!(updated.ok()["shipping"]["name"], "Charles");
    assert_eq!(updated.ok()["shipping"]["address"]["country"], Value::Null);
    assert_eq!(updated.ok()["shipping"]["phone"], Value::Null);

    let unset = api.post(&path, "shipping=").await;
    assert_eq!(unset.ok()["shipping"], Value::Null);

    let nameless = api
        .post("/v1/customers", "shipping[address][line1]=1+Main+St")
        .await;
    assert_eq!(nameless.expect(400)["error"]["param"], "shipping[name]");
    let homeless = api.post(&path, "shipping[name]=Ada").await;
    assert_eq!(homeless.expect(400)["error"]["param"], "shipping[address]");
}

/// The form pairs of three custom fields: a required text field with
/// length limits, a dropdown with a default value, and an optional
/// numeric field.
const CUSTOM_FIELDS: &[(&str, &str)] = &[
    ("custom_fields[0][key]", "engraving"),
    ("custom_fields[0][label][type]", "custom"),
    ("custom_fields[0][label][custom]", "Engraving"),
    ("custom_fields[0][type]", "text"),
    ("custom_fields[0][text][minimum_length]", "2"),
    ("custom_fields[0][text][maximum_length]", "20"),
    ("custom_fields[1][key]", "size"),
    ("custom_fields[1][label][type]", "custom"),
    ("custom_fields[1][label][custom]", "Size"),
    ("custom_fields[1][type]", "dropdown"),
    ("custom_fields[1][dropdown][options][0][label]", "Small"),
    ("custom_fields[1][dropdown][options][0][value]", "S"),
    ("custom_fields[1][dropdown][options][1][label]", "Large"),
    ("custom_fields[1][dropdown][options][1][value]", "L"),
    ("custom_fields[1][dropdown][default_value]", "L"),
    ("custom_fields[2][key]", "vat"),
    ("custom_fields[2][label][type]", "custom"),
    ("custom_fields[2][label][custom]", "VAT number"),
    ("custom_fields[2][type]", "numeric"),
    ("custom_fields[2][optional]", "true"),
];

/// `custom_fields` is listed with null values until payment, and the
/// payment stores the values entered, a default value, or, for a
/// required field the control API call leaves out, a value that fits.
#[tokio::test]
async fn custom_fields_take_values_on_payment() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_custom_fields");
    let session = create_session(&api, CUSTOM_FIELDS).await;
    assert_eq!(
        session["custom_fields"],
        json!([
            {
                "dropdown": null,
                "key": "engraving",
                "label": {"custom": "Engraving", "type": "custom"},
                "numeric": null,
                "optional": false,
                "text": {"default_value": null, "maximum_length": 20, "minimum_length": 2, "value": null},
                "type": "text",
            },
            {
                "dropdown": {
                    "default_value": "L",
                    "options": [{"label": "Small", "value": "S"}, {"label": "Large", "value": "L"}],
                    "value": null,
                },
                "key": "size",
                "label": {"custom": "Size", "type": "custom"},
                "numeric": null,
                "optional": false,
                "text": null,
                "type": "dropdown",
            },
            {
                "dropdown": null,
                "key": "vat",
                "label": {"custom": "VAT number", "type": "custom"},
                "numeric": {"default_value": null, "maximum_length": null, "minimum_length": null, "value": null},
                "optional": true,
                "text": null,
                "type": "numeric",
            },
        ])
    );

    let id = id_of(&session);
    let body = json!({
        "payment_method": "card",
        "card_number": "4242424242424242",
        "custom_fields": {"engraving": "For Ada", "vat": "12345"},
    });
    let paid = api
        .control(&format!("/checkout/sessions/{id}/pay"), body)
        .await
        .ok()
        .clone();
    let fields = &paid["session"]["custom_fields"];
    assert_eq!(fields[0]["text"]["value"], "For Ada");
    assert_eq!(fields[1]["dropdown"]["value"], "L");
    assert_eq!(fields[2]["numeric"]["value"], "12345");
    let retrieved = api.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(
        retrieved.ok()["custom_fields"][0]["text"]["value"],
        "For Ada"
    );

    // Left out: the required text field gets a fitting value, the
    // dropdown its default, and the optional field stays null.
    let other = create_session(&api, CUSTOM_FIELDS).await;
    let paid = api.pay_card(&id_of(&other), "4242424242424242").await;
    let fields = &paid.ok()["session"]["custom_fields"];
    assert_eq!(fields[0]["text"]["value"], "Sample text");
    assert_eq!(fields[1]["dropdown"]["value"], "L");
    assert_eq!(fields[2]["numeric"]["value"], Value::Null);

    // Each input is checked as the page checks it.
    let open = create_session(&api, CUSTOM_FIELDS).await;
    let path = format!("/checkout/sessions/{}/pay", id_of(&open));
    for (inputs, param) in [
        (json!({"size": "M"}), "custom_fields[size]"),
        (json!({"vat": "12a"}), "custom_fields[vat]"),
        (json!({"engraving": "x"}), "custom_fields[engraving]"),
        (json!({"engraving": ""}), "custom_fields[engraving]"),
        (
            json!({"engraving": "A\u{1}\u{1b}[31mB"}),
            "custom_fields[engraving]",
        ),
        (json!({"colour": "red"}), "custom_fields[colour]"),
    ] {
        let body = json!({"payment_method": "card", "card_number": "4242424242424242", "custom_fields": inputs});
        let reply = api.control(&path, body).await;
        assert_eq!(reply.expect(400)["error"]["param"], param, "{inputs}");
    }
    let retrieved = api
        .get(&format!("/v1/checkout/sessions/{}", id_of(&open)))
        .await;
    assert_eq!(retrieved.ok()["status"], "open");
}

/// `custom_fields` is validated as Stripe's API reference describes, and
/// each 400 names the parameter by its bracket path.
#[tokio::test]
async fn custom_fields_are_validated() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_custom_fields_bad");
    let field = |index: usize, key: &str| -> Vec<(String, String)> {
        vec![
            (format!("custom_fields[{index}][key]"), key.to_owned()),
            (
                format!("custom_fields[{index}][label][type]"),
                "custom".into(),
            ),
            (
                format!("custom_fields[{index}][label][custom]"),
                "Note".into(),
            ),
            (format!("custom_fields[{index}][type]"), "text".into()),
        ]
    };
    let post = |pairs: Vec<(String, String)>| {
        let api = &api;
        async move {
            let borrowed: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            api.post("/v1/checkout/sessions", &session_body("usd", &borrowed))
                .await
        }
    };

    let four: Vec<_> = (0..4).flat_map(|i| field(i, &format!("note{i}"))).collect();
    let reply = post(four).await;
    assert_eq!(reply.expect(400)["error"]["param"], "custom_fields");

    let twice = [field(0, "note"), field(1, "note")].concat();
    let reply = post(twice).await;
    assert_eq!(reply.expect(400)["error"]["param"], "custom_fields[1][key]");

    let reply = post(field(0, "gift_note")).await;
    assert_eq!(reply.expect(400)["error"]["param"], "custom_fields[0][key]");

    let mut dropdown = field(0, "size");
    dropdown[3].1 = "dropdown".into();
    let reply = post(dropdown.clone()).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "custom_fields[0][dropdown]"
    );
    dropdown.push((
        "custom_fields[0][dropdown][default_value]".into(),
        "S".into(),
    ));
    let reply = post(dropdown.clone()).await;
    let error = reply.expect(400);
    assert_eq!(
        error["error"]["param"],
        "custom_fields[0][dropdown][options]"
    );
    assert_eq!(error["error"]["code"], "parameter_missing");
    dropdown.push((
        "custom_fields[0][dropdown][options][0][label]".into(),
        "Large".into(),
    ));
    dropdown.push((
        "custom_fields[0][dropdown][options][0][value]".into(),
        "L".into(),
    ));
    let reply = post(dropdown).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "custom_fields[0][dropdown][default_value]"
    );

    let mut limits = field(0, "note");
    limits.push((
        "custom_fields[0][text][maximum_length]".into(),
        "256".into(),
    ));
    let reply = post(limits).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "custom_fields[0][text][maximum_length]"
    );
    let mut inverted = field(0, "note");
    inverted.push(("custom_fields[0][text][minimum_length]".into(), "9".into()));
    inverted.push(("custom_fields[0][text][maximum_length]".into(), "3".into()));
    let reply = post(inverted).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "custom_fields[0][text][minimum_length]"
    );

    let mut mismatched = field(0, "note");
    mismatched.push((
        "custom_fields[0][numeric][maximum_length]".into(),
        "5".into(),
    ));
    let reply = post(mismatched).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "custom_fields[0][numeric]"
    );

    let mut long_label = field(0, "note");
    long_label[2].1 = "a".repeat(51);
    let reply = post(long_label).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "custom_fields[0][label][custom]"
    );

    // An elements session is shown by the app's own page, not Checkout's.
    let body = elements_session_body(("custom_fields[0][key]", "note"));
    let reply = api.post("/v1/checkout/sessions", &body).await;
    assert_eq!(reply.expect(400)["error"]["param"], "custom_fields");
}

/// With `after_expiration[recovery][enabled]=true`, an expired session
/// shows a recovery URL for 30 days. Opening it creates one open copy of
/// the session, whose `recovered_from` names the expired one.
#[tokio::test]
async fn after_expiration_recovery_creates_a_copy() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_recovery");
    let session = create_session(
        &api,
        &[
            ("after_expiration[recovery][enabled]", "true"),
            ("after_expiration[recovery][allow_promotion_codes]", "true"),
            ("client_reference_id", "cart_42"),
        ],
    )
    .await;
    assert_eq!(
        session["after_expiration"],
        json!({"recovery": {"allow_promotion_codes": true, "enabled": true, "expires_at": null, "url": null}})
    );
    let id = id_of(&session);

    let expired = api
        .post(&format!("/v1/checkout/sessions/{id}/expire"), "")
        .await
        .ok()
        .clone();
    let now = api.now().await;
    let recovery = &expired["after_expiration"]["recovery"];
    let url = format!("{}/c/recover/{id}", fake.base_url());
    assert_eq!(recovery["url"], url);
    assert_eq!(recovery["expires_at"], now + 30 * 86_400);
    let event = &api.all_events().await[0];
    assert_eq!(event["type"], "checkout.session.expired");
    assert_eq!(
        event["data"]["object"]["after_expiration"]["recovery"]["url"],
        url
    );

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = browser.get(&url).send().await.unwrap();
    assert_eq!(opened.status().as_u16(), 303);
    let location = opened.headers()["location"].to_str().unwrap().to_owned();
    let copy_id = location
        .strip_prefix("/c/pay/")
        .expect(&location)
        .to_owned();
    assert_ne!(copy_id, id);
    let copy = api
        .get(&format!("/v1/checkout/sessions/{copy_id}"))
        .await
        .ok()
        .clone();
    assert_eq!(copy["recovered_from"], id.as_str());
    assert_eq!(copy["status"], "open");
    assert_eq!(copy["allow_promotion_codes"], true);
    assert_eq!(copy["client_reference_id"], "cart_42");
    assert_eq!(copy["amount_total"], 3500);
    assert_eq!(copy["expires_at"], now + 24 * 3600);
    assert_eq!(copy["after_expiration"], Value::Null);
    assert_eq!(copy["url"], format!("{}/c/pay/{copy_id}", fake.base_url()));
    let items = api
        .get(&format!("/v1/checkout/sessions/{copy_id}/line_items"))
        .await
        .ok()
        .clone();
    assert_eq!(items["data"][0]["description"], "T-shirt");
    assert_eq!(items["data"][1]["description"], "Socks");
    let paid = api.pay_card(&copy_id, "4242424242424242").await;
    assert_eq!(paid.ok()["session"]["status"], "complete");

    // Later visits lead to the same copy, until the URL expires.
    let again = browser.get(&url).send().await.unwrap();
    assert_eq!(again.headers()["location"], location.as_str());
    api.advance(30 * 86_400).await;
    let late = browser.get(&url).send().await.unwrap();
    assert_eq!(late.status().as_u16(), 410);
}

/// Recovery stays off without `after_expiration`, needs `enabled`, and is
/// rejected for an `elements` session, which has no Checkout page.
#[tokio::test]
async fn after_expiration_is_validated() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_recovery_bad");
    let plain = create_session(&api, &[]).await;
    assert_eq!(plain["after_expiration"], Value::Null);
    let id = id_of(&plain);
    let expired = api
        .post(&format!("/v1/checkout/sessions/{id}/expire"), "")
        .await
        .ok()
        .clone();
    assert_eq!(expired["after_expiration"], Value::Null);
    let page = reqwest::get(format!("{}/c/recover/{id}", fake.base_url()))
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 404);

    let off = create_session(&api, &[("after_expiration[recovery][enabled]", "false")]).await;
    let expired = api
        .post(&format!("/v1/checkout/sessions/{}/expire", id_of(&off)), "")
        .await
        .ok()
        .clone();
    assert_eq!(expired["after_expiration"]["recovery"]["url"], Value::Null);

    let body = session_body(
        "usd",
        &[("after_expiration[recovery][allow_promotion_codes]", "true")],
    );
    let reply = api.post("/v1/checkout/sessions", &body).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "after_expiration[recovery][enabled]"
    );

    let body = elements_session_body(("after_expiration[recovery][enabled]", "true"));
    let reply = api.post("/v1/checkout/sessions", &body).await;
    assert_eq!(reply.expect(400)["error"]["param"], "after_expiration");
}

/// `payment_method_options[card]` is shown on the session and copied to
/// the payment intent, where it sets manual capture, saves the card for
/// the customer and, with `request_three_d_secure=any`, sends a card that
/// needs no authentication through 3-D Secure.
#[tokio::test]
async fn card_options_reach_the_payment_intent() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_card_options");
    let customer = api
        .post("/v1/customers", "email=ada%40shop.test")
        .await
        .ok()
        .clone();
    let customer_id = id_of(&customer);
    let session = create_session(
        &api,
        &[
            ("customer", &customer_id),
            (
                "payment_method_options[card][request_three_d_secure]",
                "any",
            ),
            ("payment_method_options[card][capture_method]", "manual"),
            (
                "payment_method_options[card][setup_future_usage]",
                "off_session",
            ),
            (
                "payment_method_options[card][statement_descriptor_suffix_kana]",
                "ｶｰﾄ",
            ),
        ],
    )
    .await;
    assert_eq!(
        session["payment_method_options"],
        json!({"card": {
            "capture_method": "manual",
            "request_three_d_secure": "any",
            "setup_future_usage": "off_session",
            "statement_descriptor_suffix_kana": "ｶｰﾄ",
        }})
    );
    let id = id_of(&session);

    let paid = api.pay_card(&id, "4242424242424242").await.ok().clone();
    assert_eq!(paid["result"], "succeeded");
    let pi_id = paid["session"]["payment_intent"].as_str().unwrap();
    let pi = api
        .get(&format!("/v1/payment_intents/{pi_id}"))
        .await
        .ok()
        .clone();
    assert_eq!(
        pi["payment_method_options"],
        json!({"card": {
            "capture_method": "manual",
            "installments": null,
            "mandate_options": null,
            "network": null,
            "request_three_d_secure": "any",
            "setup_future_usage": "off_session",
            "statement_descriptor_suffix_kana": "ｶｰﾄ",
        }})
    );
    assert_eq!(pi["status"], "requires_capture");
    assert_eq!(pi["setup_future_usage"], Value::Null);
    let types = api.event_types_oldest_first().await;
    assert!(
        types.contains(&"payment_intent.requires_action".to_owned()),
        "{types:?}"
    );
    let charge_id = pi["latest_charge"].as_str().unwrap();
    let charge = api.get(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(
        charge.ok()["payment_method_details"]["card"]["three_d_secure"]["result"],
        "authenticated"
    );
    let pm_id = pi["payment_method"].as_str().unwrap();
    let pm = api.get(&format!("/v1/payment_methods/{pm_id}")).await;
    assert_eq!(pm.ok()["customer"], customer_id.as_str());

    // The authentication `any` requests can fail like any other.
    let other = create_session(
        &api,
        &[(
            "payment_method_options[card][request_three_d_secure]",
            "challenge",
        )],
    )
    .await;
    let body = json!({"payment_method": "card", "card_number": "4242424242424242", "three_d_secure": "fail"});
    let failed = api
        .control(&format!("/checkout/sessions/{}/pay", id_of(&other)), body)
        .await;
    assert_eq!(failed.ok()["result"], "declined");
}

/// Options the fake does not model are named as such, and bad values are
/// named by their bracket path.
#[tokio::test]
async fn payment_method_options_are_validated() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_card_options_bad");
    let plain = create_session(&api, &[]).await;
    assert_eq!(plain["payment_method_options"], json!({}));
    let automatic = create_session(
        &api,
        &[("payment_method_options[card][capture_method]", "manual")],
    )
    .await;
    assert_eq!(
        automatic["payment_method_options"]["card"]["request_three_d_secure"],
        "automatic"
    );

    for (name, value, param) in [
        (
            "payment_method_options[card][installments][enabled]",
            "true",
            "payment_method_options[card][installments]",
        ),
        (
            "payment_method_options[sepa_debit][setup_future_usage]",
            "off_session",
            "payment_method_options[sepa_debit]",
        ),
    ] {
        let reply = api
            .post(
                "/v1/checkout/sessions",
                &session_body("usd", &[(name, value)]),
            )
            .await;
        let error = reply.expect(400);
        assert_eq!(error["error"]["param"], param);
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains("does not model"), "{message}");
    }
    for (name, value) in [
        (
            "payment_method_options[card][request_three_d_secure]",
            "always",
        ),
        ("payment_method_options[card][capture_method]", "automatic"),
        (
            "payment_method_options[card][statement_descriptor_suffix_kanji]",
            "あいうえおかきくけこさしすせそたちつ",
        ),
    ] {
        let reply = api
            .post(
                "/v1/checkout/sessions",
                &session_body("usd", &[(name, value)]),
            )
            .await;
        assert_eq!(reply.expect(400)["error"]["param"], name);
    }
    let reply = api
        .post(
            "/v1/checkout/sessions",
            &session_body("usd", &[("payment_method_options[crad][x]", "1")]),
        )
        .await;
    assert_eq!(reply.expect(400)["error"]["code"], "parameter_unknown");
}

/// Line item `metadata` and `adjustable_quantity` show on the line items,
/// and `product_data[unit_label]` and `[tax_code]` on the product made for
/// the item.
#[tokio::test]
async fn line_item_metadata_and_unit_label() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_line_item_fields");
    let session = create_session(
        &api,
        &[
            ("line_items[0][metadata][sku]", "TS-1"),
            ("line_items[0][adjustable_quantity][enabled]", "true"),
            ("line_items[0][adjustable_quantity][maximum]", "10"),
            ("line_items[0][price_data][product_data][unit_label]", "pcs"),
            (
                "line_items[0][price_data][product_data][tax_code]",
                "txcd_99999999",
            ),
        ],
    )
    .await;
    let id = id_of(&session);
    let items = api
        .get(&format!("/v1/checkout/sessions/{id}/line_items"))
        .await;
    let items = items.ok()["data"].as_array().unwrap().clone();
    assert_eq!(items[0]["metadata"], json!({"sku": "TS-1"}));
    assert_eq!(
        items[0]["adjustable_quantity"],
        json!({"enabled": true, "maximum": 10, "minimum": null})
    );
    assert_eq!(items[1]["metadata"], json!({}));
    assert_eq!(items[1]["adjustable_quantity"], Value::Null);
    let keys: Vec<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "object",
            "adjustable_quantity",
            "amount_discount",
            "amount_subtotal",
            "amount_tax",
            "amount_total",
            "currency",
            "description",
            "metadata",
            "price",
            "quantity"
        ]
    );

    let product_id = items[0]["price"]["product"].as_str().unwrap();
    let product = api.get(&format!("/v1/products/{product_id}")).await;
    assert_eq!(product.ok()["unit_label"], "pcs");
    assert_eq!(product.ok()["tax_code"], "txcd_99999999");
    let other = items[1]["price"]["product"].as_str().unwrap();
    let other = api.get(&format!("/v1/products/{other}")).await;
    assert_eq!(other.ok()["unit_label"], Value::Null);

    let long = session_body(
        "usd",
        &[(
            "line_items[0][price_data][product_data][unit_label]",
            "thirteen char",
        )],
    );
    let reply = api.post("/v1/checkout/sessions", &long).await;
    assert_eq!(
        reply.expect(400)["error"]["param"],
        "line_items[0][price_data][product_data][unit_label]"
    );
}

/// `ui_mode=form`, which the current API version lists, is rejected with
/// a message that names it as not modelled.
#[tokio::test]
async fn ui_mode_form_is_unmodelled() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_ui_form");
    let body = form(&[
        ("mode", "payment"),
        ("ui_mode", "form"),
        ("return_url", "https://shop.test/return"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "1500"),
        ("line_items[0][price_data][product_data][name]", "Mug"),
        ("line_items[0][quantity]", "1"),
    ]);
    let reply = api.post("/v1/checkout/sessions", &body).await;
    let error = reply.expect(400);
    assert_eq!(error["error"]["param"], "ui_mode");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "ui_mode=form is a Checkout Session UI mode that fakestripe does not model yet."
        ),
        "{message}"
    );

    // A value that Stripe does not take gets Stripe's modes and a note
    // that the fake rejects one of them.
    let body = body.replace("ui_mode=form", "ui_mode=popup");
    let reply = api.post("/v1/checkout/sessions", &body).await;
    let error = reply.expect(400);
    assert_eq!(error["error"]["param"], "ui_mode");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with(
            "fakestripe does not model form yet, so use hosted_page, embedded_page or elements."
        ),
        "{message}"
    );
}

/// The fields the session object gained up to API version
/// 2026-11-18.endive are present, in Stripe's order, with the values
/// Stripe gives a session the fake can make.
#[tokio::test]
async fn session_has_current_fields() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_session_fields");
    let session = create_session(&api, &[]).await;
    for field in [
        "allowed_payment_method_types",
        "currency_conversion",
        "customer_account",
        "integration_identifier",
        "origin_context",
        "payment_method_configuration_details",
        "permissions",
        "saved_payment_method_options",
        "wallet_options",
    ] {
        assert_eq!(session.get(field), Some(&Value::Null), "{field}");
    }
    assert_eq!(session["managed_payments"], json!({"enabled": false}));
    let keys: Vec<&str> = session
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let position = |name: &str| keys.iter().position(|key| *key == name).unwrap();
    for (before, after) in [
        ("allow_promotion_codes", "allowed_payment_method_types"),
        ("allowed_payment_method_types", "amount_subtotal"),
        ("currency", "currency_conversion"),
        ("customer", "customer_account"),
        ("customer_account", "customer_creation"),
        ("expires_at", "integration_identifier"),
        ("locale", "managed_payments"),
        ("mode", "origin_context"),
        ("origin_context", "payment_intent"),
        (
            "payment_method_collection",
            "payment_method_configuration_details",
        ),
        ("payment_status", "permissions"),
        ("return_url", "saved_payment_method_options"),
        ("saved_payment_method_options", "setup_intent"),
        ("url", "wallet_options"),
    ] {
        assert_eq!(position(before) + 1, position(after), "{before}, {after}");
    }
    assert_eq!(keys.last(), Some(&"wallet_options"));

    let customer = api.post("/v1/customers", "email=jenny%40example.com").await;
    let customer = id_of(customer.ok());
    let with_customer = create_session(&api, &[("customer", &customer)]).await;
    assert_eq!(
        with_customer["saved_payment_method_options"],
        json!({
            "allow_redisplay_filters": ["always"],
            "payment_method_remove": "disabled",
            "payment_method_save": null
        })
    );
    let id = id_of(&with_customer);
    let retrieved = api.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(
        retrieved.ok()["saved_payment_method_options"],
        with_customer["saved_payment_method_options"]
    );
}

/// The first API version that rejects `payment_method_types`.
const ENDIVE: [(&str, &str); 1] = [("Stripe-Version", "2026-09-30.endive")];

#[tokio::test]
async fn endive_rejects_payment_method_types() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_endive_types");
    let listed = session_body("eur", &[("payment_method_types[0]", "card")]);

    let session = api
        .post_with("/v1/checkout/sessions", &listed, &ENDIVE)
        .await;
    let intent = api
        .post_with(
            "/v1/payment_intents",
            &form(&[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method_types[0]", "card"),
            ]),
            &ENDIVE,
        )
        .await;
    let unversioned = api.post("/v1/checkout/sessions", &listed).await;

    for reply in [&session, &intent] {
        reply.expect(400);
        assert_eq!(
            reply.error()["code"],
            "payment_method_types_no_longer_supported"
        );
        assert_eq!(reply.error()["param"], "payment_method_types");
    }
    // Without a header the account's default version applies, which is
    // older and still takes the parameter.
    assert_eq!(unversioned.ok()["payment_method_types"], json!(["card"]));
    assert_eq!(
        unversioned.ok()["allowed_payment_method_types"],
        Value::Null
    );
}

#[tokio::test]
async fn endive_allowed_types_choose_methods() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cs_endive_allowed");
    let allowed = session_body(
        "eur",
        &[
            ("allowed_payment_method_types[0]", "sepa_debit"),
            ("allowed_payment_method_types[1]", "us_bank_account"),
        ],
    );
    let excluded = session_body("eur", &[("excluded_payment_method_types[0]", "sepa_debit")]);

    let offered = api
        .post_with("/v1/checkout/sessions", &allowed, &ENDIVE)
        .await;
    let without_sepa = api
        .post_with("/v1/checkout/sessions", &excluded, &ENDIVE)
        .await;
    let before_endive = api.post("/v1/checkout/sessions", &allowed).await;

    let offered = offered.ok();
    assert_eq!(offered["payment_method_types"], json!(["sepa_debit"]));
    assert_eq!(
        offered["allowed_payment_method_types"],
        json!(["sepa_debit", "us_bank_account"])
    );
    assert_eq!(offered["excluded_payment_method_types"], Value::Null);
    let without_sepa = without_sepa.ok();
    assert_eq!(without_sepa["payment_method_types"], json!(["card"]));
    assert_eq!(
        without_sepa["excluded_payment_method_types"],
        json!(["sepa_debit"])
    );
    before_endive.expect(400);
    assert_eq!(before_endive.error()["code"], "parameter_unknown");
    assert_eq!(
        before_endive.error()["param"],
        "allowed_payment_method_types"
    );

    let id = id_of(offered);
    let by_card = api
        .control(
            &format!("/checkout/sessions/{id}/pay"),
            json!({"payment_method": "card", "card_number": "4242424242424242"}),
        )
        .await;
    by_card.expect(400);
    let by_sepa = pay_sepa(&api, &id, "succeeded", 60).await;
    assert_eq!(by_sepa["result"], "processing");
}
