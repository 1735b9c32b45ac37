//! One delivery attempt: build the signed request from the stored event,
//! send it, record the outcome, and schedule the next attempt on failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tokio::sync::Notify;

use crate::account::{AccountData, DeliveryRecord, Task};
use crate::clock::wall_clock_seconds;
use crate::events::signature;
use crate::faults::Forgery;

/// How many bytes of an endpoint's answer are kept in the delivery log.
const RESPONSE_SNIPPET_BYTES: usize = 512;

/// A delivery ready to send, built under the account lock.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    pub url: String,
    pub attempt: u32,
    pub scheduled_at: i64,
    pub body: Vec<u8>,
    pub signature: String,
    pub forged: Option<String>,
    pub duplicate: bool,
    /// Whether a failure schedules another attempt. Forged and duplicate
    /// deliveries are extra sends, never retried.
    pub retry_on_failure: bool,
    /// Set by a drop fault: the attempt fails as if the network lost it,
    /// without reaching the endpoint.
    pub lost: bool,
    /// The account's `generation` when the delivery was prepared. After a
    /// reset the delivery is not sent, and if it was already being sent,
    /// its outcome is not recorded.
    pub generation: u64,
}

/// What the endpoint did with one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
    pub response_body: String,
}

impl Outcome {
    /// Whether the endpoint responded with a 2xx and the whole response
    /// arrived in time. A 200 whose body stops coming before the timeout is a failure.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn failed(started: Instant, error: String) -> Outcome {
        Outcome {
            status: None,
            error: Some(error),
            latency_ms: started.elapsed().as_millis() as u64,
            response_body: String::new(),
        }
    }
}

/// Checks, when an attempt is due to be sent, that its endpoint still
/// exists and is enabled. Stripe sends no further retries of an event to an
/// endpoint that was disabled or deleted, so a skipped attempt schedules
/// none. The trace records it as `delivery_skipped` with the reason.
pub fn endpoint_accepts(
    data: &mut AccountData,
    event_id: &str,
    endpoint_id: &str,
    attempt: u32,
) -> bool {
    let reason = match data.endpoints.get(endpoint_id) {
        None => "endpoint deleted",
        Some(endpoint) if !endpoint.enabled => "endpoint disabled",
        Some(_) => return true,
    };
    tracing::info!(event = %event_id, endpoint = %endpoint_id, attempt, reason, "webhook delivery skipped");
    data.trace(
        "delivery_skipped",
        json!({ "event_id": event_id, "endpoint": endpoint_id, "attempt": attempt, "reason": reason }),
    );
    false
}

/// Builds the request for one attempt. Returns `None` when the event or the
/// endpoint no longer exists.
pub fn prepare(
    data: &AccountData,
    event_id: &str,
    endpoint_id: &str,
    attempt: u32,
    scheduled_at: i64,
) -> Option<Prepared> {
    let event = data.store.get("event", event_id)?;
    let endpoint = data.endpoints.get(endpoint_id)?;
    // An endpoint pinned to an API version gets events in that version.
    let body = match &endpoint.api_version {
        Some(version) if event["api_version"] != version.as_str() => {
            let mut pinned = event.clone();
            crate::wire::version::render_event(&mut pinned, version);
            if crate::wire::version::embeds_charge_lists(version) {
                crate::resources::charges::embed_lists(&mut pinned["data"], &data.store);
            }
            crate::api::render(&pinned)
        }
        _ => crate::api::render(&event),
    };
    let timestamp = wall_clock_seconds().floor() as i64;
    let secrets = endpoint.live_secrets(data.now());
    Some(Prepared {
        event_id: event_id.to_owned(),
        event_type: event["type"].as_str().unwrap_or_default().to_owned(),
        endpoint_id: endpoint_id.to_owned(),
        url: endpoint.url.clone(),
        attempt,
        scheduled_at,
        signature: signature::header(&secrets, timestamp, &body),
        body,
        forged: None,
        duplicate: false,
        retry_on_failure: true,
        lost: false,
        generation: data.generation,
    })
}

/// Turns a prepared delivery into a forged one: signed with a secret the
/// endpoint does not have, correctly signed but ten minutes old (outside
/// the SDKs' default tolerance of 300 s), or with the body changed after
/// signing.
pub fn forge(prepared: &mut Prepared, forgery: Forgery, secrets: &[&str], wrong_secret: &str) {
    let now = wall_clock_seconds().floor() as i64;
    match forgery {
        Forgery::WrongSecret => {
            prepared.signature = signature::header(&[wrong_secret], now, &prepared.body);
        }
        Forgery::StaleTimestamp => {
            prepared.signature = signature::header(secrets, now - 600, &prepared.body);
        }
        Forgery::TamperedBody => {
            let text = String::from_utf8_lossy(&prepared.body).replacen(
                "\"livemode\": false",
                "\"livemode\": true",
                1,
            );
            prepared.body = text.into_bytes();
        }
    }
    prepared.forged = Some(forgery.name().to_owned());
    prepared.retry_on_failure = false;
}

/// Sends one attempt and measures it. Never fails: refusals and timeouts
/// become an `Outcome` with an error.
pub async fn send(http: &reqwest::Client, prepared: &Prepared) -> Outcome {
    if prepared.lost {
        return lost();
    }
    let started = Instant::now();
    let result = http
        .post(&prepared.url)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", &prepared.signature)
        .header("user-agent", USER_AGENT)
        .body(prepared.body.clone())
        .send()
        .await;
    let mut response = match result {
        Ok(response) => response,
        Err(err) if err.is_timeout() => return Outcome::failed(started, "timed out".to_owned()),
        Err(err) => return Outcome::failed(started, failure_text(&prepared.url, &err)),
    };
    // Only the start of the body is kept, so only that much is read, and
    // an endpoint that responds with a huge body costs no memory.
    let mut head = Vec::new();
    let mut error = None;
    while head.len() < RESPONSE_SNIPPET_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(err) => {
                error = Some(body_error(err.is_timeout(), &err));
                break;
            }
        }
    }
    Outcome {
        status: Some(response.status().as_u16()),
        error,
        latency_ms: started.elapsed().as_millis() as u64,
        response_body: snippet(&head),
    }
}

/// Describes a delivery attempt that got no response, by its cause.
fn failure_text(url: &str, err: &reqwest::Error) -> String {
    if url
        .get(..6)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https:"))
    {
        return "not sent: the fake delivers webhooks over plain HTTP only; register an http:// URL"
            .to_owned();
    }
    let mut cause: &dyn std::error::Error = err;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let cause = cause.to_string();
    if err.is_connect() && cause.to_ascii_lowercase().contains("refused") {
        "connection refused".to_owned()
    } else if err.is_connect() {
        format!("connection failed: {cause}")
    } else {
        format!("request failed: {cause}")
    }
}

/// The user agent Stripe sends webhooks with.
const USER_AGENT: &str = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";

fn lost() -> Outcome {
    Outcome {
        status: None,
        error: Some("connection lost (webhook_drop fault)".to_owned()),
        latency_ms: 0,
        response_body: String::new(),
    }
}

fn body_error(timed_out: bool, err: &dyn std::fmt::Display) -> String {
    if timed_out {
        "timed out reading the response body".to_owned()
    } else {
        format!("reading the response body failed: {err}")
    }
}

/// How long the deliveries of a burst wait for each other to connect. An
/// app that takes one connection at a time, with a short queue for the
/// rest, lets only some of them connect until it has responded to the
/// first. Waiting for all would then hold the burst until the timeout.
const GATE_WAIT: Duration = Duration::from_millis(250);

/// Holds the deliveries of a burst until all of them have connected, or
/// until `GATE_WAIT` has passed since the burst began.
struct Gate {
    total: usize,
    ready: std::sync::atomic::AtomicUsize,
    opened: Notify,
    deadline: tokio::time::Instant,
}

impl Gate {
    fn new(total: usize) -> Gate {
        Gate {
            total,
            ready: std::sync::atomic::AtomicUsize::new(0),
            opened: Notify::new(),
            deadline: tokio::time::Instant::now() + GATE_WAIT,
        }
    }

    /// Counts one delivery as connected (or failed to), then waits for
    /// the rest or the deadline.
    async fn pass(&self) {
        use std::sync::atomic::Ordering;
        if self.ready.fetch_add(1, Ordering::SeqCst) + 1 >= self.total {
            self.opened.notify_waiters();
            return;
        }
        let all = async {
            loop {
                let notified = self.opened.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.ready.load(Ordering::SeqCst) >= self.total {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout_at(self.deadline, all).await;
    }
}

/// Sends deliveries so that they reach their endpoints at the same moment,
/// for a concurrent-duplicate fault. Each goes over a new connection, and
/// no request is written until every connection is open or `GATE_WAIT`
/// has passed. Through the pooled client the first copy would take a
/// kept-alive connection and arrive while the others were still
/// connecting, so an app whose check for a duplicate races with its write
/// would rarely see the race.
pub async fn send_together(
    http: &reqwest::Client,
    sends: &[Prepared],
    timeout: Duration,
) -> Vec<Outcome> {
    let gate = Arc::new(Gate::new(sends.len()));
    // A `JoinSet` aborts its tasks when dropped, so a burst cut off by a
    // reset or a stop sends nothing more.
    let mut tasks = tokio::task::JoinSet::new();
    let mut slots = std::collections::HashMap::new();
    for (index, prepared) in sends.iter().enumerate() {
        let gate = gate.clone();
        let http = http.clone();
        let prepared = prepared.clone();
        let task = tasks.spawn(async move { send_at_gate(&http, &prepared, &gate, timeout).await });
        slots.insert(task.id(), index);
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; sends.len()];
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, outcome) = match joined {
            Ok((id, outcome)) => (id, outcome),
            Err(err) => (
                err.id(),
                Outcome::failed(Instant::now(), format!("delivery task failed: {err}")),
            ),
        };
        if let Some(index) = slots.get(&id) {
            outcomes[*index] = Some(outcome);
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| {
                Outcome::failed(Instant::now(), "delivery task failed".to_owned())
            })
        })
        .collect()
}

/// Opens a connection for one delivery, waits at `gate` until the other
/// deliveries of the burst have theirs, then sends. A URL that is not
/// plain `http` goes through the pooled client after the gate.
async fn send_at_gate(
    http: &reqwest::Client,
    prepared: &Prepared,
    gate: &Gate,
    timeout: Duration,
) -> Outcome {
    let target = url::Url::parse(&prepared.url)
        .ok()
        .filter(|url| url.scheme() == "http" && url.host_str().is_some() && !prepared.lost);
    let Some(target) = target else {
        gate.pass().await;
        return send(http, prepared).await;
    };
    let authority = match target.port() {
        Some(port) => format!("{}:{port}", target.host_str().unwrap_or_default()),
        None => format!("{}:80", target.host_str().unwrap_or_default()),
    };

    let started = Instant::now();
    let opened = tokio::time::timeout(timeout, open_connection(&authority, timeout)).await;
    gate.pass().await;
    let mut sender = match opened {
        Ok(Ok(sender)) => sender,
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Outcome::failed(started, "connection refused".to_owned());
        }
        Ok(Err(err)) => return Outcome::failed(started, format!("connecting failed: {err}")),
        Err(_) => return Outcome::failed(started, "timed out".to_owned()),
    };

    let path = &target[url::Position::BeforePath..url::Position::AfterQuery];
    let request = axum::http::Request::post(path)
        .header("host", &authority)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", &prepared.signature)
        .header("user-agent", USER_AGENT)
        .body(Full::new(Bytes::from(prepared.body.clone())));
    let request = match request {
        Ok(request) => request,
        Err(err) => return Outcome::failed(started, format!("request failed: {err}")),
    };

    let left = timeout.saturating_sub(started.elapsed());
    let exchange = async {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut head = Vec::new();
        while head.len() < RESPONSE_SNIPPET_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        head.extend_from_slice(data);
                    }
                }
                Some(Err(err)) => return Ok((status, head, Some(body_error(false, &err)))),
                None => break,
            }
        }
        Ok::<_, hyper::Error>((status, head, None))
    };
    let (status, head, error) = match tokio::time::timeout(left, exchange).await {
        Ok(Ok(answered)) => answered,
        Ok(Err(err)) if err.is_canceled() || err.is_closed() || err.is_incomplete_message() => {
            return Outcome::failed(
                started,
                "the endpoint closed the connection before it responded".to_owned(),
            );
        }
        Ok(Err(err)) => return Outcome::failed(started, format!("request failed: {err}")),
        Err(_) => return Outcome::failed(started, "timed out".to_owned()),
    };
    Outcome {
        status: Some(status),
        error,
        latency_ms: started.elapsed().as_millis() as u64,
        response_body: snippet(&head),
    }
}

/// Opens an HTTP/1.1 connection to `authority` (`host:port`) and drives
/// it in a task of its own, which ends with the connection or after
/// `timeout` and a second, so an endpoint that never responds keeps no task.
async fn open_connection(
    authority: &str,
    timeout: Duration,
) -> std::io::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
    // The driver outlives the exchange's own timeout by a second, so a
    // slow endpoint reads as timed out rather than as a closed connection.
    tokio::spawn(tokio::time::timeout(
        timeout + Duration::from_secs(1),
        connection,
    ));
    Ok(sender)
}

/// Returns the first `RESPONSE_SNIPPET_BYTES` of a body as text, cut at a
/// character boundary.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(RESPONSE_SNIPPET_BYTES)]);
    let mut end = text.len().min(RESPONSE_SNIPPET_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Records an attempt, updates the event's `pending_webhooks`, and
/// schedules the next attempt if this one failed and attempts remain.
pub fn complete(
    data: &mut AccountData,
    prepared: &Prepared,
    outcome: &Outcome,
    retry_schedule: &[i64],
) {
    if prepared.generation != data.generation {
        // The account was reset while the attempt was being sent.
        tracing::info!(event = %prepared.event_id, endpoint = %prepared.endpoint_id, attempt = prepared.attempt, "webhook delivery finished after a reset of its account; its outcome is not recorded");
        return;
    }
    let now = data.now();
    let record = DeliveryRecord {
        event_id: prepared.event_id.clone(),
        event_type: prepared.event_type.clone(),
        endpoint: prepared.endpoint_id.clone(),
        url: prepared.url.clone(),
        attempt: prepared.attempt,
        scheduled_at: prepared.scheduled_at,
        sent_at: now,
        status: outcome.status,
        error: outcome.error.clone(),
        latency_ms: outcome.latency_ms,
        response_body: outcome.response_body.clone(),
        forged: prepared.forged.clone(),
        duplicate: prepared.duplicate,
    };
    data.trace(
        "delivery",
        json!({
            "event_id": record.event_id,
            "type": record.event_type,
            "endpoint": record.endpoint,
            "attempt": record.attempt,
            "status": record.status,
            "error": record.error,
            "forged": record.forged,
            "duplicate": record.duplicate,
        }),
    );
    match (outcome.status, &outcome.error) {
        (Some(status), _) => {
            tracing::debug!(event = %prepared.event_id, endpoint = %prepared.endpoint_id, attempt = prepared.attempt, status, "webhook delivered")
        }
        (None, Some(error)) => {
            tracing::info!(event = %prepared.event_id, endpoint = %prepared.endpoint_id, attempt = prepared.attempt, %error, "webhook delivery failed")
        }
        (None, None) => {}
    }
    data.deliveries.push(record);

    if !prepared.retry_on_failure {
        return;
    }
    if outcome.succeeded() {
        if let Some(mut event) = data.store.get("event", &prepared.event_id) {
            let pending = event["pending_webhooks"].as_i64().unwrap_or(0);
            event["pending_webhooks"] = json!((pending - 1).max(0));
            data.store.update(&prepared.event_id, &event, now);
        }
        return;
    }
    let index = prepared.attempt as usize - 1;
    if let Some(delay) = retry_schedule.get(index) {
        data.schedule(
            now + delay,
            Task::deliver(
                &prepared.event_id,
                &prepared.endpoint_id,
                prepared.attempt + 1,
                crate::faults::Variant::Original,
            ),
        );
    } else {
        tracing::warn!(event = %prepared.event_id, endpoint = %prepared.endpoint_id, attempts = prepared.attempt, "webhook delivery gave up after the last retry");
        data.trace(
            "delivery_abandoned",
            json!({ "event_id": prepared.event_id, "endpoint": prepared.endpoint_id, "attempts": prepared.attempt }),
        );
    }
}
