//! Payment methods: retrieve. The fake makes one each time a customer pays
//! or a payment intent is confirmed with a test payment method, so an app
//! can read the card's brand and last four digits after a checkout.

use serde_json::Value;

use super::fetch;
use crate::account::AccountData;
use crate::api::Ctx;
use crate::wire::{ApiResult, Params};

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    fetch(data, "payment_method", "PaymentMethod", &id)
}
