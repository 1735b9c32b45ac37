//! Stripe's wire protocol over real HTTP: form bodies in bracket notation,
//! error envelopes and statuses, API keys, `Stripe-Account`,
//! `Stripe-Version`, idempotency, pagination, `expand`, metadata rules,
//! the body size limit and isolation between keys.

mod support;

use base64::Engine;
use fakestripe_server::ServerConfig;
use serde_json::{Value, json};
use support::{Api, create_session, encode, form, start, start_manual};

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("list.data")
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn literal_and_encoded_brackets_decode_alike() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_brackets");

    let literal = api
        .post("/v1/customers", "name=Ada&metadata[order_id]=42")
        .await;
    let encoded = api
        .post("/v1/customers", "name=Ada&metadata%5Border_id%5D=42")
        .await;

    assert_eq!(literal.ok()["metadata"], json!({"order_id": "42"}));
    assert_eq!(encoded.ok()["metadata"], json!({"order_id": "42"}));
}

/// A client that forgets to percent-encode a value sends a bare `%`.
/// Stripe rejects the request; storing the text as typed would hide the
/// client's bug.
#[tokio::test]
async fn bare_percent_is_400_naming_the_parameter() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_bare_percent");

    let body = api
        .post("/v1/customers", "name=100%&email=a%40x.test")
        .await;
    assert_eq!(body.expect(400)["error"]["param"], "name");
    let query = api.get("/v1/customers?email=a%ZZx.test").await;
    assert_eq!(query.expect(400)["error"]["param"], "email");
    let customers = api.get("/v1/customers").await;
    assert_eq!(customers.ok()["data"], json!([]));

    let encoded = api.post("/v1/customers", "name=100%25%20off").await;
    assert_eq!(encoded.ok()["name"], "100% off");
}

/// Strings longer than Stripe's limit for the field are a 400 naming it,
/// on the API and where the customer types them, and the longest allowed
/// value is kept whole.
#[tokio::test]
async fn strings_over_their_limit_are_rejected() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_string_limits");
    let email_of = |length: usize| format!("{}@x.test", "a".repeat(length - 7));

    let longest = api
        .post(
            "/v1/customers",
            &form(&[("email", &email_of(512)), ("name", &"n".repeat(256))]),
        )
        .await;
    assert_eq!(longest.ok()["email"], email_of(512));
    for (param, value) in [
        ("email", email_of(513)),
        ("name", "n".repeat(257)),
        ("phone", "1".repeat(21)),
    ] {
        let reply = api.post("/v1/customers", &form(&[(param, &value)])).await;
        let error = &reply.expect(400)["error"];
        assert_eq!(error["param"], param, "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("must be at most"), "{message}");
    }

    let session = create_session(&api, &[]).await;
    let id = session["id"].as_str().unwrap();
    let paid = api
        .control(
            &format!("/checkout/sessions/{id}/pay"),
            json!({"payment_method": "card", "card_number": "4242424242424242", "email": email_of(513)}),
        )
        .await;
    assert_eq!(paid.expect(400)["error"]["param"], "email");
    let session = api.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(session.ok()["status"], "open");
}

#[tokio::test]
async fn empty_and_indexed_array_keys_decode_alike() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_arrays");
    let images = json!(["https://img.test/1.png", "https://img.test/2.png"]);

    let empty_index = api
        .post("/v1/products", "name=Mug&images[]=https%3A%2F%2Fimg.test%2F1.png&images[]=https%3A%2F%2Fimg.test%2F2.png")
        .await;
    let numbered = api
        .post("/v1/products", "name=Mug&images[0]=https%3A%2F%2Fimg.test%2F1.png&images[1]=https%3A%2F%2Fimg.test%2F2.png")
        .await;
    let encoded = api
        .post("/v1/products", "name=Mug&images%5B0%5D=https%3A%2F%2Fimg.test%2F1.png&images%5B1%5D=https%3A%2F%2Fimg.test%2F2.png")
        .await;

    assert_eq!(empty_index.ok()["images"], images);
    assert_eq!(numbered.ok()["images"], images);
    assert_eq!(encoded.ok()["images"], images);
}

#[tokio::test]
async fn ten_level_param_named_in_full() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_deep");
    // line_items, 0, price_data, product_data and six more levels: ten in all.
    let body = format!(
        "{}&line_items[0][price_data][product_data][l5][l6][l7][l8][l9][l10]=deep",
        support::session_body("usd", &[])
    );

    let reply = api.post("/v1/checkout/sessions", &body).await;

    reply.expect(400);
    let error = reply.error();
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "parameter_unknown");
    assert_eq!(
        error["param"],
        "line_items[0][price_data][product_data][l5]"
    );
    assert_eq!(
        error["message"],
        "Received unknown parameter: line_items[0][price_data][product_data][l5]"
    );
}

#[tokio::test]
async fn nested_metadata_value_is_rejected_with_path() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_nested_meta");

    let reply = api.post("/v1/customers", "metadata[a][b]=c").await;

    reply.expect(400);
    assert_eq!(reply.error()["param"], "metadata[a]");
}

#[tokio::test]
async fn get_reads_query_string() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_query");
    for email in ["a@x.test", "b@x.test", "b@x.test"] {
        api.post("/v1/customers", &form(&[("email", email)]))
            .await
            .ok();
    }

    let filtered = api.get("/v1/customers?email=b%40x.test&limit=1").await;
    let list = filtered.ok();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["email"], "b@x.test");
    assert_eq!(list["has_more"], true);

    let bad = api.get("/v1/customers?limit=abc").await;
    bad.expect(400);
    assert_eq!(bad.error()["param"], "limit");
}

#[tokio::test]
async fn json_body_is_rejected() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_json_body");

    let response = api
        .http
        .post(format!("{}/v1/customers", fake.base_url()))
        .bearer_auth(&api.key)
        .header("content-type", "application/json")
        .body(r#"{"name":"Ada"}"#)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();

    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-www-form-urlencoded"),
        "{body}"
    );
    let customers = api.get("/v1/customers").await;
    assert_eq!(
        customers.ok()["data"],
        json!([]),
        "a rejected body must create nothing"
    );
}

/// curl's `-F` sends multipart form data; its boundary line must not
/// come back as an unknown parameter's name.
#[tokio::test]
async fn multipart_body_is_rejected_without_a_parameter() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_multipart_body");
    let boundary = "------------------------cb1e2f";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nAda\r\n--{boundary}--\r\n"
    );

    let response = api
        .http
        .post(format!("{}/v1/customers", fake.base_url()))
        .bearer_auth(&api.key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();

    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"].get("param"), None, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("not multipart form data"), "{message}");
    assert!(message.contains("-d instead of -F"), "{message}");
    let customers = api.get("/v1/customers").await;
    assert_eq!(customers.ok()["data"], json!([]));
}

#[tokio::test]
async fn unknown_param_is_400_naming_it() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_unknown_param");

    let reply = api.post("/v1/customers", "name=Ada&colour=red").await;

    reply.expect(400);
    let error = reply.error();
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "parameter_unknown");
    assert_eq!(error["param"], "colour");
    assert_eq!(
        error["doc_url"],
        "https://stripe.com/docs/error-codes/parameter-unknown"
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let request_id = reply.header("request-id").expect("request-id header");
    assert!(request_id.starts_with("req_"), "{request_id}");
}

#[tokio::test]
async fn missing_params_are_400_naming_them() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_missing_param");

    let no_mode = api
        .post(
            "/v1/checkout/sessions",
            "success_url=https%3A%2F%2Fshop.test%2Fok",
        )
        .await;
    no_mode.expect(400);
    assert_eq!(no_mode.error()["code"], "parameter_missing");
    assert_eq!(no_mode.error()["param"], "mode");
    assert_eq!(no_mode.error()["message"], "Missing required param: mode.");

    let no_quantity = api
        .post(
            "/v1/checkout/sessions",
            &form(&[
                ("mode", "payment"),
                ("success_url", "https://shop.test/ok"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "100"),
                ("line_items[0][price_data][product_data][name]", "Pen"),
            ]),
        )
        .await;
    no_quantity.expect(400);
    assert_eq!(no_quantity.error()["param"], "line_items[0][quantity]");
}

#[tokio::test]
async fn invalid_nested_param_names_full_path() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_invalid_param");
    let body = form(&[
        ("mode", "payment"),
        ("success_url", "https://shop.test/ok"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "abc"),
        ("line_items[0][price_data][product_data][name]", "Pen"),
        ("line_items[0][quantity]", "1"),
    ]);

    let reply = api.post("/v1/checkout/sessions", &body).await;

    reply.expect(400);
    let error = reply.error();
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "parameter_invalid_integer");
    assert_eq!(error["param"], "line_items[0][price_data][unit_amount]");
}

#[tokio::test]
async fn session_total_over_limit_is_400() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_total_limit");
    let session = |quantity: &'static str| {
        form(&[
            ("mode", "payment"),
            ("success_url", "https://shop.test/ok"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "99999999"),
            ("line_items[0][price_data][product_data][name]", "Yacht"),
            ("line_items[0][quantity]", quantity),
        ])
    };

    let at_limit = api.post("/v1/checkout/sessions", &session("1")).await;
    at_limit.expect(200);
    let over = api.post("/v1/checkout/sessions", &session("2")).await;

    over.expect(400);
    assert_eq!(over.error()["code"], "amount_too_large");
    assert_eq!(over.error()["param"], "line_items");
    let message = over.error()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("199999998"), "{message}");
    // The rejected session left no product behind.
    let products = api.get("/v1/products").await;
    assert_eq!(products.ok()["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn decimal_amount_is_checked() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_decimal_amount");
    let session = |decimal: &'static str| {
        form(&[
            ("mode", "payment"),
            ("success_url", "https://shop.test/ok"),
            ("line_items[0][price_data][currency]", "eur"),
            ("line_items[0][price_data][unit_amount_decimal]", decimal),
            ("line_items[0][price_data][product_data][name]", "Ship"),
            ("line_items[0][quantity]", "1"),
            ("line_items[1][price_data][currency]", "eur"),
            ("line_items[1][price_data][unit_amount_decimal]", decimal),
            ("line_items[1][price_data][product_data][name]", "Ship"),
            ("line_items[1][quantity]", "1"),
        ])
    };

    // Two of these would overflow the session's total.
    for decimal in [
        "5e18",
        "5000000000000000000",
        "99999999.5",
        "-1",
        "1.0000000000001",
        "inf",
        ".",
    ] {
        let reply = api.post("/v1/checkout/sessions", &session(decimal)).await;
        reply.expect(400);
        assert_eq!(
            reply.error()["param"],
            "line_items[0][price_data][unit_amount_decimal]",
            "{decimal}"
        );
    }
    let products = api.get("/v1/products").await;
    assert_eq!(products.ok()["data"], json!([]));

    let created = api.post("/v1/checkout/sessions", &session("1250.5")).await;
    assert_eq!(created.ok()["amount_total"], 2502);
    let price = api
        .post(
            "/v1/prices",
            &form(&[
                ("currency", "eur"),
                ("unit_amount_decimal", "5e18"),
                ("product_data[name]", "Ship"),
            ]),
        )
        .await;
    price.expect(400);
    assert_eq!(price.error()["param"], "unit_amount_decimal");
}

#[tokio::test]
async fn inline_prices_are_retrievable_not_listed() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_inline_prices");
    // The maximum number of line items, each with a new product, so the
    // first price is as far from its session's id as a price can be.
    let mut pairs = vec![
        ("mode".to_owned(), "payment".to_owned()),
        ("success_url".to_owned(), "https://shop.test/ok".to_owned()),
    ];
    for index in 0..100 {
        let item = |field: &str| format!("line_items[{index}]{field}");
        pairs.push((item("[price_data][currency]"), "eur".into()));
        pairs.push((item("[price_data][unit_amount]"), (100 + index).to_string()));
        pairs.push((
            item("[price_data][product_data][name]"),
            format!("Item {index}"),
        ));
        pairs.push((item("[quantity]"), "1".into()));
    }
    let body: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let session = api.post("/v1/checkout/sessions", &form(&body)).await;
    let session_id = session.ok()["id"].as_str().unwrap().to_owned();
    let items = api
        .get(&format!(
            "/v1/checkout/sessions/{session_id}/line_items?limit=100"
        ))
        .await;
    let items = items.ok()["data"].as_array().unwrap().clone();
    assert_eq!(items.len(), 100);

    for index in [0, 57, 99] {
        let shown = &items[index]["price"];
        let id = shown["id"].as_str().unwrap();
        let price = api.get(&format!("/v1/prices/{id}")).await;
        assert_eq!(price.ok(), shown, "line item {index}");
        assert_eq!(price.ok()["active"], false, "line item {index}");
        assert_eq!(price.ok()["unit_amount"], 100 + index, "line item {index}");
    }
    let expanded = api
        .get(&format!(
            "/v1/prices/{}?expand[]=product",
            items[3]["price"]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(expanded.ok()["product"]["name"], "Item 3");

    // The fake keeps these prices in their session and does not update them.
    let first_id = items[0]["price"]["id"].as_str().unwrap();
    let update = api
        .post(&format!("/v1/prices/{first_id}"), "metadata[a]=b")
        .await;
    update.expect(400);
    let message = update.error()["message"].as_str().unwrap();
    assert!(message.contains("does not update"), "{message}");

    // Stripe lists active prices only, and an inactive price cannot start
    // a new session.
    assert_eq!(api.get("/v1/prices").await.ok()["data"], json!([]));
    let first = items[0]["price"]["id"].as_str().unwrap();
    let reused = api
        .post(
            "/v1/checkout/sessions",
            &form(&[
                ("mode", "payment"),
                ("success_url", "https://shop.test/ok"),
                ("line_items[0][price]", first),
                ("line_items[0][quantity]", "1"),
            ]),
        )
        .await;
    reused.expect(400);
    assert!(
        reused.error()["message"]
            .as_str()
            .unwrap()
            .contains("not active"),
        "{:?}",
        reused.error()
    );
}

#[tokio::test]
async fn empty_payment_method_types_is_400() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_no_methods");
    let body = support::session_body("usd", &[("payment_method_types", "")]);

    let reply = api.post("/v1/checkout/sessions", &body).await;

    reply.expect(400);
    assert_eq!(reply.error()["param"], "payment_method_types");
    let sessions = api.get("/v1/checkout/sessions").await;
    assert_eq!(sessions.ok()["data"], json!([]));
}

#[tokio::test]
async fn locale_must_be_one_checkout_offers() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_locales");

    // A browser's language tag is the usual mistake.
    let rejected = api
        .post(
            "/v1/checkout/sessions",
            &support::session_body("usd", &[("locale", "en-US")]),
        )
        .await;
    let accepted = api
        .post(
            "/v1/checkout/sessions",
            &support::session_body("usd", &[("locale", "hi-IN")]),
        )
        .await;

    rejected.expect(400);
    assert_eq!(rejected.error()["param"], "locale");
    let message = rejected.error()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("en-US") && message.contains("en-GB"),
        "{message}"
    );
    assert_eq!(accepted.ok()["locale"], "hi-IN");
    let sessions = api.get("/v1/checkout/sessions").await;
    assert_eq!(sessions.ok()["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn missing_key_is_401() {
    let fake = start_manual().await;

    let response = reqwest::get(format!("{}/v1/customers", fake.base_url()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();

    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not provide an API key"),
        "{body}"
    );
}

#[tokio::test]
async fn malformed_keys_are_401_and_masked() {
    let fake = start_manual().await;
    // Each key is shown as its first eight characters, stars, and its last four.
    let cases = [
        ("sk_live_1234567890abcdef", "1234567890ab"),
        ("sk_test_has-dash-inside9876", "has-dash-inside"),
        ("pk_test_publishablekey5555", "publishablekey"),
    ];
    for (key, hidden) in cases {
        let masked = format!(
            "{}{}{}",
            &key[..8],
            "*".repeat(key.len() - 12),
            &key[key.len() - 4..]
        );
        let api = Api::new(fake.base_url(), key);

        let reply = api.get("/v1/customers").await;

        reply.expect(401);
        let message = reply.error()["message"].as_str().unwrap();
        assert_eq!(reply.error()["code"], "api_key_invalid", "{key}");
        assert!(message.contains(&masked), "{key}: {message}");
        assert!(!message.contains(hidden), "{key} leaked in: {message}");
    }
}

/// A key with characters outside ASCII is an invalid key, not a missing
/// one, and the message does not repeat it.
#[tokio::test]
async fn non_ascii_key_is_invalid_not_missing() {
    let fake = start_manual().await;
    let value = reqwest::header::HeaderValue::from_bytes("Bearer sk_test_caf\u{e9}".as_bytes())
        .expect("obs-text is a valid header value");

    let response = reqwest::Client::new()
        .get(format!("{}/v1/customers", fake.base_url()))
        .header(reqwest::header::AUTHORIZATION, value)
        .send()
        .await
        .expect("the fake responds");

    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["error"]["code"], "api_key_invalid", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("outside ASCII"), "{message}");
    assert!(!message.contains("caf"), "{message}");
}

/// A chosen product id as long as Stripe allows can still be retrieved by
/// its path. A longer one is rejected when created, so that no product
/// exists that no path can reach.
#[tokio::test]
async fn chosen_product_ids_stay_retrievable() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_long_ids");
    // Four bytes in UTF-8, twelve once percent-encoded.
    let longest = "\u{1F600}".repeat(5000);
    let encoded = encode(&longest);
    api.post("/v1/products", &format!("name=Mug&id={encoded}"))
        .await
        .expect(200);
    let fetched = api.get(&format!("/v1/products/{encoded}")).await;
    assert_eq!(fetched.expect(200)["id"], longest.as_str());

    let too_long = encode(&"p".repeat(5001));
    let rejected = api
        .post("/v1/products", &format!("name=Mug&id={too_long}"))
        .await;
    rejected.expect(400);
    assert_eq!(rejected.error()["param"], "id");
    assert!(
        rejected.error()["message"]
            .as_str()
            .unwrap()
            .contains("at most 5000"),
        "{}",
        rejected.error()
    );
}

/// A body the fake cannot read still gets a line in the account's request
/// log, which the error links to with an absolute URL.
#[tokio::test]
async fn unreadable_body_is_in_the_request_log() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_unreadable");
    let reply = api.post("/v1/customers", "name=a&name=b").await;
    reply.expect(400);
    assert_eq!(reply.error()["param"], "name");
    let link = reply.error()["request_log_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = reply.header("request-id").unwrap().to_owned();
    assert_eq!(
        link,
        format!("{}/_fakestripe/requests?request_id={id}", fake.base_url())
    );

    // The link works as it is, with the key as the Basic auth user name,
    // as `curl -u KEY: "$request_log_url"` sends it.
    let response = reqwest::Client::new()
        .get(&link)
        .basic_auth("sk_test_unreadable", Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let log: Value = response.json().await.unwrap();
    let entries = log["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["status"], 400);
    assert_eq!(entries[0]["path"], "/v1/customers");
}

/// A missing object named in a parameter is a 400, where one named in
/// the path is a 404; both carry `resource_missing` and the parameter.
#[tokio::test]
async fn missing_object_in_a_parameter_is_400() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_missing_param");
    let cases = [
        (
            "/v1/checkout/sessions",
            support::session_body("usd", &[("customer", "cus_gone")]),
            "customer",
        ),
        (
            "/v1/checkout/sessions",
            form(&[
                ("mode", "payment"),
                ("success_url", "https://shop.test/ok"),
                ("line_items[0][price]", "price_gone"),
                ("line_items[0][quantity]", "1"),
            ]),
            "line_items[0][price]",
        ),
        (
            "/v1/prices",
            form(&[
                ("currency", "usd"),
                ("unit_amount", "100"),
                ("product", "prod_gone"),
            ]),
            "product",
        ),
    ];
    for (path, body, param) in cases {
        let reply = api.post(path, &body).await;
        reply.expect(400);
        assert_eq!(reply.error()["code"], "resource_missing", "{path}");
        assert_eq!(reply.error()["param"], param, "{path}");
    }
}

/// A list filter that names a missing object is a 400 naming the filter.
/// An object of another account counts as missing, and a filter naming an
/// existing object filters the list.
#[tokio::test]
async fn list_filter_naming_a_missing_object_is_400() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_list_filter");
    let other = Api::new(fake.base_url(), "sk_test_list_filter_other");
    let theirs = other.post("/v1/customers", "name=Bo").await.ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ours = api.post("/v1/customers", "name=Ada").await.ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.post(
        "/v1/payment_intents",
        &format!("amount=500&currency=usd&customer={ours}"),
    )
    .await
    .ok();
    api.post("/v1/payment_intents", "amount=700&currency=usd")
        .await
        .ok();

    for (path, param, label) in [
        (
            "/v1/payment_intents?customer=cus_gone",
            "customer",
            "customer",
        ),
        (
            &format!("/v1/payment_intents?customer={theirs}"),
            "customer",
            "customer",
        ),
        (
            "/v1/checkout/sessions?customer=cus_gone",
            "customer",
            "customer",
        ),
        (
            "/v1/checkout/sessions?payment_intent=pi_gone",
            "payment_intent",
            "payment_intent",
        ),
        ("/v1/charges?customer=cus_gone", "customer", "customer"),
        (
            "/v1/charges?payment_intent=pi_gone",
            "payment_intent",
            "payment_intent",
        ),
        ("/v1/refunds?charge=ch_gone", "charge", "charge"),
        (
            "/v1/refunds?payment_intent=pi_gone",
            "payment_intent",
            "payment_intent",
        ),
        ("/v1/prices?product=prod_gone", "product", "product"),
    ] {
        let reply = api.get(path).await;
        reply.expect(400);
        assert_eq!(reply.error()["code"], "resource_missing", "{path}");
        assert_eq!(reply.error()["param"], param, "{path}");
        let id = path.rsplit('=').next().unwrap();
        assert_eq!(
            reply.error()["message"],
            format!("No such {label}: '{id}'"),
            "{path}"
        );
    }

    let listed = api
        .get(&format!("/v1/payment_intents?customer={ours}"))
        .await;
    let data = listed.ok()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["amount"], 500);
}

/// A payment intent update attaches a customer that exists, and names a
/// missing one in a 400.
#[tokio::test]
async fn payment_intent_update_attaches_a_customer() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_pi_customer");
    let pi = api
        .post("/v1/payment_intents", "amount=2000&currency=usd")
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let customer = api.post("/v1/customers", "name=Ada").await.ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing = api
        .post(&format!("/v1/payment_intents/{pi}"), "customer=cus_gone")
        .await;
    missing.expect(400);
    assert_eq!(missing.error()["param"], "customer");
    assert_eq!(missing.error()["code"], "resource_missing");
    let updated = api
        .post(
            &format!("/v1/payment_intents/{pi}"),
            &format!("customer={customer}"),
        )
        .await;
    assert_eq!(updated.ok()["customer"], customer.as_str());
}

#[tokio::test]
async fn unknown_id_is_404_resource_missing() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_missing_id");

    let customer = api.get("/v1/customers/cus_doesnotexist").await;
    customer.expect(404);
    assert_eq!(customer.error()["type"], "invalid_request_error");
    assert_eq!(customer.error()["code"], "resource_missing");
    assert_eq!(customer.error()["param"], "id");
    assert_eq!(
        customer.error()["message"],
        "No such customer: 'cus_doesnotexist'"
    );

    let session = api.get("/v1/checkout/sessions/cs_test_doesnotexist").await;
    session.expect(404);
    assert_eq!(session.error()["code"], "resource_missing");
    assert_eq!(session.error()["param"], "session");
}

/// A 404 for an id in the path names the path's parameter, as Stripe
/// does, on every endpoint of a resource: `session` for a Checkout
/// Session and `intent` for a payment intent.
#[tokio::test]
async fn missing_path_ids_name_the_path_parameter() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_missing_path_ids");
    let session = "/v1/checkout/sessions/cs_test_doesnotexist";
    let intent = "/v1/payment_intents/pi_doesnotexist";
    let replies = [
        ("session", api.get(session).await),
        ("session", api.post(session, "metadata[a]=b").await),
        ("session", api.post(&format!("{session}/expire"), "").await),
        ("session", api.get(&format!("{session}/line_items")).await),
        ("intent", api.get(intent).await),
        ("intent", api.post(intent, "metadata[a]=b").await),
        ("intent", api.post(&format!("{intent}/confirm"), "").await),
        ("intent", api.post(&format!("{intent}/capture"), "").await),
        ("intent", api.post(&format!("{intent}/cancel"), "").await),
    ];
    for (param, reply) in replies {
        reply.expect(404);
        assert_eq!(reply.error()["code"], "resource_missing");
        assert_eq!(reply.error()["param"], param, "{:?}", reply.error());
    }
}

#[tokio::test]
async fn unknown_route_is_404_naming_method_and_path() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_unknown_route");

    let missing = api.get("/v1/subscriptions_and_more").await;
    missing.expect(404);
    assert_eq!(missing.error()["type"], "invalid_request_error");
    let message = missing.error()["message"].as_str().unwrap();
    assert!(
        message.contains("GET: /v1/subscriptions_and_more"),
        "{message}"
    );

    let wrong_method = api.delete("/v1/checkout/sessions").await;
    wrong_method.expect(404);
    let message = wrong_method.error()["message"].as_str().unwrap();
    assert!(
        message.contains("DELETE: /v1/checkout/sessions"),
        "{message}"
    );

    // A search of a resource Stripe cannot search, or a search route with
    // another method, is an unknown route, not an object named `search`.
    for (method, path) in [
        ("GET", "/v1/refunds/search"),
        ("GET", "/v1/events/search"),
        ("POST", "/v1/customers/search"),
        ("DELETE", "/v1/products/search"),
    ] {
        let search = match method {
            "GET" => api.get(&format!("{path}?query=amount%3A1")).await,
            "POST" => api.post(path, "query=amount%3A1").await,
            _ => api.delete(path).await,
        };
        search.expect(404);
        let message = search.error()["message"].as_str().unwrap();
        assert!(message.contains("Unrecognized request URL"), "{message}");
        assert!(message.contains(&format!("{method}: {path}")), "{message}");
    }

    // A search of each of the five searchable resources returns a search
    // result.
    for family in [
        "customers",
        "payment_intents",
        "charges",
        "prices",
        "products",
    ] {
        let search = api
            .get(&format!(
                "/v1/{family}/search?query=metadata%5B%27a%27%5D%3A%27b%27"
            ))
            .await;
        let result = search.ok();
        assert_eq!(result["object"], "search_result", "{family}");
        assert_eq!(result["url"], format!("/v1/{family}/search"), "{family}");
        assert_eq!(result["data"], serde_json::json!([]), "{family}");
    }
}

#[tokio::test]
async fn declined_confirm_is_402_card_error() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_card_error");
    let pi = api
        .post(
            "/v1/payment_intents",
            "amount=2000&currency=usd&payment_method_types[]=card",
        )
        .await
        .ok()
        .clone();
    let pi_id = pi["id"].as_str().unwrap();

    let reply = api
        .post(
            &format!("/v1/payment_intents/{pi_id}/confirm"),
            "payment_method=pm_card_chargeDeclined",
        )
        .await;

    reply.expect(402);
    let error = reply.error();
    assert_eq!(error["type"], "card_error");
    assert_eq!(error["code"], "card_declined");
    assert_eq!(error["decline_code"], "generic_decline");
    assert_eq!(error["message"], "Your card was declined.");
    assert_eq!(error["payment_intent"]["id"], pi_id);
    assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
    let charge_id = error["charge"]
        .as_str()
        .expect("error.charge is the failed charge's id");
    let charge = api.get(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge.ok()["status"], "failed");
    assert_eq!(charge.ok()["failure_code"], "card_declined");
    // The declined payment method is in the error, as the payment intent
    // drops it.
    assert_eq!(error["payment_method"]["object"], "payment_method");
    assert_eq!(
        error["payment_method"]["id"],
        charge.ok()["payment_method"],
        "error.payment_method is the declined charge's payment method"
    );
    assert_eq!(error["payment_method"]["card"]["last4"], "0002");
    assert_eq!(error["payment_intent"]["payment_method"], Value::Null);
}

#[tokio::test]
async fn basic_auth_reaches_same_account_as_bearer() {
    let fake = start_manual().await;
    let bearer = Api::new(fake.base_url(), "sk_test_basicuser");
    let customer = bearer.post("/v1/customers", "name=Ada").await.ok().clone();
    let id = customer["id"].as_str().unwrap();
    let credentials = base64::engine::general_purpose::STANDARD.encode("sk_test_basicuser:");

    let response = reqwest::Client::new()
        .get(format!("{}/v1/customers/{id}", fake.base_url()))
        .header("authorization", format!("Basic {credentials}"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "Ada");
}

#[tokio::test]
async fn restricted_key_is_its_own_account() {
    let fake = start_manual().await;
    let restricted = Api::new(fake.base_url(), "rk_test_shopreader");
    let secret = Api::new(fake.base_url(), "sk_test_shopreader");

    let created = restricted.post("/v1/customers", "name=Rita").await;
    let id = created.ok()["id"].as_str().unwrap().to_owned();

    assert_eq!(
        restricted.get(&format!("/v1/customers/{id}")).await.ok()["name"],
        "Rita"
    );
    secret.get(&format!("/v1/customers/{id}")).await.expect(404);
}

#[tokio::test]
async fn stripe_account_header_scopes_objects() {
    let fake = start_manual().await;
    let platform = Api::new(fake.base_url(), "sk_test_platform");
    let connected = platform
        .clone()
        .with_header("Stripe-Account", "acct_1Connected");
    let other = platform
        .clone()
        .with_header("Stripe-Account", "acct_2Other");

    let customer = connected
        .post("/v1/customers", "name=Connie")
        .await
        .ok()
        .clone();
    let id = customer["id"].as_str().unwrap();

    assert_eq!(
        connected.get(&format!("/v1/customers/{id}")).await.ok()["name"],
        "Connie"
    );
    platform
        .get(&format!("/v1/customers/{id}"))
        .await
        .expect(404);
    other.get(&format!("/v1/customers/{id}")).await.expect(404);
    assert_eq!(platform.get("/v1/customers").await.ok()["data"], json!([]));
    let events = connected.all_events().await;
    assert!(
        !events.is_empty(),
        "creating a customer records customer.created"
    );
    assert!(
        events.iter().all(|e| e["account"] == "acct_1Connected"),
        "{events:?}"
    );
    assert_eq!(platform.all_events().await, Vec::<Value>::new());

    let invalid = platform
        .get_with("/v1/customers", &[("Stripe-Account", "merchant42")])
        .await;
    invalid.expect(400);
    assert!(
        invalid.error()["message"]
            .as_str()
            .unwrap()
            .contains("acct_")
    );

    // The API takes the same ids as the dashboard, which shows any
    // account the API can reach.
    for odd in ["acct_a-b.c", "acct_", "acct_a b"] {
        let reply = platform
            .get_with("/v1/customers", &[("Stripe-Account", odd)])
            .await;
        reply.expect(400);
        assert!(
            reply.error()["message"]
                .as_str()
                .unwrap()
                .contains("letters, digits or underscores"),
            "{odd}"
        );
    }
}

#[tokio::test]
async fn header_outside_ascii_is_400_not_ignored() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_header_bytes");

    // Each header, if dropped, would change what the request does: the
    // account it acts on, a retry's replay, or the shape of the session.
    for (name, value) in [
        ("Stripe-Account", "acct_é"),
        ("Idempotency-Key", "order-é"),
        ("Stripe-Version", "2020-08-27é"),
    ] {
        let reply = api
            .post_with("/v1/customers", "email=a@shop.test", &[(name, value)])
            .await;
        reply.expect(400);
        let message = reply.error()["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(&format!("Invalid {name} header")),
            "{message}"
        );
    }
    let scoped = api.clone().with_header("Stripe-Account", "acct_é");
    scoped.control_get("/clock").await.expect(400);

    // The dashboard, too, rejects the header instead of showing the
    // platform account.
    let page = scoped
        .get(&format!("/_fakestripe/dashboard?key={}", api.key))
        .await;
    page.expect(400);
    let html = String::from_utf8_lossy(&page.bytes);
    assert!(html.contains("Invalid Stripe-Account header"), "{html}");

    // A key sent twice gets an HTML error page, like the dashboard's other
    // errors.
    let twice = api
        .get(&format!("/_fakestripe/dashboard?key={0}&key={0}", api.key))
        .await;
    twice.expect(400);
    assert_eq!(
        twice.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8_lossy(&twice.bytes);
    assert!(html.contains("duplicate field `key`"), "{html}");

    assert_eq!(api.get("/v1/customers").await.ok()["data"], json!([]));
}

#[tokio::test]
async fn stripe_version_is_echoed() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_versions");

    let pinned = api
        .get_with("/v1/customers", &[("Stripe-Version", "2024-06-20")])
        .await;
    pinned.ok();
    assert_eq!(pinned.header("stripe-version"), Some("2024-06-20"));

    let default = api.get("/v1/customers").await;
    assert_eq!(default.header("stripe-version"), Some("2026-03-25.dahlia"));

    let named = api
        .get_with("/v1/customers", &[("Stripe-Version", "2025-03-31.basil")])
        .await;
    assert_eq!(named.header("stripe-version"), Some("2025-03-31.basil"));

    let invalid = api
        .get_with("/v1/customers", &[("Stripe-Version", "latest")])
        .await;
    invalid.expect(400);
    assert!(
        invalid.error()["message"]
            .as_str()
            .unwrap()
            .contains("latest")
    );

    let no_such_day = api
        .get_with("/v1/customers", &[("Stripe-Version", "2025-02-30")])
        .await;
    no_such_day.expect(400);
    assert!(
        no_such_day.error()["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid Stripe API version: 2025-02-30.")
    );

    // Acacia's first version is dated 2024-09-30, so no earlier date
    // carries its name.
    let wrong_release = api
        .get_with("/v1/customers", &[("Stripe-Version", "2024-06-20.acacia")])
        .await;
    wrong_release.expect(400);
    assert!(
        wrong_release.error()["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid Stripe API version: 2024-06-20.acacia. No release of that name has a version of that date; send 2024-06-20.")
    );

    // No released version is dated in the future. The SDKs pin versions
    // newer than the fake's default, and those still pass.
    let future = api
        .get_with("/v1/customers", &[("Stripe-Version", "2099-01-01.bogus")])
        .await;
    future.expect(400);
    assert!(
        future.error()["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid Stripe API version: 2099-01-01.bogus. No version with that date")
    );
    let newer = api
        .get_with("/v1/customers", &[("Stripe-Version", "2026-11-18.endive")])
        .await;
    assert_eq!(newer.header("stripe-version"), Some("2026-11-18.endive"));
}

#[tokio::test]
async fn old_version_creates_payment_intent_with_session() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_old_version");
    let body = support::session_body("usd", &[]);

    let old = api
        .post_with(
            "/v1/checkout/sessions",
            &body,
            &[("Stripe-Version", "2022-07-31")],
        )
        .await;
    let old = old.ok();
    let pi_id = old["payment_intent"]
        .as_str()
        .expect("before 2022-08-01 a session has a payment intent at once");
    let pi = api.get(&format!("/v1/payment_intents/{pi_id}")).await;
    assert_eq!(pi.ok()["status"], "requires_payment_method");
    assert_eq!(pi.ok()["amount"], 3500);

    let new = api
        .post_with(
            "/v1/checkout/sessions",
            &body,
            &[("Stripe-Version", "2022-08-01")],
        )
        .await;
    assert_eq!(new.ok()["payment_intent"], Value::Null);
}

#[tokio::test]
async fn session_create_expands_its_response() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_create_expand");
    let body = support::session_body(
        "usd",
        &[("expand[]", "line_items"), ("expand[]", "payment_intent")],
    );
    let created = api
        .post_with(
            "/v1/checkout/sessions",
            &body,
            &[("Stripe-Version", "2022-07-31")],
        )
        .await;
    let created = created.ok();
    let items = created["line_items"]["data"]
        .as_array()
        .expect("line_items is expanded");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["price"]["object"], "price");
    assert_eq!(items[0]["price"]["active"], false);
    let pi = &created["payment_intent"];
    assert_eq!(pi["object"], "payment_intent", "{created:#}");
    assert_eq!(pi["amount"], created["amount_total"]);
    assert!(created.get("_payment_intent_data").is_none());

    // Unexpanded, the create returns what a retrieve of the session does.
    let plain = api
        .post("/v1/checkout/sessions", &support::session_body("eur", &[]))
        .await;
    let plain = plain.ok().clone();
    let id = plain["id"].as_str().unwrap();
    let fetched = api.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(&plain, fetched.ok());
    assert_eq!(plain["payment_method_types"], json!(["card", "sepa_debit"]));
    let items = api
        .get(&format!("/v1/checkout/sessions/{id}/line_items"))
        .await;
    let product = items.ok()["data"][1]["price"]["product"].as_str().unwrap();
    let product = api.get(&format!("/v1/products/{product}")).await;
    assert_eq!(product.ok()["name"], items.ok()["data"][1]["description"]);
    assert_eq!(product.ok()["created"], plain["created"]);
}

#[tokio::test]
async fn ui_mode_names_follow_version() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_ui_mode");
    let items = support::two_line_items("usd");
    let embedded = |mode: &'static str| {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("mode", "payment"),
            ("ui_mode", mode),
            ("return_url", "https://shop.test/back"),
        ];
        pairs.extend(items.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        form(&pairs)
    };
    let old = [("Stripe-Version", "2025-03-31.basil")];

    let hosted_new = create_session(&api, &[]).await;
    assert_eq!(hosted_new["ui_mode"], "hosted_page");
    let embedded_new = api
        .post("/v1/checkout/sessions", &embedded("embedded_page"))
        .await;
    let session = embedded_new.ok();
    assert_eq!(session["ui_mode"], "embedded_page");
    assert_eq!(session["url"], Value::Null);
    let secret = session["client_secret"]
        .as_str()
        .expect("an embedded session has a client_secret");
    assert!(
        secret.starts_with(session["id"].as_str().unwrap()),
        "{secret}"
    );
    let old_name_on_new = api
        .post("/v1/checkout/sessions", &embedded("embedded"))
        .await;
    old_name_on_new.expect(400);
    assert_eq!(old_name_on_new.error()["param"], "ui_mode");

    let hosted_old = api
        .post_with(
            "/v1/checkout/sessions",
            &support::session_body("usd", &[]),
            &old,
        )
        .await;
    assert_eq!(hosted_old.ok()["ui_mode"], "hosted");
    let embedded_old = api
        .post_with("/v1/checkout/sessions", &embedded("embedded"), &old)
        .await;
    assert_eq!(embedded_old.ok()["ui_mode"], "embedded");
    let new_name_on_old = api
        .post_with("/v1/checkout/sessions", &embedded("embedded_page"), &old)
        .await;
    new_name_on_old.expect(400);
    assert_eq!(new_name_on_old.error()["param"], "ui_mode");

    // A session reads in the names of the version each request names,
    // whichever version created it.
    let old_id = embedded_old.ok()["id"].as_str().unwrap();
    let path = format!("/v1/checkout/sessions/{old_id}");
    assert_eq!(api.get(&path).await.ok()["ui_mode"], "embedded_page");
    assert_eq!(api.get_with(&path, &old).await.ok()["ui_mode"], "embedded");
    let new_id = hosted_new["id"].as_str().unwrap();
    let path = format!("/v1/checkout/sessions/{new_id}");
    assert_eq!(api.get_with(&path, &old).await.ok()["ui_mode"], "hosted");
    let listed = api.get_with("/v1/checkout/sessions?limit=100", &old).await;
    let modes: Vec<&Value> = listed.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|session| &session["ui_mode"])
        .collect();
    assert_eq!(
        modes,
        ["embedded", "hosted", "embedded", "hosted"],
        "newest first"
    );
    // Events keep the version they were rendered in.
    api.post_with(&format!("{path}/expire"), "", &old)
        .await
        .ok();
    let events = api
        .get_with("/v1/events?type=checkout.session.expired", &old)
        .await;
    let event = &events.ok()["data"][0];
    assert_eq!(event["api_version"], "2026-03-25.dahlia");
    assert_eq!(event["data"]["object"]["ui_mode"], "hosted_page");

    // `custom` came with 2025-03-31.basil, so the version before it
    // rejects it, and basil takes it.
    let acacia = [("Stripe-Version", "2025-02-24.acacia")];
    let custom_before = api
        .post_with("/v1/checkout/sessions", &embedded("custom"), &acacia)
        .await;
    custom_before.expect(400);
    assert_eq!(custom_before.error()["param"], "ui_mode");
    let custom_basil = api
        .post_with("/v1/checkout/sessions", &embedded("custom"), &old)
        .await;
    assert_eq!(custom_basil.ok()["ui_mode"], "custom");
}

#[tokio::test]
async fn idempotent_replay_returns_same_bytes() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_idem_replay");
    let key = [("Idempotency-Key", "order-17-create")];

    let first = api
        .post_with("/v1/customers", "name=Ada&metadata[order]=17", &key)
        .await;
    let second = api
        .post_with("/v1/customers", "name=Ada&metadata[order]=17", &key)
        .await;

    first.ok();
    assert_eq!(second.status, 200);
    assert_eq!(second.bytes, first.bytes);
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.header("idempotency-key"), Some("order-17-create"));
    let list = api.get("/v1/customers").await;
    assert_eq!(
        list.ok()["data"].as_array().unwrap().len(),
        1,
        "a replay must not create a second customer"
    );

    // A session created in an old version replays in that version's
    // names, whatever version the retry sends.
    let body = support::session_body("usd", &[]);
    let old = [
        ("Idempotency-Key", "order-18-create"),
        ("Stripe-Version", "2025-03-31.basil"),
    ];
    let created = api.post_with("/v1/checkout/sessions", &body, &old).await;
    assert_eq!(created.ok()["ui_mode"], "hosted");
    let retry = [("Idempotency-Key", "order-18-create")];
    let replayed = api.post_with("/v1/checkout/sessions", &body, &retry).await;
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.bytes, created.bytes);
}

#[tokio::test]
async fn idempotency_key_with_other_params_is_rejected() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_idem_mismatch");
    let key = [("Idempotency-Key", "shared-key")];
    api.post_with("/v1/customers", "name=Ada", &key).await.ok();

    let other_params = api.post_with("/v1/customers", "name=Grace", &key).await;
    other_params.expect(400);
    assert_eq!(other_params.error()["type"], "idempotency_error");

    let other_endpoint = api.post_with("/v1/products", "name=Ada", &key).await;
    other_endpoint.expect(400);
    assert_eq!(other_endpoint.error()["type"], "idempotency_error");
}

#[tokio::test]
async fn failed_validation_does_not_store_key() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_idem_retry");
    let key = [("Idempotency-Key", "retry-after-fix")];

    let rejected = api
        .post_with("/v1/customers", "name=Ada&colour=red", &key)
        .await;
    rejected.expect(400);
    let corrected = api.post_with("/v1/customers", "name=Ada", &key).await;
    let replayed = api.post_with("/v1/customers", "name=Ada", &key).await;

    assert_eq!(corrected.ok()["name"], "Ada");
    assert_eq!(corrected.header("idempotent-replayed"), None);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.bytes, corrected.bytes);
}

#[tokio::test]
async fn list_limit_is_bounded() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_limits");

    for limit in ["0", "101", "-1"] {
        let reply = api.get(&format!("/v1/customers?limit={limit}")).await;
        reply.expect(400);
        assert_eq!(reply.error()["param"], "limit", "limit={limit}");
    }
    api.get("/v1/customers?limit=1").await.ok();
    api.get("/v1/customers?limit=100").await.ok();
}

#[tokio::test]
async fn cursors_walk_newest_first() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_cursors");
    let mut created = Vec::new();
    for n in 0..5 {
        let customer = api
            .post("/v1/customers", &format!("name=c{n}"))
            .await
            .ok()
            .clone();
        created.push(customer["id"].as_str().unwrap().to_owned());
    }
    let [c0, c1, c2, c3, c4] = [0, 1, 2, 3, 4].map(|i| created[i].clone());

    let first = api.get("/v1/customers?limit=2").await.ok().clone();
    assert_eq!(ids(&first), [c4.as_str(), c3.as_str()]);
    assert_eq!(first["has_more"], true);
    assert_eq!(first["object"], "list");
    assert_eq!(first["url"], "/v1/customers");

    let second = api
        .get(&format!("/v1/customers?limit=2&starting_after={c3}"))
        .await
        .ok()
        .clone();
    assert_eq!(ids(&second), [c2.as_str(), c1.as_str()]);
    assert_eq!(second["has_more"], true);

    let last = api
        .get(&format!("/v1/customers?limit=2&starting_after={c1}"))
        .await
        .ok()
        .clone();
    assert_eq!(ids(&last), [c0.as_str()]);
    assert_eq!(last["has_more"], false);

    let back = api
        .get(&format!("/v1/customers?limit=2&ending_before={c0}"))
        .await
        .ok()
        .clone();
    assert_eq!(ids(&back), [c2.as_str(), c1.as_str()]);
    assert_eq!(back["has_more"], true);

    let front = api
        .get(&format!("/v1/customers?limit=2&ending_before={c2}"))
        .await
        .ok()
        .clone();
    assert_eq!(ids(&front), [c4.as_str(), c3.as_str()]);
    assert_eq!(front["has_more"], false);

    let both = api
        .get(&format!(
            "/v1/customers?starting_after={c1}&ending_before={c3}"
        ))
        .await;
    both.expect(400);
    let unknown = api.get("/v1/customers?starting_after=cus_nothere").await;
    unknown.expect(400);
    assert_eq!(unknown.error()["param"], "starting_after");
}

#[tokio::test]
async fn expand_replaces_ids_with_objects() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_expand");
    let session = create_session(&api, &[]).await;
    let id = session["id"].as_str().unwrap();
    assert!(
        session.get("line_items").is_none(),
        "line items are not part of a session's body"
    );
    api.pay_card(id, "4242424242424242").await.ok();
    let plain = api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .ok()
        .clone();
    let pi_id = plain["payment_intent"].as_str().unwrap();

    let with_pi = api
        .get(&format!(
            "/v1/checkout/sessions/{id}?expand[]=payment_intent"
        ))
        .await
        .ok()
        .clone();
    assert_eq!(with_pi["payment_intent"]["object"], "payment_intent");
    assert_eq!(with_pi["payment_intent"]["id"], pi_id);
    assert!(with_pi["payment_intent"]["latest_charge"].is_string());

    let with_charge = api
        .get(&format!(
            "/v1/checkout/sessions/{id}?expand[]=payment_intent.latest_charge"
        ))
        .await
        .ok()
        .clone();
    let charge = &with_charge["payment_intent"]["latest_charge"];
    assert_eq!(charge["object"], "charge");
    assert_eq!(charge["amount"], 3500);

    let with_items = api
        .get(&format!("/v1/checkout/sessions/{id}?expand[0]=line_items"))
        .await
        .ok()
        .clone();
    assert_eq!(with_items["line_items"]["object"], "list");
    assert_eq!(
        with_items["line_items"]["data"].as_array().unwrap().len(),
        2
    );

    let with_products = api
        .get(&format!(
            "/v1/checkout/sessions/{id}?expand[]=line_items.data.price.product"
        ))
        .await
        .ok()
        .clone();
    let product = &with_products["line_items"]["data"][1]["price"]["product"];
    assert_eq!(product["object"], "product", "{with_products:#}");
    assert_eq!(product["name"], "Socks");

    let on_list = api
        .get("/v1/checkout/sessions?expand[]=data.payment_intent")
        .await
        .ok()
        .clone();
    assert_eq!(on_list["data"][0]["payment_intent"]["id"], pi_id);

    let on_create = api
        .post("/v1/customers", "name=Ada&expand[]=nothing_here")
        .await;
    on_create.expect(400);
    assert_eq!(on_create.error()["param"], "expand[0]");
}

#[tokio::test]
async fn expand_deeper_than_four_levels_is_rejected() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_expand_deep");
    let session = create_session(&api, &[]).await;
    let id = session["id"].as_str().unwrap();

    let five = "payment_intent.latest_charge.balance_transaction.source.customer";
    let reply = api
        .get(&format!(
            "/v1/checkout/sessions/{id}?expand[]=line_items&expand[]={five}"
        ))
        .await;

    reply.expect(400);
    assert_eq!(reply.error()["param"], "expand[1]");
    assert!(
        reply.error()["message"]
            .as_str()
            .unwrap()
            .contains("4 levels"),
        "{}",
        reply.error()
    );
}

#[tokio::test]
async fn metadata_limits_are_enforced() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_metadata_limits");
    let keys: Vec<String> = (0..51).map(|i| format!("metadata[k{i}]")).collect();

    let fifty: Vec<(&str, &str)> = keys[..50].iter().map(|k| (k.as_str(), "v")).collect();
    let ok = api.post("/v1/customers", &form(&fifty)).await;
    assert_eq!(ok.ok()["metadata"].as_object().unwrap().len(), 50);

    let fifty_one: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    let too_many = api.post("/v1/customers", &form(&fifty_one)).await;
    too_many.expect(400);
    assert_eq!(too_many.error()["param"], "metadata");

    let key_40 = format!("metadata[{}]", "k".repeat(40));
    api.post("/v1/customers", &form(&[(&key_40, "v")]))
        .await
        .ok();
    let key_41 = format!("metadata[{}]", "k".repeat(41));
    let long_key = api.post("/v1/customers", &form(&[(&key_41, "v")])).await;
    long_key.expect(400);
    assert_eq!(long_key.error()["param"], key_41);

    let value_500 = "v".repeat(500);
    api.post("/v1/customers", &form(&[("metadata[note]", &value_500)]))
        .await
        .ok();
    let value_501 = "v".repeat(501);
    let long_value = api
        .post("/v1/customers", &form(&[("metadata[note]", &value_501)]))
        .await;
    long_value.expect(400);
    assert_eq!(long_value.error()["param"], "metadata[note]");
}

#[tokio::test]
async fn empty_metadata_values_unset_and_clear() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_metadata_unset");
    let customer = api
        .post("/v1/customers", "metadata[a]=1&metadata[b]=2&metadata[c]=3")
        .await
        .ok()
        .clone();
    let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());

    let unset = api.post(&path, "metadata[a]=&metadata[d]=4").await;
    assert_eq!(
        unset.ok()["metadata"],
        json!({"b": "2", "c": "3", "d": "4"})
    );

    let cleared = api.post(&path, "metadata=").await;
    assert_eq!(cleared.ok()["metadata"], json!({}));
    assert_eq!(api.get(&path).await.ok()["metadata"], json!({}));
}

#[tokio::test]
async fn oversized_body_is_413() {
    let fake = start(ServerConfig {
        max_body_bytes: 2048,
        ..Default::default()
    })
    .await;
    let api = Api::new(fake.base_url(), "sk_test_big_body");
    let small = form(&[("metadata[note]", &"x".repeat(400))]);
    let large = form(&[("description", &"x".repeat(4096))]);

    api.post("/v1/customers", &small).await.ok();
    let reply = api.post("/v1/customers", &large).await;

    assert_eq!(
        reply.status,
        413,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
    assert_eq!(
        api.get("/v1/customers").await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Stripe's SDKs parse every non-2xx response as an error envelope, so a
/// body that is too large should still get `{"error": {...}}` back.
#[tokio::test]
async fn oversized_body_gets_error_envelope() {
    let fake = start(ServerConfig {
        max_body_bytes: 2048,
        ..Default::default()
    })
    .await;
    let api = Api::new(fake.base_url(), "sk_test_big_body_envelope");
    let large = form(&[("description", &"x".repeat(4096))]);

    let reply = api.post("/v1/customers", &large).await;

    assert_eq!(reply.status, 413);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.error()["type"],
        "invalid_request_error",
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
}

#[tokio::test]
async fn keys_are_isolated_accounts() {
    let fake = start_manual().await;
    let alice = Api::new(fake.base_url(), "sk_test_alice");
    let bob = Api::new(fake.base_url(), "sk_test_bob");
    let session = create_session(&alice, &[]).await;
    let customer = alice.post("/v1/customers", "name=Ada").await.ok().clone();

    bob.get(&format!(
        "/v1/customers/{}",
        customer["id"].as_str().unwrap()
    ))
    .await
    .expect(404);
    bob.get(&format!(
        "/v1/checkout/sessions/{}",
        session["id"].as_str().unwrap()
    ))
    .await
    .expect(404);
    bob.pay_card(session["id"].as_str().unwrap(), "4242424242424242")
        .await
        .expect(404);
    assert_eq!(bob.get("/v1/customers").await.ok()["data"], json!([]));
    assert_eq!(
        bob.get("/v1/checkout/sessions").await.ok()["data"],
        json!([])
    );
    assert_eq!(bob.all_events().await, Vec::<Value>::new());
    assert_eq!(
        alice.get("/v1/customers").await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn invalid_expand_on_create_creates_nothing() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_expand_create");

    let reply = api
        .post("/v1/customers", "name=Ada&expand[]=nothing_here")
        .await;

    reply.expect(400);
    assert_eq!(api.get("/v1/customers").await.ok()["data"], json!([]));
    assert_eq!(api.all_events().await, Vec::<Value>::new());
}

#[tokio::test]
async fn card_error_is_replayed() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_idem_402");
    let body = "amount=2000&currency=usd&payment_method_types[]=card&confirm=true&payment_method=pm_card_chargeDeclined";
    let key = [("Idempotency-Key", "declined-once")];

    let first = api.post_with("/v1/payment_intents", body, &key).await;
    let second = api.post_with("/v1/payment_intents", body, &key).await;

    first.expect(402);
    assert_eq!(second.status, 402);
    assert_eq!(second.bytes, first.bytes);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    let intents = api.get("/v1/payment_intents").await;
    assert_eq!(
        intents.ok()["data"].as_array().unwrap().len(),
        1,
        "a replayed decline must not create a second payment intent"
    );
}

#[tokio::test]
async fn replayed_expire_emits_no_second_event() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_idem_expire");
    let session = create_session(&api, &[]).await;
    let path = format!(
        "/v1/checkout/sessions/{}/expire",
        session["id"].as_str().unwrap()
    );
    let key = [("Idempotency-Key", "expire-once")];

    let first = api.post_with(&path, "", &key).await;
    let retry = api.post_with(&path, "", &key).await;

    assert_eq!(first.ok()["status"], "expired");
    assert_eq!(
        retry.status, 200,
        "a retried expire replays the first answer instead of failing"
    );
    assert_eq!(retry.bytes, first.bytes);
    assert_eq!(
        api.event_types_oldest_first().await,
        ["checkout.session.expired"]
    );
}

/// A retrieve without parameters sends the stored bytes, and one with
/// parameters goes through the resource handler. Both must send the
/// same body, and the same body as the write that stored the object.
#[tokio::test]
async fn plain_retrieve_sends_the_body_the_write_sent() {
    let fake = start_manual().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_retrieve");
    let created = api
        .post("/v1/checkout/sessions", &support::session_body("eur", &[]))
        .await;
    let id = created.ok()["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/checkout/sessions/{id}");

    let plain = api.get(&path).await;
    let handled = api.get(&format!("{path}?expand[]=payment_intent")).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.bytes, created.bytes);
    assert_eq!(handled.bytes, created.bytes);
    let text = String::from_utf8(plain.bytes.clone()).unwrap();
    assert!(!text.contains("\"_"), "private fields leaked: {text}");

    let updated = api.post(&path, "metadata[step]=2").await;
    let plain = api.get(&path).await;
    assert_eq!(plain.bytes, updated.bytes);
    assert_eq!(plain.json["metadata"]["step"], "2");

    // The handler still returns a stub for a deleted customer.
    let customer = api.post("/v1/customers", "name=Ada").await;
    let customer_id = customer.ok()["id"].as_str().unwrap().to_owned();
    api.delete(&format!("/v1/customers/{customer_id}"))
        .await
        .ok();
    let deleted = api.get(&format!("/v1/customers/{customer_id}")).await;
    assert_eq!(deleted.ok()["deleted"], true);
    let missing = api.get("/v1/customers/cus_never_made").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error()["param"], "id");

    // The read is logged like any other.
    let log = api
        .control_get(&format!(
            "/requests?request_id={}",
            plain.header("request-id").unwrap()
        ))
        .await;
    let entry = &log.ok()["data"][0];
    assert_eq!(entry["path"], path);
    assert_eq!(entry["objects"], json!([id]));
    // A 404 found no object, so its line names none.
    let log = api
        .control_get(&format!(
            "/requests?request_id={}",
            missing.header("request-id").unwrap()
        ))
        .await;
    assert_eq!(log.ok()["data"][0]["objects"], json!([]), "{}", log.ok());
}

/// The logs keep their newest lines and count the rest; the objects stay.
#[tokio::test]
async fn logs_keep_the_newest_lines() {
    let fake = start(ServerConfig {
        clock_mode: fakestripe_server::ClockMode::Manual,
        log_limit: 5,
        ..Default::default()
    })
    .await;
    let api = Api::new(fake.base_url(), "sk_test_log_limit");
    let mut last = String::new();
    for n in 0..8 {
        let reply = api.post("/v1/customers", &format!("name=c{n}")).await;
        last = reply.header("request-id").unwrap().to_owned();
    }

    let requests = api.control_get("/requests").await;
    let lines = requests.ok()["data"].as_array().unwrap();
    assert_eq!(lines.len(), 5);
    assert_eq!(requests.json["dropped"], 3);
    assert_eq!(lines[4]["request_id"], last);
    assert_eq!(lines[0]["params"], json!({"name": "c3"}));

    // Each create writes an event line and a request line.
    let trace = api.control_get("/trace").await;
    let lines = trace.ok()["data"].as_array().unwrap();
    assert_eq!(lines.len(), 5);
    assert_eq!(trace.json["dropped"], 11);
    assert_eq!(lines[4]["kind"], "request");
    assert_eq!(lines[4]["detail"]["request_id"], last);

    assert_eq!(trace.json["truncated"], true);
    let last_seq = lines[4]["seq"].as_u64().unwrap();
    let tail = api
        .control_get(&format!("/trace?after={}", last_seq - 1))
        .await;
    assert_eq!(tail.ok()["data"].as_array().unwrap().len(), 1);
    assert_eq!(tail.json["truncated"], false);

    let customers = api.get("/v1/customers?limit=100").await;
    assert_eq!(customers.ok()["data"].as_array().unwrap().len(), 8);
}
