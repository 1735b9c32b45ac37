//! A JSON value read from a scenario file that keeps the location of each
//! of its parts. An error about a part deep inside it, such as one pattern
//! in the `types` of a fault entry, can then point at that part.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use serde_saphyr::{Location, Spanned};

/// A value as written in the file: a scalar, or a list or map whose items,
/// keys and values each carry their location.
#[derive(Debug, Clone)]
pub enum LocatedValue {
    Scalar(Value),
    List(Vec<Spanned<LocatedValue>>),
    /// Entries in the order written.
    Map(Vec<(Spanned<String>, Spanned<LocatedValue>)>),
}

/// The location of a part of a [`LocatedValue`], as [`LocatedValue::find`]
/// returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The key of the map entry the path ends at, if it ends at one.
    pub key: Option<Location>,
    /// The value the path ends at.
    pub value: Location,
}

impl LocatedValue {
    /// Converts the value to JSON. A key written twice keeps its last
    /// value, as `serde_json::Value` does.
    pub fn to_json(&self) -> Value {
        match self {
            LocatedValue::Scalar(value) => value.clone(),
            LocatedValue::List(items) => {
                Value::Array(items.iter().map(|item| item.value.to_json()).collect())
            }
            LocatedValue::Map(entries) => {
                let mut map = Map::new();
                for (key, value) in entries {
                    map.insert(key.value.clone(), value.value.to_json());
                }
                Value::Object(map)
            }
        }
    }

    /// Returns the value of a map's `key`.
    pub fn get(&self, key: &str) -> Option<&Spanned<LocatedValue>> {
        match self {
            LocatedValue::Map(entries) => entries
                .iter()
                .rev()
                .find(|(name, _)| name.value == key)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// Returns the string of a scalar string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            LocatedValue::Scalar(Value::String(text)) => Some(text),
            _ => None,
        }
    }

    /// Follows `path`, map keys and list indexes such as `["types", "1"]`,
    /// from `start`, the location of this value, and returns the deepest
    /// part that exists on it.
    pub fn find(&self, start: Location, path: &[&str]) -> Found {
        let mut found = Found {
            key: None,
            value: start,
        };
        let mut current = self;
        for part in path {
            let next = match current {
                LocatedValue::Map(entries) => entries
                    .iter()
                    .rev()
                    .find(|(key, _)| key.value == *part)
                    .map(|(key, value)| (Some(key.referenced), value)),
                LocatedValue::List(items) => part
                    .parse::<usize>()
                    .ok()
                    .and_then(|index| items.get(index))
                    .map(|item| (None, item)),
                LocatedValue::Scalar(_) => None,
            };
            let Some((key, value)) = next else { break };
            found = Found {
                key,
                value: value.referenced,
            };
            current = &value.value;
        }
        found
    }
}

/// Splits the `param` of a fake error about a fault plan into map keys
/// and list indexes: `["faults", "0", "types", "1"]` for
/// `faults[0][types][1]`.
pub fn plan_param_path(param: &str) -> Vec<&str> {
    param
        .split('[')
        .map(|part| part.trim_end_matches(']'))
        .collect()
}

/// Returns where in `value` an error of the fake's fault plan check
/// belongs. `path` comes from the error's `param`.
/// An unknown key, which serde and the fake's parameter check report,
/// points at the key, and any other error at the value.
pub fn plan_error_location(
    value: &Spanned<LocatedValue>,
    path: &[&str],
    message: &str,
) -> Location {
    let found = value.value.find(value.referenced, path);
    let unknown_key = message.contains("unknown field") || message.contains("unknown parameter");
    match found.key {
        Some(key) if unknown_key => key,
        _ => found.value,
    }
}

/// Writes the value as its JSON, for the defaults in the JSON Schema.
impl Serialize for LocatedValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LocatedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LocatedVisitor)
    }
}

struct LocatedVisitor;

impl<'de> Visitor<'de> for LocatedVisitor {
    type Value = LocatedValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<LocatedValue, E> {
        Ok(LocatedValue::Scalar(Value::Bool(value)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<LocatedValue, E> {
        Ok(LocatedValue::Scalar(Value::from(value)))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<LocatedValue, E> {
        Ok(LocatedValue::Scalar(Value::from(value)))
    }

    /// Stores a number JSON cannot hold, such as NaN, as null, as
    /// `serde_json::Value` does.
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<LocatedValue, E> {
        let number = serde_json::Number::from_f64(value);
        Ok(LocatedValue::Scalar(
            number.map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<LocatedValue, E> {
        Ok(LocatedValue::Scalar(Value::String(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<LocatedValue, E> {
        Ok(LocatedValue::Scalar(Value::String(value)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<LocatedValue, E> {
        Ok(LocatedValue::Scalar(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<LocatedValue, E> {
        Ok(LocatedValue::Scalar(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<LocatedValue, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LocatedValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<LocatedValue>>()? {
            items.push(item);
        }
        Ok(LocatedValue::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LocatedValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Spanned<String>, Spanned<LocatedValue>>()? {
            entries.push(entry);
        }
        Ok(LocatedValue::Map(entries))
    }
}
