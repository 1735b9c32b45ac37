//! Setup shared by the in-process test suites: one tokio runtime, an HTTP
//! client, a webhook receiver that records what it gets, and the Stripe
//! signature check.
//!
//! Each suite uses only part of this module.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use fakestripe_server::{ClockMode, Server, ServerConfig};
use hmac::{Hmac, Mac};
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};
use serde_json::Value;
use sha2::Sha256;

pub(crate) static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building the test runtime")
});

/// Runs `future` to completion on `RUNTIME` from a thread of its own, so a
/// lazy static may be first touched inside `block_on` without nesting
/// runtimes.
pub(crate) fn on_runtime<F>(future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || RUNTIME.block_on(future))
        .join()
        .expect("the setup thread panicked")
}

/// Starts a fake in process on a free port of 127.0.0.1 with a manual
/// clock, and with `retry_schedule` when one is given.
pub(crate) fn start_manual_fake(retry_schedule: Option<Vec<i64>>) -> Server {
    let mut config = ServerConfig {
        clock_mode: ClockMode::Manual,
        ..Default::default()
    };
    if let Some(schedule) = retry_schedule {
        config.retry_schedule = schedule;
    }
    on_runtime(Server::start(config)).expect("starting the fake")
}

/// Runs `cases` cases and stores failing ones where `failures` points.
pub(crate) fn proptest_config(cases: u32, failures: FileFailurePersistence) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(failures)),
        ..ProptestConfig::default()
    }
}

/// Returns a number unique to one test case in this process, for its API
/// keys and receiver paths, so cases never share an account.
pub(crate) fn case_number() -> u64 {
    static NEXT_CASE: AtomicU64 = AtomicU64::new(1);
    NEXT_CASE.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn http() -> &'static reqwest::Client {
    static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);
    &CLIENT
}

/// A response from the fake.
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// Whether the response carried `Idempotent-Replayed: true`.
    pub(crate) replayed: bool,
    pub(crate) bytes: Vec<u8>,
    /// The body parsed as JSON, `Null` if it is not JSON.
    pub(crate) json: Value,
}

pub(crate) async fn send(builder: reqwest::RequestBuilder) -> Reply {
    let response = builder.send().await.expect("sending to the fake");
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let bytes = response
        .bytes()
        .await
        .expect("reading the response")
        .to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        replayed,
        bytes,
        json,
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    /// The `Stripe-Signature` header, empty if there was none.
    pub(crate) signature: String,
    pub(crate) body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// A webhook receiver on a free port of 127.0.0.1. It records every
/// request by path and responds with 200, or with 500 when a segment of the
/// path is `down`, as a failing endpoint would.
#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub(crate) base: String,
    received: Log,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the receiver");
        let base = format!(
            "http://{}",
            listener.local_addr().expect("receiver address")
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(received.clone());
        tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("serving the receiver")
        });
        Receiver { base, received }
    }

    /// Returns the requests to `path`, in arrival order.
    pub(crate) fn at(&self, path: &str) -> Vec<Received> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn receive(State(log): State<Log>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let path = uri.path().to_owned();
    let down = path.split('/').any(|segment| segment == "down");
    log.lock().unwrap().push(Received {
        path,
        signature,
        body: body.to_vec(),
    });
    if down {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// Returns whether one of the `v1=` signatures of a `Stripe-Signature`
/// header is the HMAC-SHA256 of `timestamp.body` under `secret`.
pub(crate) fn signed_by(header: &str, body: &[u8], secret: &str) -> bool {
    let (timestamp, signatures) = signature_parts(header);
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    signatures.contains(&expected.as_str())
}

/// Returns whether a delivery is genuine: signed with `secret`, with a
/// timestamp within the SDKs' default tolerance of 300 s of real time.
pub(crate) fn genuine(received: &Received, secret: &str) -> bool {
    let (timestamp, _) = signature_parts(&received.signature);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (now - t).abs() <= 300);
    fresh && signed_by(&received.signature, &received.body, secret)
}

/// Splits a `Stripe-Signature` header into its `t=` value and its `v1=`
/// values.
fn signature_parts(header: &str) -> (&str, Vec<&str>) {
    let mut timestamp = "";
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = value,
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    (timestamp, signatures)
}
