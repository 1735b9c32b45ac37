//! Request templates: `{{name}}` placeholders in the requests of
//! fakestripe.yaml, filled from the scenario's step.

use std::collections::BTreeMap;

use serde_json::Value;

/// The variables a template may use.
pub const TEMPLATE_VARIABLES: &[&str] = &[
    "order_id", "items", "currency", "email", "name", "metadata", "attempt",
];

/// Values for one request.
#[derive(Debug, Clone, Default)]
pub struct Variables(BTreeMap<&'static str, Value>);

impl Variables {
    pub fn new() -> Self {
        Variables::default()
    }

    pub fn set(&mut self, name: &'static str, value: Value) -> &mut Self {
        self.0.insert(name, value);
        self
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

/// Returns the placeholder names in `text`, in order, or an error for a
/// `{{` that no `}}` closes before the next `{{`.
pub fn placeholders(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) if !after[..end].contains("{{") => {
                names.push(after[..end].trim().to_owned());
                rest = &after[end + 2..];
            }
            _ => {
                return Err(format!(
                    "a `{{{{` without its `}}}}` in `{text}`; write a placeholder as `{{{{order_id}}}}`"
                ));
            }
        }
    }
    Ok(names)
}

/// Fills a JSON template. A string that is exactly one placeholder becomes
/// the variable's JSON value, so lists and numbers keep their type. Other
/// strings get the variable's text in place of each placeholder.
pub fn render_value(template: &Value, vars: &Variables) -> Value {
    match template {
        Value::String(text) => {
            let trimmed = text.trim();
            if let Ok([only]) = placeholders(trimmed).as_deref()
                && trimmed.starts_with("{{")
                && trimmed.ends_with("}}")
                && trimmed.matches("{{").count() == 1
            {
                return vars.get(only).cloned().unwrap_or(Value::Null);
            }
            Value::String(render_text(text, vars, |value| value.to_owned()))
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| render_value(item, vars)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_value(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Fills placeholders in plain text, passing each value through `encode`.
pub fn render_text(text: &str, vars: &Variables, encode: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        let value = vars.get(name).map(scalar_text).unwrap_or_default();
        out.push_str(&encode(&value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Renders a value as text: strings without quotes, null as nothing, the rest as
/// JSON.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Percent-encodes a value for use inside one path segment.
pub fn encode_path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        if unreserved {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars() -> Variables {
        let mut vars = Variables::new();
        vars.set("order_id", json!("O-1 x"))
            .set(
                "items",
                json!([{"name": "T", "unit_amount": 100, "quantity": 1}]),
            )
            .set("attempt", json!(2));
        vars
    }

    #[test]
    fn whole_placeholder_keeps_type() {
        let rendered = render_value(
            &json!({"items": "{{items}}", "n": "{{ attempt }}"}),
            &vars(),
        );
        assert_eq!(rendered["items"][0]["unit_amount"], json!(100));
        assert_eq!(rendered["n"], json!(2));
    }

    #[test]
    fn embedded_placeholder_is_text() {
        let rendered = render_value(&json!("order {{order_id}} try {{attempt}}"), &vars());
        assert_eq!(rendered, json!("order O-1 x try 2"));
    }

    #[test]
    fn path_values_are_encoded() {
        let path = render_text("/orders/{{order_id}}", &vars(), encode_path_segment);
        assert_eq!(path, "/orders/O-1%20x");
    }

    #[test]
    fn unknown_variable_is_empty() {
        assert_eq!(render_text("a{{nope}}b", &vars(), |v| v.to_owned()), "ab");
        assert_eq!(placeholders("{{a}} and {{ b }}").unwrap(), vec!["a", "b"]);
        assert!(placeholders("/orders/{{order_id}").is_err());
        assert!(placeholders("{{order_id}}{{").is_err());
        assert!(placeholders("{{a {{b}}").is_err());
    }
}
