//! Ids over HTTP. They never repeat within an account, not even after a
//! reset or next to an id a caller chose. Ids in paths are decoded as SDKs
//! encode them. The hosted page rejects a session id that several accounts
//! contain instead of showing one of them.

mod common;

use std::sync::LazyLock;

use common::{Reply, case_number, http, on_runtime, send, start_manual_fake};
use fakestripe_server::Server;
use serde_json::{Value, json};

static FAKE: LazyLock<Server> = LazyLock::new(|| start_manual_fake(None));

fn key(tag: &str) -> String {
    format!("sk_test_ids_{tag}_{}", case_number())
}

fn post(key: &str, path: &str, form: &[(&str, &str)]) -> Reply {
    let url = format!("{}{path}", FAKE.base_url());
    on_runtime(send(http().post(url).basic_auth(key, Some("")).form(form)))
}

fn get(key: &str, path: &str) -> Reply {
    let url = format!("{}{path}", FAKE.base_url());
    on_runtime(send(http().get(url).basic_auth(key, Some(""))))
}

fn control(key: &str, method: reqwest::Method, path: &str, body: Value) -> Reply {
    let url = format!("{}{path}", FAKE.base_url());
    on_runtime(send(
        http()
            .request(method, url)
            .basic_auth(key, Some(""))
            .json(&body),
    ))
}

fn seed(key: &str, seed: u64) {
    let reply = control(
        key,
        reqwest::Method::PUT,
        "/_fakestripe/faults",
        json!({"seed": seed, "faults": []}),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
}

fn session(key: &str, amount: &str) -> Value {
    let reply = post(
        key,
        "/v1/checkout/sessions",
        &[
            ("mode", "payment"),
            ("success_url", "https://shop.example/ok"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", amount),
            ("line_items[0][price_data][product_data][name]", "Tea"),
            ("line_items[0][quantity]", "1"),
        ],
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
    reply.json
}

fn id(object: &Value) -> String {
    object["id"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn drawn_id_skips_chosen_one() {
    // A first account with seed 11 shows which id a product created after
    // one with a chosen id draws. Every request draws a request id too, so
    // the probe makes the same requests as the account below.
    let probe = key("probe");
    seed(&probe, 11);
    let placeholder = post(&probe, "/v1/products", &[("id", "prod_x"), ("name", "x")]);
    assert_eq!(placeholder.status, 200);
    let drawn = id(&post(&probe, "/v1/products", &[("name", "probe")]).json);
    assert!(drawn.starts_with("prod_"), "{drawn}");

    // A second account with the same seed chooses that id first.
    let account = key("chosen");
    seed(&account, 11);
    let chosen = post(
        &account,
        "/v1/products",
        &[("id", &drawn), ("name", "chosen")],
    );
    assert_eq!(chosen.status, 200);
    let generated = post(&account, "/v1/products", &[("name", "generated")]);
    assert_eq!(generated.status, 200);
    assert_ne!(id(&generated.json), drawn);
    let kept = get(&account, &format!("/v1/products/{drawn}"));
    assert_eq!(kept.json["name"], "chosen");
    let listed = get(&account, "/v1/products");
    assert_eq!(listed.json["data"].as_array().map(Vec::len), Some(2));
}

#[test]
fn ids_go_on_after_reset() {
    let account = key("reset");
    let before = id(&session(&account, "1000"));
    let reply = control(
        &account,
        reqwest::Method::POST,
        "/_fakestripe/reset",
        json!({}),
    );
    assert_eq!(reply.status, 200);
    let after = id(&session(&account, "1000"));
    assert_ne!(before, after);

    // The same with the webhook endpoints kept: a new endpoint does not
    // take a kept one's id.
    let endpoint = post(
        &account,
        "/v1/webhook_endpoints",
        &[
            ("url", "http://127.0.0.1:9/first"),
            ("enabled_events[]", "*"),
        ],
    );
    let first = id(&endpoint.json);
    let reply = control(
        &account,
        reqwest::Method::POST,
        "/_fakestripe/reset",
        json!({"keep_webhook_endpoints": true}),
    );
    assert_eq!(reply.status, 200);
    seed(&account, 11);
    let second = post(
        &account,
        "/v1/webhook_endpoints",
        &[
            ("url", "http://127.0.0.1:9/second"),
            ("enabled_events[]", "*"),
        ],
    );
    assert_ne!(id(&second.json), first);
    let listed = get(&account, "/v1/webhook_endpoints");
    assert_eq!(listed.json["data"].as_array().map(Vec::len), Some(2));
}

#[test]
fn default_plan_seed_keeps_ids_going() {
    // A server whose default plan sets a seed applies the plan again at
    // each reset, and ids must still not repeat.
    let config = fakestripe_server::config::ServerConfig {
        clock_mode: fakestripe_server::clock::ClockMode::Manual,
        default_faults: Some(json!({"seed": 5, "faults": []})),
        ..Default::default()
    };
    let server = on_runtime(Server::start(config)).expect("starting the fake");
    let account = key("default_plan");

    let create = || {
        let url = format!("{}/v1/customers", server.base_url());
        on_runtime(send(
            http()
                .post(url)
                .basic_auth(&account, Some(""))
                .form(&[("email", "a@example.test")]),
        ))
    };

    let before = id(&create().json);
    let url = format!("{}/_fakestripe/reset", server.base_url());
    let reset = on_runtime(send(
        http()
            .post(url)
            .basic_auth(&account, Some(""))
            .json(&json!({})),
    ));
    assert_eq!(reset.status, 200);

    let after = id(&create().json);
    assert!(before.starts_with("cus_"), "{before}");
    assert_ne!(before, after);
}

#[test]
fn encoded_ids_in_paths_are_decoded() {
    let account = key("encoded");
    for (chosen, encoded) in [
        ("prod_a b", "prod_a%20b"),
        ("prod_a:b", "prod_a%3Ab"),
        ("prod_é", "prod_%C3%A9"),
        ("prod_x", "prod%5Fx"),
    ] {
        let created = post(&account, "/v1/products", &[("id", chosen), ("name", "n")]);
        assert_eq!(created.status, 200, "{chosen}");
        let read = get(&account, &format!("/v1/products/{encoded}"));
        assert_eq!(
            read.status,
            200,
            "{encoded}: {}",
            String::from_utf8_lossy(&read.bytes)
        );
        assert_eq!(read.json["id"], chosen);
    }
}

#[test]
fn page_refuses_shared_session_id() {
    let first = key("page_a");
    let second = key("page_b");
    seed(&first, 42);
    seed(&second, 42);
    let a = session(&first, "1111");
    let b = session(&second, "2222");
    // The same seed drew the same id in both accounts.
    assert_eq!(id(&a), id(&b));
    let url = a["url"].as_str().unwrap_or_default().to_owned();
    let page = on_runtime(send(http().get(&url)));
    assert_eq!(page.status, 409);
    let text = String::from_utf8_lossy(&page.bytes);
    assert!(!text.contains("11.11"), "{text}");
    assert!(!text.contains("22.22"), "{text}");
    let paid = on_runtime(send(http().post(&url).form(&[
        ("email", "b@example.test"),
        ("payment_method", "card"),
        ("card_number", "4242424242424242"),
    ])));
    assert_eq!(paid.status, 409);
    for (account, session) in [(&first, &a), (&second, &b)] {
        let now = get(account, &format!("/v1/checkout/sessions/{}", id(session)));
        assert_eq!(now.json["status"], "open");
    }

    // A session that only one account contains opens as usual.
    let own = session(&key("page_c"), "3333");
    let page = on_runtime(send(http().get(own["url"].as_str().unwrap_or_default())));
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.bytes).contains("33.33"));
}

#[test]
fn default_plan_keeps_account_ids() {
    // A server-wide plan with a seed applies to every account. Were the
    // seed to restart each account's ids, two CI jobs sharing the server
    // would get the same session ids, and their hosted pages would clash.
    let config = fakestripe_server::config::ServerConfig {
        clock_mode: fakestripe_server::clock::ClockMode::Manual,
        default_faults: Some(json!({"seed": 42, "faults": []})),
        ..Default::default()
    };
    let server = on_runtime(Server::start(config)).expect("starting the fake");
    let create = |account: &str| {
        let url = format!("{}/v1/customers", server.base_url());
        let reply = on_runtime(send(
            http()
                .post(url)
                .basic_auth(account, Some(""))
                .form(&[("email", "a@example.test")]),
        ));
        id(&reply.json)
    };
    let first = create(&key("plan_job_one"));
    let second = create(&key("plan_job_two"));
    assert!(first.starts_with("cus_"), "{first}");
    assert_ne!(first, second);
    // Each account still has the plan, seed included.
    let url = format!("{}/_fakestripe/faults", server.base_url());
    let plan = on_runtime(send(
        http().get(url).basic_auth(key("plan_job_two"), Some("")),
    ));
    assert_eq!(plan.json["seed"], 42);
}
