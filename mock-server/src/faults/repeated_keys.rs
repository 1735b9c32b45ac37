//! The check for a key that one object of a fault plan gives twice.
//! `serde_json` keeps the last value of a repeated key, so without it
//! `{"seed": 1, "seed": 2}` would set seed 2 and drop seed 1 without an
//! error.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::wire::ApiError;

/// Checks the JSON text of a fault plan for a key that one object gives
/// twice, and names the first such key by its path, such as
/// `faults[0][copies]`. Text that is not JSON passes, because the plan's
/// parser reports that with its own message.
pub fn reject_repeated_keys(json: &[u8]) -> Result<(), ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    match (FirstRepeat { path: None }).deserialize(&mut deserializer) {
        Ok(Some(path)) => Err(ApiError::repeated_key(path)),
        Ok(None) | Err(_) => Ok(()),
    }
}

/// One step from a value to a part of it.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The path from the plan to a value, as a chain of steps on the visitor's
/// stack. The text of a path is built only for the error, so a long key is
/// not copied into the path of every value below it.
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

impl fmt::Display for Path<'_> {
    /// Writes the path in the form of `param` in the fake's errors: the
    /// first key bare and each later key or index in brackets. An empty key
    /// is written `""`, so the path is never empty.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut steps = vec![&self.step];
        let mut parent = self.parent;
        while let Some(path) = parent {
            steps.push(&path.step);
            parent = path.parent;
        }
        for (index, step) in steps.iter().rev().enumerate() {
            match step {
                Step::Key("") if index == 0 => write!(formatter, "\"\"")?,
                Step::Key("") => write!(formatter, "[\"\"]")?,
                Step::Key(key) if index == 0 => write!(formatter, "{key}")?,
                Step::Key(key) => write!(formatter, "[{key}]")?,
                Step::Index(position) => write!(formatter, "[{position}]")?,
            }
        }
        Ok(())
    }
}

/// Reads one JSON value and returns the path of the first key that an
/// object in it repeats.
struct FirstRepeat<'a> {
    /// The path of the value read, or `None` for the whole plan.
    path: Option<&'a Path<'a>>,
}

impl<'de> DeserializeSeed<'de> for FirstRepeat<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstRepeat<'_> {
    type Value = Option<String>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let mut index = 0;
        loop {
            let path = Path {
                parent: self.path,
                step: Step::Index(index),
            };
            match items.next_element_seed(FirstRepeat { path: Some(&path) })? {
                None => return Ok(None),
                Some(None) => index += 1,
                Some(found) => {
                    // The parser checks that the rest of the text is
                    // well-formed, so the items left are read and dropped.
                    while items.next_element::<IgnoredAny>()?.is_some() {}
                    return Ok(found);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        let mut keys = HashSet::new();
        // `String` rather than `&str`, because a key with escapes such as
        // `se\u0065d` has no borrowed form, and it repeats `seed`.
        while let Some(key) = entries.next_key::<String>()? {
            let path = Path {
                parent: self.path,
                step: Step::Key(&key),
            };
            let found = if keys.contains(&key) {
                entries.next_value::<IgnoredAny>()?;
                Some(path.to_string())
            } else {
                entries.next_value_seed(FirstRepeat { path: Some(&path) })?
            };
            if found.is_some() {
                while entries.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(found);
            }
            keys.insert(key);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeated(json: &str) -> Option<String> {
        reject_repeated_keys(json.as_bytes())
            .err()
            .and_then(|err| err.param)
    }

    #[test]
    fn repeated_key_paths() {
        let cases = [
            (r#"{"seed": 1, "seed": 2}"#, "seed"),
            (r#"{"seed": 1, "se\u0065d": 2}"#, "seed"),
            (r#"{"faults": [], "seed": 1, "faults": []}"#, "faults"),
            (
                r#"{"faults": [{"kind": "hold"}, {"kind": "webhook_duplicate", "copies": 2, "copies": 3}]}"#,
                "faults[1][copies]",
            ),
            (
                r#"{"faults": [{"kind": "hold", "kind": "webhook_drop"}]}"#,
                "faults[0][kind]",
            ),
            (r#"{"a": {"b": [[{"c": 1, "c": 1}]]}}"#, "a[b][0][0][c]"),
            (r#"{"": 1, "": 2}"#, r#""""#),
            (r#"{"faults": [{"": 1, "": 2}]}"#, r#"faults[0][""]"#),
        ];
        for (json, path) in cases {
            assert_eq!(repeated(json).as_deref(), Some(path), "{json}");
        }
    }

    #[test]
    fn same_key_in_two_objects_passes() {
        let json = r#"{"seed": 1, "faults": [{"kind": "hold", "types": ["*"]}, {"kind": "webhook_drop", "types": []}]}"#;
        assert_eq!(repeated(json), None);
    }

    #[test]
    fn invalid_json_passes() {
        assert_eq!(repeated(r#"{"seed": 1, "seed""#), None);
        assert_eq!(repeated("[1, 2"), None);
    }

    #[test]
    fn long_path_is_cut() {
        let key = "k".repeat(500);
        let json = format!(r#"{{"{key}": 1, "{key}": 2}}"#);
        let err = reject_repeated_keys(json.as_bytes()).expect_err("the key repeats");
        let param = err.param.expect("the error names the key");
        assert_eq!(param.chars().count(), 201, "{param}");
        assert!(param.ends_with('…'), "{param}");
    }
}
