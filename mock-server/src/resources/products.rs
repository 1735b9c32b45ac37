//! Products: create, retrieve, update, list, delete.

use serde_json::{Map, Value, json};

use super::customers::origin;
use super::{CreatedFilter, fetch, list_where};
use crate::account::AccountData;
use crate::api::Ctx;
use crate::wire::list::Page;
use crate::wire::{ApiError, ApiResult, Params, metadata};

/// Maximum length of a product id the caller chooses, as in Stripe's API
/// description. A retrieve sends the id in the path, which stays within
/// the fake's limit on request heads at this length.
const MAX_ID_CHARS: usize = 5000;

/// Maximum length of a product's `url`, as in Stripe's API description.
const MAX_URL_CHARS: usize = 5000;

pub fn create(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    params.forbid_empty(&[]);
    let name = params.required_string("name")?;
    let description = params.string("description")?;
    let active = params.boolean("active")?.unwrap_or(true);
    let images = params.string_array("images")?.unwrap_or_default();
    let shippable = params.boolean("shippable")?;
    let url = params.string_at_most("url", MAX_URL_CHARS)?;
    let meta = match params.hash("metadata")? {
        Some(update) => metadata::apply(&Map::new(), update)?,
        None => Map::new(),
    };
    let (tax_code, unit_label) = take_tax_code_and_unit_label(&mut params)?;
    let default_price_data = params.hash("default_price_data")?;
    let id = match params.string("id")? {
        Some(id) if id.chars().count() > MAX_ID_CHARS => {
            return Err(ApiError::invalid_param(
                "id",
                format!("Invalid id: it must be at most {MAX_ID_CHARS} characters long."),
            ));
        }
        Some(id) if !id.is_empty() => {
            if data.store.exists(&id) {
                return Err(
                    ApiError::invalid_param("id", format!("Product already exists: {id}"))
                        .with_code("resource_already_exists"),
                );
            }
            id
        }
        _ => data.new_id("prod_"),
    };
    // The default price is checked with the rest of the request, so a
    // rejected request stores neither object.
    let default_price = match default_price_data {
        Some(mut price_data) => {
            let mut price = super::prices::build_for(data, &mut price_data, false, Some(&id))?;
            if let Some(update) = price_data.hash("metadata")? {
                price.metadata = metadata::apply(&Map::new(), update)?;
            }
            price_data.finish()?;
            Some(price)
        }
        None => None,
    };
    params.finish()?;
    let new = NewProduct {
        id: id.clone(),
        name,
        description,
        active,
        images,
        shippable,
        url,
        metadata: meta,
        tax_code,
        unit_label,
    };
    let now = data.now();
    let printed = printed(
        &new,
        now,
        default_price.as_ref().map(|price| price.id.as_str()),
    );
    data.store
        .insert_encoded("product", &id, &crate::store::encode_public(&printed), now);
    let product = serde_json::to_value(printed).unwrap_or_default();
    let origin = origin(ctx);
    crate::events::emit(data, "product.created", &product, None, &origin);
    if let Some(price) = default_price {
        let price_id = price.id.clone();
        let price = serde_json::to_value(&price).unwrap_or_default();
        data.store.insert("price", &price_id, &price, now);
        crate::events::emit(data, "price.created", &price, None, &origin);
    }
    ctx.touch(&id);
    Ok(product)
}

/// The longest `unit_label`, in characters, as Stripe's API reference
/// gives it.
const MAX_UNIT_LABEL_CHARS: usize = 12;

/// Takes `tax_code` and `unit_label`, each absent when empty, from a
/// product create or a `product_data` hash.
pub fn take_tax_code_and_unit_label(
    params: &mut Params,
) -> ApiResult<(Option<String>, Option<String>)> {
    let tax_code = params.string("tax_code")?.filter(|code| !code.is_empty());
    let unit_label = params
        .string_at_most("unit_label", MAX_UNIT_LABEL_CHARS)?
        .filter(|label| !label.is_empty());
    Ok((tax_code, unit_label))
}

/// The fields a product is created with.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    pub images: Vec<String>,
    pub shippable: Option<bool>,
    pub url: Option<String>,
    pub metadata: Map<String, Value>,
    /// A tax code id such as `txcd_99999999`, stored as given.
    /// NOTE: Stripe rejects an id that is not in its list of tax codes;
    /// the fake has no such list and accepts any string.
    pub tax_code: Option<String>,
    pub unit_label: Option<String>,
}

/// A new product as the API prints it, in Stripe's field order.
#[derive(serde::Serialize)]
pub struct Printed<'a> {
    id: &'a str,
    object: &'static str,
    active: bool,
    created: i64,
    default_price: Option<&'a str>,
    description: Option<&'a str>,
    images: &'a [String],
    livemode: bool,
    marketing_features: [(); 0],
    metadata: &'a Map<String, Value>,
    name: &'a str,
    package_dimensions: (),
    shippable: Option<bool>,
    statement_descriptor: (),
    tax_code: Option<&'a str>,
    unit_label: Option<&'a str>,
    updated: i64,
    url: Option<&'a str>,
}

/// Stores a new product and returns the fields it was printed from.
/// Checkout's `product_data` calls this and drops them, as nothing reads
/// the product back in that request.
pub fn store<'a>(data: &mut AccountData, product: &'a NewProduct) -> Printed<'a> {
    let now = data.now();
    let printed = printed(product, now, None);
    let text = crate::store::encode_public(&printed);
    data.store
        .insert_encoded("product", &product.id, &text, now);
    printed
}

fn printed<'a>(product: &'a NewProduct, now: i64, default_price: Option<&'a str>) -> Printed<'a> {
    Printed {
        id: &product.id,
        object: "product",
        active: product.active,
        created: now,
        default_price,
        description: product.description.as_deref(),
        images: &product.images,
        livemode: false,
        marketing_features: [],
        metadata: &product.metadata,
        name: &product.name,
        package_dimensions: (),
        shippable: product.shippable,
        statement_descriptor: (),
        tax_code: product.tax_code.as_deref(),
        unit_label: product.unit_label.as_deref(),
        updated: now,
        url: product.url.as_deref(),
    }
}

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    fetch(data, "product", "product", &id)
}

pub fn update(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let id = ctx.arg(0).to_owned();
    let before = fetch(data, "product", "product", &id)?;
    let mut product = before.clone();
    if let Some(name) = params.string("name")? {
        if name.is_empty() {
            return Err(ApiError::invalid_param(
                "name",
                "A product's name cannot be empty.",
            ));
        }
        product["name"] = json!(name);
    }
    if let Some(description) = params.string("description")? {
        product["description"] = text_or_null(description);
    }
    if let Some(active) = params.boolean("active")? {
        product["active"] = json!(active);
    }
    if let Some(shippable) = params.boolean("shippable")? {
        product["shippable"] = json!(shippable);
    }
    if let Some(url) = params.string_at_most("url", MAX_URL_CHARS)? {
        product["url"] = text_or_null(url);
    }
    if let Some(tax_code) = params.string("tax_code")? {
        product["tax_code"] = text_or_null(tax_code);
    }
    if let Some(label) = params.string_at_most("unit_label", MAX_UNIT_LABEL_CHARS)? {
        product["unit_label"] = text_or_null(label);
    }
    if let Some(price_id) = params.string("default_price")? {
        product["default_price"] = if price_id.is_empty() {
            Value::Null
        } else {
            let price = data
                .store
                .get("price", &price_id)
                .ok_or_else(|| ApiError::no_such_param("price", &price_id, "default_price"))?;
            if price["product"] != json!(id) {
                return Err(ApiError::invalid_param(
                    "default_price",
                    format!(
                        "The price {price_id} belongs to product {}, not to {id}; a default price must be one of the product's own.",
                        price["product"].as_str().unwrap_or_default()
                    ),
                ));
            }
            json!(price_id)
        };
    }
    if let Some(update) = params.hash("metadata")? {
        let current = product["metadata"].as_object().cloned().unwrap_or_default();
        product["metadata"] = Value::Object(metadata::apply(&current, update)?);
    }
    params.finish()?;
    ctx.touch(&id);
    let now = data.now();
    product["updated"] = json!(now);
    let previous = crate::events::changed_fields(&before, &product);
    // An update that changes nothing else keeps `updated` and sends no event.
    if previous.keys().all(|key| key == "updated") {
        return Ok(before);
    }
    data.store.update(&id, &product, now);
    crate::events::emit(
        data,
        "product.updated",
        &product,
        Some(previous),
        &origin(ctx),
    );
    Ok(product)
}

/// Returns a text field's new value, null for an empty update, which unsets it.
fn text_or_null(text: String) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    }
}

pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    let active = params.boolean("active")?;
    let ids = params.string_array("ids")?;
    let shippable = params.boolean("shippable")?;
    let url = params.string("url")?;
    let created = CreatedFilter::take(&mut params)?;
    params.finish()?;
    list_where(ctx, data, "product", &page, |p| {
        active.is_none_or(|a| p["active"] == json!(a))
            && ids
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|id| p["id"] == json!(id)))
            && shippable.is_none_or(|s| p["shippable"] == json!(s))
            && url.as_ref().is_none_or(|u| p["url"] == json!(u))
            && created.matches(p)
    })
}

pub fn delete(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    let product = fetch(data, "product", "product", &id)?;
    let has_prices = data
        .store
        .ids_newest_first("price")
        .filter_map(|price_id| data.store.get("price", &price_id))
        .any(|price| price["product"] == json!(id));
    if has_prices {
        return Err(ApiError::bad_state(format!(
            "This product cannot be deleted because it has one or more user-created prices. \
             Archive it instead by updating it with active=false ({id})."
        )));
    }
    data.store.delete(&id);
    crate::events::emit(data, "product.deleted", &product, None, &origin(ctx));
    ctx.touch(&id);
    Ok(json!({ "id": id, "object": "product", "deleted": true }))
}
