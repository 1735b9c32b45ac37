//! Stripe's metadata rules: at most 50 keys, keys up to 40 characters
//! without square brackets, values up to 500 characters. An empty value
//! unsets a key, and an empty `metadata` clears every key.

use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};
use super::params::Params;

pub const MAX_KEYS: usize = 50;
pub const MAX_KEY_CHARS: usize = 40;
pub const MAX_VALUE_CHARS: usize = 500;

/// Applies a `metadata` parameter to the current metadata and returns the
/// result. On create, pass an empty map as `current`.
pub fn apply(current: &Map<String, Value>, update: Params) -> ApiResult<Map<String, Value>> {
    let (path, entries) = update.into_entries();
    if entries.is_empty() {
        return Ok(Map::new());
    }
    let mut merged = current.clone();
    for (key, value) in entries {
        let param = format!("{path}[{key}]");
        let value = match value {
            Value::String(s) => s,
            // The decoder turns brackets inside a key into nesting.
            _ => {
                return Err(ApiError::invalid_param(
                    param,
                    format!(
                        "Invalid metadata key `{key}`: keys cannot contain square brackets or nest."
                    ),
                ));
            }
        };
        if key.chars().count() > MAX_KEY_CHARS {
            return Err(ApiError::invalid_param(
                param,
                format!("Metadata key `{key}` is longer than {MAX_KEY_CHARS} characters."),
            ));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(ApiError::invalid_param(
                param,
                format!(
                    "Metadata value for key `{key}` is longer than {MAX_VALUE_CHARS} characters."
                ),
            ));
        }
        if value.is_empty() {
            merged.remove(&key);
        } else {
            merged.insert(key, Value::String(value));
        }
    }
    if merged.len() > MAX_KEYS {
        return Err(ApiError::invalid_param(
            path,
            format!(
                "Metadata can have at most {MAX_KEYS} keys, got {}.",
                merged.len()
            ),
        ));
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update(value: Value) -> Params {
        let mut outer = Map::new();
        outer.insert("metadata".into(), value);
        Params::new(outer).hash("metadata").unwrap().unwrap()
    }

    #[test]
    fn empty_value_unsets_key() {
        let current = json!({"a": "1", "b": "2"}).as_object().unwrap().clone();
        let merged = apply(&current, update(json!({"a": "", "c": "3"}))).unwrap();
        assert_eq!(Value::Object(merged), json!({"b": "2", "c": "3"}));
    }

    #[test]
    fn empty_metadata_clears_all() {
        let current = json!({"a": "1"}).as_object().unwrap().clone();
        assert!(apply(&current, update(json!(""))).unwrap().is_empty());
    }

    #[test]
    fn limits_are_enforced() {
        let long_key = "k".repeat(41);
        let err = apply(&Map::new(), update(json!({ long_key.clone(): "v" }))).unwrap_err();
        assert_eq!(err.param, Some(format!("metadata[{long_key}]")));

        let err = apply(&Map::new(), update(json!({"k": "v".repeat(501)}))).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("metadata[k]"));

        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
        let err = apply(&Map::new(), update(Value::Object(many))).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("metadata"));

        let err = apply(&Map::new(), update(json!({"a": {"b": "c"}}))).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("metadata[a]"));
    }
}
