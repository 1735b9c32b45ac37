//! Charges: retrieve and list. Charges are made by payment intents; the
//! fake has no endpoint that creates one directly.

use serde_json::{Value, json};

use super::{CreatedFilter, fetch, list_where};
use crate::account::AccountData;
use crate::api::Ctx;
use crate::store::Store;
use crate::wire::list::Page;
use crate::wire::{ApiResult, Params};

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    fetch(data, "charge", "charge", &id)
}

pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    let customer = super::take_filter(data, &mut params, "customer", "customer")?;
    let payment_intent = super::take_filter(data, &mut params, "payment_intent", "payment_intent")?;
    let transfer_group = params.string("transfer_group")?;
    let created = CreatedFilter::take(&mut params)?;
    params.finish()?;
    list_where(ctx, data, "charge", &page, |c| {
        customer
            .as_ref()
            .is_none_or(|id| c["customer"] == json!(id))
            && payment_intent
                .as_ref()
                .is_none_or(|id| c["payment_intent"] == json!(id))
            && transfer_group
                .as_ref()
                .is_none_or(|group| c["transfer_group"] == json!(group))
            && created.matches(c)
    })
}

/// Adds, for API versions before 2022-11-15, the lists that Stripe then
/// sent without `expand[]`: a payment intent's `charges` and a charge's
/// `refunds`, newest first, wherever such an object sits in `value`. The
/// lists show the objects as they are now, also inside an older event.
pub fn embed_lists(value: &mut Value, store: &Store) {
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                embed_lists(child, store);
            }
            let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
            let list = match map.get("object").and_then(Value::as_str) {
                Some("payment_intent") if !map.contains_key("charges") => {
                    Some(("charges", charges_of(store, id)))
                }
                Some("charge") if !map.contains_key("refunds") => {
                    Some(("refunds", refunds_of(store, id)))
                }
                _ => None,
            };
            if let Some((field, mut list)) = list {
                embed_lists(&mut list["data"], store);
                map.insert(field.to_owned(), list);
            }
        }
        Value::Array(items) => {
            for item in items {
                embed_lists(item, store);
            }
        }
        _ => {}
    }
}

/// Returns the list of a payment intent's charges, newest first, as the
/// intent's `charges` field had it.
fn charges_of(store: &Store, payment_intent: &str) -> Value {
    owned_list(
        store,
        "charge",
        "payment_intent",
        payment_intent,
        format!("/v1/charges?payment_intent={payment_intent}"),
    )
}

/// Returns the list of a charge's refunds, newest first, as its `refunds`
/// field has it when expanded.
pub fn refunds_of(store: &Store, charge: &str) -> Value {
    owned_list(
        store,
        "refund",
        "charge",
        charge,
        format!("/v1/charges/{charge}/refunds"),
    )
}

/// Returns a list object of the objects of `kind` whose `owner_field` is
/// `owner`, newest first, all on one page.
fn owned_list(store: &Store, kind: &str, owner_field: &str, owner: &str, url: String) -> Value {
    let data: Vec<Value> = store
        .ids_newest_first(kind)
        .filter_map(|id| store.get(kind, &id))
        .filter(|object| object[owner_field] == owner)
        .collect();
    let total_count = data.len();
    json!({
        "object": "list",
        "data": data,
        "has_more": false,
        "total_count": total_count,
        "url": url,
    })
}
