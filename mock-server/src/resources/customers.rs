//! Customers: create, retrieve, update, list, delete.

use serde_json::{Map, Value, json};

use super::{CreatedFilter, fetch, list_where};
use crate::account::AccountData;
use crate::api::Ctx;
use crate::wire::list::Page;
use crate::wire::{ApiError, ApiResult, Params, metadata};

/// Maximum lengths of a customer's fields in characters, from Stripe's
/// API reference.
pub const MAX_EMAIL_CHARS: usize = 512;
pub const MAX_NAME_CHARS: usize = 256;
const MAX_DESCRIPTION_CHARS: usize = 5000;
pub const MAX_PHONE_CHARS: usize = 20;
pub const MAX_ADDRESS_FIELD_CHARS: usize = 5000;

pub fn create(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    params.forbid_empty(&[
        "address",
        "invoice_settings[custom_fields]",
        "shipping",
        "tax[ip_address]",
    ]);
    let email = params.string_at_most("email", MAX_EMAIL_CHARS)?;
    if let Some(email) = &email {
        check_email(email)?;
    }
    let name = params.string_at_most("name", MAX_NAME_CHARS)?;
    let description = params.string_at_most("description", MAX_DESCRIPTION_CHARS)?;
    let phone = params.string_at_most("phone", MAX_PHONE_CHARS)?;
    let address = take_address(&mut params)?;
    let shipping = take_shipping(&mut params)?;
    let meta = match params.hash("metadata")? {
        Some(update) => metadata::apply(&Map::new(), update)?,
        None => Map::new(),
    };
    params.finish()?;
    let fields = CustomerFields {
        email,
        name,
        description,
        phone,
        address: address.unwrap_or_default(),
        shipping: shipping.unwrap_or_default(),
        metadata: meta,
    };
    let customer = new_customer(data, fields, &origin(ctx));
    ctx.touch(customer["id"].as_str().unwrap_or_default());
    Ok(customer)
}

/// The fields a new customer is made with. The rest start at Stripe's
/// defaults.
#[derive(Debug, Default)]
pub struct CustomerFields {
    pub email: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub phone: Option<String>,
    /// An address object, or null.
    pub address: Value,
    /// A `shipping` object (`address`, `name`, `phone`), or null.
    pub shipping: Value,
    pub metadata: Map<String, Value>,
}

/// The fields of an address, as Stripe's customer address has them.
const ADDRESS_FIELDS: [&str; 6] = ["city", "country", "line1", "line2", "postal_code", "state"];

/// Takes a customer's `address`: a hash of the fields above, each at most
/// 5000 characters, or an empty value, which unsets it (`Value::Null`).
fn take_address(params: &mut Params) -> ApiResult<Option<Value>> {
    let Some(hash) = params.hash("address")? else {
        return Ok(None);
    };
    if hash.is_empty() {
        return Ok(Some(Value::Null));
    }
    read_address(hash).map(Some)
}

/// Reads the fields of an address hash, each at most 5000 characters.
fn read_address(mut hash: Params) -> ApiResult<Value> {
    let mut address = Map::new();
    for field in ADDRESS_FIELDS {
        let value = hash.string_at_most(field, MAX_ADDRESS_FIELD_CHARS)?;
        address.insert(field.to_owned(), json!(value.filter(|v| !v.is_empty())));
    }
    hash.finish()?;
    Ok(Value::Object(address))
}

/// Takes a customer's `shipping`: a hash with `name` and `address`, both
/// required, and `phone`, or an empty value, which unsets it
/// (`Value::Null`).
fn take_shipping(params: &mut Params) -> ApiResult<Option<Value>> {
    let Some(mut hash) = params.hash("shipping")? else {
        return Ok(None);
    };
    if hash.is_empty() {
        return Ok(Some(Value::Null));
    }
    let name = hash.required_string("name")?;
    crate::wire::params::check_length(&hash.path("name"), &name, MAX_ADDRESS_FIELD_CHARS)?;
    let address = hash
        .hash("address")?
        .ok_or_else(|| ApiError::missing_param(hash.path("address")))?;
    let address = read_address(address)?;
    let phone = hash.string_at_most("phone", MAX_ADDRESS_FIELD_CHARS)?;
    hash.finish()?;
    Ok(Some(json!({
        "address": address,
        "name": name,
        "phone": phone.filter(|phone| !phone.is_empty()),
    })))
}

/// Stores a new customer and returns it. Checkout calls this when it
/// creates a customer for a session.
pub fn new_customer(
    data: &mut AccountData,
    fields: CustomerFields,
    origin: &crate::events::Origin,
) -> Value {
    let id = data.new_id("cus_");
    let now = data.now();
    let customer = json!({
        "id": id,
        "object": "customer",
        "address": fields.address,
        "balance": 0,
        "created": now,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": fields.description,
        "email": fields.email,
        "invoice_prefix": id[4..12].to_uppercase(),
        "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
        "livemode": false,
        "metadata": fields.metadata,
        "name": fields.name,
        "phone": fields.phone,
        "preferred_locales": [],
        "shipping": fields.shipping,
        "tax_exempt": "none",
        "test_clock": null,
    });
    data.store.insert("customer", &id, &customer, now);
    crate::events::emit(data, "customer.created", &customer, None, origin);
    customer
}

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    // Stripe still answers for a deleted customer, with a stub that says so.
    if data.store.is_deleted("customer", &id) {
        return Ok(json!({ "id": id, "object": "customer", "deleted": true }));
    }
    fetch(data, "customer", "customer", &id)
}

pub fn update(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let id = ctx.arg(0).to_owned();
    let before = fetch(data, "customer", "customer", &id)?;
    let mut customer = before.clone();
    for (field, max) in [
        ("email", MAX_EMAIL_CHARS),
        ("name", MAX_NAME_CHARS),
        ("description", MAX_DESCRIPTION_CHARS),
        ("phone", MAX_PHONE_CHARS),
    ] {
        if let Some(value) = params.string_at_most(field, max)? {
            customer[field] = if value.is_empty() {
                Value::Null
            } else {
                if field == "email" {
                    check_email(&value)?;
                }
                json!(value)
            };
        }
    }
    if let Some(address) = take_address(&mut params)? {
        customer["address"] = address;
    }
    if let Some(shipping) = take_shipping(&mut params)? {
        customer["shipping"] = shipping;
    }
    if let Some(update) = params.hash("metadata")? {
        let current = customer["metadata"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        customer["metadata"] = Value::Object(metadata::apply(&current, update)?);
    }
    params.finish()?;
    let now = data.now();
    data.store.update(&id, &customer, now);
    let previous = crate::events::changed_fields(&before, &customer);
    if !previous.is_empty() {
        let origin = origin(ctx);
        crate::events::emit(data, "customer.updated", &customer, Some(previous), &origin);
    }
    ctx.touch(&id);
    Ok(customer)
}

/// Rejects an email without a name, an `@` and a dotted domain, as
/// Stripe rejects a malformed customer email.
fn check_email(email: &str) -> ApiResult<()> {
    if super::payment_checks::looks_like_email(email) {
        return Ok(());
    }
    Err(
        ApiError::invalid_param("email", format!("Invalid email address: {email}"))
            .with_code("email_invalid"),
    )
}

pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    let email = params.string("email")?;
    // The fake has no test clocks, so this matches no customer. Its id is
    // not looked up.
    let test_clock = params.string("test_clock")?;
    let created = CreatedFilter::take(&mut params)?;
    params.finish()?;
    list_where(ctx, data, "customer", &page, |c| {
        email.as_ref().is_none_or(|e| c["email"] == json!(e))
            && test_clock
                .as_ref()
                .is_none_or(|id| c["test_clock"] == json!(id))
            && created.matches(c)
    })
}

pub fn delete(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    let customer = fetch(data, "customer", "customer", &id)?;
    data.store.delete(&id);
    crate::events::emit(data, "customer.deleted", &customer, None, &origin(ctx));
    ctx.touch(&id);
    Ok(json!({ "id": id, "object": "customer", "deleted": true }))
}

/// The origin of events caused by the current request.
pub fn origin(ctx: &Ctx<'_>) -> crate::events::Origin {
    crate::events::Origin {
        request_id: Some(ctx.request_id.clone()),
        idempotency_key: ctx.idempotency_key.clone(),
    }
}
