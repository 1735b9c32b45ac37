//! `expand[]`: replaces an id in a response with the object it names,
//! following dotted paths (`payment_intent.latest_charge`) up to four levels.
//! On a list, paths start with `data.`.

use serde_json::Value;

use super::error::{ApiError, ApiResult};
use crate::store::Store;

/// Deepest expansion Stripe allows.
pub const MAX_LEVELS: usize = 4;

/// Fields that hold an expandable id, by object type.
fn expandable(object: &str, field: &str) -> bool {
    matches!(
        (object, field),
        (
            "checkout.session",
            "payment_intent"
                | "customer"
                | "line_items"
                | "invoice"
                | "subscription"
                | "setup_intent"
        ) | (
            "payment_intent",
            "latest_charge" | "customer" | "payment_method"
        ) | (
            "charge",
            "balance_transaction" | "payment_intent" | "customer" | "refunds"
        ) | (
            "refund",
            "charge" | "payment_intent" | "balance_transaction"
        ) | ("price", "product")
            | ("payment_method", "customer")
            | ("product", "default_price")
            | ("item", "price")
    )
}

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
        ("payment_intent", "latest_charge") | ("refund", "charge") => ("charge", false),
        ("payment_intent", "payment_method") => ("payment_method", false),
        ("charge" | "refund", "balance_transaction") => ("balance_transaction", false),
        ("charge", "refunds") => ("refund", true),
        ("price", "product") => ("product", false),
        ("product", "default_price") | ("item", "price") => ("price", false),
        _ => return None,
    })
}

/// Checks `expand` paths against the type of the response before the
/// request runs, so a bad path rejects the request without side effects.
/// `kind` is the response's object type; `list` says the response is a list
/// of them, whose paths start with `data.`.
pub fn check(kind: &str, list: bool, paths: &[String]) -> ApiResult<()> {
    for (index, path) in paths.iter().enumerate() {
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
        expand_path(value, &parts, store, path, index)?;
    }
    Ok(())
}

fn expand_path(
    value: &mut Value,
    parts: &[&str],
    store: &Store,
    path: &str,
    index: usize,
) -> ApiResult<()> {
    let Some((head, rest)) = parts.split_first() else {
        return Ok(());
    };
    if value["object"] == "list" && *head == "data" {
        if let Some(items) = value["data"].as_array_mut() {
            for item in items {
                expand_path(item, rest, store, path, index)?;
            }
        }
        return Ok(());
    }
    let object = value["object"].as_str().unwrap_or_default().to_owned();
    if !expandable(&object, head) {
        return Err(ApiError::invalid_param(
            format!("expand[{index}]"),
            format!("This property cannot be expanded ({path})."),
        ));
    }
    if *head == "line_items" && object == "checkout.session" {
        // Line items are never part of a session's body; expanding them
        // attaches the list that the line-items endpoint returns.
        let session_id = value["id"].as_str().unwrap_or_default();
        if let Some(list) = store.get_any(&line_items_key(session_id)) {
            value["line_items"] = list;
            // The rest of the path, such as `data.price.product`, goes on
            // into the attached list.
            expand_path(&mut value["line_items"], rest, store, path, index)?;
        }
        return Ok(());
    }
    if *head == "refunds" && object == "charge" && value.get("refunds").is_none() {
        // From 2022-11-15 a charge's body has no refunds list; expanding
        // attaches it.
        let charge_id = value["id"].as_str().unwrap_or_default();
        value["refunds"] = crate::resources::charges::refunds_of(store, charge_id);
        expand_path(&mut value["refunds"], rest, store, path, index)?;
        return Ok(());
    }
    let Some(field) = value.get_mut(*head) else {
        return Ok(());
    };
    match field {
        Value::String(id) => {
            if let Some(found) = store.get_any(id) {
                *field = found.clone();
            }
        }
        Value::Null => return Ok(()),
        _ => {}
    }
    if field.is_object() {
        expand_path(field, rest, store, path, index)?;
    }
    Ok(())
}

/// The store key of a session's line-item list.
pub fn line_items_key(session_id: &str) -> String {
    format!("{session_id}/line_items")
}
