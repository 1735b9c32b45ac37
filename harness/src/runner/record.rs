//! The record of a scenario run: the app's orders as seen after every
//! step, the fake's sessions, deliveries and trace. Expectations and
//! invariants are checked against this record.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scenario::model::OrderStatus;

/// One order as the app's order endpoint returned it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OrderView {
    /// The HTTP status of the order read.
    pub http_status: u16,
    /// The request's method and URL, such as `GET http://…/orders/O-1-k3x9-0`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request: String,
    /// The request's key and place in the app file, such as
    /// `` `order.request` at fakestripe.yaml:27:3 ``.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_source: String,
    /// False when the app responded with 404.
    pub found: bool,
    /// The status word as the app wrote it.
    pub status_word: Option<String>,
    /// The status word translated through `status_map`.
    pub status: Option<OrderStatus>,
    pub fulfilments: Option<u64>,
    pub session_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub released: Option<bool>,
    /// The reason the order could not be read or understood, if any.
    pub error: Option<String>,
    /// The app file's `order` pointers that name no value in the order
    /// response, which differs from a null value there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub absent_pointers: Vec<AbsentPointer>,
    /// The top-level keys of the order response, for messages about an
    /// absent pointer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_keys: Vec<String>,
}

/// A pointer under `order` in the app file that names no value in an
/// order response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbsentPointer {
    /// The key under `order`, such as `session_id`.
    pub key: String,
    /// The JSON pointer, such as `/session_id`.
    pub pointer: String,
    /// The pointer's place in the app file, as `path:line:column`.
    pub location: String,
}

impl fmt::Display for AbsentPointer {
    /// Writes "the app file's `order.session_id` pointer `/x` at
    /// fakestripe.yaml:30:15".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the app file's `order.{}` pointer `{}` at {}",
            self.key, self.pointer, self.location
        )
    }
}

/// The maximum number of top-level keys of an order response that a
/// message lists.
const MAX_KEYS_SHOWN: usize = 8;

impl OrderView {
    /// Returns whether the app treats the order as fulfilled: a fulfilment count of
    /// at least one, or the `paid` status when the app reports no count.
    pub fn fulfilled(&self) -> bool {
        match self.fulfilments {
            Some(count) => count >= 1,
            None => self.status == Some(OrderStatus::Paid),
        }
    }

    /// Describes an order read that found no order, with the URL the
    /// harness requested and where the app file sets the request:
    /// `HTTP 404 from GET http://… (`order.request` at fakestripe.yaml:27:3)`.
    pub fn not_found(&self) -> String {
        if self.request.is_empty() {
            return format!("HTTP {}", self.http_status);
        }
        format!(
            "HTTP {} from {} ({})",
            self.http_status, self.request, self.request_source
        )
    }

    /// Describes the order in a few words for messages: `status "paid", 1 fulfilment`.
    pub fn summary(&self) -> String {
        if !self.found {
            return format!("no such order ({})", self.not_found());
        }
        let mut parts = Vec::new();
        if let Some(word) = &self.status_word {
            parts.push(format!("status \"{word}\""));
        }
        if let Some(count) = self.fulfilments {
            parts.push(format!(
                "{count} fulfilment{}",
                if count == 1 { "" } else { "s" }
            ));
        }
        if let Some(released) = self.released {
            parts.push(format!("released {released}"));
        }
        if parts.is_empty() {
            "no status".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// Returns the app file's `order.{key}` pointer when the order response
    /// has nothing at it.
    pub fn absent_pointer(&self, key: &str) -> Option<&AbsentPointer> {
        self.absent_pointers.iter().find(|absent| absent.key == key)
    }

    /// Describes the missing value of the app file's `order.{key}`
    /// pointer, when the order response has nothing at that pointer.
    /// Returns None when the pointer names a value, even a null one.
    pub fn absent_value(&self, key: &str) -> Option<String> {
        let absent = self.absent_pointer(key)?;
        let shape = describe_keys(&self.response_keys);
        Some(format!(
            "the order response has no value at {absent} ({shape}), so the pointer is likely wrong"
        ))
    }
}

/// Describes a JSON response by its top-level keys, at most
/// [`MAX_KEYS_SHOWN`] of them, for messages about a pointer that names no
/// value in it.
pub fn describe_keys(keys: &[String]) -> String {
    if keys.is_empty() {
        return "it is not a JSON object with keys".to_owned();
    }
    let mut shown: Vec<&str> = keys
        .iter()
        .take(MAX_KEYS_SHOWN)
        .map(String::as_str)
        .collect();
    if keys.len() > MAX_KEYS_SHOWN {
        shown.push("…");
    }
    format!("its top-level keys are {}", shown.join(", "))
}

/// The moment an observation was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "after", rename_all = "snake_case")]
pub enum Moment {
    /// After the step with this 0-based index.
    Step {
        index: usize,
        name: String,
        line: u32,
    },
    /// After the final clock advance.
    Settle,
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Moment::Step { index, name, line } => {
                write!(f, "after step {} ({name}, line {line})", index + 1)
            }
            Moment::Settle => f.write_str("after settling"),
        }
    }
}

/// The app's orders at one moment, with the position in the fake's trace
/// at that moment.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub moment: Moment,
    /// The highest trace sequence number when the orders were read, so
    /// trace entries with a higher number happened later.
    pub trace_seq: u64,
    /// Virtual time of the account's clock.
    pub now: i64,
    /// By the order name the scenario uses.
    pub orders: BTreeMap<String, OrderView>,
}

/// One `checkout` step for an order.
#[derive(Debug, Clone, Serialize)]
pub struct CheckoutAttempt {
    /// The session id the app returned, if it returned one.
    pub session_id: Option<String>,
    /// Sessions the app created while handling the step.
    pub created: Vec<String>,
    pub http_status: u16,
}

/// A Checkout Session in the fake's state after the scenario.
#[derive(Debug, Clone, Serialize)]
pub struct SessionTruth {
    pub id: String,
    /// The checkout attempt of the order that created it, from 1.
    pub attempt: usize,
    pub status: String,
    pub payment_status: String,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub payment_intent: Option<String>,
    /// Trace sequence number at which the payment succeeded.
    pub paid_seq: Option<u64>,
    /// Whether an asynchronous payment for it failed.
    pub async_failed: bool,
}

impl SessionTruth {
    pub fn paid(&self) -> bool {
        self.payment_status == "paid" || self.paid_seq.is_some()
    }

    pub fn expired(&self) -> bool {
        self.status == "expired"
    }
}

/// Everything known about one order of the scenario.
#[derive(Debug, Clone, Serialize)]
pub struct OrderRecord {
    /// The id the app was given.
    pub app_id: String,
    pub attempts: Vec<CheckoutAttempt>,
    /// Filled in after the last step.
    pub sessions: Vec<SessionTruth>,
}

impl OrderRecord {
    /// Returns every session id linked to the order: returned by the app or created
    /// during one of its checkout steps.
    pub fn session_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for attempt in &self.attempts {
            for id in attempt.session_id.iter().chain(&attempt.created) {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
        ids
    }

    /// Returns the session of a checkout attempt (1-based), or of the
    /// latest one.
    pub fn session_of(&self, attempt: Option<u32>) -> Option<&str> {
        let index = match attempt {
            Some(n) => n as usize - 1,
            None => self.attempts.len().checked_sub(1)?,
        };
        let attempt = self.attempts.get(index)?;
        attempt
            .session_id
            .as_deref()
            .or(attempt.created.last().map(String::as_str))
    }

    pub fn paid_sessions(&self) -> impl Iterator<Item = &SessionTruth> {
        self.sessions.iter().filter(|s| s.paid())
    }
}

/// One delivery attempt, as `GET /_fakestripe/deliveries` lists it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    #[serde(default)]
    pub endpoint: String,
    /// The URL the attempt was sent to.
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub sent_at: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// Real milliseconds from sending the attempt to its outcome.
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub response_body: String,
    pub forged: Option<String>,
    #[serde(default)]
    pub duplicate: bool,
}

impl Delivery {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Returns whether a `webhook_drop` fault lost the attempt before it
    /// reached the app.
    pub fn lost(&self) -> bool {
        self.status.is_none()
            && self
                .error
                .as_deref()
                .is_some_and(|error| error.contains("webhook_drop"))
    }

    /// Returns whether the app sent no response, or not all of its body,
    /// within the fake's delivery timeout.
    pub fn timed_out(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|error| error.starts_with("timed out"))
    }

    /// Describes the attempt's outcome in a few words: the status, or
    /// the error when the app sent none.
    pub fn outcome(&self) -> String {
        match (self.status, self.error.as_deref()) {
            (_, Some(error)) if self.timed_out() => error.to_owned(),
            (Some(status), _) => status.to_string(),
            (None, Some(error)) => error.to_owned(),
            (None, None) => "no response".to_owned(),
        }
    }
}

/// One line of the fake's trace.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TraceEntry {
    pub seq: u64,
    pub at: i64,
    pub kind: String,
    pub detail: Value,
}

impl TraceEntry {
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.detail.get(name).and_then(Value::as_str)
    }
}

/// The order fields the app's fakestripe.yaml points at; a check on a
/// field the app does not expose is skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppFields {
    pub fulfilments: bool,
    pub session_id: bool,
    pub amount: bool,
    pub currency: bool,
    pub released: bool,
}

/// The whole record of one scenario run.
#[derive(Debug, Clone)]
pub struct ScenarioRecord {
    pub orders: BTreeMap<String, OrderRecord>,
    pub observations: Vec<Observation>,
    /// Delivery attempts made during the scenario.
    pub deliveries: Vec<Delivery>,
    /// Trace entries written during the scenario.
    pub trace: Vec<TraceEntry>,
    /// Request ids of the harness's own API requests, which are not the
    /// app's and are left out of request checks.
    pub harness_requests: HashSet<String>,
    pub fields: AppFields,
    /// The payment intent of each charge that an event of the scenario
    /// names, by charge id, as the fake stores it after the last step.
    pub charge_intents: BTreeMap<String, String>,
}

impl ScenarioRecord {
    /// Returns the app's own API requests, in order, from the trace.
    pub fn app_requests(&self) -> impl Iterator<Item = &TraceEntry> {
        self.trace.iter().filter(|entry| {
            entry.kind == "request"
                && !entry
                    .str_field("request_id")
                    .is_some_and(|id| self.harness_requests.contains(id))
        })
    }

    /// Returns the last observation, taken after settling.
    pub fn last_observation(&self) -> Option<&Observation> {
        self.observations.last()
    }

    /// Returns the name of the order a session, payment intent or charge
    /// id belongs to. A charge belongs to the order of its payment intent.
    pub fn order_of_object(&self, id: &str) -> Option<&str> {
        let id = self.charge_intents.get(id).map_or(id, String::as_str);
        self.orders.iter().find_map(|(name, order)| {
            let linked = order.session_ids().iter().any(|s| s == id)
                || order
                    .sessions
                    .iter()
                    .any(|s| s.payment_intent.as_deref() == Some(id));
            linked.then_some(name.as_str())
        })
    }
}
