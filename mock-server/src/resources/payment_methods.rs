//! Payment methods: retrieve, and the lists of a customer's saved ones.
//! The fake makes one each time a customer pays or a payment intent is
//! confirmed with a test payment method, so an app can read the card's
//! brand and last four digits after a checkout. A payment made with
//! `setup_future_usage` attaches its method to the customer.

use serde_json::Value;

use super::{fetch, list_where, payment_checks::PAYMENT_METHODS, take_filter};
use crate::account::AccountData;
use crate::api::Ctx;
use crate::wire::list::Page;
use crate::wire::{ApiResult, Params};

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    fetch(data, "payment_method", "PaymentMethod", &id)
}

/// `GET /v1/payment_methods`. With `customer`, the methods attached to
/// that customer. Without it Stripe lists the account's Treasury methods,
/// which the fake has none of.
pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    let customer = take_filter(data, &mut params, "customer", "customer")?;
    list_attached(ctx, data, params, &page, customer.as_deref())
}

/// `GET /v1/customers/{id}/payment_methods`: the methods attached to the
/// customer, newest first.
pub fn list_for_customer(
    ctx: &mut Ctx<'_>,
    data: &mut AccountData,
    mut params: Params,
) -> ApiResult<Value> {
    let customer = ctx.arg(0).to_owned();
    fetch(data, "customer", "customer", &customer)?;
    let page = Page::take(&mut params)?;
    list_attached(ctx, data, params, &page, Some(&customer))
}

/// The values of a payment method's `allow_redisplay`. The fake's are all
/// `unspecified`, Stripe's value when nothing set it.
const REDISPLAY: &[&str] = &["always", "limited", "unspecified"];

/// Lists the methods attached to `customer`, by the `type` and
/// `allow_redisplay` filters both lists take. No customer matches none.
fn list_attached(
    ctx: &Ctx<'_>,
    data: &AccountData,
    mut params: Params,
    page: &Page,
    customer: Option<&str>,
) -> ApiResult<Value> {
    let kind = params.one_of("type", PAYMENT_METHODS)?;
    let redisplay = params.one_of("allow_redisplay", REDISPLAY)?;
    params.finish()?;
    list_where(ctx, data, "payment_method", page, |pm| {
        customer.is_some_and(|id| pm["customer"] == id)
            && kind.as_ref().is_none_or(|k| pm["type"] == k.as_str())
            && redisplay
                .as_ref()
                .is_none_or(|r| pm["allow_redisplay"] == r.as_str())
    })
}
