//! The fault plan: Stripe's quirks, switched on per account, drawn from one
//! seeded generator, and written to the trace.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::account::AccountData;
use crate::events::delivery::{self, Prepared};
use crate::wire::ApiError;

/// Ways to forge a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    WrongSecret,
    StaleTimestamp,
    TamperedBody,
}

impl Forgery {
    pub fn name(self) -> &'static str {
        match self {
            Forgery::WrongSecret => "wrong_secret",
            Forgery::StaleTimestamp => "stale_timestamp",
            Forgery::TamperedBody => "tampered_body",
        }
    }
}

/// A fault that changes how an API request is answered.
#[derive(Debug, Clone)]
pub enum ApiFault {
    /// Answer with this error instead of running the request.
    Error(ApiError),
    /// Run the request after this delay.
    Latency(std::time::Duration),
    /// Run the request, then answer with an error as if the response was lost.
    LostResponse,
}

/// The fault plan in force and the generator its draws come from.
#[derive(Debug)]
pub struct FaultState {
    pub plan: Option<Value>,
    pub rng: ChaCha8Rng,
}

impl FaultState {
    pub fn new(seed: u64) -> Self {
        FaultState { plan: None, rng: ChaCha8Rng::seed_from_u64(seed) }
    }
}

/// The deliveries to schedule for one event and endpoint: a delay in
/// seconds for each send.
#[derive(Debug, Clone)]
pub struct DeliveryPlan {
    pub attempts: Vec<(i64, bool)>,
}

/// Sets an account's plan.
pub fn set_plan(data: &mut AccountData, plan: Value) -> Result<(), ApiError> {
    data.faults.plan = Some(plan);
    Ok(())
}

/// The fault, if any, for an API request.
pub fn api_fault(_data: &mut AccountData, _method: &str, _path: &str, _request_id: &str) -> Option<ApiFault> {
    None
}

/// The error a client sees when the response to a committed write is lost.
pub fn lost_response_error() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        crate::wire::ErrorType::Api,
        "The response was lost after the request was committed (lost_response fault). \
         Retry with the same Idempotency-Key to get the committed object.",
    )
}

/// How one event's deliveries to one endpoint are scheduled.
pub fn plan_delivery(_data: &mut AccountData, _event_id: &str, _event_type: &str, _object: &Value, _endpoint_id: &str) -> DeliveryPlan {
    DeliveryPlan { attempts: vec![(0, false)] }
}

/// Builds one scheduled attempt, applying drop, hold and forgery faults.
pub fn prepare_attempt(data: &mut AccountData, event_id: &str, endpoint_id: &str, attempt: u32, due: i64) -> Option<Prepared> {
    delivery::prepare(data, event_id, endpoint_id, attempt, due)
}

/// Extra copies of a delivery to send at the same moment.
pub fn concurrent_copies(_data: &mut AccountData, _prepared: &Prepared) -> Vec<Prepared> {
    Vec::new()
}

/// Ends a payment_status lag for a session.
pub fn end_lag(_data: &mut AccountData, _session_id: &str) {}

/// Checks a plan without setting it.
pub fn validate_plan(_plan: &Value) -> Result<(), ApiError> {
    Ok(())
}

/// The version of an object that a retrieve sees: the current one unless a
/// lag or stale-read fault hides it. `None` answers 404.
pub fn visible(data: &mut AccountData, kind: &str, id: &str) -> Option<Value> {
    data.store.get(kind, id).cloned()
}

/// The objects of `kind` that a list sees, newest first.
pub fn visible_list(data: &mut AccountData, kind: &str) -> Vec<Value> {
    let ids: Vec<String> = data.store.ids_newest_first(kind).cloned().collect();
    ids.iter().filter_map(|id| visible(data, kind, id)).collect()
}

/// The metadata a session's payment intent is created with.
pub fn payment_intent_metadata(_data: &mut AccountData, _session: &Value, metadata: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    metadata
}

/// Starts a payment_status lag for a session that was just paid.
pub fn start_lag(_data: &mut AccountData, _session_id: &str, _before: &Value) {}

/// The plan in force, as `GET /_fakestripe/faults` shows it.
pub fn plan_view(data: &AccountData) -> Value {
    data.faults.plan.clone().unwrap_or_else(|| serde_json::json!({"seed": null, "faults": []}))
}

/// Removes the plan. Held events stay held until released.
pub fn clear_plan(data: &mut AccountData) {
    data.faults.plan = None;
}

/// Which held deliveries to release, in the order given.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    #[serde(default)]
    pub event_ids: Vec<String>,
    #[serde(default)]
    pub types: Vec<String>,
}

/// The held deliveries.
pub fn held(_data: &AccountData) -> Vec<Value> {
    Vec::new()
}

/// Releases held deliveries; returns how many.
pub fn release(_data: &mut AccountData, _selector: &Release) -> Result<usize, ApiError> {
    Ok(0)
}
