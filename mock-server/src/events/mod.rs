//! Events and their delivery. Each state change records an event with the
//! object as it is at that moment; each endpoint that subscribes to the
//! event's type gets a delivery scheduled on the account's clock.
//!
//! - `signature`: the `Stripe-Signature` header.
//! - `delivery`: one attempt: build, sign, send, record, schedule a retry.
//! - `dispatcher`: runs due work: in the background in real-time mode, or
//!   inside an advance in manual mode.

pub mod delivery;
pub mod dispatcher;
pub mod signature;

use serde_json::{Map, Value, json};

use crate::account::{AccountData, Task};
use crate::faults;

/// Who caused an event: the API request, if any. Events from the
/// customer's actions or from the clock have no request.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Records an event of `event_type` about `object` and schedules its
/// deliveries. `previous` holds the changed fields' old values, for
/// `*.updated` events. Returns the event id.
pub fn emit(
    data: &mut AccountData,
    event_type: &str,
    object: &Value,
    previous: Option<Map<String, Value>>,
    origin: &Origin,
) -> String {
    debug_assert!(
        crate::resources::event_types::is_sent_event_type(event_type),
        "{event_type} is missing from SENT_EVENT_TYPES"
    );
    let id = data.new_id("evt_");
    let now = data.now();
    let subscribed: Vec<String> = data
        .endpoints
        .values()
        .filter(|endpoint| endpoint.subscribes_to(event_type))
        .map(|endpoint| endpoint.id.clone())
        .collect();
    // Events are rendered in the account's API version, whatever version
    // the request that caused them asked for.
    let api_version = crate::wire::version::DEFAULT_API_VERSION;
    let mut data_field = Map::new();
    data_field.insert("object".into(), strip_private(object));
    // Stripe sends `previous_attributes` with `*.updated` events only.
    if let Some(previous) = previous
        && event_type.ends_with(".updated")
    {
        data_field.insert("previous_attributes".into(), Value::Object(previous));
    }
    let mut event = json!({
        "id": id,
        "object": "event",
        "api_version": api_version,
        "created": now,
        "data": data_field,
        "livemode": false,
        "pending_webhooks": subscribed.len(),
        "request": {
            "id": origin.request_id,
            "idempotency_key": origin.idempotency_key,
        },
        "type": event_type,
    });
    if let Some(account) = &data.connected_account {
        event["account"] = json!(account);
    }
    data.store.insert("event", &id, &event, now);
    data.trace(
        "event",
        json!({ "event_id": id, "type": event_type, "object": object["id"], "endpoints": subscribed }),
    );
    for endpoint_id in subscribed {
        let plan = faults::plan_delivery(data, &id, event_type, object, &endpoint_id);
        for (delay, variant) in plan.sends {
            data.schedule(now + delay, Task::deliver(&id, &endpoint_id, 1, variant));
        }
    }
    id
}

/// Builds `previous_attributes`: the old value of every top-level field
/// that differs between `before` and `after`.
pub fn changed_fields(before: &Value, after: &Value) -> Map<String, Value> {
    let mut previous = Map::new();
    if let (Some(before), Some(after)) = (before.as_object(), after.as_object()) {
        for (key, old) in before {
            if after.get(key) != Some(old) {
                previous.insert(key.clone(), old.clone());
            }
        }
    }
    previous
}

/// Removes fields the fake keeps for itself (names starting with `_`).
fn strip_private(object: &Value) -> Value {
    match object {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !key.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether a type pattern such as `checkout.session.*` matches `event_type`.
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_prefixes() {
        assert!(type_matches(
            "checkout.session.*",
            "checkout.session.completed"
        ));
        assert!(!type_matches(
            "checkout.session.*",
            "payment_intent.succeeded"
        ));
        assert!(type_matches("*", "charge.updated"));
        assert!(type_matches("charge.updated", "charge.updated"));
        assert!(!type_matches("charge.updated", "charge.updated.extra"));
    }

    #[test]
    fn changed_fields_keep_old_values() {
        let before = json!({"status": "open", "metadata": {}, "id": "cs_1"});
        let after = json!({"status": "complete", "metadata": {}, "id": "cs_1"});
        assert_eq!(
            Value::Object(changed_fields(&before, &after)),
            json!({"status": "open"})
        );
    }
}
