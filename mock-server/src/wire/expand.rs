//! `expand[]`: replaces an id in a response with the object it names,
//! following dotted paths (`payment_intent.latest_charge`) up to four levels.
//! On a list, paths start with `data.`.

use serde_json::Value;

use super::error::{ApiError, ApiResult};
use crate::store::Store;

/// Deepest expansion Stripe allows.
pub const MAX_LEVELS: usize = 4;

/// A balance transaction's `source`, which is a charge or a refund in the
/// fake. A path goes on through a field that either of them expands.
const BALANCE_SOURCE: &str = "charge or refund";

/// Hashes inside an object that hold an expandable field. They have no
/// `object` field of their own, so the walk carries their kind, and a path
/// may pass through them but not end at one.
const SESSION_TOTAL_DETAILS: &str = "checkout.session total_details";
const CUSTOMER_INVOICE_SETTINGS: &str = "customer invoice_settings";

/// A session's `total_details.breakdown`, which Stripe sends only when it
/// is expanded.
const TOTAL_DETAILS_BREAKDOWN: &str = "total_details breakdown";

/// The object type an expandable field holds, and whether it is a list.
fn target(object: &str, field: &str) -> Option<(&'static str, bool)> {
    Some(match (object, field) {
        ("checkout.session", "payment_intent")
        | ("charge", "payment_intent")
        | ("refund", "payment_intent") => ("payment_intent", false),
        ("checkout.session" | "payment_intent" | "charge" | "payment_method", "customer") => {
            ("customer", false)
        }
        ("checkout.session", "line_items") => ("item", true),
        ("checkout.session", "invoice") => ("invoice", false),
        ("checkout.session", "subscription") => ("subscription", false),
        ("checkout.session", "setup_intent") => ("setup_intent", false),
        ("checkout.session", "total_details") => (SESSION_TOTAL_DETAILS, false),
        (SESSION_TOTAL_DETAILS, "breakdown") => (TOTAL_DETAILS_BREAKDOWN, false),
        ("payment_intent", "latest_charge") | ("refund", "charge") => ("charge", false),
        ("payment_intent", "payment_method")
        | (CUSTOMER_INVOICE_SETTINGS, "default_payment_method") => ("payment_method", false),
        ("charge" | "refund", "balance_transaction") => ("balance_transaction", false),
        ("charge", "refunds") => ("refund", true),
        ("balance_transaction", "source") => (BALANCE_SOURCE, false),
        (BALANCE_SOURCE, _) => return target("charge", field).or_else(|| target("refund", field)),
        ("customer", "invoice_settings") => (CUSTOMER_INVOICE_SETTINGS, false),
        ("price", "product") => ("product", false),
        ("product", "default_price") | ("item", "price") => ("price", false),
        _ => return None,
    })
}

/// The field of a search result that is sent only when expanded.
pub const TOTAL_COUNT: &str = "total_count";

/// Checks `expand` paths against the type of the response before the
/// request runs, so a bad path rejects the request without side effects.
/// `kind` is the response's object type; `list` says the response is a list
/// of them, whose paths start with `data.`.
pub fn check(kind: &str, list: bool, paths: &[String]) -> ApiResult<()> {
    for (index, path) in paths.iter().enumerate() {
        check_path(kind, list, index, path)?;
    }
    Ok(())
}

/// Checks `expand` paths of a search of `kind` objects as `check` checks a
/// list's, and also takes `total_count`.
pub fn check_search(kind: &str, paths: &[String]) -> ApiResult<()> {
    for (index, path) in paths.iter().enumerate() {
        if path != TOTAL_COUNT {
            check_path(kind, true, index, path)?;
        }
    }
    Ok(())
}

fn check_path(kind: &str, list: bool, index: usize, path: &str) -> ApiResult<()> {
    let param = format!("expand[{index}]");
    if path.split('.').filter(|part| *part != "data").count() > MAX_LEVELS {
        return Err(ApiError::invalid_param(
            param,
            format!("You cannot expand more than {MAX_LEVELS} levels of a property: {path}."),
        ));
    }
    let mut current = kind;
    let mut in_list = list;
    for part in path.split('.') {
        if in_list {
            if part != "data" {
                return Err(ApiError::invalid_param(
                    param,
                    format!(
                        "This property cannot be expanded ({path}): a list's paths start with data."
                    ),
                ));
            }
            in_list = false;
            continue;
        }
        match target(current, part) {
            Some((next, is_list)) => {
                current = next;
                in_list = is_list;
            }
            None => {
                return Err(ApiError::invalid_param(
                    param,
                    format!("This property cannot be expanded ({path})."),
                ));
            }
        }
    }
    // NOTE: Stripe's OpenAPI description lists these hashes as
    // expandable without saying what expanding one alone returns.
    if current == SESSION_TOTAL_DETAILS || current == CUSTOMER_INVOICE_SETTINGS {
        return Err(ApiError::invalid_param(
            param,
            format!(
                "This property cannot be expanded ({path}): it is a hash, so name the field inside it."
            ),
        ));
    }
    Ok(())
}

/// Expands every path in `paths` inside `value`.
pub fn apply(value: &mut Value, paths: &[String], store: &Store) -> ApiResult<()> {
    for (index, path) in paths.iter().enumerate() {
        let parts: Vec<&str> = path.split('.').collect();
        let levels = parts.iter().filter(|p| **p != "data").count();
        if levels > MAX_LEVELS {
            return Err(ApiError::invalid_param(
                format!("expand[{index}]"),
                format!("You cannot expand more than {MAX_LEVELS} levels of a property: {path}."),
            ));
        }
        expand_path(value, &parts, "", store);
    }
    Ok(())
}

/// Expands the path `parts` inside `value`, whose type is its `object`
/// field or else `kind`.
fn expand_path(value: &mut Value, parts: &[&str], kind: &str, store: &Store) {
    let Some((head, rest)) = parts.split_first() else {
        return;
    };
    let collection = value["object"] == "list" || value["object"] == "search_result";
    if collection && *head == TOTAL_COUNT && rest.is_empty() {
        return;
    }
    if collection && *head == "data" {
        if let Some(items) = value["data"].as_array_mut() {
            for item in items {
                expand_path(item, rest, kind, store);
            }
        }
        return;
    }
    let object = value["object"].as_str().unwrap_or(kind).to_owned();
    // `check` accepted the path for the response's type. Only a field that
    // may name objects of two types, a balance transaction's source, can
    // lead to an object without the next field, which then stays as it is.
    let Some((next, _)) = target(&object, head) else {
        return;
    };
    if next == TOTAL_DETAILS_BREAKDOWN {
        // The fake models no discounts or taxes, so the breakdown lists none.
        value["breakdown"] = serde_json::json!({"discounts": [], "taxes": []});
        return;
    }
    if *head == "line_items" && object == "checkout.session" {
        // Line items are never part of a session's body; expanding them
        // attaches the list that the line-items endpoint returns.
        let session_id = value["id"].as_str().unwrap_or_default();
        if let Some(list) = store.get_any(&line_items_key(session_id)) {
            value["line_items"] = list;
            // The rest of the path, such as `data.price.product`, goes on
            // into the attached list.
            expand_path(&mut value["line_items"], rest, next, store);
        }
        return;
    }
    if *head == "refunds" && object == "charge" && value.get("refunds").is_none() {
        // From 2022-11-15 a charge's body has no refunds list; expanding
        // attaches it.
        let charge_id = value["id"].as_str().unwrap_or_default();
        value["refunds"] = crate::resources::charges::refunds_of(store, charge_id);
        expand_path(&mut value["refunds"], rest, next, store);
        return;
    }
    let Some(field) = value.get_mut(*head) else {
        return;
    };
    match field {
        Value::String(id) => {
            if let Some(found) = store.get_any(id) {
                *field = found.clone();
            }
        }
        Value::Null => return,
        _ => {}
    }
    if field.is_object() {
        expand_path(field, rest, next, store);
    }
}

/// The store key of a session's line-item list.
pub fn line_items_key(session_id: &str) -> String {
    format!("{session_id}/line_items")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(list: &[&str]) -> Vec<String> {
        list.iter().map(|path| (*path).to_owned()).collect()
    }

    #[test]
    fn default_payment_method_expands_inside_invoice_settings() {
        let mut store = Store::default();
        let pm = json!({"id": "pm_1", "object": "payment_method", "customer": "cus_1"});
        let customer = json!({"id": "cus_1", "object": "customer", "name": "Ada"});
        store.insert("payment_method", "pm_1", &pm, 0);
        store.insert("customer", "cus_1", &customer, 0);
        let mut value = json!({
            "id": "cus_1",
            "object": "customer",
            "invoice_settings": {"default_payment_method": "pm_1", "footer": null},
        });
        let expand = paths(&["invoice_settings.default_payment_method.customer"]);

        check("customer", false, &expand).unwrap();
        apply(&mut value, &expand, &store).unwrap();

        let settings = &value["invoice_settings"];
        assert_eq!(settings["default_payment_method"]["id"], "pm_1");
        assert_eq!(settings["default_payment_method"]["customer"], customer);
        assert_eq!(settings["footer"], Value::Null);
    }

    #[test]
    fn path_may_not_end_at_a_hash() {
        for (kind, path) in [
            ("customer", "invoice_settings"),
            ("checkout.session", "total_details"),
        ] {
            let err = check(kind, false, &paths(&[path])).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("expand[0]"), "{path}");
        }
    }

    #[test]
    fn source_takes_fields_of_charge_or_refund() {
        for path in ["source.customer", "source.charge", "source.payment_intent"] {
            assert!(
                check("balance_transaction", false, &paths(&[path])).is_ok(),
                "{path}"
            );
        }
        let err = check(
            "balance_transaction",
            false,
            &paths(&["source.default_price"]),
        );
        assert!(err.is_err());
    }
}
