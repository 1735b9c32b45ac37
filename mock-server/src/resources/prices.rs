//! Prices: create, retrieve, update, list. Stripe has no delete for prices;
//! they are archived with `active=false`.

use serde_json::{Map, Value, json};

use super::customers::origin;
use super::products::NewProduct;
use super::{CreatedFilter, currency, fetch, list_where};
use crate::account::AccountData;
use crate::api::Ctx;
use crate::wire::list::Page;
use crate::wire::{ApiError, ApiResult, Params, metadata};

pub fn create(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    params.forbid_empty(&[]);
    let mut price = build(data, &mut params, false)?;
    price.nickname = params.string("nickname")?;
    price.lookup_key = params.string("lookup_key")?.filter(|key| !key.is_empty());
    let transfer = params.boolean("transfer_lookup_key")?.unwrap_or(false);
    price.active = params.boolean("active")?.unwrap_or(true);
    if let Some(update) = params.hash("metadata")? {
        price.metadata = metadata::apply(&Map::new(), update)?;
    }
    params.finish()?;
    let holder = claim_lookup_key(data, price.lookup_key.as_deref(), None, transfer)?;
    commit_product(data, &mut price);
    if let Some(holder) = holder {
        release_lookup_key(ctx, data, &holder);
    }
    let id = price.id.clone();
    let price = serde_json::to_value(&price).unwrap_or_default();
    let now = data.now();
    data.store.insert("price", &id, &price, now);
    crate::events::emit(data, "price.created", &price, None, &origin(ctx));
    ctx.touch(&id);
    Ok(price)
}

/// A price as the API prints it, in Stripe's field order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Price {
    pub id: String,
    object: &'static str,
    pub active: bool,
    billing_scheme: &'static str,
    created: i64,
    pub currency: String,
    custom_unit_amount: (),
    livemode: bool,
    lookup_key: Option<String>,
    pub metadata: Map<String, Value>,
    nickname: Option<String>,
    pub product: String,
    pub recurring: Value,
    tax_behavior: String,
    tiers_mode: (),
    transform_quantity: (),
    #[serde(rename = "type")]
    kind: &'static str,
    /// The unit amount when it is a whole number of the minor unit, as
    /// Stripe shows it; null for a fractional `unit_amount_decimal`.
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: String,
    /// `unit_amount_decimal` as `scaled_decimal` reads it, kept so that a
    /// line item's total needs no second parse.
    #[serde(skip)]
    pub unit_scaled: i128,
    /// The product that `product_data` describes, until `commit_product`
    /// stores it.
    #[serde(skip)]
    pub new_product: Option<NewProduct>,
}

/// Decimal places that `unit_amount_decimal` may have.
const DECIMAL_PLACES: u32 = 12;

/// Parses a decimal amount as Stripe's `unit_amount_decimal` takes it:
/// digits, with a point and at most 12 more digits. Exponents, signs and
/// words such as `inf` are rejected. Returns the amount in units of
/// 10^-12 of the minor unit, exactly, or None when it is invalid or above
/// `MAX_AMOUNT`.
pub fn scaled_decimal(text: &str) -> Option<i128> {
    if !decimal_form(text) {
        return None;
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    // Leading zeros do not count against the size of the whole part.
    let whole = whole.trim_start_matches('0');
    if whole.len() > 18 {
        return None;
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let padded = format!("{fraction:0<width$}", width = DECIMAL_PLACES as usize);
    let fraction: i128 = padded.parse().ok()?;
    let scale = 10_i128.pow(DECIMAL_PLACES);
    let value = whole * scale + fraction;
    (value <= i128::from(super::MAX_AMOUNT) * scale).then_some(value)
}

/// Returns whether `text` is written as a decimal amount, whatever its
/// size, to tell an amount out of range from one that is malformed.
fn decimal_form(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    !(whole.is_empty() && fraction.is_empty())
        && digits(whole)
        && digits(fraction)
        && fraction.len() <= DECIMAL_PLACES as usize
}

/// Writes an amount scaled by `scaled_decimal` as Stripe writes
/// `unit_amount_decimal`: no trailing zeros after the point, and no point
/// for a whole number.
fn decimal_text(value: i128) -> String {
    let scale = 10_i128.pow(DECIMAL_PLACES);
    let (whole, fraction) = (value / scale, value % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:0width$}", width = DECIMAL_PLACES as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Returns the amount of `quantity` units at `unit_scaled` (a unit amount
/// as `scaled_decimal` reads it), in the minor unit, rounded half up. None
/// when the total does not fit.
// NOTE: Stripe's reference does not describe how a fractional unit amount
// is rounded; this rounds the line's total, not each unit.
pub fn line_amount(unit_scaled: i128, quantity: i64) -> Option<i64> {
    let scale = 10_i128.pow(DECIMAL_PLACES);
    let total = unit_scaled.checked_mul(i128::from(quantity))?;
    i64::try_from((total + scale / 2) / scale).ok()
}

/// Stores the product that `build` made from `product_data`, once the
/// whole request has been checked, so a rejected request stores nothing.
pub fn commit_product(data: &mut AccountData, price: &mut Price) {
    if let Some(product) = price.new_product.take() {
        super::products::store(data, &product);
    }
}

/// Builds a price from `currency`, `unit_amount` and `product` or
/// `product_data`, as `POST /v1/prices` and Checkout's `price_data` take
/// them. With `inline`, the price is one that Checkout made for a line item.
/// Nothing is stored: a product from `product_data` waits in the price
/// until `commit_product`.
pub fn build(data: &mut AccountData, params: &mut Params, inline: bool) -> ApiResult<Price> {
    build_for(data, params, inline, None)
}

/// Builds a price as [`build`] does, for product `fixed` when it is given.
/// A product's `default_price_data` names no product, because the price
/// belongs to the new product.
pub fn build_for(
    data: &mut AccountData,
    params: &mut Params,
    inline: bool,
    fixed: Option<&str>,
) -> ApiResult<Price> {
    let currency_code = currency(params, "currency")?
        .ok_or_else(|| ApiError::missing_param(params.path("currency")))?;
    let unit_amount = params.integer_in("unit_amount", 0, super::MAX_AMOUNT)?;
    let unit_amount_decimal = params.string("unit_amount_decimal")?;
    let scaled = match (unit_amount, unit_amount_decimal) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_param(
                params.path("unit_amount_decimal"),
                "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
            ));
        }
        (Some(amount), None) => i128::from(amount) * 10_i128.pow(DECIMAL_PLACES),
        (None, Some(decimal)) => {
            let path = params.path("unit_amount_decimal");
            match scaled_decimal(&decimal) {
                Some(value) => value,
                None if decimal_form(&decimal) => {
                    return Err(ApiError::invalid_param(
                        path.clone(),
                        format!(
                            "Invalid {path}: must be between 0 and {}, got {decimal}.",
                            super::MAX_AMOUNT
                        ),
                    ));
                }
                None => {
                    return Err(ApiError::invalid_param(
                        path,
                        format!(
                            "Invalid decimal: {decimal}. Send an amount in the currency's smallest unit, with at most 12 decimal places, such as 1250.5."
                        ),
                    ));
                }
            }
        }
        (None, None) => return Err(ApiError::missing_param(params.path("unit_amount"))),
    };
    let recurring = match params.hash("recurring")? {
        None => Value::Null,
        Some(mut recurring) => {
            let interval = recurring
                .one_of("interval", &["day", "week", "month", "year"])?
                .ok_or_else(|| ApiError::missing_param(recurring.path("interval")))?;
            let interval_count = recurring.integer_in("interval_count", 1, 365)?.unwrap_or(1);
            recurring.finish()?;
            json!({"interval": interval, "interval_count": interval_count, "usage_type": "licensed", "aggregate_usage": null, "meter": null, "trial_period_days": null})
        }
    };
    let tax_behavior = params.one_of("tax_behavior", &["inclusive", "exclusive", "unspecified"])?;
    let mut new_product = None;
    let product_id = match fixed {
        Some(id) => id.to_owned(),
        None => product_of(data, params, &mut new_product)?,
    };
    let id = data.new_id("price_");
    let kind = if recurring.is_null() {
        "one_time"
    } else {
        "recurring"
    };
    Ok(Price {
        id,
        object: "price",
        active: !inline,
        billing_scheme: "per_unit",
        created: data.now(),
        currency: currency_code,
        custom_unit_amount: (),
        livemode: false,
        lookup_key: None,
        metadata: Map::new(),
        nickname: None,
        product: product_id,
        recurring,
        tax_behavior: tax_behavior.unwrap_or_else(|| "unspecified".to_owned()),
        tiers_mode: (),
        transform_quantity: (),
        kind,
        unit_amount: (scaled % 10_i128.pow(DECIMAL_PLACES) == 0)
            .then(|| (scaled / 10_i128.pow(DECIMAL_PLACES)) as i64),
        unit_amount_decimal: decimal_text(scaled),
        unit_scaled: scaled,
        new_product,
    })
}

/// Reads `product` or `product_data`. A product from `product_data` is
/// put in `new_product`, to be stored once the whole request is checked.
fn product_of(
    data: &mut AccountData,
    params: &mut Params,
    new_product: &mut Option<NewProduct>,
) -> ApiResult<String> {
    Ok(
        match (params.string("product")?, params.hash("product_data")?) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_param(
                    params.path("product_data"),
                    "You may only specify one of these parameters: product, product_data.",
                ));
            }
            (Some(id), None) => {
                if !data.store.contains("product", &id) {
                    return Err(ApiError::no_such_param(
                        "product",
                        &id,
                        &params.path("product"),
                    ));
                }
                id
            }
            (None, Some(mut product_data)) => {
                let name = product_data.required_string("name")?;
                let description = product_data.string("description")?;
                let images = product_data.string_array("images")?.unwrap_or_default();
                let meta = match product_data.hash("metadata")? {
                    Some(update) => metadata::apply(&Map::new(), update)?,
                    None => Map::new(),
                };
                let (tax_code, unit_label) =
                    super::products::take_tax_code_and_unit_label(&mut product_data)?;
                product_data.finish()?;
                let id = data.new_id("prod_");
                *new_product = Some(NewProduct {
                    id: id.clone(),
                    name,
                    description,
                    active: true,
                    images,
                    shippable: None,
                    url: None,
                    metadata: meta,
                    tax_code,
                    unit_label,
                });
                id
            }
            (None, None) => return Err(ApiError::missing_param(params.path("product"))),
        },
    )
}

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    match data.store.get("price", &id) {
        Some(price) => Ok(price),
        None => find_inline(data, &id).ok_or_else(|| ApiError::no_such("price", &id, "id")),
    }
}

/// Ids that a session create can draw after a line item's price and before
/// the session's id: a product and a price for each of the other 99 line
/// items, with room for ids skipped because they were taken.
const INLINE_PRICE_REACH: u64 = 2 * 99 + 16;

/// Finds a price that `price_data` made for a Checkout Session's line item.
/// Such a price is kept only in the session's line items, which saves the
/// memory of a stored object. The create drew the price's number and then,
/// under the same lock, the session's. So the first session numbered after
/// the price is the only one that can contain it.
pub fn find_inline(data: &AccountData, id: &str) -> Option<Value> {
    let (prefix, number) = crate::ids::split(id)?;
    if prefix != "price_" || id.len() != prefix.len() + 24 {
        return None;
    }
    let mut session_id = String::with_capacity(66);
    for step in 1..=INLINE_PRICE_REACH {
        session_id.clear();
        session_id.push_str("cs_test_");
        crate::ids::push_body(&mut session_id, number.wrapping_add(step), 58);
        if !data.store.contains("checkout.session", &session_id) {
            continue;
        }
        let items = data.store.get(
            "line_items",
            &crate::wire::expand::line_items_key(&session_id),
        )?;
        return items["data"]
            .as_array()?
            .iter()
            .map(|item| &item["price"])
            .find(|price| price["id"] == id)
            .cloned();
    }
    None
}

pub fn update(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let id = ctx.arg(0).to_owned();
    if !data.store.contains("price", &id) && find_inline(data, &id).is_some() {
        // NOTE: Stripe keeps these as Price objects of their own. The fake
        // keeps them inside their session's line items and does not update
        // them there.
        return Err(ApiError::invalid_param(
            "id",
            format!(
                "The price {id} was made by a Checkout Session line item's price_data; fakestripe retrieves such prices but does not update them."
            ),
        ));
    }
    let before = fetch(data, "price", "price", &id)?;
    let mut price = before.clone();
    if let Some(active) = params.boolean("active")? {
        let is_default = data
            .store
            .get("product", price["product"].as_str().unwrap_or_default())
            .is_some_and(|product| product["default_price"] == json!(id));
        if !active && is_default {
            return Err(ApiError::invalid_param(
                "active",
                "This price cannot be archived because it is the default price of its product. Set the product's default_price to another price first.",
            ));
        }
        price["active"] = json!(active);
    }
    for field in ["nickname", "lookup_key"] {
        if let Some(value) = params.string(field)? {
            price[field] = if value.is_empty() {
                Value::Null
            } else {
                json!(value)
            };
        }
    }
    let transfer = params.boolean("transfer_lookup_key")?.unwrap_or(false);
    if let Some(update) = params.hash("metadata")? {
        let current = price["metadata"].as_object().cloned().unwrap_or_default();
        price["metadata"] = Value::Object(metadata::apply(&current, update)?);
    }
    params.finish()?;
    let holder = claim_lookup_key(data, price["lookup_key"].as_str(), Some(&id), transfer)?;
    if let Some(holder) = holder {
        release_lookup_key(ctx, data, &holder);
    }
    let now = data.now();
    data.store.update(&id, &price, now);
    let previous = crate::events::changed_fields(&before, &price);
    // As for customers, an update that changes nothing sends no event.
    if !previous.is_empty() {
        crate::events::emit(data, "price.updated", &price, Some(previous), &origin(ctx));
    }
    ctx.touch(&id);
    Ok(price)
}

/// The longest `lookup_key`, from Stripe's API description.
const MAX_LOOKUP_KEY_CHARS: usize = 200;

/// Checks that `key` is free for price `claimant` (None for a new price).
/// Returns the id of the price that has it when `transfer` moves it,
/// and rejects the request when the key is taken and not moved.
fn claim_lookup_key(
    data: &AccountData,
    key: Option<&str>,
    claimant: Option<&str>,
    transfer: bool,
) -> ApiResult<Option<String>> {
    let Some(key) = key else {
        return Ok(None);
    };
    if key.chars().count() > MAX_LOOKUP_KEY_CHARS {
        return Err(ApiError::invalid_param(
            "lookup_key",
            format!(
                "Invalid lookup_key: it may be up to {MAX_LOOKUP_KEY_CHARS} characters long; this one has {}.",
                key.chars().count()
            ),
        ));
    }
    let holder = data.store.ids_newest_first("price").find(|id| {
        Some(id.as_str()) != claimant
            && data
                .store
                .get("price", id)
                .is_some_and(|price| price["lookup_key"] == key)
    });
    match holder {
        None => Ok(None),
        Some(holder) if transfer => Ok(Some(holder)),
        Some(holder) => Err(ApiError::invalid_param(
            "lookup_key",
            format!(
                "A price (`{holder}`) already uses that lookup key. Send transfer_lookup_key=true to move the key to this price."
            ),
        )),
    }
}

/// Takes the lookup key off price `id`, whose key another price now has.
fn release_lookup_key(ctx: &Ctx<'_>, data: &mut AccountData, id: &str) {
    let Some(before) = data.store.get("price", id) else {
        return;
    };
    let mut price = before.clone();
    price["lookup_key"] = Value::Null;
    let now = data.now();
    data.store.update(id, &price, now);
    let previous = crate::events::changed_fields(&before, &price);
    crate::events::emit(data, "price.updated", &price, Some(previous), &origin(ctx));
}

pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    let active = params.boolean("active")?;
    let product = super::take_filter(data, &mut params, "product", "product")?;
    let currency_code = currency(&mut params, "currency")?;
    let kind = params.one_of("type", &["one_time", "recurring"])?;
    let lookup_keys = params.string_array("lookup_keys")?;
    let recurring = RecurringFilter::take(&mut params)?;
    let created = CreatedFilter::take(&mut params)?;
    params.finish()?;
    list_where(ctx, data, "price", &page, |p| {
        active.is_none_or(|a| p["active"] == json!(a))
            && product.as_ref().is_none_or(|id| p["product"] == json!(id))
            && currency_code
                .as_ref()
                .is_none_or(|c| p["currency"] == json!(c))
            && kind.as_ref().is_none_or(|k| p["type"] == json!(k))
            && lookup_keys
                .as_ref()
                .is_none_or(|keys| keys.iter().any(|k| p["lookup_key"] == json!(k)))
            && recurring.matches(p)
            && created.matches(p)
    })
}

/// A price list's `recurring` filter. Each field that is given must equal
/// the price's, so a one-time price, whose `recurring` is null, matches
/// none that gives a field.
#[derive(Debug, Default)]
struct RecurringFilter {
    interval: Option<String>,
    usage_type: Option<String>,
    meter: Option<String>,
}

impl RecurringFilter {
    fn take(params: &mut Params) -> ApiResult<RecurringFilter> {
        let Some(mut recurring) = params.hash("recurring")? else {
            return Ok(RecurringFilter::default());
        };
        let filter = RecurringFilter {
            interval: recurring.one_of("interval", &["day", "week", "month", "year"])?,
            usage_type: recurring.one_of("usage_type", &["licensed", "metered"])?,
            meter: recurring.string("meter")?,
        };
        recurring.finish()?;
        Ok(filter)
    }

    fn matches(&self, price: &Value) -> bool {
        let recurring = &price["recurring"];
        [
            ("interval", &self.interval),
            ("usage_type", &self.usage_type),
            ("meter", &self.meter),
        ]
        .iter()
        .all(|(field, wanted)| {
            wanted
                .as_ref()
                .is_none_or(|w| recurring[*field] == json!(w))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trips_exactly() {
        for (text, shown) in [
            ("1250.5", "1250.5"),
            ("0.005", "0.005"),
            ("10.50", "10.5"),
            ("007", "7"),
            (".25", "0.25"),
            ("99999998.999999999999", "99999998.999999999999"),
            ("5.", "5"),
        ] {
            let value = scaled_decimal(text).expect(text);
            assert_eq!(decimal_text(value), shown, "{text}");
        }
        assert_eq!(scaled_decimal("99999999.5"), None);
        assert_eq!(scaled_decimal("1.0000000000001"), None);
        assert_eq!(scaled_decimal("1e3"), None);
        assert_eq!(scaled_decimal("-1"), None);
    }

    #[test]
    fn line_amount_rounds_the_total() {
        // 0.005 × 10,000 is exactly 50, where rounding each unit gives 0.
        let line = |unit: &str, quantity| line_amount(scaled_decimal(unit).unwrap(), quantity);
        assert_eq!(line("0.005", 10_000), Some(50));
        assert_eq!(line("16.6666", 3), Some(50));
        assert_eq!(line("0.5", 1), Some(1));
        assert_eq!(line("0.4999", 1), Some(0));
        assert_eq!(line("1500", 2), Some(3000));
        assert_eq!(line("99999999", 999_999), Some(99_999_899_000_001));
    }
}
