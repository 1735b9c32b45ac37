//! Decoding of Stripe's request format: `application/x-www-form-urlencoded`
//! bodies and query strings in bracket notation (`metadata[order_id]=42`,
//! `line_items[0][price_data][unit_amount]=2000`, `expand[]=payment_intent`).

use serde_json::{Map, Value};

use super::error::ApiError;

/// Deepest nesting accepted. Stripe's own parameters go about six levels
/// deep (`line_items[0][price_data][product_data][metadata][key]`); the
/// margin lets clients nest metadata-like hashes a little further.
pub const MAX_DEPTH: usize = 16;

/// Decodes a form body into a tree of strings, objects and arrays. Indexed
/// (`a[0]`) and empty-indexed (`a[]`) arrays become JSON arrays, and
/// percent-encoded brackets are decoded the same as literal ones.
pub fn decode(input: &[u8]) -> Result<Map<String, Value>, ApiError> {
    decode_from(input, Source::Body)
}

/// Decodes a query string the same way as a body.
pub fn decode_query(input: &[u8]) -> Result<Map<String, Value>, ApiError> {
    decode_from(input, Source::Query)
}

/// The part of a request the parameters came from, for error messages.
#[derive(Debug, Clone, Copy)]
enum Source {
    Body,
    Query,
}

fn decode_from(input: &[u8], source: Source) -> Result<Map<String, Value>, ApiError> {
    if input.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    let config = serde_qs::Config::new()
        .max_depth(MAX_DEPTH)
        .use_form_encoding(true);
    let value: Value = config.deserialize_bytes(input).map_err(|err| {
        let detail = err.to_string();
        let param = param_at(input, &detail);
        // The decoder's words for `a[]=x&a[0]=y`, in either order.
        let mixed = detail.contains("both a sequence and a");
        match (param, mixed) {
            (Some(param), true) => ApiError::invalid_param(
                param.clone(),
                format!(
                    "Invalid array `{param}`: it was sent both as `{param}[]` and with indices \
                     such as `{param}[0]`. Use one form for every item."
                ),
            ),
            (Some(param), false) => invalid_input(source, &detail).with_param(param),
            (None, _) => invalid_input(source, &detail),
        }
    })?;
    match value {
        Value::Object(map) => {
            check_keys(&map, "")?;
            Ok(map)
        }
        Value::String(s) if s.is_empty() => Ok(Map::new()),
        _ => Err(invalid_input(source, "expected key=value pairs")),
    }
}

/// Rejects an empty key anywhere in the tree, which is what the decoder makes
/// of a parameter sent both as a value and as a hash (`a=1&a[b]=2`).
fn check_keys(map: &Map<String, Value>, prefix: &str) -> Result<(), ApiError> {
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}[{key}]")
        };
        if key.is_empty() {
            let param = if prefix.is_empty() {
                "(empty)".to_owned()
            } else {
                prefix.to_owned()
            };
            return Err(ApiError::invalid_param(
                param.clone(),
                format!("Invalid parameter `{param}`: it was sent both as a value and as a hash."),
            ));
        }
        match value {
            Value::Object(inner) => check_keys(inner, &path)?,
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Value::Object(inner) = item {
                        check_keys(inner, &format!("{path}[{index}]"))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The name of the parameter whose pair holds the byte offset that the
/// decoder's message reports (`… at position: 21`), so the error can name it.
fn param_at(input: &[u8], detail: &str) -> Option<String> {
    let position: usize = detail
        .rsplit("position: ")
        .next()?
        .trim_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    let position = position.min(input.len());
    let start = input[..position]
        .iter()
        .rposition(|b| *b == b'&')
        .map_or(0, |i| i + 1);
    let pair = &input[start..];
    let end = pair
        .iter()
        .position(|b| matches!(b, b'&' | b'='))
        .unwrap_or(pair.len());
    let key = url::form_urlencoded::parse(&pair[..end])
        .next()
        .map(|(k, _)| k.into_owned())?;
    let name = key.split('[').next().unwrap_or_default().to_owned();
    (!name.is_empty()).then_some(name)
}

fn invalid_input(source: Source, detail: &str) -> ApiError {
    let message = match source {
        Source::Body => format!(
            "Invalid request body: {detail}. Send parameters as application/x-www-form-urlencoded \
             in bracket notation, such as metadata[order_id]=42."
        ),
        Source::Query => format!(
            "Invalid query string: {detail}. Send parameters in bracket notation, such as \
             expand[]=payment_intent."
        ),
    };
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        super::error::ErrorType::InvalidRequest,
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_nested_and_arrays() {
        let map = decode(
            b"line_items[0][price_data][unit_amount]=2000&line_items[0][quantity]=2&expand[]=payment_intent&metadata[k]=a+b",
        )
        .unwrap();
        assert_eq!(
            Value::Object(map),
            json!({
                "line_items": [{"price_data": {"unit_amount": "2000"}, "quantity": "2"}],
                "expand": ["payment_intent"],
                "metadata": {"k": "a b"}
            })
        );
    }

    #[test]
    fn percent_encoded_brackets_match_literal() {
        let literal = decode(b"metadata[order_id]=1&expand[]=x").unwrap();
        let encoded = decode(b"metadata%5Border_id%5D=1&expand%5B%5D=x").unwrap();
        assert_eq!(literal, encoded);
    }

    #[test]
    fn ten_levels_deep() {
        let map = decode(b"a[b][c][d][e][f][g][h][i][j][k]=deep").unwrap();
        let leaf = &map["a"]["b"]["c"]["d"]["e"]["f"]["g"]["h"]["i"]["j"]["k"];
        assert_eq!(leaf, "deep");
    }

    #[test]
    fn value_and_hash_clash_is_rejected() {
        let err = decode(b"metadata=1&metadata[a]=2").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("metadata"));
    }

    #[test]
    fn mixed_array_forms_are_named() {
        for body in [
            &b"line_items[]=a&line_items[0][quantity]=1"[..],
            b"line_items[0][quantity]=1&line_items[]=a",
        ] {
            let err = decode(body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("line_items"));
            assert!(
                err.message.starts_with("Invalid array `line_items`"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn unbalanced_bracket_is_rejected() {
        let err = decode(b"metadata[a=1").unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        assert!(
            err.message.starts_with("Invalid request body"),
            "{}",
            err.message
        );
        let err = decode_query(b"metadata[a=1").unwrap_err();
        assert!(
            err.message.starts_with("Invalid query string"),
            "{}",
            err.message
        );
    }
}
