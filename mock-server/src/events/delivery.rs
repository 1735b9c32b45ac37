//! One delivery attempt: build the signed request from the stored event,
//! send it, record the outcome, and schedule the next attempt on failure.

use std::time::Instant;

use serde_json::json;

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
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Builds the request for one attempt. Returns `None` when the event or the
/// endpoint no longer exists (an endpoint deleted while a retry waited).
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
        return Outcome {
            status: None,
            error: Some("connection lost (webhook_drop fault)".to_owned()),
            latency_ms: 0,
            response_body: String::new(),
        };
    }
    let started = Instant::now();
    let result = http
        .post(&prepared.url)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", &prepared.signature)
        .header(
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .body(prepared.body.clone())
        .send()
        .await;
    let (status, error, response_body) = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            (Some(status), None, snippet(&text))
        }
        Err(err) if err.is_timeout() => (None, Some("timed out".to_owned()), String::new()),
        Err(err) if err.is_connect() => {
            (None, Some("connection refused".to_owned()), String::new())
        }
        Err(err) => (None, Some(format!("request failed: {err}")), String::new()),
    };
    Outcome {
        status,
        error,
        latency_ms: started.elapsed().as_millis() as u64,
        response_body,
    }
}

fn snippet(text: &str) -> String {
    if text.len() <= RESPONSE_SNIPPET_BYTES {
        return text.to_owned();
    }
    let mut end = RESPONSE_SNIPPET_BYTES;
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
