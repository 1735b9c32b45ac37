//! Stripe's form encoding. The API takes `application/x-www-form-urlencoded`
//! bodies in which nested objects and lists are spelled with brackets:
//! `metadata[order_id]=O-1`, `line_items[0][price_data][unit_amount]=2000`.

use serde_json::Value;

/// Flattens a JSON object into bracket-notation form pairs, in the object's
/// key order. `null` values are left out. Stripe reads an empty string as
/// "unset", which is not what a missing value means here.
pub(crate) fn flatten(params: &Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    flatten_into(String::new(), params, &mut pairs);
    pairs
}

fn flatten_into(key: String, value: &Value, pairs: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Bool(flag) => pairs.push((key, flag.to_string())),
        Value::Number(number) => pairs.push((key, number.to_string())),
        Value::String(text) => pairs.push((key, text.clone())),
        Value::Array(values) => {
            for (index, value) in values.iter().enumerate() {
                flatten_into(format!("{key}[{index}]"), value, pairs);
            }
        }
        Value::Object(fields) => {
            for (name, value) in fields {
                let nested = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}[{name}]")
                };
                flatten_into(nested, value, pairs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pair(key: &str, value: &str) -> (String, String) {
        (key.to_owned(), value.to_owned())
    }

    #[test]
    fn nested_objects_and_lists() {
        let params = json!({
            "mode": "payment",
            "line_items": [
                {"price_data": {"currency": "eur", "unit_amount": 2500,
                                "product_data": {"name": "Mug"}},
                 "quantity": 2},
                {"price": "price_1", "quantity": 1}
            ],
            "metadata": {"order_id": "O-1"},
        });
        assert_eq!(
            flatten(&params),
            vec![
                pair("mode", "payment"),
                pair("line_items[0][price_data][currency]", "eur"),
                pair("line_items[0][price_data][unit_amount]", "2500"),
                pair("line_items[0][price_data][product_data][name]", "Mug"),
                pair("line_items[0][quantity]", "2"),
                pair("line_items[1][price]", "price_1"),
                pair("line_items[1][quantity]", "1"),
                pair("metadata[order_id]", "O-1"),
            ]
        );
    }

    #[test]
    fn null_left_out() {
        let params = json!({"customer_email": null, "mode": "payment"});
        assert_eq!(flatten(&params), vec![pair("mode", "payment")]);
    }

    #[test]
    fn booleans_as_words() {
        let params = json!({"flag": true});
        assert_eq!(flatten(&params), vec![pair("flag", "true")]);
    }

    #[test]
    fn values_not_escaped_here() {
        // Percent-encoding is the HTTP client's job. The success URL token
        // must reach it with literal braces.
        let params =
            json!({"success_url": "http://127.0.0.1:1/s?session_id={CHECKOUT_SESSION_ID}"});
        assert_eq!(
            flatten(&params),
            vec![pair(
                "success_url",
                "http://127.0.0.1:1/s?session_id={CHECKOUT_SESSION_ID}"
            )]
        );
    }
}
