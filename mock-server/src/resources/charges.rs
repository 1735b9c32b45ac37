//! Charges: retrieve and list. Charges are made by payment intents; the
//! fake has no endpoint that creates one directly.

use serde_json::{Value, json};

use super::{CreatedFilter, fetch, list_where};
use crate::account::AccountData;
use crate::api::Ctx;
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
    let created = CreatedFilter::take(&mut params)?;
    params.finish()?;
    list_where(ctx, data, "charge", &page, |c| {
        customer
            .as_ref()
            .is_none_or(|id| c["customer"] == json!(id))
            && payment_intent
                .as_ref()
                .is_none_or(|id| c["payment_intent"] == json!(id))
            && created.matches(c)
    })
}
