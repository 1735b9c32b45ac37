//! `Idempotency-Key` on POST requests. An identical retry replays the stored
//! status and body; the same key with other parameters or on another
//! endpoint is rejected; a retry while the first request still runs gets a
//! 409. Requests rejected by validation are not stored, so a corrected retry
//! with the same key goes through. Keys expire after 24 hours of the
//! account's clock, counted from the first request, but never while that
//! request still runs.

use super::error::{ApiError, ErrorType};
use axum::http::StatusCode;

/// How long a key is remembered, in seconds of the virtual clock.
pub const KEY_LIFETIME: i64 = 24 * 60 * 60;

/// Size of the key map at which expired keys are first swept.
const PRUNE_FROM: usize = 1024;

/// Longest key accepted, as Stripe documents.
pub const MAX_KEY_CHARS: usize = 255;

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The first request has not finished.
    InFlight,
    /// The stored response, its body LZ4-compressed: SDKs send a key with
    /// every POST, so an account keeps one body per write for a day.
    Done { status: u16, body: Box<[u8]> },
}

/// What the fake remembers about one key.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    /// `POST /v1/checkout/sessions`: the method and path the key was first used on.
    pub route: String,
    /// The parameters, as `fingerprint` writes them.
    pub params: String,
    /// Virtual time the key's 24 hours count from: the start of its first
    /// request, and once that request finishes, the time its response was
    /// stored.
    pub created_at: i64,
    pub outcome: Outcome,
}

impl IdempotencyRecord {
    /// Returns whether the key still binds at virtual time `now`. A key whose
    /// first request has not finished stays bound however far the clock
    /// has moved, so a retry cannot run the same request twice.
    fn is_live(&self, now: i64) -> bool {
        matches!(self.outcome, Outcome::InFlight) || now - self.created_at < KEY_LIFETIME
    }
}

/// What to do with an incoming request that carries a key.
#[derive(Debug)]
pub enum Decision {
    /// Run the request; the key is now in flight.
    Run,
    /// Replay the stored response.
    Replay { status: u16, body: Vec<u8> },
}

/// Writes parameters as compact JSON with every object's keys sorted, so
/// two requests with the same parameters in another order compare equal.
pub fn fingerprint(params: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::to_string(&Sorted(params)).unwrap_or_default()
}

struct Sorted<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl serde::Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<_> = self.0.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        serializer.collect_map(
            entries
                .into_iter()
                .map(|(key, value)| (key, SortedValue(value))),
        )
    }
}

struct SortedValue<'a>(&'a serde_json::Value);

impl serde::Serialize for SortedValue<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            serde_json::Value::Object(map) => Sorted(map).serialize(serializer),
            serde_json::Value::Array(items) => {
                serializer.collect_seq(items.iter().map(SortedValue))
            }
            other => other.serialize(serializer),
        }
    }
}

/// Checks `key` against the stored records and marks it in flight when the
/// request should run.
pub fn begin(
    records: &mut std::collections::HashMap<String, IdempotencyRecord>,
    key: &str,
    route: &str,
    params: &str,
    now: i64,
) -> Result<Decision, ApiError> {
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            format!("Idempotency-Key is longer than {MAX_KEY_CHARS} characters."),
        ));
    }
    if let Some(record) = records.get(key)
        && record.is_live(now)
    {
        if record.route != route {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorType::Idempotency,
                format!(
                    "Keys for idempotent requests can only be used for the same endpoint they \
                     were first used for ('{}'). You used '{route}' with key '{key}'. Use a new \
                     key for each logical operation.",
                    record.route
                ),
            ));
        }
        if record.params != params {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorType::Idempotency,
                format!(
                    "Keys for idempotent requests can only be used with the same parameters \
                     they were first used with. Try using a key other than '{key}' if you meant \
                     to execute a different request."
                ),
            ));
        }
        return match &record.outcome {
            Outcome::InFlight => Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorType::InvalidRequest,
                format!(
                    "There is currently another in-progress request using this Stripe token \
                     (idempotency key '{key}'). Retry this request later."
                ),
            )
            .with_code("lock_timeout")),
            Outcome::Done { status, body } => Ok(Decision::Replay {
                status: *status,
                body: lz4_flex::block::decompress_size_prepended(body).unwrap_or_else(|err| {
                    tracing::error!(key, error = %err, "stored idempotent response failed to decompress");
                    Vec::new()
                }),
            }),
        };
    }
    // Expired keys go when the map has doubled since the last sweep, so
    // the sweeps cost constant time per request on average.
    if records.len() >= PRUNE_FROM && records.len().is_power_of_two() {
        records.retain(|_, record| record.is_live(now));
    }
    records.insert(
        key.to_owned(),
        IdempotencyRecord {
            route: route.to_owned(),
            params: params.to_owned(),
            created_at: now,
            outcome: Outcome::InFlight,
        },
    );
    Ok(Decision::Run)
}

/// Stores the answer of a request that ran, or forgets the key when the
/// answer should not be kept (validation errors, auth errors, conflicts).
/// The key's lifetime starts again at `now`, so a request during which the
/// clock moved a day still replays to a retry after it.
pub fn finish(
    records: &mut std::collections::HashMap<String, IdempotencyRecord>,
    key: &str,
    status: u16,
    body: &[u8],
    now: i64,
) {
    if should_store(status) {
        if let Some(record) = records.get_mut(key) {
            record.created_at = now;
            record.outcome = Outcome::Done {
                status,
                body: lz4_flex::block::compress_prepend_size(body).into_boxed_slice(),
            };
        }
    } else {
        records.remove(key);
    }
}

/// Forgets a key whose request was dropped before it ran, so a retry runs
/// instead of getting a 409. A finished key is left as it is.
pub fn release(records: &mut std::collections::HashMap<String, IdempotencyRecord>, key: &str) {
    if records
        .get(key)
        .is_some_and(|record| matches!(record.outcome, Outcome::InFlight))
    {
        records.remove(key);
    }
}

/// Whether an answer with `status` is saved against its key. Successes,
/// card declines (402) and server errors are saved; parameter errors,
/// missing objects and rate limits are not, because the request did not
/// start executing.
fn should_store(status: u16) -> bool {
    (200..300).contains(&status) || status == 402 || status >= 500
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::collections::HashMap;

    #[test]
    fn replay_then_conflicts() {
        let mut records = HashMap::new();
        let params = json!({"a": "1"}).to_string();
        let route = "POST /v1/customers";
        assert!(matches!(
            begin(&mut records, "k", route, &params, 0),
            Ok(Decision::Run)
        ));

        let err = begin(&mut records, "k", route, &params, 1).unwrap_err();
        assert_eq!(err.status, StatusCode::CONFLICT);

        finish(&mut records, "k", 200, b"{}", 1);
        match begin(&mut records, "k", route, &params, 2).unwrap() {
            Decision::Replay { status, body } => {
                assert_eq!(status, 200);
                assert_eq!(body, b"{}");
            }
            Decision::Run => panic!("expected a replay"),
        }

        let err = begin(&mut records, "k", route, &json!({"a": "2"}).to_string(), 3).unwrap_err();
        assert_eq!(err.kind, ErrorType::Idempotency);
        let err = begin(&mut records, "k", "POST /v1/products", &params, 3).unwrap_err();
        assert_eq!(err.kind, ErrorType::Idempotency);
    }

    #[test]
    fn expired_keys_are_swept() {
        let mut records = HashMap::new();
        let params = json!({}).to_string();
        for n in 0..PRUNE_FROM - 1 {
            begin(&mut records, &format!("old-{n}"), "POST /v1/x", &params, 0).unwrap();
            finish(&mut records, &format!("old-{n}"), 200, b"{\"id\": 1}", 0);
        }
        // The next key lands while the map contains PRUNE_FROM - 1 keys, and
        // the one after it finds the map at PRUNE_FROM and sweeps it.
        let later = KEY_LIFETIME + 1;
        begin(&mut records, "new-1", "POST /v1/x", &params, later).unwrap();
        assert_eq!(records.len(), PRUNE_FROM);
        begin(&mut records, "new-2", "POST /v1/x", &params, later).unwrap();
        assert_eq!(records.len(), 2);
        assert!(records.contains_key("new-1"));
    }

    #[test]
    fn in_flight_key_survives_sweep() {
        let mut records = HashMap::new();
        let params = json!({}).to_string();
        begin(&mut records, "running", "POST /v1/x", &params, 0).unwrap();
        for n in 0..PRUNE_FROM - 1 {
            begin(&mut records, &format!("old-{n}"), "POST /v1/x", &params, 0).unwrap();
            finish(&mut records, &format!("old-{n}"), 200, b"{}", 0);
        }
        // The map is at PRUNE_FROM, so this key sweeps the finished ones.
        let later = KEY_LIFETIME + 1;
        begin(&mut records, "new", "POST /v1/x", &params, later).unwrap();
        assert_eq!(records.len(), 2);
        assert!(records.contains_key("running"));
        let err = begin(&mut records, "running", "POST /v1/x", &params, later).unwrap_err();
        assert_eq!(err.status, StatusCode::CONFLICT);
    }

    #[test]
    fn key_lives_a_day_after_its_answer() {
        // The clock moved two days while the first request ran.
        let mut records = HashMap::new();
        let params = json!({}).to_string();
        begin(&mut records, "slow", "POST /v1/x", &params, 0).unwrap();
        finish(&mut records, "slow", 200, b"{}", 2 * KEY_LIFETIME);
        let retry = begin(
            &mut records,
            "slow",
            "POST /v1/x",
            &params,
            2 * KEY_LIFETIME + 5,
        );
        assert!(matches!(retry, Ok(Decision::Replay { .. })));
        let late = begin(
            &mut records,
            "slow",
            "POST /v1/x",
            &params,
            3 * KEY_LIFETIME + 1,
        );
        assert!(matches!(late, Ok(Decision::Run)));
    }

    #[test]
    fn fingerprint_ignores_order_not_values() {
        let map = |value: Value| value.as_object().unwrap().clone();
        let a = map(json!({"b": "1", "a": {"y": "2", "x": ["3", {"d": "4", "c": "5"}]}}));
        let b = map(json!({"a": {"x": ["3", {"c": "5", "d": "4"}], "y": "2"}, "b": "1"}));
        let c = map(json!({"a": {"x": ["3", {"c": "5", "d": "4"}], "y": "2"}, "b": "2"}));
        let swapped = map(json!({"a": {"x": [{"c": "5", "d": "4"}, "3"], "y": "2"}, "b": "1"}));
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&b), fingerprint(&c));
        assert_ne!(fingerprint(&b), fingerprint(&swapped));
        assert_eq!(
            fingerprint(&a),
            r#"{"a":{"x":["3",{"c":"5","d":"4"}],"y":"2"},"b":"1"}"#
        );
    }

    #[test]
    fn validation_failure_is_forgotten_and_keys_expire() {
        let mut records = HashMap::new();
        let params = json!({}).to_string();
        begin(&mut records, "k", "POST /v1/x", &params, 0).unwrap();
        finish(&mut records, "k", 400, b"{}", 0);
        assert!(records.is_empty());

        begin(&mut records, "k", "POST /v1/x", &params, 0).unwrap();
        finish(&mut records, "k", 200, b"{}", 0);
        let later = KEY_LIFETIME + 1;
        assert!(matches!(
            begin(
                &mut records,
                "k",
                "POST /v1/x",
                &json!({"other": "1"}).to_string(),
                later
            ),
            Ok(Decision::Run)
        ));
    }
}
