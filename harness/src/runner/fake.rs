//! The harness's client for the fake: the control API under
//! `/_fakestripe/` and the few Stripe API calls the harness makes itself.
//! Every call carries the account's secret key. The ids of the harness's
//! own Stripe API requests are kept, so request checks and timelines can
//! tell them from the app's.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::record::{Delivery, TraceEntry};

/// How long the harness waits for the fake's response to a clock advance.
/// An advance over days of virtual time sends every delivery due in it,
/// each of which may wait for the app, so this is long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// How long the harness waits for the fake's response to any other call,
/// which includes the 60 s that an `api_error` fault's `latency_ms` may
/// add. A fake that hangs is found after this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// Returns how long the harness waits for the fake's response to a call
/// of `path`.
fn timeout_of(path: &str) -> Duration {
    if path.starts_with("/_fakestripe/clock/advance") {
        REQUEST_TIMEOUT
    } else {
        CALL_TIMEOUT
    }
}

/// A failed call to the fake.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("{method} {path} failed: {}", transport_reason(path, source))]
    Transport {
        method: String,
        path: String,
        source: reqwest::Error,
    },
    #[error("{method} {path} returned {status}: {message}")]
    Api {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// Deliveries to an endpoint timed out so often during one advance
    /// that the harness stopped waiting for it.
    #[error(
        "{count} webhook deliveries timed out during one clock advance, the last one {event_type} ({event_id}) to {url}: the app did not answer within the fake's delivery timeout, {timeout}. Stripe counts each as a failed delivery and sends it again later, and each retry would wait out the timeout again, so the harness stopped the advance. Answer a webhook first and do slow work after it"
    )]
    SlowWebhooks {
        count: usize,
        event_id: String,
        event_type: String,
        url: String,
        timeout: String,
    },
}

/// Describes a failed call to the fake, naming the harness's wait when
/// the fake sent no response in time.
fn transport_reason(path: &str, source: &reqwest::Error) -> String {
    if source.is_timeout() {
        format!(
            "the fake sent no response within {} s ({source})",
            timeout_of(path).as_secs()
        )
    } else {
        source.to_string()
    }
}

/// Timed-out deliveries in one advance after which the harness stops
/// waiting for it. An app that is slow once, such as on its first
/// request, gets its retry. An app whose handler is always slower than
/// the delivery timeout would hold an advance for the timeout times every
/// attempt of every event.
const TIMEOUTS_BEFORE_GIVING_UP: usize = 3;

/// How long an advance runs before the harness starts to watch its
/// deliveries for timeouts. Most advances end well within it.
const WATCH_AFTER: Duration = Duration::from_secs(1);

/// How often a long advance's deliveries are read.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// Describes the fake's delivery timeout for a message, from the time the
/// fake waited for the first of `timed_out`, the attempts that timed out.
/// A fake given by `--fake` may have another timeout than the default, and
/// every attempt that timed out waited that long.
pub fn delivery_timeout_text(timed_out: &[&Delivery]) -> String {
    let waited = timed_out.iter().map(|d| d.latency_ms).min().unwrap_or(0);
    if waited == 0 {
        let default = fakestripe_server::ServerConfig::default()
            .delivery_timeout
            .as_secs();
        return format!("{default} s unless `fakestripe serve --delivery-timeout` set another");
    }
    // Tenths of a second, as the fake's timeout may be a fraction; the
    // attempt ends a few milliseconds after the timeout.
    let tenths = waited.div_euclid(100) + u64::from(waited % 100 >= 50);
    let tenths = tenths.max(1);
    let seconds = if tenths % 10 == 0 {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    };
    format!("{seconds} s (`fakestripe serve --delivery-timeout` sets it)")
}

/// The fake's response to the customer's payment.
#[derive(Debug, Clone, Deserialize)]
pub struct PayAnswer {
    pub result: String,
    pub redirect_url: Option<String>,
    pub error: Option<Value>,
}

/// One held delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct Held {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Virtual time when the delivery was held, in Unix seconds.
    #[serde(default)]
    pub held_at: i64,
}

#[derive(Debug, Deserialize)]
struct List<T> {
    data: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct TraceList {
    data: Vec<TraceEntry>,
    /// Set when the log limit dropped lines after the requested one.
    #[serde(default)]
    truncated: bool,
}

/// A client for one account of the fake.
#[derive(Debug)]
pub struct FakeClient {
    http: reqwest::Client,
    base_url: String,
    key: String,
    own_requests: Mutex<HashSet<String>>,
    last_seq: std::sync::atomic::AtomicU64,
}

impl FakeClient {
    pub fn new(base_url: &str, key: String) -> FakeClient {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        FakeClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            own_requests: Mutex::new(HashSet::new()),
            last_seq: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Request ids of the Stripe API requests the harness made.
    pub fn own_requests(&self) -> HashSet<String> {
        self.own_requests
            .lock()
            .map(|ids| ids.clone())
            .unwrap_or_default()
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, FakeError> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .timeout(timeout_of(path))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|source| FakeError::Transport {
                method: method.to_string(),
                path: path.to_owned(),
                source,
            })?;
        self.finish(method, path, response).await
    }

    /// Sends a Stripe API request with a form body.
    async fn stripe<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<T, FakeError> {
        self.stripe_in(method, path, form, None).await
    }

    /// Makes a Stripe API call with `Stripe-Version: api_version`, or in
    /// the fake's default version for `None`.
    async fn stripe_in<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
        api_version: Option<&str>,
    ) -> Result<T, FakeError> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .timeout(timeout_of(path))
            .bearer_auth(&self.key);
        if let Some(version) = api_version {
            request = request.header("Stripe-Version", version);
        }
        if !form.is_empty() {
            request = request.form(form);
        }
        let response = request
            .send()
            .await
            .map_err(|source| FakeError::Transport {
                method: method.to_string(),
                path: path.to_owned(),
                source,
            })?;
        if let Some(id) = response
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            && let Ok(mut ids) = self.own_requests.lock()
        {
            ids.insert(id.to_owned());
        }
        self.finish(method, path, response).await
    }

    async fn finish<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        response: reqwest::Response,
    ) -> Result<T, FakeError> {
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|source| FakeError::Transport {
                method: method.to_string(),
                path: path.to_owned(),
                source,
            })?;
        if !(200..300).contains(&status) {
            return Err(FakeError::Api {
                method: method.to_string(),
                path: path.to_owned(),
                status,
                message: error_message(&bytes),
            });
        }
        serde_json::from_slice(&bytes).map_err(|err| FakeError::Api {
            method: method.to_string(),
            path: path.to_owned(),
            status,
            message: format!(
                "unexpected response ({err}): {}",
                crate::app::excerpt(&bytes)
            ),
        })
    }

    /// Puts the account's clock in manual mode, so time moves only through
    /// advances.
    pub async fn manual_clock(&self) -> Result<(), FakeError> {
        self.call::<Value>(
            Method::POST,
            "/_fakestripe/clock",
            Some(json!({"mode": "manual"})),
        )
        .await
        .map(drop)
    }

    /// Returns the account's virtual time, in Unix seconds.
    pub async fn now(&self) -> Result<i64, FakeError> {
        let clock: Value = self.call(Method::GET, "/_fakestripe/clock", None).await?;
        Ok(clock["now"].as_i64().unwrap_or_default())
    }

    /// Moves the clock and runs everything that falls due, deliveries
    /// included; returns when they are done.
    /// Moves the clock on by `seconds`, in steps of at most the thirty
    /// days the fake accepts in one call, so a scenario may advance or
    /// settle for longer.
    pub async fn advance(&self, seconds: u64) -> Result<(), FakeError> {
        const MAX_STEP: u64 = 30 * 24 * 3600;
        let mut remaining = seconds;
        loop {
            let step = remaining.min(MAX_STEP);
            self.advance_watched(step).await?;
            remaining -= step;
            if remaining == 0 {
                return Ok(());
            }
        }
    }

    /// Makes one advance call. One that runs longer than [`WATCH_AFTER`]
    /// is watched: when [`TIMEOUTS_BEFORE_GIVING_UP`] of its deliveries
    /// time out, the call is dropped and a `SlowWebhooks` error returned.
    /// The fake ends the dropped advance at the next reset.
    async fn advance_watched(&self, seconds: u64) -> Result<(), FakeError> {
        let call = self.call::<Value>(
            Method::POST,
            "/_fakestripe/clock/advance",
            Some(json!({"seconds": seconds})),
        );
        tokio::pin!(call);
        tokio::select! {
            result = &mut call => return result.map(drop),
            () = tokio::time::sleep(WATCH_AFTER) => {}
        }
        // A delivery that timed out before the watch began is not counted,
        // which only delays the stop.
        let key = |d: &Delivery| (d.event_id.clone(), d.endpoint.clone(), d.attempt);
        let before: HashSet<_> = self
            .deliveries()
            .await?
            .iter()
            .filter(|d| d.timed_out())
            .map(key)
            .collect();
        loop {
            tokio::select! {
                result = &mut call => return result.map(drop),
                () = tokio::time::sleep(WATCH_EVERY) => {}
            }
            let deliveries = self.deliveries().await?;
            let timed_out: Vec<&Delivery> = deliveries
                .iter()
                .filter(|d| d.timed_out() && !before.contains(&key(d)))
                .collect();
            if let Some(last) = timed_out.last()
                && timed_out.len() >= TIMEOUTS_BEFORE_GIVING_UP
            {
                return Err(FakeError::SlowWebhooks {
                    count: timed_out.len(),
                    event_id: last.event_id.clone(),
                    event_type: last.event_type.clone(),
                    url: last.url.clone(),
                    timeout: delivery_timeout_text(&timed_out),
                });
            }
        }
    }

    pub async fn set_faults(&self, seed: u64, faults: &[Value]) -> Result<(), FakeError> {
        let plan = json!({"seed": seed, "faults": faults});
        self.call::<Value>(Method::PUT, "/_fakestripe/faults", Some(plan))
            .await
            .map(drop)
    }

    pub async fn clear_faults(&self) -> Result<(), FakeError> {
        self.call::<Value>(Method::DELETE, "/_fakestripe/faults", None)
            .await
            .map(drop)
    }

    pub async fn pay(&self, session_id: &str, body: Value) -> Result<PayAnswer, FakeError> {
        let path = format!("/_fakestripe/checkout/sessions/{session_id}/pay");
        self.call(Method::POST, &path, Some(body)).await
    }

    /// Leaves the checkout page through its cancel link; returns the
    /// cancel URL.
    pub async fn cancel(&self, session_id: &str) -> Result<Option<String>, FakeError> {
        let path = format!("/_fakestripe/checkout/sessions/{session_id}/cancel");
        let answer: Value = self.call(Method::POST, &path, Some(json!({}))).await?;
        Ok(answer["redirect_url"].as_str().map(str::to_owned))
    }

    pub async fn held(&self) -> Result<Vec<Held>, FakeError> {
        let list: List<Held> = self
            .call(Method::GET, "/_fakestripe/events/held", None)
            .await?;
        Ok(list.data)
    }

    /// Releases held deliveries of these events, in this order.
    pub async fn release(&self, event_ids: &[String]) -> Result<u64, FakeError> {
        let answer: Value = self
            .call(
                Method::POST,
                "/_fakestripe/events/release",
                Some(json!({"event_ids": event_ids})),
            )
            .await?;
        Ok(answer["released"].as_u64().unwrap_or_default())
    }

    /// Sends an event again to every endpoint that subscribes to it, with
    /// the same event id; a held event is released by the first send. The
    /// sends go out at the next advance.
    pub async fn resend(
        &self,
        event_id: &str,
        copies: u32,
        concurrent: bool,
    ) -> Result<(), FakeError> {
        self.call::<Value>(
            Method::POST,
            &format!("/_fakestripe/events/{event_id}/resend"),
            Some(json!({"copies": copies, "concurrent": concurrent})),
        )
        .await
        .map(drop)
    }

    /// Forgets every object, event, delivery and fault of the account. With
    /// `keep_webhook_endpoints`, the endpoints and their signing secrets
    /// stay, so an app started with a secret keeps accepting deliveries.
    /// The clock keeps its time and mode, and trace sequence numbers keep
    /// growing.
    pub async fn reset(&self, keep_webhook_endpoints: bool) -> Result<(), FakeError> {
        self.call::<Value>(
            Method::POST,
            "/_fakestripe/reset",
            Some(json!({"keep_webhook_endpoints": keep_webhook_endpoints})),
        )
        .await?;
        // The reset empties the request log, so the harness's earlier
        // request ids cannot appear in it again.
        if let Ok(mut ids) = self.own_requests.lock() {
            ids.clear();
        }
        Ok(())
    }

    pub async fn deliveries(&self) -> Result<Vec<Delivery>, FakeError> {
        let list: List<Delivery> = self
            .call(Method::GET, "/_fakestripe/deliveries", None)
            .await?;
        Ok(list.data)
    }

    /// Returns the trace entries with a sequence number above `after`, and
    /// remembers the highest one for the next scenario on this account.
    /// Fails if the fake's log limit let some of those entries go, because
    /// checks on a partial trace would be wrong.
    pub async fn trace_after(&self, after: u64) -> Result<Vec<TraceEntry>, FakeError> {
        let path = format!("/_fakestripe/trace?after={after}");
        let list: TraceList = self.call(Method::GET, &path, None).await?;
        if list.truncated {
            return Err(FakeError::Api {
                method: "GET".to_owned(),
                path,
                status: 200,
                message: "the fake's trace dropped lines that this run needs. Start the \
                          fake with a larger `serve --log-limit`"
                    .to_owned(),
            });
        }
        // A fake without `after` support returns the whole trace.
        let entries: Vec<TraceEntry> = list
            .data
            .into_iter()
            .filter(|entry| entry.seq > after)
            .collect();
        if let Some(last) = entries.iter().map(|entry| entry.seq).max() {
            self.last_seq
                .fetch_max(last, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(entries)
    }

    /// Returns the highest trace sequence number read on this account so
    /// far.
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Registers a webhook endpoint for every event type; returns its id
    /// and signing secret.
    /// Registers a webhook endpoint for every event type, with events in
    /// `api_version` when it is given. Returns its id and secret.
    pub async fn register_endpoint(
        &self,
        url: &str,
        api_version: Option<&str>,
    ) -> Result<(String, String), FakeError> {
        let mut form = vec![("url", url), ("enabled_events[]", "*")];
        if let Some(version) = api_version {
            form.push(("api_version", version));
        }
        let endpoint: Value = self
            .stripe(Method::POST, "/v1/webhook_endpoints", &form)
            .await?;
        let id = endpoint["id"].as_str().unwrap_or_default().to_owned();
        match endpoint["secret"].as_str() {
            Some(secret) => Ok((id, secret.to_owned())),
            None => Err(FakeError::Api {
                method: "POST".to_owned(),
                path: "/v1/webhook_endpoints".to_owned(),
                status: 200,
                message: "the new endpoint has no `secret`".to_owned(),
            }),
        }
    }

    /// Returns how many webhook endpoints the account has.
    pub async fn endpoint_count(&self) -> Result<usize, FakeError> {
        let list: Value = self
            .stripe(Method::GET, "/v1/webhook_endpoints?limit=100", &[])
            .await?;
        Ok(list["data"].as_array().map_or(0, Vec::len))
    }

    pub async fn expire(&self, session_id: &str) -> Result<Value, FakeError> {
        self.stripe(
            Method::POST,
            &format!("/v1/checkout/sessions/{session_id}/expire"),
            &[],
        )
        .await
    }

    /// Returns an object as the fake stores it, through the control API,
    /// so no fault of the plan applies to the read.
    pub async fn object(&self, id: &str) -> Result<Value, FakeError> {
        self.call(Method::GET, &format!("/_fakestripe/objects/{id}"), None)
            .await
    }

    pub async fn session(&self, session_id: &str) -> Result<Value, FakeError> {
        self.session_in(session_id, None).await
    }

    /// Retrieves a session through the Stripe API in `api_version`, or in
    /// the fake's default version for `None`.
    pub async fn session_in(
        &self,
        session_id: &str,
        api_version: Option<&str>,
    ) -> Result<Value, FakeError> {
        self.stripe_in(
            Method::GET,
            &format!("/v1/checkout/sessions/{session_id}"),
            &[],
            api_version,
        )
        .await
    }

    pub async fn payment_intent(&self, id: &str) -> Result<Value, FakeError> {
        self.stripe(Method::GET, &format!("/v1/payment_intents/{id}"), &[])
            .await
    }
}

/// Extracts the message of a Stripe-shaped error body, with its code and
/// param.
fn error_message(bytes: &[u8]) -> String {
    let Ok(body) = serde_json::from_slice::<Value>(bytes) else {
        return crate::app::excerpt(bytes);
    };
    let error = &body["error"];
    let mut message = error["message"].as_str().unwrap_or("no message").to_owned();
    if let Some(code) = error["code"].as_str() {
        message.push_str(&format!(" (code {code})"));
    }
    if let Some(param) = error["param"].as_str() {
        message.push_str(&format!(" (param {param})"));
    }
    message
}

/// Generates a fresh test-mode secret key, which is a fresh account in the
/// fake.
pub fn fresh_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS, so two runs never share a key.
    let mut text = String::from("sk_test_fakestripe_");
    for _ in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        text.push_str(&format!("{:016x}", hasher.finish()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a clock advance, which waits for its deliveries, gets the long
    /// wait. A fake that hangs on any other call is found after 90 s.
    #[test]
    fn waits_by_call() {
        assert_eq!(timeout_of("/_fakestripe/clock/advance").as_secs(), 300);
        assert_eq!(timeout_of("/_fakestripe/reset").as_secs(), 90);
        assert_eq!(timeout_of("/_fakestripe/clock").as_secs(), 90);
        assert_eq!(timeout_of("/v1/checkout/sessions/cs_1").as_secs(), 90);
    }
}
