//! Balance transactions: retrieve and list. One is made for each captured
//! charge and each refund.

use serde_json::{Value, json};

use super::{CreatedFilter, currency, fetch, list_where};
use crate::account::AccountData;
use crate::api::Ctx;
use crate::wire::list::Page;
use crate::wire::{ApiResult, Params};

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    fetch(data, "balance_transaction", "balance_transaction", &id)
}

pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    let source = params.string("source")?;
    let kind = params.string("type")?;
    let currency_code = currency(&mut params, "currency")?;
    // The fake makes no payouts, so a payout filter matches no transaction.
    // Its id is not looked up.
    let payout = params.string("payout")?;
    let created = CreatedFilter::take(&mut params)?;
    params.finish()?;
    list_where(ctx, data, "balance_transaction", &page, |t| {
        source.as_ref().is_none_or(|s| t["source"] == json!(s))
            && kind.as_ref().is_none_or(|k| t["type"] == json!(k))
            && currency_code
                .as_ref()
                .is_none_or(|c| t["currency"] == json!(c))
            && payout.is_none()
            && created.matches(t)
    })
}
