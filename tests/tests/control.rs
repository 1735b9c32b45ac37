//! Bad input to the control API and to webhook endpoint creation: every
//! rejection is Stripe's envelope and names the field at fault.

use fakestripe_server::{ClockMode, Server, ServerConfig};
use serde_json::Value;

async fn fake() -> Server {
    Server::start(ServerConfig {
        clock_mode: ClockMode::Manual,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

async fn control(fake: &Server, path: &str, body: &str) -> (u16, Value) {
    send(fake, reqwest::Method::POST, path, body).await
}

/// Sends a body as JSON to a control route and returns the status and body.
async fn send(
    fake: &Server,
    method: reqwest::Method,
    path: &str,
    body: impl AsRef<[u8]>,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}/_fakestripe{path}", fake.base_url()))
        .bearer_auth("sk_test_control")
        .header("content-type", "application/json")
        .body(body.as_ref().to_vec())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let fake = fake().await;
    let cases = [
        ("/clock/advance", r#"{"seconds": "1h"}"#, "seconds"),
        ("/clock", r#"{"now": "tomorrow"}"#, "now"),
        (
            "/reset",
            r#"{"keep_webhook_endpoints": "yes"}"#,
            "keep_webhook_endpoints",
        ),
        ("/events/release", r#"{"event_ids": "evt_1"}"#, "event_ids"),
        (
            "/checkout/sessions/cs_test_x/pay",
            r#"{"card_number": 4242}"#,
            "card_number",
        ),
    ];
    for (path, body, param) in cases {
        let (status, answer) = control(&fake, path, body).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
        assert_eq!(answer["error"]["param"], param, "{path} {body}: {answer}");
        assert_eq!(answer["error"]["code"], "parameter_invalid");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(!message.contains("i64"), "{path} {body}: {message}");
    }
    // A value out of range is echoed beside the range.
    let (status, answer) = control(&fake, "/clock/advance", r#"{"seconds": -5}"#).await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.ends_with("got -5."), "{message}");
    // An empty body reads as `{}`, so no line of it is at fault.
    let (status, answer) = control(&fake, "/clock/advance", "").await;
    assert_eq!(
        (status, &answer["error"]["param"]),
        (400, &Value::from("seconds"))
    );
    assert_eq!(answer["error"]["code"], "parameter_missing");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(!message.contains("line 1"), "{message}");
}

/// A body that is not one JSON object as a whole gets the code
/// `body_invalid` and no `param`. A value whose text is broken names its
/// field instead.
#[tokio::test]
async fn whole_body_errors_have_a_code() {
    let fake = fake().await;
    let whole_body: [(&[u8], &str); 10] = [
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b"\"x\"", "must be a JSON object, not a string"),
        (b"42", "must be a JSON object, not a number"),
        (b"null", "must be a JSON object, not null"),
        (
            b"\xff\xfe",
            "must be a JSON object, not text that is not JSON",
        ),
        (b"{\"seconds\": 1", "EOF while parsing an object"),
        (
            b"{\"seconds\": 1} {}",
            "after the object. Send one JSON object.",
        ),
        (b"{\"seconds\": 1,}", "trailing comma"),
        (b"{seconds: 1}", "key must be a string"),
        (
            b"{\"seconds\": 1, \"x\xff\": 2}",
            "invalid unicode code point",
        ),
    ];
    for (body, words) in whole_body {
        let text = String::from_utf8_lossy(body);
        let (status, answer) = send_bytes(&fake, "/clock/advance", body).await;
        let error = &answer["error"];
        assert_eq!(status, 400, "{text}: {answer}");
        assert_eq!(error["type"], "invalid_request_error", "{text}");
        assert_eq!(error["code"], "body_invalid", "{text}: {answer}");
        assert_eq!(error.get("param"), None, "{text}: {answer}");
        assert_eq!(error["doc_url"], Value::Null, "{text}: {answer}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with("Invalid JSON body: "),
            "{text}: {message}"
        );
        assert!(message.contains(words), "{text}: {message}");
    }

    let in_a_value: [&[u8]; 3] = [
        b"{\"seconds\": tru}",
        b"{\"seconds\": -}",
        b"{\"seconds\": \"\xff\"}",
    ];
    for body in in_a_value {
        let text = String::from_utf8_lossy(body);
        let (status, answer) = send_bytes(&fake, "/clock/advance", body).await;
        assert_eq!(status, 400, "{text}: {answer}");
        assert_eq!(
            answer["error"]["code"], "parameter_invalid",
            "{text}: {answer}"
        );
        assert_eq!(answer["error"]["param"], "seconds", "{text}: {answer}");
    }
}

/// POSTs bytes, which need not be UTF-8, to a control route and returns
/// the status and body.
async fn send_bytes(fake: &Server, path: &str, body: &[u8]) -> (u16, Value) {
    send(fake, reqwest::Method::POST, path, body).await
}

/// The logs' query parameters are checked: a misspelt or repeated one is
/// a 400 that names it.
#[tokio::test]
async fn log_query_parameters_are_named() {
    let fake = fake().await;
    let cases = [
        (
            "/deliveries?bogus=1",
            "bogus",
            "expected `event_id` or `type`",
            "parameter_unknown",
        ),
        (
            "/deliveries?event_type=x",
            "event_type",
            "unknown field",
            "parameter_unknown",
        ),
        (
            "/requests?request_id=a&request_id=b",
            "request_id",
            "duplicate",
            "parameter_invalid",
        ),
        (
            "/trace?after=abc",
            "after",
            "expected a whole number",
            "parameter_invalid",
        ),
    ];
    for (path, param, words, code) in cases {
        let (status, answer) = send(&fake, reqwest::Method::GET, path, "").await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["error"]["param"], param, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{path}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{path}: {message}");
    }
    let (status, answer) = send(&fake, reqwest::Method::GET, "/deliveries?type=x.y", "").await;
    assert_eq!((status, &answer["data"]), (200, &serde_json::json!([])));
}

/// A control call that takes no query parameters rejects one, as the
/// logs reject a parameter they do not know, instead of ignoring it.
#[tokio::test]
async fn query_on_call_without_one_rejected() {
    let fake = fake().await;
    for (method, path) in [
        (reqwest::Method::GET, "/clock?mode=manual"),
        (reqwest::Method::POST, "/reset?keep_webhook_endpoints=true"),
    ] {
        let (status, answer) = send(&fake, method, path, "").await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "parameter_unknown", "{path}");
        let expected = path.split_once('?').unwrap().1.split('=').next().unwrap();
        assert_eq!(answer["error"]["param"], expected, "{path}");
    }
    let (status, _) = send(&fake, reqwest::Method::GET, "/clock", "").await;
    assert_eq!(status, 200);
}

/// The clock stops at the start of 2100, the latest time that setting it
/// takes. An advance past it is a 400 with the number of seconds left.
#[tokio::test]
async fn advance_stops_at_2100() {
    let fake = fake().await;
    let latest: i64 = 4_102_444_800;
    let (status, answer) =
        control(&fake, "/clock", &format!(r#"{{"now": {}}}"#, latest - 10)).await;
    assert_eq!(status, 200, "{answer}");

    let (past, error) = control(&fake, "/clock/advance", r#"{"seconds": 11}"#).await;
    let (up_to, clock) = control(&fake, "/clock/advance", r#"{"seconds": 10}"#).await;

    assert_eq!(past, 400, "{error}");
    assert_eq!(error["error"]["param"], "seconds");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("advance by at most 10 seconds"),
        "{error}"
    );
    assert_eq!(up_to, 200, "{clock}");
    assert_eq!(clock["now"], latest);
}

/// A field given twice in a JSON body is named, as an unknown one is.
#[tokio::test]
async fn repeated_json_field_named() {
    let fake = fake().await;
    let (status, answer) =
        control(&fake, "/clock/advance", r#"{"seconds": 1, "seconds": 2}"#).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["param"], "seconds", "{answer}");
    assert_eq!(answer["error"]["code"], "parameter_invalid", "{answer}");
}

/// A body cut short has no field to name, so the error gives only where
/// the text ended.
#[tokio::test]
async fn broken_json_names_no_field() {
    let fake = fake().await;
    for body in ["{", r#"{"seconds": 5"#] {
        let (status, answer) = control(&fake, "/clock/advance", body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"].get("param"), None, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("EOF while parsing"), "{message}");
        assert!(!message.contains('?'), "{message}");
    }
    let (status, answer) = control(&fake, "/events/release", r#"{"types": ["a..b"]}"#).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["param"], "types[0]");
}

/// Each fault parameter out of range gets its range and the value sent,
/// also when the value does not fit the parameter's type.
#[tokio::test]
async fn fault_values_out_of_range_give_range() {
    let fake = fake().await;
    let cases = [
        (
            r#"{"kind": "webhook_duplicate", "copies": -3}"#,
            "copies",
            "between 1 and 20; got -3",
        ),
        (
            r#"{"kind": "webhook_drop", "attempts": 9223372036854775807}"#,
            "attempts",
            "between 1 and 10; got 9223372036854775807",
        ),
        (
            r#"{"kind": "webhook_delay", "seconds": -1}"#,
            "seconds",
            "between 0 and 2592000; got -1",
        ),
        (
            r#"{"kind": "api_error", "latency_ms": 70000}"#,
            "latency_ms",
            "between 0 and 60000; got 70000",
        ),
        (
            r#"{"kind": "webhook_delay", "distribution": "exponential"}"#,
            "mean_seconds",
            "needs mean_seconds",
        ),
        (r#"{"kind": 5}"#, "kind", "kind must be a string"),
        (
            r#"{"kind": "api_error", "status": 70000}"#,
            "status",
            "429, 500 or 503, not 70000",
        ),
        (
            r#"{"kind": "webhook_duplicate", "copies": 1.5}"#,
            "copies",
            "whole number between 1 and 20; got 1.5",
        ),
    ];
    for (fault, param, expected) in cases {
        let (status, answer) = put_plan(&fake, &format!(r#"{{"faults": [{fault}]}}"#)).await;
        assert_eq!(status, 400, "{fault}");
        assert_eq!(
            answer["error"]["param"],
            format!("faults[0][{param}]"),
            "{answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{fault}: {message}");
    }

    // Whole numbers written with a point are whole numbers.
    for fault in [
        r#"{"kind": "webhook_duplicate", "copies": 5.0}"#,
        r#"{"kind": "api_error", "status": 500.0, "count": 3.0}"#,
    ] {
        let (status, answer) = put_plan(&fake, &format!(r#"{{"faults": [{fault}]}}"#)).await;
        assert_eq!(status, 200, "{fault}: {answer}");
    }
    // The plan in force shows them as they were read.
    let shown = plan_in_force(&fake, "sk_test_control").await;
    assert_eq!(
        shown["faults"][0]["status"],
        serde_json::json!(500),
        "{shown}"
    );
    assert_eq!(shown["faults"][0]["count"], serde_json::json!(3), "{shown}");
    let (status, answer) = put_plan(&fake, r#"{"faults": [5]}"#).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["param"], "faults[0]", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("must be an object"), "{message}");
}

/// A misspelt fault parameter gets the nearest valid one. A name like no
/// valid one gets only the list.
#[tokio::test]
async fn misspelt_fault_parameter_suggested() {
    let fake = fake().await;
    let (status, answer) = put_plan(
        &fake,
        r#"{"faults": [{"kind": "webhook_drop", "attempt": 2}]}"#,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["param"], "faults[0][attempt]", "{answer}");
    assert_eq!(answer["error"]["code"], "parameter_unknown", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.ends_with("Did you mean `attempts`?"), "{message}");

    let (status, answer) = put_plan(&fake, r#"{"faults": [{"attempts": 2}]}"#).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["param"], "faults[0][kind]", "{answer}");
    assert_eq!(answer["error"]["code"], "parameter_missing", "{answer}");

    let (status, answer) =
        put_plan(&fake, r#"{"faults": [{"kind": "webhook_drop", "zzz": 2}]}"#).await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
}

/// Sets a fault plan from JSON text and returns the status and body.
async fn put_plan(fake: &Server, plan: &str) -> (u16, Value) {
    send(fake, reqwest::Method::PUT, "/faults", plan).await
}

#[tokio::test]
async fn faults_put_rejects_empty_body() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let url = format!("{}/_fakestripe/faults", fake.base_url());
    let set = http
        .put(&url)
        .bearer_auth("sk_test_control")
        .header("content-type", "application/json")
        .body(r#"{"faults": [{"kind": "webhook_duplicate"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);

    for empty in ["", " \n"] {
        let response = http
            .put(&url)
            .bearer_auth("sk_test_control")
            .header("content-type", "application/json")
            .body(empty)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "body {empty:?}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["type"], "invalid_request_error");
        assert_eq!(answer["error"]["code"], "body_invalid");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("Missing request body"), "{message}");
        assert!(
            message.ends_with("To clear the plan, send DELETE /_fakestripe/faults."),
            "{message}"
        );
    }

    let plan = plan_in_force(&fake, "sk_test_control").await;
    assert_eq!(plan["faults"][0]["kind"], "webhook_duplicate");
}

/// Returns the fault plan in force on the account of `key`.
async fn plan_in_force(fake: &Server, key: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/_fakestripe/faults", fake.base_url()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A key that one object of a plan gives twice is rejected with its path,
/// whether at the top, in a fault entry, or written with an escape. The
/// plan in force stays. The same key in two objects is no repeat.
#[tokio::test]
async fn faults_put_rejects_repeated_key() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let url = format!("{}/_fakestripe/faults", fake.base_url());
    let put = |body: &'static str| {
        http.put(&url)
            .bearer_auth("sk_test_repeated")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let set = put(r#"{"seed": 7, "faults": [{"kind": "webhook_duplicate"}]}"#)
        .await
        .unwrap();
    assert_eq!(set.status(), 200);

    let cases = [
        (r#"{"seed": 1, "seed": 2}"#, "seed"),
        (r#"{"seed": 1, "se\u0065d": 2}"#, "seed"),
        (r#"{"faults": [], "faults": [{"kind": "hold"}]}"#, "faults"),
        (
            r#"{"faults": [{"kind": "webhook_duplicate", "probability": 0.5, "probability": 1}]}"#,
            "faults[0][probability]",
        ),
        (
            r#"{"faults": [{"kind": "hold", "types": ["*"]}, {"kind": "webhook_drop", "attempts": 1, "attempts": 2}]}"#,
            "faults[1][attempts]",
        ),
    ];
    for (body, path) in cases {
        let response = put(body).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(answer["error"]["code"], "parameter_invalid", "{body}");
        assert_eq!(answer["error"]["param"], path, "{body}");
        assert_eq!(
            answer["error"]["message"],
            format!("The key {path} is given twice. Give each key once."),
            "{body}"
        );
    }

    // A second object after the plan is rejected, not dropped unread.
    let response = put(r#"{"seed": 1} {"seed": 2, "seed": 3}"#).await.unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("trailing characters"), "{message}");

    let plan = plan_in_force(&fake, "sk_test_repeated").await;
    assert_eq!(plan["seed"], 7);
    assert_eq!(plan["faults"][0]["kind"], "webhook_duplicate");

    let two_objects = r#"{"seed": 3, "faults": [{"kind": "hold", "types": ["*"]}, {"kind": "webhook_drop", "types": []}]}"#;
    let response = put(two_objects).await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn cancel_needs_an_open_session() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("{}/v1/checkout/sessions", fake.base_url()))
        .bearer_auth("sk_test_control")
        .form(&[
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "500"),
            ("line_items[0][price_data][product_data][name]", "Pen"),
            ("line_items[0][quantity]", "1"),
            ("cancel_url", "http://127.0.0.1:9/cancel"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = session["id"].as_str().unwrap();
    let (status, answer) = control(&fake, &format!("/checkout/sessions/{id}/cancel"), "").await;
    assert_eq!(
        (status, answer["redirect_url"].as_str()),
        (200, Some("http://127.0.0.1:9/cancel"))
    );
    let pay = r#"{"payment_method": "card", "card_number": "4242424242424242"}"#;
    let (status, _) = control(&fake, &format!("/checkout/sessions/{id}/pay"), pay).await;
    assert_eq!(status, 200);
    let (status, answer) = control(&fake, &format!("/checkout/sessions/{id}/cancel"), "").await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "checkout_session_not_open");
}

#[tokio::test]
async fn misspelt_event_type_is_rejected() {
    let fake = fake().await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/webhook_endpoints", fake.base_url()))
        .bearer_auth("sk_test_control")
        .form(&[
            ("url", "http://127.0.0.1:9/hook"),
            ("enabled_events[]", "charge.succeeded"),
            ("enabled_events[]", "checkout.sesion.completed"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["param"], "enabled_events[1]");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("checkout.session.completed")
    );
}
