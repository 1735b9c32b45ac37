//! Property tests of the fake through its public API: the form decoder in
//! process, and pagination, idempotency and event delivery over HTTP
//! against one shared server with a manual clock. Each case uses fresh API
//! keys, so cases never share an account.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use common::{
    RUNTIME, Receiver, Reply, case_number, http, on_runtime, proptest_config, send, signed_by,
    start_manual_fake,
};
use fakestripe_server::Server;
use fakestripe_server::wire::form::decode;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------
// The fake and the webhook receiver.

/// Retries stop after three attempts so that an endpoint that always fails
/// costs three requests per event, not ten.
static FAKE: LazyLock<Server> = LazyLock::new(|| start_manual_fake(Some(vec![60, 300])));

static RECEIVER: LazyLock<Receiver> = LazyLock::new(|| on_runtime(Receiver::start()));

/// Runs `cases` cases and stores failing ones in
/// `properties.proptest-regressions` beside this file.
fn config(cases: u32) -> ProptestConfig {
    proptest_config(
        cases,
        FileFailurePersistence::WithSource("proptest-regressions"),
    )
}

async fn post(key: &str, path: &str, body: String, idempotency_key: Option<&str>) -> Reply {
    let mut builder = http()
        .post(format!("{}{path}", FAKE.base_url()))
        .bearer_auth(key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(idempotency_key) = idempotency_key {
        builder = builder.header("idempotency-key", idempotency_key);
    }
    send(builder).await
}

async fn get(key: &str, path: &str) -> Reply {
    send(
        http()
            .get(format!("{}{path}", FAKE.base_url()))
            .bearer_auth(key),
    )
    .await
}

async fn control(key: &str, path: &str, body: Value) -> Reply {
    let builder = http()
        .post(format!("{}/_fakestripe{path}", FAKE.base_url()))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string());
    send(builder).await
}

// ---------------------------------------------------------------------------
// Form encoding as Stripe's SDKs do it.

/// Percent-encodes everything but RFC 3986's unreserved characters, and a
/// space as `+` or `%20`.
fn percent_encode(text: &str, plus_for_space: bool) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' if plus_for_space => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A parameter tree as a Stripe SDK receives it from the caller: hashes
/// with word keys, arrays of strings or of hashes, and string leaves.
#[derive(Debug, Clone)]
enum Node {
    Leaf(String),
    Hash(BTreeMap<String, Node>),
    Strings(Vec<String>),
    Hashes(Vec<BTreeMap<String, Node>>),
}

impl Node {
    fn to_json(&self) -> Value {
        match self {
            Node::Leaf(text) => json!(text),
            Node::Hash(map) => Value::Object(hash_json(map)),
            Node::Strings(items) => json!(items),
            Node::Hashes(items) => {
                Value::Array(items.iter().map(|m| Value::Object(hash_json(m))).collect())
            }
        }
    }
}

fn hash_json(map: &BTreeMap<String, Node>) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()
}

/// How one body is spelled: brackets literal or percent-encoded (or
/// alternating per pair), `a[]` or `a[0]` for arrays of strings, and `+` or
/// `%20` for spaces.
#[derive(Debug, Clone, Copy)]
struct Spelling {
    brackets: Brackets,
    empty_index: bool,
    plus_for_space: bool,
}

#[derive(Debug, Clone, Copy)]
enum Brackets {
    Literal,
    Encoded,
    Alternating,
}

fn encode_tree(root: &BTreeMap<String, Node>, spelling: Spelling) -> String {
    let mut pairs: Vec<(Vec<String>, String)> = Vec::new();
    for (key, node) in root {
        flatten(vec![key.clone()], node, spelling, &mut pairs);
    }
    pairs
        .iter()
        .enumerate()
        .map(|(index, (path, value))| {
            let encoded_brackets = match spelling.brackets {
                Brackets::Literal => false,
                Brackets::Encoded => true,
                Brackets::Alternating => index % 2 == 1,
            };
            let (open, close) = if encoded_brackets {
                ("%5B", "%5D")
            } else {
                ("[", "]")
            };
            let mut key = path[0].clone();
            for segment in &path[1..] {
                key.push_str(open);
                key.push_str(segment);
                key.push_str(close);
            }
            format!("{key}={}", percent_encode(value, spelling.plus_for_space))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn flatten(
    path: Vec<String>,
    node: &Node,
    spelling: Spelling,
    out: &mut Vec<(Vec<String>, String)>,
) {
    let child = |segment: String| {
        let mut longer = path.clone();
        longer.push(segment);
        longer
    };
    match node {
        Node::Leaf(text) => out.push((path.clone(), text.clone())),
        Node::Hash(map) => {
            for (key, value) in map {
                flatten(child(key.clone()), value, spelling, out);
            }
        }
        Node::Strings(items) => {
            for (index, item) in items.iter().enumerate() {
                let segment = if spelling.empty_index {
                    String::new()
                } else {
                    index.to_string()
                };
                out.push((child(segment), item.clone()));
            }
        }
        Node::Hashes(items) => {
            for (index, map) in items.iter().enumerate() {
                for (key, value) in map {
                    let mut longer = child(index.to_string());
                    longer.push(key.clone());
                    flatten(longer, value, spelling, out);
                }
            }
        }
    }
}

fn word() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,7}"
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "[a-z \\[\\]=&+%#?/.]{0,12}",
        Just(String::new()),
    ]
}

fn hash_of(inner: impl Strategy<Value = Node>) -> impl Strategy<Value = BTreeMap<String, Node>> {
    prop::collection::btree_map(word(), inner, 1..4)
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        4 => text().prop_map(Node::Leaf),
        1 => prop::collection::vec(text(), 1..13).prop_map(Node::Strings),
    ];
    leaf.prop_recursive(4, 48, 4, |inner| {
        prop_oneof![
            hash_of(inner.clone()).prop_map(Node::Hash),
            prop::collection::vec(hash_of(inner), 1..4).prop_map(Node::Hashes),
        ]
    })
}

fn spelling() -> impl Strategy<Value = Spelling> {
    (
        prop_oneof![
            Just(Brackets::Literal),
            Just(Brackets::Encoded),
            Just(Brackets::Alternating)
        ],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(brackets, empty_index, plus_for_space)| Spelling {
            brackets,
            empty_index,
            plus_for_space,
        })
}

/// Bytes that look like form bodies often enough to reach deep into the
/// decoder: brackets, separators, percent escapes and digits.
fn formish_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        "[a-c0-9\\[\\]=&%+.]{0,96}".prop_map(String::into_bytes),
        prop::collection::vec(prop::sample::select(b"[]=&%5BDab0123".to_vec()), 0..128),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// `decode` never panics, whatever the bytes, and every rejection is a
    /// 400 `invalid_request_error` rather than a server error.
    #[test]
    fn form_decode_never_panics(bytes in formish_bytes()) {
        if let Err(err) = decode(&bytes) {
            prop_assert_eq!(err.status.as_u16(), 400);
            prop_assert_eq!(err.kind, fakestripe_server::wire::ErrorType::InvalidRequest);
        }
    }

    /// A tree of hashes, string arrays and hash arrays, encoded in bracket
    /// notation as Stripe's SDKs encode it, decodes back to the same tree,
    /// whichever spelling of brackets, array indices and spaces is used.
    #[test]
    fn form_decode_round_trips_sdk_encoding(root in hash_of(node()), spelling in spelling()) {
        let body = encode_tree(&root, spelling);
        let decoded = decode(body.as_bytes());
        prop_assert!(decoded.is_ok(), "body {} was rejected: {:?}", body, decoded.err());
        prop_assert_eq!(Value::Object(decoded.unwrap()), Value::Object(hash_json(&root)), "body {}", body);
    }
}

// ---------------------------------------------------------------------------
// Pagination and idempotency over HTTP.

proptest! {
    #![proptest_config(config(24))]

    /// Following `starting_after` from any object (or from the top) with
    /// any `limit` returns every later object exactly once, newest first,
    /// and `has_more` is false only on the last page.
    #[test]
    fn pagination_covers_list_once(count in 0usize..26, limit in 1usize..12, start in any::<Option<Index>>()) {
        RUNTIME.block_on(async {
            let key = format!("sk_test_pages{}", case_number());
            let mut created = Vec::new();
            for n in 0..count {
                let reply = post(&key, "/v1/customers", format!("name=c{n}"), None).await;
                assert_eq!(reply.status, 200);
                created.push(reply.json["id"].as_str().unwrap().to_owned());
            }
            created.reverse();
            let (mut cursor, expected) = match start.filter(|_| count > 0) {
                Some(index) => {
                    let at = index.index(count);
                    (Some(created[at].clone()), created[at + 1..].to_vec())
                }
                None => (None, created.clone()),
            };

            let mut seen = Vec::new();
            loop {
                let path = match &cursor {
                    Some(id) => format!("/v1/customers?limit={limit}&starting_after={id}"),
                    None => format!("/v1/customers?limit={limit}"),
                };
                let page = get(&key, &path).await;
                assert_eq!(page.status, 200);
                let data = page.json["data"].as_array().unwrap();
                assert!(data.len() <= limit);
                seen.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
                if page.json["has_more"] == json!(false) {
                    break;
                }
                assert_eq!(data.len(), limit, "a page with has_more is full");
                cursor = seen.last().cloned();
            }
            assert_eq!(seen, expected);
        });
    }

    /// Repeating a POST with the same `Idempotency-Key` and the same
    /// parameters returns the first response byte for byte, marked
    /// `Idempotent-Replayed: true`, and creates nothing more. The same key
    /// with other parameters is a 400 `idempotency_error`.
    #[test]
    fn idempotent_replay_is_byte_identical(
        idempotency_key in "[A-Za-z0-9_-]{1,40}",
        name in "\\PC{1,20}",
        metadata in prop::collection::btree_map("[a-z]{1,10}", "\\PC{1,20}", 0..5),
    ) {
        RUNTIME.block_on(async {
            let key = format!("sk_test_idem{}", case_number());
            let mut body = format!("name={}", percent_encode(&name, true));
            for (k, v) in &metadata {
                body.push_str(&format!("&metadata[{k}]={}", percent_encode(v, false)));
            }

            let first = post(&key, "/v1/customers", body.clone(), Some(&idempotency_key)).await;
            let second = post(&key, "/v1/customers", body.clone(), Some(&idempotency_key)).await;
            let other = post(&key, "/v1/customers", format!("{body}&description=other"), Some(&idempotency_key)).await;

            assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.bytes));
            assert!(!first.replayed);
            assert_eq!(second.status, 200);
            assert!(second.replayed);
            assert_eq!(second.bytes, first.bytes);
            assert_eq!(first.json["name"], json!(name));
            assert_eq!(other.status, 400);
            assert_eq!(other.json["error"]["type"], "idempotency_error");
            let list = get(&key, "/v1/customers").await;
            assert_eq!(list.json["data"].as_array().unwrap().len(), 1);
        });
    }
}

// ---------------------------------------------------------------------------
// Event delivery under interleaved work.

const ACCOUNTS: usize = 2;

/// Event types the filtered endpoint of each account subscribes to.
const FILTERED_TYPES: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "charge.failed",
];

#[derive(Debug, Clone)]
enum Op {
    /// Creates a session; a short one expires after 30 minutes, otherwise
    /// after 24 hours. Euro sessions can be paid by SEPA Direct Debit.
    Create {
        account: usize,
        eur: bool,
        short: bool,
    },
    PayCard {
        account: usize,
        session: Index,
        card: &'static str,
    },
    PaySepa {
        account: usize,
        session: Index,
        succeed: bool,
        delay: i64,
    },
    Expire {
        account: usize,
        session: Index,
    },
    Advance {
        account: usize,
        seconds: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let account = 0..ACCOUNTS;
    let cards = prop::sample::select(vec![
        "4242424242424242",
        "4000000000000002",
        "4000000000009995",
        "4000002500003155",
    ]);
    prop_oneof![
        3 => (account.clone(), any::<bool>(), any::<bool>()).prop_map(|(account, eur, short)| Op::Create { account, eur, short }),
        3 => (account.clone(), any::<Index>(), cards).prop_map(|(account, session, card)| Op::PayCard { account, session, card }),
        2 => (account.clone(), any::<Index>(), any::<bool>(), prop::sample::select(vec![0i64, 60, 600, 7200]))
            .prop_map(|(account, session, succeed, delay)| Op::PaySepa { account, session, succeed, delay }),
        1 => (account.clone(), any::<Index>()).prop_map(|(account, session)| Op::Expire { account, session }),
        2 => (account, prop::sample::select(vec![0i64, 30, 600, 1800, 7200, 86_400]))
            .prop_map(|(account, seconds)| Op::Advance { account, seconds }),
    ]
}

/// One account of a case: its key, its sessions and its endpoints.
struct Tenant {
    key: String,
    sessions: Vec<String>,
    /// `(receiver path, secret, subscribed types or None for all)` of each
    /// healthy endpoint.
    healthy: Vec<(String, String, Option<Vec<String>>)>,
}

fn session_form(eur: bool, expires_at: Option<i64>) -> String {
    let currency = if eur { "eur" } else { "usd" };
    let mut body = format!(
        "mode=payment&success_url=https%3A%2F%2Fshop.test%2Fok\
         &line_items[0][price_data][currency]={currency}\
         &line_items[0][price_data][unit_amount]=1200\
         &line_items[0][price_data][product_data][name]=Item\
         &line_items[0][quantity]=1"
    );
    if let Some(at) = expires_at {
        body.push_str(&format!("&expires_at={at}"));
    }
    body
}

async fn endpoint(key: &str, url: &str, types: &[&str]) -> String {
    let mut body = format!("url={}", percent_encode(url, false));
    for event_type in types {
        body.push_str(&format!("&enabled_events[]={event_type}"));
    }
    let reply = post(key, "/v1/webhook_endpoints", body, None).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
    reply.json["secret"].as_str().unwrap().to_owned()
}

async fn setup_tenant(case: u64, account: usize) -> Tenant {
    let key = format!("sk_test_deliver{case}_{account}");
    let prefix = format!("/case{case}/account{account}");
    let all_path = format!("{prefix}/all");
    let filtered_path = format!("{prefix}/filtered");
    let all_secret = endpoint(&key, &format!("{}{all_path}", RECEIVER.base), &["*"]).await;
    let filtered_secret = endpoint(
        &key,
        &format!("{}{filtered_path}", RECEIVER.base),
        FILTERED_TYPES,
    )
    .await;
    endpoint(&key, &format!("{}{prefix}/down/", RECEIVER.base), &["*"]).await;
    Tenant {
        key,
        sessions: Vec::new(),
        healthy: vec![
            (all_path, all_secret, None),
            (
                filtered_path,
                filtered_secret,
                Some(FILTERED_TYPES.iter().map(|t| (*t).to_owned()).collect()),
            ),
        ],
    }
}

async fn apply(tenants: &mut [Tenant], op: &Op) {
    match op {
        Op::Create {
            account,
            eur,
            short,
        } => {
            let tenant = &mut tenants[*account];
            let expires_at = if *short {
                let clock = send(
                    http()
                        .get(format!("{}/_fakestripe/clock", FAKE.base_url()))
                        .bearer_auth(&tenant.key),
                )
                .await;
                Some(clock.json["now"].as_i64().unwrap() + 1800)
            } else {
                None
            };
            let reply = post(
                &tenant.key,
                "/v1/checkout/sessions",
                session_form(*eur, expires_at),
                None,
            )
            .await;
            assert_eq!(
                reply.status,
                200,
                "{}",
                String::from_utf8_lossy(&reply.bytes)
            );
            tenant
                .sessions
                .push(reply.json["id"].as_str().unwrap().to_owned());
        }
        Op::PayCard {
            account,
            session,
            card,
        } => {
            let tenant = &tenants[*account];
            if tenant.sessions.is_empty() {
                return;
            }
            let id = session.get(&tenant.sessions);
            let body = json!({"payment_method": "card", "card_number": card});
            let reply = control(&tenant.key, &format!("/checkout/sessions/{id}/pay"), body).await;
            assert!(
                matches!(reply.status, 200 | 400),
                "{}",
                String::from_utf8_lossy(&reply.bytes)
            );
        }
        Op::PaySepa {
            account,
            session,
            succeed,
            delay,
        } => {
            let tenant = &tenants[*account];
            if tenant.sessions.is_empty() {
                return;
            }
            let id = session.get(&tenant.sessions);
            let outcome = if *succeed { "succeeded" } else { "failed" };
            let body =
                json!({"payment_method": "sepa_debit", "outcome": outcome, "delay_seconds": delay});
            let reply = control(&tenant.key, &format!("/checkout/sessions/{id}/pay"), body).await;
            // A usd session, or one that is no longer open, gets a 400.
            assert!(
                matches!(reply.status, 200 | 400),
                "{}",
                String::from_utf8_lossy(&reply.bytes)
            );
        }
        Op::Expire { account, session } => {
            let tenant = &tenants[*account];
            if tenant.sessions.is_empty() {
                return;
            }
            let id = session.get(&tenant.sessions);
            let reply = post(
                &tenant.key,
                &format!("/v1/checkout/sessions/{id}/expire"),
                String::new(),
                None,
            )
            .await;
            assert!(
                matches!(reply.status, 200 | 400),
                "{}",
                String::from_utf8_lossy(&reply.bytes)
            );
        }
        Op::Advance { account, seconds } => {
            let reply = control(
                &tenants[*account].key,
                "/clock/advance",
                json!({"seconds": seconds}),
            )
            .await;
            assert_eq!(reply.status, 200);
        }
    }
}

async fn all_events(key: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut path = "/v1/events?limit=100".to_owned();
    loop {
        let page = get(key, &path).await;
        assert_eq!(page.status, 200);
        let data = page.json["data"].as_array().unwrap().clone();
        let more = page.json["has_more"] == json!(true);
        if let Some(last) = data.last() {
            path = format!(
                "/v1/events?limit=100&starting_after={}",
                last["id"].as_str().unwrap()
            );
        }
        events.extend(data);
        if !more {
            return events;
        }
    }
}

proptest! {
    #![proptest_config(config(16))]

    /// Ops interleave session creates, card and SEPA payments, expiries and
    /// clock advances across accounts, and then every account's clock runs
    /// two more days. After any such run, each healthy endpoint has received
    /// every event of its account whose type it subscribes to exactly once,
    /// correctly signed, and nothing else. An endpoint that always fails
    /// keeps each event's `pending_webhooks` at 1. No account lists or
    /// retrieves another's events.
    #[test]
    fn every_event_reaches_every_subscribed_endpoint(ops in prop::collection::vec(op(), 1..24)) {
        RUNTIME.block_on(async {
            let case = case_number();
            let mut tenants = Vec::new();
            for account in 0..ACCOUNTS {
                tenants.push(setup_tenant(case, account).await);
            }
            for op in &ops {
                apply(&mut tenants, op).await;
            }
            for tenant in &tenants {
                let reply = control(&tenant.key, "/clock/advance", json!({"seconds": 2 * 86_400})).await;
                assert_eq!(reply.status, 200);
            }

            let mut owner: HashMap<String, usize> = HashMap::new();
            for (account, tenant) in tenants.iter().enumerate() {
                let events = all_events(&tenant.key).await;
                for event in &events {
                    let id = event["id"].as_str().unwrap().to_owned();
                    assert_eq!(owner.insert(id.clone(), account), None, "event {id} is listed by two accounts");
                    assert_eq!(event["pending_webhooks"], 1, "only the failing endpoint is still pending for {id}");
                }
                for (path, secret, types) in &tenant.healthy {
                    let mut expected: Vec<String> = events
                        .iter()
                        .filter(|e| types.as_ref().is_none_or(|t| t.iter().any(|t| e["type"] == json!(t))))
                        .map(|e| e["id"].as_str().unwrap().to_owned())
                        .collect();
                    let mut got = Vec::new();
                    for delivery in RECEIVER.at(path) {
                        assert!(signed_by(&delivery.signature, &delivery.body, secret), "bad signature at {path}");
                        let event: Value = serde_json::from_slice(&delivery.body).unwrap();
                        got.push(event["id"].as_str().unwrap().to_owned());
                    }
                    expected.sort();
                    got.sort();
                    assert_eq!(got, expected, "deliveries at {path}");
                }
            }

            let ids_of: Vec<HashSet<&String>> =
                (0..ACCOUNTS).map(|a| owner.iter().filter(|(_, o)| **o == a).map(|(id, _)| id).collect()).collect();
            for (account, tenant) in tenants.iter().enumerate() {
                let other = (account + 1) % ACCOUNTS;
                if let Some(foreign) = ids_of[other].iter().next() {
                    let reply = get(&tenant.key, &format!("/v1/events/{foreign}")).await;
                    assert_eq!(reply.status, 404, "account {account} retrieved {foreign} of account {other}");
                }
            }
        });
    }
}
