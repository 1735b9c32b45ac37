//! Typed access to a decoded parameter tree. Each endpoint takes the
//! parameters it knows, one by one, and `finish` rejects whatever is left,
//! so every error names the full bracket path (`line_items[0][quantity]`).

use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};

/// Returns `prefix[name]`. Every hash and array item takes its path from
/// here, so it is pushed together rather than formatted: `format!` here
/// was 7% of a session create's instructions.
fn bracketed(prefix: &str, name: &str) -> String {
    let mut path = String::with_capacity(prefix.len() + name.len() + 2);
    path.push_str(prefix);
    path.push('[');
    path.push_str(name);
    path.push(']');
    path
}

/// Returns `path` with each array index written `[]`, as
/// `line_items[0][price]` becomes `line_items[][price]`.
fn without_indices(path: &str) -> String {
    let mut shape = String::with_capacity(path.len());
    for (index, part) in path.split('[').enumerate() {
        if index > 0 {
            shape.push('[');
            if part
                .strip_suffix(']')
                .is_some_and(|inner| !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()))
            {
                shape.push(']');
                continue;
            }
        }
        shape.push_str(part);
    }
    shape
}

/// Parameters at one level of the tree, with the path that leads to them.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: Map<String, Value>,
    prefix: String,
    /// Set by `forbid_empty`: the paths that may still take an empty value,
    /// with array indices written `[]`. Hashes and array items taken from
    /// here inherit it.
    emptyable: Option<&'static [&'static str]>,
}

impl Params {
    pub fn new(map: Map<String, Value>) -> Self {
        Params {
            map,
            prefix: String::new(),
            emptyable: None,
        }
    }

    /// Makes every parameter taken from here on reject an empty value,
    /// unless its path is in `emptyable`, with Stripe's message. Stripe reads
    /// an empty value as a request to unset the field, so on a create,
    /// where nothing is set yet, only the fields its API lists as emptyable
    /// take one. Checking on take, not up front, leaves a parameter the
    /// endpoint does not know to `finish`, which calls it unknown.
    /// `metadata` is read whole, so an empty value there still removes the
    /// key.
    pub fn forbid_empty(&mut self, emptyable: &'static [&'static str]) {
        self.emptyable = Some(emptyable);
    }

    /// Returns the `parameter_invalid_empty` error for `name` if an empty
    /// value is forbidden there.
    fn empty_error(&self, name: &str) -> Option<ApiError> {
        let emptyable = self.emptyable?;
        let path = self.path(name);
        let shape = without_indices(&path);
        if emptyable.contains(&shape.as_str()) {
            return None;
        }
        Some(
            ApiError::invalid_param(
                path.clone(),
                format!(
                    "You passed an empty string for '{path}'. We assume empty values are an attempt to unset a parameter; however '{path}' cannot be unset. You should remove '{path}' from your request or supply a non-empty value."
                ),
            )
            .with_code("parameter_invalid_empty"),
        )
    }

    /// The bracket path of a parameter at this level.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            return name.to_owned();
        }
        bracketed(&self.prefix, name)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Takes a string parameter. An empty string counts as sent, unless
    /// `forbid_empty` is in force.
    pub fn string(&mut self, name: &str) -> ApiResult<Option<String>> {
        match self.map.remove(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => match self.empty_error(name) {
                Some(err) => Err(err),
                None => Ok(Some(s)),
            },
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid_param(
                self.path(name),
                format!(
                    "Invalid string: {} must be a string, not a hash or array.",
                    self.path(name)
                ),
            )),
        }
    }

    /// Takes a string parameter of at most `max` characters, the limit
    /// Stripe's API reference gives the parameter.
    pub fn string_at_most(&mut self, name: &str, max: usize) -> ApiResult<Option<String>> {
        let value = self.string(name)?;
        if let Some(text) = &value {
            check_length(&self.path(name), text, max)?;
        }
        Ok(value)
    }

    /// Takes a string parameter that must be present and non-empty.
    pub fn required_string(&mut self, name: &str) -> ApiResult<String> {
        match self.string(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::missing_param(self.path(name))),
        }
    }

    /// Takes an integer parameter.
    pub fn integer(&mut self, name: &str) -> ApiResult<Option<i64>> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) => s.trim().parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid_param(self.path(name), format!("Invalid integer: {s}"))
                    .with_code("parameter_invalid_integer")
            }),
        }
    }

    /// Takes an integer that must lie in `min..=max`.
    pub fn integer_in(&mut self, name: &str, min: i64, max: i64) -> ApiResult<Option<i64>> {
        let value = self.integer(name)?;
        if let Some(v) = value
            && (v < min || v > max)
        {
            let path = self.path(name);
            return Err(ApiError::invalid_param(
                path.clone(),
                format!("Invalid {path}: must be between {min} and {max}, got {v}."),
            ));
        }
        Ok(value)
    }

    /// Takes a boolean parameter (`true` or `false`).
    pub fn boolean(&mut self, name: &str) -> ApiResult<Option<bool>> {
        match self.string(name)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::invalid_param(
                self.path(name),
                format!("Invalid boolean: {other}. Send true or false."),
            )),
        }
    }

    /// Takes a string parameter that must be one of `allowed`.
    pub fn one_of(&mut self, name: &str, allowed: &[&str]) -> ApiResult<Option<String>> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) if allowed.contains(&s.as_str()) => Ok(Some(s)),
            Some(s) => Err(ApiError::invalid_param(
                self.path(name),
                format!(
                    "Invalid {name}: must be one of {}, got `{s}`.",
                    allowed.join(", ")
                ),
            )),
        }
    }

    /// Takes a hash parameter. An empty string (`metadata=`) comes back as an
    /// empty hash, which is how clients clear a hash.
    pub fn hash(&mut self, name: &str) -> ApiResult<Option<Params>> {
        // An absent hash returns before the path is built, so optional
        // hashes cost no allocation on requests without them.
        let Some(value) = self.map.remove(name) else {
            return Ok(None);
        };
        let path = self.path(name);
        match value {
            Value::Object(map) => Ok(Some(Params {
                map,
                prefix: path,
                emptyable: self.emptyable,
            })),
            Value::String(s) if s.is_empty() => Ok(Some(Params {
                map: Map::new(),
                prefix: path,
                emptyable: self.emptyable,
            })),
            _ => Err(ApiError::invalid_param(
                path.clone(),
                format!("Invalid hash: {path} must be a hash, such as {path}[key]=value."),
            )),
        }
    }

    /// Takes an array of hashes (`line_items[0][…]`).
    pub fn hash_array(&mut self, name: &str) -> ApiResult<Option<Vec<Params>>> {
        let path = self.path(name);
        let items = match self.map.remove(name) {
            None => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(Value::Object(map)) if map.is_empty() => Vec::new(),
            Some(Value::String(s)) if s.is_empty() => match self.empty_error(name) {
                Some(err) => return Err(err),
                None => Vec::new(),
            },
            Some(_) => {
                return Err(ApiError::invalid_param(
                    path.clone(),
                    format!(
                        "Invalid array: {path} must be an array, such as {path}[0][key]=value."
                    ),
                ));
            }
        };
        items
            .into_iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::Object(map) => Ok(Params {
                    map,
                    prefix: bracketed(&path, &index.to_string()),
                    emptyable: self.emptyable,
                }),
                _ => Err(ApiError::invalid_param(
                    format!("{path}[{index}]"),
                    format!("Invalid hash: {path}[{index}] must be a hash."),
                )),
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some)
    }

    /// Takes an array of strings (`expand[]=a`, `payment_method_types[0]=card`).
    /// A single value sent without brackets counts as a one-element array.
    pub fn string_array(&mut self, name: &str) -> ApiResult<Option<Vec<String>>> {
        let removed = self.map.remove(name);
        let path = || self.path(name);
        match removed {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => match self.empty_error(name) {
                Some(err) => Err(err),
                None => Ok(Some(Vec::new())),
            },
            Some(Value::String(s)) => Ok(Some(vec![s])),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Value::String(s) => Ok(s),
                    _ => {
                        let path = path();
                        Err(ApiError::invalid_param(
                            format!("{path}[{index}]"),
                            format!("Invalid string: {path}[{index}] must be a string."),
                        ))
                    }
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
            Some(_) => {
                let path = path();
                Err(ApiError::invalid_param(
                    path.clone(),
                    format!("Invalid array: {path} must be an array of strings."),
                ))
            }
        }
    }

    /// Takes the remaining entries as raw values, for hashes with free keys
    /// such as `metadata`.
    pub fn into_entries(self) -> (String, Map<String, Value>) {
        (self.prefix, self.map)
    }

    /// Rejects a parameter outside `known` before any other check, so an
    /// unknown name is reported ahead of a missing one, as Stripe does.
    pub fn reject_unknown(&self, known: &[&str]) -> ApiResult<()> {
        match self.map.keys().find(|key| !known.contains(&key.as_str())) {
            None => Ok(()),
            Some(key) => Err(ApiError::unknown_param(self.path(key))),
        }
    }

    /// Rejects any parameter that was not taken.
    pub fn finish(self) -> ApiResult<()> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(ApiError::unknown_param(self.path(key))),
        }
    }
}

/// Rejects `text` longer than `max` characters, naming `param` and
/// showing the start of the text.
pub fn check_length(param: &str, text: &str, max: usize) -> ApiResult<()> {
    let length = text.chars().count();
    if length <= max {
        return Ok(());
    }
    let start: String = text.chars().take(40).collect();
    Err(ApiError::invalid_param(
        param,
        format!(
            "Invalid string: {start}…; `{param}` must be at most {max} characters, and this one has {length}."
        ),
    ))
}

/// Checks text a customer typed on the Checkout page: no control character
/// and no U+FFFD, which stands for bytes that were not UTF-8 in the page's
/// form. Such text would reach the customer and the payment method.
pub fn check_typed_text(param: &str, text: &str) -> ApiResult<()> {
    match text.chars().find(|c| c.is_control() || *c == '\u{FFFD}') {
        Some(bad) => Err(ApiError::invalid_param(
            param,
            format!(
                "Invalid `{param}`: it holds U+{:04X}, which is not text a customer can enter.",
                u32::from(bad)
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_become_empty_brackets() {
        assert_eq!(
            without_indices("line_items[0][price_data][product_data][tax_code]"),
            "line_items[][price_data][product_data][tax_code]"
        );
        assert_eq!(without_indices("a[12][b]"), "a[][b]");
        assert_eq!(without_indices("a[b]"), "a[b]");
        assert_eq!(without_indices("description"), "description");
    }
    use serde_json::json;

    fn params(value: Value) -> Params {
        match value {
            Value::Object(map) => Params::new(map),
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn nested_error_names_full_path() {
        let mut p = params(json!({"line_items": [{"price_data": {"unit_amount": "abc"}}]}));
        let mut items = p.hash_array("line_items").unwrap().unwrap();
        let mut price_data = items[0].hash("price_data").unwrap().unwrap();
        let err = price_data.integer("unit_amount").unwrap_err();
        assert_eq!(
            err.param.as_deref(),
            Some("line_items[0][price_data][unit_amount]")
        );
        assert_eq!(err.message, "Invalid integer: abc");
        assert_eq!(err.code, Some("parameter_invalid_integer"));
    }

    #[test]
    fn finish_rejects_leftover() {
        let mut p = params(json!({"mode": "payment", "colour": "red"}));
        p.string("mode").unwrap();
        let err = p.finish().unwrap_err();
        assert_eq!(err.param.as_deref(), Some("colour"));
        assert_eq!(err.message, "Received unknown parameter: colour");
    }

    #[test]
    fn huge_unknown_name_is_cut() {
        let name = "é".repeat(100_000);
        let p = params(json!({ name: "1" }));
        let err = p.finish().unwrap_err();
        let cut_name = format!("{}…", "é".repeat(200));
        assert_eq!(err.param.as_deref(), Some(cut_name.as_str()));
        assert_eq!(
            err.message,
            format!("Received unknown parameter: {cut_name}")
        );
    }

    #[test]
    fn empty_string_is_empty_hash() {
        let mut p = params(json!({"metadata": ""}));
        assert!(p.hash("metadata").unwrap().unwrap().is_empty());
    }
}
