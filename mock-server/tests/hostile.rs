//! Hostile input: random and malformed form bodies, query strings, JSON
//! control bodies, headers, paths and oversized bodies. Whatever comes in,
//! the fake responds: never a panic or a 5xx, and every rejection is a 4xx
//! in Stripe's error envelope (`error.type`, `error.message`, and
//! `error.param` when a parameter is at fault).
//!
//! The decoder is driven in process; everything else goes over HTTP to one
//! shared in-process server with the default settings. Set
//! `FAKESTRIPE_LONG=1` for ten times as many cases.
//!
//! Generated strings never contain `:`, and every URL among the fixed
//! values points at 127.0.0.1, so no random webhook endpoint can send to
//! another host.

mod common;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::RUNTIME;
use fakestripe_server::wire::form::decode;
use fakestripe_server::{Server, ServerConfig};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// The shared server, a client, and the envelope check.

/// Started on a thread of its own, because the first use may come from a
/// future that `RUNTIME` is already running, where a nested `block_on`
/// panics.
static FAKE: LazyLock<Server> = LazyLock::new(|| {
    std::thread::spawn(|| RUNTIME.block_on(Server::start(ServerConfig::default())))
        .join()
        .expect("the thread starting the fake panicked")
        .expect("starting the fake")
});

/// A client that reports redirects rather than following them: the hosted
/// page redirects to the session's `success_url`, which is not served.
static HTTP: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("building the HTTP client")
});

/// Objects of the account that the random `/v1` requests act on.
static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| RUNTIME.block_on(Fixture::create()));

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// The largest body the default settings accept, as documented: 1 MiB.
const MAX_BODY: usize = 1024 * 1024;

const FIXTURE_KEY: &str = "sk_test_hostile_fixture";

fn cases(normal: u32) -> ProptestConfig {
    let long = std::env::var_os("FAKESTRIPE_LONG").is_some_and(|v| v != "0");
    ProptestConfig::with_cases(if long { normal * 10 } else { normal })
}

/// Returns a fresh test key, so a case's account starts empty.
fn fresh_key(tag: &str) -> String {
    format!(
        "sk_test_hostile_{tag}_{}",
        NEXT_KEY.fetch_add(1, Ordering::Relaxed)
    )
}

#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    /// The `Request-Id` header, or empty.
    request_id: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends a request and reads the whole response. A transport error (the
/// connection closed early, as after a panic in a handler) is returned as
/// text so the property can report it.
fn send(
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Reply, String> {
    let url = format!("{}{}", FAKE.base_url(), path);
    RUNTIME.block_on(async {
        let mut builder = HTTP.request(method.clone(), &url);
        if let Some(key) = key {
            builder = builder.bearer_auth(key);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if !body.is_empty() {
            builder = builder.body(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|err| format!("{method} {path}: {err}"))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (content_type, request_id) = (header("content-type"), header("request-id"));
        let body = response
            .bytes()
            .await
            .map_err(|err| format!("{method} {path}: reading the body: {err}"))?
            .to_vec();
        Ok(Reply {
            status,
            content_type,
            request_id,
            body,
        })
    })
}

fn post_form(path: &str, key: &str, body: &[u8]) -> Result<Reply, String> {
    send(
        reqwest::Method::POST,
        path,
        Some(key),
        &[("content-type", "application/x-www-form-urlencoded")],
        body.to_vec(),
    )
}

/// Checks that a rejection is a 4xx in Stripe's error envelope. Returns
/// the `error` object.
fn check_error_envelope(context: &str, reply: &Reply) -> Result<Value, TestCaseError> {
    prop_assert!(
        (400..500).contains(&reply.status),
        "{context}: status {} is not a 4xx; body: {}",
        reply.status,
        reply.text()
    );
    prop_assert!(
        reply.content_type.starts_with("application/json"),
        "{context}: content-type `{}`; body: {}",
        reply.content_type,
        reply.text()
    );
    let body = reply.json();
    let error = &body["error"];
    prop_assert!(
        error.is_object(),
        "{context}: no `error` object; body: {}",
        reply.text()
    );
    let kind = error["type"].as_str().unwrap_or_default();
    prop_assert!(
        matches!(
            kind,
            "invalid_request_error" | "card_error" | "idempotency_error"
        ),
        "{context}: error.type `{kind}` is not a client error type; body: {}",
        reply.text()
    );
    let message = error["message"].as_str().unwrap_or_default();
    prop_assert!(
        !message.is_empty(),
        "{context}: empty error.message; body: {}",
        reply.text()
    );
    if let Some(param) = error.get("param") {
        prop_assert!(
            param.as_str().is_some_and(|p| !p.is_empty()),
            "{context}: error.param is not a non-empty string; body: {}",
            reply.text()
        );
    }
    let code = error["code"].as_str().unwrap_or_default();
    if code.starts_with("parameter_") {
        prop_assert!(
            error.get("param").is_some(),
            "{context}: code {code} without error.param; body: {}",
            reply.text()
        );
    }
    if code == "body_invalid" {
        prop_assert!(
            error.get("param").is_none(),
            "{context}: code {code}, which is about the whole body, with error.param; body: {}",
            reply.text()
        );
    }
    Ok(error.clone())
}

/// Checks the response to a hostile request: any status below 500, JSON,
/// and the error envelope for a 4xx.
fn check_response(context: &str, reply: Result<Reply, String>) -> Result<(), TestCaseError> {
    let reply = reply.map_err(|err| TestCaseError::fail(format!("{context}: {err}")))?;
    prop_assert!(
        reply.status < 500,
        "{context}: server error {}; body: {}",
        reply.status,
        reply.text()
    );
    if reply.status >= 400 {
        check_error_envelope(context, &reply)?;
    } else {
        prop_assert!(
            serde_json::from_slice::<Value>(&reply.body).is_ok(),
            "{context}: a {} response that is not JSON: {}",
            reply.status,
            reply.text()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Fixture: one of each object, for routes that take an id.

#[derive(Debug)]
struct Fixture {
    session: String,
    payment_intent: String,
    customer: String,
    product: String,
    price: String,
    endpoint: String,
}

const SESSION_FORM: &str = "mode=payment&success_url=https://127.0.0.1/ok\
    &line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=1500\
    &line_items[0][price_data][product_data][name]=Shirt&line_items[0][quantity]=2\
    &line_items[1][price_data][currency]=usd&line_items[1][price_data][unit_amount]=500\
    &line_items[1][price_data][product_data][name]=Socks&line_items[1][quantity]=1\
    &metadata[order_id]=42";

async fn create(path: &str, key: &str, form: &str) -> String {
    let reply = HTTP
        .post(format!("{}{}", FAKE.base_url(), path))
        .bearer_auth(key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .expect("sending a fixture request");
    let status = reply.status();
    let body: Value = reply.json().await.expect("a fixture response is JSON");
    assert_eq!(status, 200, "creating a fixture at {path}: {body}");
    body["id"].as_str().expect("fixture id").to_owned()
}

impl Fixture {
    async fn create() -> Fixture {
        let key = FIXTURE_KEY;
        let product = create("/v1/products", key, "name=Lamp").await;
        Fixture {
            session: create("/v1/checkout/sessions", key, SESSION_FORM).await,
            payment_intent: create("/v1/payment_intents", key, "amount=2000&currency=usd").await,
            customer: create("/v1/customers", key, "email=jenny%40example.com").await,
            price: create(
                "/v1/prices",
                key,
                &format!("product={product}&unit_amount=900&currency=usd"),
            )
            .await,
            product,
            // Port 9 refuses connections, and the endpoint subscribes to
            // one rare type, so few deliveries go to it.
            endpoint: create(
                "/v1/webhook_endpoints",
                key,
                "url=http://127.0.0.1:9/hook&enabled_events[]=checkout.session.expired",
            )
            .await,
        }
    }

    /// Lists every route that takes a POST body, with the fixture's ids
    /// filled in.
    fn post_routes(&self) -> Vec<String> {
        let Fixture {
            session,
            payment_intent: pi,
            customer,
            product,
            price,
            endpoint,
        } = self;
        vec![
            "/v1/checkout/sessions".to_owned(),
            format!("/v1/checkout/sessions/{session}"),
            format!("/v1/checkout/sessions/{session}/expire"),
            "/v1/payment_intents".to_owned(),
            format!("/v1/payment_intents/{pi}"),
            format!("/v1/payment_intents/{pi}/confirm"),
            format!("/v1/payment_intents/{pi}/capture"),
            format!("/v1/payment_intents/{pi}/cancel"),
            "/v1/refunds".to_owned(),
            "/v1/customers".to_owned(),
            format!("/v1/customers/{customer}"),
            "/v1/products".to_owned(),
            format!("/v1/products/{product}"),
            "/v1/prices".to_owned(),
            format!("/v1/prices/{price}"),
            "/v1/webhook_endpoints".to_owned(),
            format!("/v1/webhook_endpoints/{endpoint}"),
        ]
    }

    /// Lists every route that takes a GET query.
    fn get_routes(&self) -> Vec<String> {
        let Fixture {
            session,
            payment_intent: pi,
            customer,
            product,
            price,
            endpoint,
        } = self;
        vec![
            "/v1/checkout/sessions".to_owned(),
            format!("/v1/checkout/sessions/{session}"),
            format!("/v1/checkout/sessions/{session}/line_items"),
            "/v1/payment_intents".to_owned(),
            format!("/v1/payment_intents/{pi}"),
            "/v1/charges".to_owned(),
            "/v1/refunds".to_owned(),
            "/v1/balance_transactions".to_owned(),
            "/v1/customers".to_owned(),
            format!("/v1/customers/{customer}"),
            "/v1/products".to_owned(),
            format!("/v1/products/{product}"),
            "/v1/prices".to_owned(),
            format!("/v1/prices/{price}"),
            "/v1/events".to_owned(),
            "/v1/webhook_endpoints".to_owned(),
            format!("/v1/webhook_endpoints/{endpoint}"),
            "/_fakestripe/deliveries".to_owned(),
            "/_fakestripe/requests".to_owned(),
        ]
    }
}

// ---------------------------------------------------------------------------
// Generators of form bodies and query strings.

/// Parameter names the endpoints take, so random bodies get past the
/// unknown-parameter check and reach the handlers' own validation.
const NAMES: &[&str] = &[
    "mode",
    "ui_mode",
    "success_url",
    "cancel_url",
    "return_url",
    "line_items",
    "metadata",
    "customer",
    "customer_email",
    "customer_creation",
    "client_reference_id",
    "expires_at",
    "payment_method_types",
    "payment_intent_data",
    "expand",
    "amount",
    "currency",
    "confirm",
    "payment_method",
    "capture_method",
    "amount_to_capture",
    "email",
    "name",
    "description",
    "url",
    "enabled_events",
    "unit_amount",
    "product",
    "product_data",
    "active",
    "limit",
    "starting_after",
    "ending_before",
    "created",
    "type",
    "types",
    "status",
    "payment_intent",
    "charge",
    "reason",
    "disabled",
    "api_version",
    "locale",
    "submit_type",
    "allow_promotion_codes",
    "cancellation_reason",
];

/// Bracket segments, literal and percent-encoded, well-formed or not.
const SEGMENTS: &[&str] = &[
    "[]",
    "[0]",
    "[1]",
    "[99]",
    "[100]",
    "[-1]",
    "[18446744073709551616]",
    "[price_data]",
    "[product_data]",
    "[name]",
    "[currency]",
    "[unit_amount]",
    "[quantity]",
    "[metadata]",
    "[order_id]",
    "[gt]",
    "[lte]",
    "[",
    "]",
    "[[",
    "]]",
    "%5B0%5D",
    "%5B%5D",
    "%5B",
    "[%00]",
];

/// Values that sit on the edges of what the endpoints accept.
const VALUES: &[&str] = &[
    "",
    "payment",
    "setup",
    "subscription",
    "usd",
    "eur",
    "USD",
    "xxx",
    "0",
    "1",
    "-1",
    "100",
    "101",
    "99999999",
    "100000000",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "1e3",
    "0x10",
    "1.5",
    "NaN",
    "true",
    "false",
    "null",
    "card",
    "sepa_debit",
    "pm_card_visa",
    "pm_card_chargeDeclined",
    "https://127.0.0.1/ok?session_id={CHECKOUT_SESSION_ID}",
    "http://127.0.0.1:9/hook",
    "ftp://127.0.0.1/x",
    "http://[::1",
    "not a url",
    "*",
    "checkout.session.completed",
    "checkout.session.*",
    "cs_test_missing",
    "pi_missing",
    "jenny@example.com",
    "2020-08-27",
    "2026-03-25",
    "%",
    "%ZZ",
    "%C3%28",
    "&",
    "=",
    "+",
];

/// Generates a string without `:`, so it never forms a URL with a host.
fn safe_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -9;-~]{0,24}",
        "[\\p{L}\\p{N}\\p{S} ]{0,12}",
        "[a-z]{1,2}".prop_map(|s| s.repeat(300)),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(VALUES).prop_map(str::to_owned),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        3 => safe_text(),
    ]
}

fn key() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        5 => proptest::sample::select(NAMES).prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
        1 => Just(String::new()),
    ];
    let segments = prop::collection::vec(proptest::sample::select(SEGMENTS), 0..4);
    (name, segments).prop_map(|(name, segments)| format!("{name}{}", segments.concat()))
}

/// Percent-encodes all but unreserved characters and brackets, as the SDKs
/// do for values.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Generates one `key=value` pair: the value percent-encoded, raw, or
/// left out with its `=`.
fn pair() -> impl Strategy<Value = String> {
    (key(), value(), 0..6u8).prop_map(|(key, value, spelling)| match spelling {
        0 => format!("{key}={value}"),
        1 => key,
        _ => format!("{key}={}", encode(&value)),
    })
}

fn pairs() -> impl Strategy<Value = String> {
    prop::collection::vec(pair(), 0..12).prop_map(|pairs| pairs.join("&"))
}

/// Generates a form body: random pairs, a valid session body with random pairs
/// added, or a valid session body with one value replaced.
fn form_body() -> impl Strategy<Value = String> {
    let replaced = (any::<prop::sample::Index>(), value()).prop_map(|(index, value)| {
        let mut pairs: Vec<String> = SESSION_FORM.split('&').map(str::to_owned).collect();
        let slot = index.index(pairs.len());
        let name = pairs[slot].split('=').next().unwrap_or_default().to_owned();
        pairs[slot] = format!("{name}={}", encode(&value));
        pairs.join("&")
    });
    prop_oneof![
        3 => pairs(),
        2 => pairs().prop_map(|extra| format!("{SESSION_FORM}&{extra}")),
        3 => replaced,
    ]
}

/// Generates bytes shaped like a form body, with every byte value possible.
fn formish_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..200),
        3 => form_body().prop_map(String::into_bytes),
        1 => prop::collection::vec(
            proptest::sample::select(&b"ab[]=&%5BDd0+;\x00\xff"[..]),
            0..200,
        ),
    ]
}

// ---------------------------------------------------------------------------
// The form decoder, in process.

proptest! {
    #![proptest_config(cases(2048))]

    /// Whatever bytes come in, the decoder returns a tree or a 400 in
    /// Stripe's envelope, and never panics.
    #[test]
    fn decoder_rejects_in_stripe_envelope(bytes in formish_bytes()) {
        if let Err(err) = decode(&bytes) {
            let reply = Reply {
                status: err.status.as_u16(),
                content_type: "application/json".to_owned(),
                request_id: String::new(),
                body: serde_json::to_vec(&err.body(Some("http://127.0.0.1:12111/_fakestripe/requests?request_id=req_test"))).expect("JSON"),
            };
            let context = format!("decode {:?}", String::from_utf8_lossy(&bytes));
            check_error_envelope(&context, &reply)?;
            // Only a pair with no name has no parameter to name.
            let nameless = bytes
                .split(|b| *b == b'&')
                .any(|pair| pair.first() == Some(&b'='));
            prop_assert!(
                err.param.is_some() || nameless,
                "{context}: no param in {}",
                err.message
            );
        }
    }
}

/// Inputs whose fault lies with one parameter, and the `param` the error
/// must name.
#[test]
fn bad_query_string_is_named_as_such() {
    let reply = send(
        reqwest::Method::GET,
        "/v1/customers?metadata[a=1",
        Some(FIXTURE_KEY),
        &[],
        Vec::new(),
    )
    .expect("the fake responds");
    let error = check_error_envelope("bad query", &reply).unwrap_or_else(|err| panic!("{err}"));
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("in the query string"), "{message}");
    assert_eq!(error["param"], "metadata[a", "{}", reply.text());
}

#[test]
fn decoder_names_parameter_at_fault() {
    let cases: &[(&[u8], &str)] = &[
        (b"metadata=1&metadata[a]=2", "metadata"),
        (b"metadata[a]=2&metadata=1", "metadata"),
        (
            b"line_items[0][quantity]=1&line_items[0]=x",
            "line_items[0]",
        ),
        // The general decoder reports a missing index with no position, so
        // the name comes from decoding each parameter's pairs alone.
        (
            b"mode=payment&line_items[0][quantity]=2&line_items[-1]=&ui_mode[metadata][1]=",
            "ui_mode",
        ),
        (
            b"ui_mode%5Bmetadata%5D%5B1%5D=&line_items[-1]=&line_items[0][quantity]=2",
            "ui_mode",
        ),
    ];
    for (input, param) in cases {
        let text = String::from_utf8_lossy(input);
        let Err(err) = decode(input) else {
            panic!("`{text}` was accepted");
        };
        assert_eq!(err.status.as_u16(), 400, "status for `{text}`");
        assert_eq!(err.param.as_deref(), Some(*param), "param for `{text}`");
    }
}

/// Nesting far past the limit neither exhausts the stack nor gets past
/// the endpoints' checks.
#[test]
fn deep_nesting_is_rejected() {
    let deep = format!("metadata{}=1", "[b]".repeat(100_000));
    if let Err(err) = decode(deep.as_bytes()) {
        assert_eq!(err.status.as_u16(), 400);
    }
    for depth in [17, 100, 100_000] {
        let body = format!("metadata{}=1", "[b]".repeat(depth));
        let reply = post_form("/v1/customers", FIXTURE_KEY, body.as_bytes())
            .unwrap_or_else(|err| panic!("depth {depth}: {err}"));
        let context = format!("metadata nested {depth} deep");
        let error = check_error_envelope(&context, &reply).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(error["param"], "metadata[b]", "{context}: {}", reply.text());
    }
}

/// A huge array index does not allocate an array of that length.
#[test]
fn decoder_survives_huge_indices() {
    for input in [
        "line_items[4294967295][quantity]=1",
        "line_items[18446744073709551615][quantity]=1",
        "expand[999999999999]=x",
    ] {
        if let Err(err) = decode(input.as_bytes()) {
            assert_eq!(err.status.as_u16(), 400, "status for `{input}`");
        }
    }
}

/// Integer parameters at the ends of i64 and past them get a 400 that
/// names the parameter, not an overflow in the handler's arithmetic.
#[test]
fn extreme_integers_are_named() {
    /// Returns the session form with `param` set to `value`, replacing its
    /// value when the form already has the parameter.
    fn session(param: &str, value: &str) -> String {
        let old = match param {
            "line_items[0][quantity]" => "line_items[0][quantity]=2",
            "line_items[0][price_data][unit_amount]" => {
                "line_items[0][price_data][unit_amount]=1500"
            }
            _ => return format!("{SESSION_FORM}&{param}={value}"),
        };
        SESSION_FORM.replace(old, &format!("{param}={value}"))
    }

    /// A route, the parameter under test, and the body that sets it.
    type Case = (&'static str, &'static str, fn(&str) -> String);

    let key = fresh_key("integers");
    let cases: [Case; 5] = [
        ("/v1/checkout/sessions", "expires_at", |v| {
            session("expires_at", v)
        }),
        ("/v1/checkout/sessions", "line_items[0][quantity]", |v| {
            session("line_items[0][quantity]", v)
        }),
        (
            "/v1/checkout/sessions",
            "line_items[0][price_data][unit_amount]",
            |v| session("line_items[0][price_data][unit_amount]", v),
        ),
        ("/v1/payment_intents", "amount", |v| {
            format!("currency=usd&amount={v}")
        }),
        ("/v1/prices", "unit_amount", |v| {
            format!("currency=usd&product_data[name]=x&unit_amount={v}")
        }),
    ];
    for (path, param, body) in &cases {
        for value in [
            "-9223372036854775808",
            "9223372036854775807",
            "9223372036854775808",
            "-1",
        ] {
            let context = format!("POST {path} {param}={value}");
            let reply = post_form(path, &key, body(value).as_bytes())
                .unwrap_or_else(|err| panic!("{context}: {err}"));
            let error =
                check_error_envelope(&context, &reply).unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(error["param"], *param, "{context}: {}", reply.text());
        }
    }
}

// ---------------------------------------------------------------------------
// Random bodies and queries over HTTP.

proptest! {
    #![proptest_config(cases(256))]

    /// Random form bodies sent to every POST route get a status below 500, and
    /// every rejection is Stripe-shaped.
    #[test]
    fn random_form_bodies_stay_below_500(
        route in any::<prop::sample::Index>(),
        body in formish_bytes(),
    ) {
        let routes = FIXTURE.post_routes();
        let path = &routes[route.index(routes.len())];
        let reply = post_form(path, FIXTURE_KEY, &body);
        check_response(&format!("POST {path} {:?}", String::from_utf8_lossy(&body)), reply)?;
    }

    /// Random query strings on every GET route get a status below 500, and every
    /// rejection is Stripe-shaped.
    #[test]
    fn random_queries_stay_below_500(
        route in any::<prop::sample::Index>(),
        query in pairs(),
    ) {
        let routes = FIXTURE.get_routes();
        let path = format!("{}?{query}", routes[route.index(routes.len())]);
        let reply = send(reqwest::Method::GET, &path, Some(FIXTURE_KEY), &[], Vec::new());
        check_response(&format!("GET {path}"), reply)?;
    }
}

// ---------------------------------------------------------------------------
// The JSON control API.

/// Field names the control API's bodies take, with those of fault plans.
const CONTROL_FIELDS: &[&str] = &[
    "seconds",
    "mode",
    "speed",
    "now",
    "payment_method",
    "card_number",
    "outcome",
    "delay_seconds",
    "email",
    "name",
    "three_d_secure",
    "event_ids",
    "types",
    "expires_in_seconds",
    "seed",
    "faults",
    "kind",
    "probability",
    "copies",
    "concurrent",
    "routes",
    "status",
    "latency_ms",
    "count",
    "skip",
    "order",
    "shuffle",
    "distribution",
    "min_seconds",
    "max_seconds",
    "mean_seconds",
    "resources",
    "keys",
    "after_seconds",
    "attempts",
    "forgeries",
    "spacing_seconds",
    "drop_connection",
];

const CONTROL_STRINGS: &[&str] = &[
    "manual",
    "real_time",
    "card",
    "sepa_debit",
    "us_bank_account",
    "4242424242424242",
    "4000000000000002",
    "4000002500003155",
    "4242 4242 4242 4241",
    "succeed",
    "fail",
    "complete",
    "payment_status_lag",
    "stale_read",
    "metadata_divergence",
    "webhook_delay",
    "webhook_order",
    "webhook_duplicate",
    "webhook_drop",
    "hold",
    "api_error",
    "lost_response",
    "forged_webhook",
    "search_lag",
    "wrong_secret",
    "uniform",
    "exponential",
    "*",
    "checkout.session.completed",
    "POST /v1/checkout/sessions",
    "evt_missing",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            Just(-1i64),
            Just(0),
            Just(1),
            Just(20),
            Just(21),
            Just(60_001)
        ]
        .prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        proptest::sample::select(CONTROL_STRINGS).prop_map(Value::from),
        safe_text().prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((proptest::sample::select(CONTROL_FIELDS), inner), 0..6)
                .prop_map(|fields| {
                    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
        ]
    })
}

/// Generates a control body: JSON built from the API's own field names, any JSON,
/// or bytes that are not JSON at all.
fn control_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => json_value().prop_map(|v| {
            let text = v.to_string().into_bytes();
            text[..text.len() / 2].to_vec()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// Checks the rejection of a control body that is not one JSON object:
/// a 400 with the code `body_invalid`, or, for broken text inside a
/// field's value, a `parameter_*` code that names the field. A body that
/// is valid JSON but not an object always gets `body_invalid`.
fn check_not_an_object(context: &str, body: &[u8], reply: &Reply) -> Result<(), TestCaseError> {
    prop_assert_eq!(reply.status, 400, "{}: body: {}", context, reply.text());
    let error = check_error_envelope(context, reply)?;
    let code = error["code"].as_str().unwrap_or_default();
    let valid_json = serde_json::from_slice::<Value>(body).is_ok();
    if valid_json {
        prop_assert_eq!(code, "body_invalid", "{}: body: {}", context, reply.text());
    } else {
        prop_assert!(
            code == "body_invalid" || code.starts_with("parameter_"),
            "{context}: code `{code}` for a body that is not JSON; body: {}",
            reply.text()
        );
    }
    Ok(())
}

/// Returns whether the route of a `CONTROL_ROUTES` entry reads a JSON body.
fn reads_body(method: &str, path: &str) -> bool {
    method != "GET" && method != "DELETE" && !path.ends_with("/cancel")
}

/// Control routes as (method, path); `{session}`, `{endpoint}` and
/// `{event}` are filled in per case.
const CONTROL_ROUTES: &[(&str, &str)] = &[
    ("POST", "/_fakestripe/clock"),
    ("POST", "/_fakestripe/clock/advance"),
    ("POST", "/_fakestripe/checkout/sessions/{session}/pay"),
    ("POST", "/_fakestripe/checkout/sessions/cs_test_missing/pay"),
    ("POST", "/_fakestripe/checkout/sessions/{session}/cancel"),
    ("PUT", "/_fakestripe/faults"),
    ("POST", "/_fakestripe/events/release"),
    (
        "POST",
        "/_fakestripe/webhook_endpoints/{endpoint}/roll_secret",
    ),
    (
        "POST",
        "/_fakestripe/webhook_endpoints/we_missing/roll_secret",
    ),
    ("POST", "/_fakestripe/reset"),
    ("GET", "/_fakestripe/clock"),
    ("DELETE", "/_fakestripe/faults"),
    ("POST", "/_fakestripe/events/{event}/resend"),
    ("POST", "/_fakestripe/events/evt_missing/resend"),
    ("GET", "/_fakestripe/objects/{session}"),
    ("GET", "/_fakestripe/objects/%00"),
];

/// Returns the id of the newest event of the account of `key`.
async fn newest_event(key: &str) -> String {
    let reply = HTTP
        .get(format!("{}/v1/events?limit=1", FAKE.base_url()))
        .bearer_auth(key)
        .send()
        .await
        .expect("listing events");
    let list: Value = reply.json().await.expect("an event list is JSON");
    list["data"][0]["id"]
        .as_str()
        .expect("an event id")
        .to_owned()
}

proptest! {
    #![proptest_config(cases(256))]

    /// Random JSON sent to every control route gets a status below 500, and every
    /// rejection is Stripe-shaped. A body that is not one JSON object, sent to
    /// a route that reads one, is a 400 with a code. Each case uses a fresh
    /// account, so a fault plan it sets affects nothing else.
    #[test]
    fn random_control_bodies_stay_below_500(
        route in proptest::sample::select(CONTROL_ROUTES),
        body in control_body(),
    ) {
        let key = fresh_key("control");
        let session = RUNTIME.block_on(create("/v1/checkout/sessions", &key, SESSION_FORM));
        let endpoint = RUNTIME.block_on(create(
            "/v1/webhook_endpoints",
            &key,
            "url=http://127.0.0.1:9/hook&enabled_events[]=checkout.session.expired",
        ));
        RUNTIME.block_on(create("/v1/products", &key, "name=Lamp"));
        let event = RUNTIME.block_on(newest_event(&key));
        let (method, template) = route;
        let path = template
            .replace("{session}", &session)
            .replace("{endpoint}", &endpoint)
            .replace("{event}", &event);
        let reads = reads_body(method, template);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
        let reply = send(
            method.clone(),
            &path,
            Some(&key),
            &[("content-type", "application/json")],
            body.clone(),
        );
        let context = format!("{method} {path} {}", String::from_utf8_lossy(&body));
        let blank = body.iter().all(u8::is_ascii_whitespace);
        let object = matches!(serde_json::from_slice::<Value>(&body), Ok(Value::Object(_)));
        if reads && !blank && !object {
            let reply = reply.map_err(|err| TestCaseError::fail(format!("{context}: {err}")))?;
            check_not_an_object(&context, &body, &reply)?;
        } else {
            check_response(&context, reply)?;
        }
    }
}

/// Control bodies that fail on one field name it in `param`.
#[test]
fn control_errors_name_the_field() {
    let key = fresh_key("control_param");
    let mut ids = std::collections::HashSet::new();
    let cases: &[(&str, Value, &str)] = &[
        (
            "/_fakestripe/clock/advance",
            json!({"seconds": -1}),
            "seconds",
        ),
        (
            "/_fakestripe/clock/advance",
            json!({"seconds": 1, "extra": 1}),
            "extra",
        ),
        ("/_fakestripe/clock/advance", json!({}), "seconds"),
        ("/_fakestripe/clock", json!({"mode": "sideways"}), "mode"),
        ("/_fakestripe/clock", json!({"speed": 0}), "speed"),
    ];
    for (path, body, param) in cases {
        let reply = send(
            reqwest::Method::POST,
            path,
            Some(&key),
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
        .expect("the fake responds");
        let context = format!("POST {path} {body}");
        let error = check_error_envelope(&context, &reply).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(error["param"], *param, "{context}: {}", reply.text());
        assert!(
            ids.insert(request_id(&context, &reply, &error)),
            "{context}: id repeated"
        );
    }
}

// ---------------------------------------------------------------------------
// Pages for people: the hosted checkout page and the dashboard. They respond
// in HTML, so only the status is checked.

/// Fields of the hosted page's payment form.
const PAGE_FIELDS: &[&str] = &[
    "email",
    "name",
    "payment_method",
    "card_number",
    "outcome",
    "delay_seconds",
    "three_d_secure",
    "key",
    "account",
];

fn page_form() -> impl Strategy<Value = String> {
    let pair = (
        proptest::sample::select(PAGE_FIELDS),
        value(),
        any::<bool>(),
    )
        .prop_map(|(name, value, encoded)| {
            if encoded {
                format!("{name}={}", encode(&value))
            } else {
                format!("{name}={value}")
            }
        });
    prop_oneof![
        3 => prop::collection::vec(pair, 0..8).prop_map(|pairs| pairs.join("&")),
        1 => pairs(),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    /// Random forms posted to the hosted page, and random queries on the
    /// dashboard, get a status below 500.
    #[test]
    fn random_page_requests_stay_below_500(
        route in 0..7usize,
        form in page_form(),
    ) {
        let key = fresh_key("pages");
        let session = RUNTIME.block_on(create("/v1/checkout/sessions", &key, SESSION_FORM));
        let (method, path, body) = match route {
            0 => ("POST", format!("/c/pay/{session}"), form),
            1 => ("POST", "/c/pay/cs_test_missing".to_owned(), form),
            2 => ("POST", format!("/c/pay/{session}/cancel"), form),
            3 => ("GET", format!("/c/pay/{session}?{form}"), String::new()),
            4 => ("GET", format!("/_fakestripe/dashboard?key={key}&{form}"), String::new()),
            5 => (
                "GET",
                format!("/_fakestripe/dashboard/sessions/{session}?key={key}&{form}"),
                String::new(),
            ),
            _ => (
                "GET",
                format!("/_fakestripe/dashboard/objects/{session}?{form}"),
                String::new(),
            ),
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
        let reply = send(
            method.clone(),
            &path,
            None,
            &[("content-type", "application/x-www-form-urlencoded")],
            body.clone().into_bytes(),
        );
        let context = format!("{method} {path} {body}");
        let reply = reply.map_err(|err| TestCaseError::fail(format!("{context}: {err}")))?;
        prop_assert!(
            reply.status < 500,
            "{context}: server error {}; body: {}",
            reply.status,
            reply.text()
        );
    }
}

// ---------------------------------------------------------------------------
// Hostile headers and paths.

/// Returns the `Request-Id` of a rejection that came before an account was
/// known, after checking that it has the shape of Stripe's request ids and
/// that the error links to no request log entry, since none was kept.
fn request_id(context: &str, reply: &Reply, error: &Value) -> String {
    let id = &reply.request_id;
    assert!(
        id.len() == "req_".len() + 24
            && id.starts_with("req_")
            && id[4..].bytes().all(|b| b.is_ascii_alphanumeric()),
        "{context}: request id `{id}`"
    );
    assert!(
        error.get("request_log_url").is_none(),
        "{context}: a link to a log entry that does not exist: {error}"
    );
    id.clone()
}

#[test]
fn hostile_headers_are_rejected_cleanly() {
    let long_key = format!("Bearer sk_test_{}", "a".repeat(8_000));
    let long_idempotency = "k".repeat(8_000);
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("no authorization".into(), vec![]),
        ("empty bearer".into(), vec![("authorization", "Bearer ")]),
        (
            "live key".into(),
            vec![("authorization", "Bearer sk_live_0123456789abcdef")],
        ),
        (
            "publishable key".into(),
            vec![("authorization", "Bearer pk_test_0123456789")],
        ),
        (
            "bare prefix".into(),
            vec![("authorization", "Bearer sk_test_")],
        ),
        (
            "key with symbols".into(),
            vec![("authorization", "Bearer sk_test_a;b")],
        ),
        ("bad basic".into(), vec![("authorization", "Basic !!!")]),
        (
            "basic of invalid UTF-8".into(),
            vec![("authorization", "Basic /w==")],
        ),
        (
            "unknown scheme".into(),
            vec![("authorization", "Token sk_test_x")],
        ),
        ("long key".into(), vec![("authorization", &long_key)]),
    ];
    let mut ids = std::collections::HashSet::new();
    for (name, headers) in &cases {
        let reply = send(
            reqwest::Method::GET,
            "/v1/customers",
            None,
            headers,
            Vec::new(),
        )
        .unwrap_or_else(|err| panic!("{name}: {err}"));
        if reply.status != 200 {
            let error = check_error_envelope(name, &reply).unwrap_or_else(|err| panic!("{err}"));
            // Each rejection before an account is known gets its own id.
            assert!(
                ids.insert(request_id(name, &reply, &error)),
                "{name}: id repeated"
            );
        }
    }
    assert!(ids.len() >= 8, "{} keyless rejections", ids.len());
    let with_key: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("bad version", vec![("stripe-version", "yesterday")]),
        ("bad account", vec![("stripe-account", "bob")]),
        ("bare account prefix", vec![("stripe-account", "acct_")]),
        (
            "long idempotency key",
            vec![("idempotency-key", &long_idempotency)],
        ),
        ("JSON body", vec![("content-type", "application/json")]),
    ];
    for (name, headers) in &with_key {
        let body = if *name == "JSON body" {
            b"{\"name\":\"x\"}".to_vec()
        } else {
            b"name=x".to_vec()
        };
        let reply = send(
            reqwest::Method::POST,
            "/v1/customers",
            Some(FIXTURE_KEY),
            headers,
            body,
        )
        .unwrap_or_else(|err| panic!("{name}: {err}"));
        if reply.status != 200 {
            check_error_envelope(name, &reply).unwrap_or_else(|err| panic!("{err}"));
        }
    }
}

#[test]
fn hostile_paths_are_rejected_cleanly() {
    let long_id = format!("/v1/checkout/sessions/cs_{}", "x".repeat(50_000));
    let paths = [
        "/v1/checkout/sessions/%00",
        "/v1/checkout/sessions/%E2%82%AC",
        "/v1/checkout/sessions/..%2F..%2Fetc",
        "/v1/checkout/sessions/cs_missing/line_items",
        "/v1/checkout/sessions//",
        "/v1//checkout/sessions",
        "/v1/customers/cus%20x",
        "/v2/customers",
        "/",
        "/_fakestripe/unknown",
        "/_fakestripe/checkout/sessions/%00/pay",
        long_id.as_str(),
    ];
    for path in paths {
        for method in [
            reqwest::Method::GET,
            reqwest::Method::POST,
            reqwest::Method::DELETE,
        ] {
            let reply = send(method.clone(), path, Some(FIXTURE_KEY), &[], Vec::new())
                .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
            if reply.status != 200 {
                let context = format!("{method} {path}");
                check_error_envelope(&context, &reply).unwrap_or_else(|err| panic!("{err}"));
            }
        }
    }
}

/// A body of fifty thousand parameters gets its 400, within the client's
/// timeout.
#[test]
fn many_parameters_respond_in_time() {
    let body: String = (0..50_000).map(|i| format!("metadata[k{i}]=v&")).collect();
    let reply =
        post_form("/v1/customers", FIXTURE_KEY, body.as_bytes()).expect("the fake responds");
    let error =
        check_error_envelope("50,000 metadata keys", &reply).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(error["param"], "metadata", "{}", reply.text());
}

// ---------------------------------------------------------------------------
// Bodies over the 1 MiB limit.

fn oversized_routes() -> Vec<(reqwest::Method, String, &'static str)> {
    vec![
        (
            reqwest::Method::POST,
            "/v1/checkout/sessions".to_owned(),
            "application/x-www-form-urlencoded",
        ),
        (
            reqwest::Method::POST,
            format!("/v1/customers/{}", FIXTURE.customer),
            "application/x-www-form-urlencoded",
        ),
        (
            reqwest::Method::PUT,
            "/_fakestripe/faults".to_owned(),
            "application/json",
        ),
        (
            reqwest::Method::POST,
            "/_fakestripe/clock/advance".to_owned(),
            "application/json",
        ),
    ]
}

fn check_413(context: &str, reply: &Reply) {
    assert_eq!(reply.status, 413, "{context}: {}", reply.text());
    assert!(
        reply.content_type.starts_with("application/json"),
        "{context}: content-type {}",
        reply.content_type
    );
    let body = reply.json();
    assert_eq!(
        body["error"]["type"],
        "invalid_request_error",
        "{context}: {}",
        reply.text()
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("1048576"),
        "{context}: message names the limit: {message}"
    );
}

#[test]
fn body_over_limit_is_413() {
    let body = format!("metadata[a]={}", "x".repeat(MAX_BODY));
    for (method, path, content_type) in oversized_routes() {
        let reply = send(
            method.clone(),
            &path,
            Some(FIXTURE_KEY),
            &[("content-type", content_type)],
            body.clone().into_bytes(),
        )
        .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        check_413(&format!("{method} {path}"), &reply);
    }
}

/// A path segment that is not UTF-8 once decoded gets a message that
/// names the segment, not a bare status.
#[test]
fn undecodable_path_segment_is_named() {
    for path in ["/c/pay/%FF", "/_fakestripe/objects/%FF"] {
        let reply = send(
            reqwest::Method::GET,
            path,
            Some(FIXTURE_KEY),
            &[],
            Vec::new(),
        )
        .unwrap_or_else(|err| panic!("GET {path}: {err}"));
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        let body = reply.json();
        assert_eq!(
            body["error"]["message"], "Invalid request: Invalid URL: Invalid UTF-8 in `id`.",
            "{path}"
        );
    }
}

/// The hosted page's form responds to an oversized body with a 413 page
/// the customer can read, not a JSON error.
#[test]
fn pay_form_over_limit_is_413_page() {
    let body = format!("email={}", "x".repeat(MAX_BODY));
    let path = format!("/c/pay/{}", FIXTURE.session);
    let reply = send(
        reqwest::Method::POST,
        &path,
        None,
        &[("content-type", "application/x-www-form-urlencoded")],
        body.into_bytes(),
    )
    .unwrap_or_else(|err| panic!("POST {path}: {err}"));
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(
        reply.content_type.starts_with("text/html"),
        "content-type {}",
        reply.content_type
    );
    assert!(
        reply
            .text()
            .contains("too large: the limit is 1048576 bytes"),
        "{}",
        reply.text()
    );
}

/// A chunked body with no Content-Length is cut off at the limit too. The
/// request is written by hand so nothing announces its length up front.
#[test]
fn chunked_body_over_limit_is_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    for (method, path, content_type) in oversized_routes() {
        let reply = RUNTIME.block_on(async {
            let mut stream = tokio::net::TcpStream::connect(FAKE.addr())
                .await
                .expect("connecting to the fake");
            let head = format!(
                "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\
                 authorization: Bearer {FIXTURE_KEY}\r\ncontent-type: {content_type}\r\n\
                 transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            );
            stream
                .write_all(head.as_bytes())
                .await
                .expect("writing the head");
            let chunk = format!("1000\r\n{}\r\n", "x".repeat(4096));
            // The server may respond and close before the last chunk; a
            // failed write then is expected.
            for _ in 0..(MAX_BODY / 4096 + 2) {
                if stream.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
            let mut raw = Vec::new();
            let _ = stream.read_to_end(&mut raw).await;
            parse_raw_response(&raw)
        });
        check_413(&format!("chunked {method} {path}"), &reply);
    }
}

/// Parses an HTTP/1.1 response with a Content-Length or chunked body.
fn parse_raw_response(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let header = |name: &str| {
        head.lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_owned())
            .unwrap_or_default()
    };
    let body = if header("transfer-encoding").eq_ignore_ascii_case("chunked") {
        let mut body = String::new();
        let mut remaining = rest;
        while let Some((size, after)) = remaining.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 || after.len() < size {
                break;
            }
            body.push_str(&after[..size]);
            remaining = after[size..].trim_start_matches("\r\n");
        }
        body
    } else {
        rest.to_owned()
    };
    Reply {
        status,
        content_type: header("content-type"),
        request_id: header("request-id"),
        body: body.into_bytes(),
    }
}

/// A body of exactly the limit is read and judged on its content.
#[test]
fn body_at_limit_is_not_413() {
    let prefix = "metadata[a]=";
    let body = format!("{prefix}{}", "x".repeat(MAX_BODY - prefix.len()));
    assert_eq!(body.len(), MAX_BODY);
    let path = format!("/v1/customers/{}", FIXTURE.customer);
    let reply = post_form(&path, FIXTURE_KEY, body.as_bytes()).expect("the fake responds");
    let error =
        check_error_envelope("1 MiB metadata value", &reply).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(error["param"], "metadata[a]", "{}", reply.text());
}
