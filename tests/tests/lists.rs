//! List filters and `expand[]` paths across resources, driven over HTTP.
//! Each filter test checks the objects kept and those left out, and each
//! expansion test checks what replaced the id.

mod support;

use serde_json::{Value, json};
use support::{Api, create_session, form, start_manual};

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("list.data is an array")
        .iter()
        .map(|item| item["id"].as_str().expect("item.id").to_owned())
        .collect()
}

fn id_of(object: &Value) -> String {
    object["id"].as_str().expect("object.id").to_owned()
}

/// Creates a payment intent from `extra` form pairs, confirms it with a
/// Visa test card, and returns it.
async fn paid_intent(api: &Api, extra: &[(&str, &str)]) -> Value {
    let mut pairs = vec![
        ("amount", "2000"),
        ("payment_method_types[]", "card"),
        ("confirm", "true"),
        ("payment_method", "pm_card_visa"),
    ];
    if !extra.iter().any(|(key, _)| *key == "currency") {
        pairs.push(("currency", "usd"));
    }
    pairs.extend_from_slice(extra);
    let pi = api.post("/v1/payment_intents", &form(&pairs)).await;
    assert_eq!(pi.ok()["status"], "succeeded");
    pi.json
}

#[tokio::test]
async fn charges_filter_by_transfer_group() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_lists_transfer_group");
    let grouped = paid_intent(&api, &[("transfer_group", "order_17")]).await;
    let ungrouped = paid_intent(&api, &[]).await;
    let session =
        create_session(&api, &[("payment_intent_data[transfer_group]", "order_18")]).await;
    api.pay_card(&id_of(&session), "4242424242424242")
        .await
        .ok();

    assert_eq!(grouped["transfer_group"], "order_17");
    let grouped_charge = grouped["latest_charge"].as_str().unwrap();
    let charge = api.get(&format!("/v1/charges/{grouped_charge}")).await;
    assert_eq!(charge.ok()["transfer_group"], "order_17");
    let ungrouped_charge = ungrouped["latest_charge"].as_str().unwrap();
    let charge = api.get(&format!("/v1/charges/{ungrouped_charge}")).await;
    assert_eq!(charge.ok()["transfer_group"], Value::Null);

    let all = api.get("/v1/charges").await;
    assert_eq!(ids(all.ok()).len(), 3);
    let by_group = api.get("/v1/charges?transfer_group=order_17").await;
    assert_eq!(ids(by_group.ok()), [grouped_charge]);
    let by_session_group = api.get("/v1/charges?transfer_group=order_18").await;
    let data = by_session_group.ok()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["amount"], 3500);
    assert_eq!(data[0]["transfer_group"], "order_18");
    let session_pi = api
        .get(&format!("/v1/checkout/sessions/{}", id_of(&session)))
        .await
        .ok()["payment_intent"]
        .clone();
    let pi = api
        .get(&format!(
            "/v1/payment_intents/{}",
            session_pi.as_str().unwrap()
        ))
        .await;
    assert_eq!(pi.ok()["transfer_group"], "order_18");
    let none = api.get("/v1/charges?transfer_group=order_19").await;
    assert!(ids(none.ok()).is_empty());
}

/// Filters on objects the fake never makes (subscriptions, Accounts v2
/// customers, test clocks, payouts) are accepted and match nothing, while
/// the same list without the filter is not empty.
#[tokio::test]
async fn filters_on_unmodelled_objects_match_nothing() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_lists_unmodelled");
    api.post("/v1/customers", "name=Ada").await.ok();
    create_session(&api, &[]).await;
    paid_intent(&api, &[]).await;

    for (list, filter) in [
        (
            "/v1/checkout/sessions",
            "subscription=sub_1NqxYzLkdIwHu7ix0aBcDeFg",
        ),
        (
            "/v1/checkout/sessions",
            "customer_account=acct_1NqxYzLkdIwHu7ix",
        ),
        (
            "/v1/payment_intents",
            "customer_account=acct_1NqxYzLkdIwHu7ix",
        ),
        ("/v1/customers", "test_clock=clock_1NqxYzLkdIwHu7ix0aBcDeFg"),
        (
            "/v1/balance_transactions",
            "payout=po_1NqxYzLkdIwHu7ix0aBcDeFg",
        ),
    ] {
        let unfiltered = api.get(list).await;
        assert!(!ids(unfiltered.ok()).is_empty(), "{list}");
        let filtered = api.get(&format!("{list}?{filter}")).await;
        let body = filtered.ok();
        assert!(ids(body).is_empty(), "{list}?{filter}: {body}");
        assert_eq!(body["has_more"], false, "{list}?{filter}");
    }
}

#[tokio::test]
async fn prices_filter_by_recurring_fields() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_lists_recurring");
    let product = api.post("/v1/products", "name=Plan").await.ok().clone();
    let product_id = id_of(&product);
    let price = |extra: &'static str| {
        let api = api.clone();
        let body = format!("currency=usd&unit_amount=900&product={product_id}{extra}");
        async move { id_of(api.post("/v1/prices", &body).await.ok()) }
    };
    let one_time = price("").await;
    let monthly = price("&recurring[interval]=month").await;
    let yearly = price("&recurring[interval]=year").await;

    for (query, expected) in [
        ("recurring[interval]=month", vec![monthly.clone()]),
        ("recurring[interval]=year", vec![yearly.clone()]),
        ("recurring[interval]=week", vec![]),
        (
            "recurring[usage_type]=licensed",
            vec![yearly.clone(), monthly.clone()],
        ),
        ("recurring[usage_type]=metered", vec![]),
        (
            "recurring[interval]=month&recurring[usage_type]=licensed",
            vec![monthly.clone()],
        ),
        ("recurring[meter]=mtr_1NqxYzLkdIwHu7ix", vec![]),
        ("type=one_time", vec![one_time.clone()]),
    ] {
        let listed = api.get(&format!("/v1/prices?{query}")).await;
        assert_eq!(ids(listed.ok()), expected, "{query}");
    }

    for (query, param) in [
        ("recurring[interval]=fortnight", "recurring[interval]"),
        ("recurring[usage_type]=counted", "recurring[usage_type]"),
    ] {
        let reply = api.get(&format!("/v1/prices?{query}")).await;
        reply.expect(400);
        assert_eq!(reply.error()["code"], "parameter_invalid", "{query}");
        assert_eq!(reply.error()["param"], param, "{query}");
    }
    let unknown = api.get("/v1/prices?recurring[colour]=red").await;
    unknown.expect(400);
    assert_eq!(unknown.error()["code"], "parameter_unknown");
    assert_eq!(unknown.error()["param"], "recurring[colour]");
}

#[tokio::test]
async fn balance_transactions_filter_by_currency() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_lists_bt_currency");
    let usd = paid_intent(&api, &[]).await;
    let eur = paid_intent(&api, &[("currency", "eur")]).await;
    let txn_of = |pi: &Value| {
        let api = api.clone();
        let charge = pi["latest_charge"].as_str().unwrap().to_owned();
        async move {
            api.get(&format!("/v1/charges/{charge}")).await.ok()["balance_transaction"]
                .as_str()
                .expect("a captured charge has a balance transaction")
                .to_owned()
        }
    };
    let usd_txn = txn_of(&usd).await;
    let eur_txn = txn_of(&eur).await;

    for (query, expected) in [
        ("currency=usd", vec![usd_txn.clone()]),
        ("currency=eur", vec![eur_txn.clone()]),
        ("currency=EUR", vec![eur_txn.clone()]),
        ("currency=gbp", vec![]),
        ("", vec![eur_txn.clone(), usd_txn.clone()]),
    ] {
        let listed = api.get(&format!("/v1/balance_transactions?{query}")).await;
        assert_eq!(ids(listed.ok()), expected, "{query}");
    }
    let invalid = api.get("/v1/balance_transactions?currency=dollars").await;
    invalid.expect(400);
    assert_eq!(invalid.error()["param"], "currency");
}

#[tokio::test]
async fn products_filter_by_url() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_lists_product_url");
    let socks = api
        .post(
            "/v1/products",
            "name=Socks&url=https%3A%2F%2Fshop.test%2Fsocks",
        )
        .await
        .ok()
        .clone();
    assert_eq!(socks["url"], "https://shop.test/socks");
    let hats = api
        .post(
            "/v1/products",
            "name=Hats&url=https%3A%2F%2Fshop.test%2Fhats",
        )
        .await
        .ok()
        .clone();
    let plain = api.post("/v1/products", "name=Gift").await.ok().clone();
    assert_eq!(plain["url"], Value::Null);

    let by_url = api
        .get("/v1/products?url=https%3A%2F%2Fshop.test%2Fsocks")
        .await;
    assert_eq!(ids(by_url.ok()), [id_of(&socks)]);
    let all = api.get("/v1/products").await;
    assert_eq!(ids(all.ok()), [id_of(&plain), id_of(&hats), id_of(&socks)]);

    let moved = api
        .post(
            &format!("/v1/products/{}", id_of(&hats)),
            "url=https%3A%2F%2Fshop.test%2Fsocks",
        )
        .await;
    assert_eq!(moved.ok()["url"], "https://shop.test/socks");
    let cleared = api
        .post(&format!("/v1/products/{}", id_of(&socks)), "url=")
        .await;
    assert_eq!(cleared.ok()["url"], Value::Null);
    let by_url = api
        .get("/v1/products?url=https%3A%2F%2Fshop.test%2Fsocks")
        .await;
    assert_eq!(ids(by_url.ok()), [id_of(&hats)]);

    let long = format!("name=Long&url=https://shop.test/{}", "a".repeat(5000));
    let too_long = api.post("/v1/products", &long).await;
    too_long.expect(400);
    assert_eq!(too_long.error()["param"], "url");
}

#[tokio::test]
async fn balance_transaction_source_expands() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_lists_bt_source");
    let customer = id_of(api.post("/v1/customers", "name=Ada").await.ok());
    let pi = paid_intent(&api, &[("customer", &customer)]).await;
    let pi_id = id_of(&pi);
    let charge_id = pi["latest_charge"].as_str().unwrap().to_owned();
    let refund = api
        .post("/v1/refunds", &format!("payment_intent={pi_id}&amount=500"))
        .await
        .ok()
        .clone();
    let refund_id = id_of(&refund);

    let plain = api.get("/v1/balance_transactions").await.ok().clone();
    assert_eq!(plain["data"][0]["source"], json!(refund_id));
    assert_eq!(plain["data"][1]["source"], json!(charge_id));

    let expanded = api
        .get("/v1/balance_transactions?expand[]=data.source")
        .await
        .ok()
        .clone();
    let refund_source = &expanded["data"][0]["source"];
    assert_eq!(refund_source["object"], "refund");
    assert_eq!(refund_source["id"], json!(refund_id));
    assert_eq!(refund_source["amount"], 500);
    let charge_source = &expanded["data"][1]["source"];
    assert_eq!(charge_source["object"], "charge");
    assert_eq!(charge_source["id"], json!(charge_id));
    assert_eq!(charge_source["amount"], 2000);

    let txn_id = id_of(&plain["data"][1]);
    let retrieved = api
        .get(&format!(
            "/v1/balance_transactions/{txn_id}?expand[]=source"
        ))
        .await;
    assert_eq!(retrieved.ok()["source"]["object"], "charge");
    assert_eq!(retrieved.ok()["source"]["payment_intent"], json!(pi_id));

    // A field that only a charge expands is expanded on the charge and
    // leaves the refund as it is.
    let deeper = api
        .get("/v1/balance_transactions?expand[]=data.source.customer&expand[]=data.source.payment_intent")
        .await
        .ok()
        .clone();
    let charge_source = &deeper["data"][1]["source"];
    assert_eq!(charge_source["customer"]["object"], "customer");
    assert_eq!(charge_source["customer"]["id"], json!(customer));
    assert_eq!(charge_source["payment_intent"]["id"], json!(pi_id));
    let refund_source = &deeper["data"][0]["source"];
    assert!(refund_source.get("customer").is_none(), "{refund_source}");
    assert_eq!(refund_source["payment_intent"]["object"], "payment_intent");

    let bad = api
        .get("/v1/balance_transactions?expand[]=data.source.colour")
        .await;
    bad.expect(400);
    assert_eq!(bad.error()["param"], "expand[0]");
}

#[tokio::test]
async fn session_total_details_breakdown_expands() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_lists_breakdown");
    let breakdown = json!({"discounts": [], "taxes": []});
    let created = create_session(&api, &[("expand[]", "total_details.breakdown")]).await;
    assert_eq!(created["total_details"]["breakdown"], breakdown);
    assert_eq!(created["total_details"]["amount_tax"], 0);
    let id = id_of(&created);

    let plain = api.get(&format!("/v1/checkout/sessions/{id}")).await;
    let details = plain.ok()["total_details"].as_object().unwrap();
    assert!(!details.contains_key("breakdown"), "{details:?}");

    let retrieved = api
        .get(&format!(
            "/v1/checkout/sessions/{id}?expand[]=total_details.breakdown"
        ))
        .await;
    let details = &retrieved.ok()["total_details"];
    assert_eq!(details["breakdown"], breakdown);
    assert_eq!(details["amount_discount"], 0);
    assert_eq!(details["amount_shipping"], 0);

    let listed = api
        .get("/v1/checkout/sessions?expand[]=data.total_details.breakdown")
        .await;
    assert_eq!(
        listed.ok()["data"][0]["total_details"]["breakdown"],
        breakdown
    );

    for path in ["total_details", "total_details.amount_tax"] {
        let reply = api
            .get(&format!("/v1/checkout/sessions/{id}?expand[]={path}"))
            .await;
        reply.expect(400);
        assert_eq!(reply.error()["param"], "expand[0]", "{path}");
    }
}

/// The fake never sets a customer's default payment method, so the path
/// is accepted and the field stays null. A unit test in `wire::expand`
/// covers the expansion of a set one.
#[tokio::test]
async fn customer_default_payment_method_path_is_accepted() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_lists_default_pm");
    let customer = api.post("/v1/customers", "name=Ada").await.ok().clone();
    let id = id_of(&customer);

    for path in [
        "invoice_settings.default_payment_method",
        "invoice_settings.default_payment_method.customer",
    ] {
        let reply = api
            .get(&format!("/v1/customers/{id}?expand[]={path}"))
            .await;
        let settings = &reply.ok()["invoice_settings"];
        assert_eq!(settings, &customer["invoice_settings"], "{path}");
        assert_eq!(settings["default_payment_method"], Value::Null, "{path}");
    }
    let listed = api
        .get("/v1/customers?expand[]=data.invoice_settings.default_payment_method")
        .await;
    assert_eq!(ids(listed.ok()), [id.as_str()]);

    for path in ["invoice_settings", "invoice_settings.footer"] {
        let reply = api
            .get(&format!("/v1/customers/{id}?expand[]={path}"))
            .await;
        reply.expect(400);
        assert_eq!(reply.error()["param"], "expand[0]", "{path}");
    }
}
