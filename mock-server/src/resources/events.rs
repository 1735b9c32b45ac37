//! Events: retrieve and list, with `type`, `types[]` and `created` filters.
//! Stripe keeps events for 30 days; the fake keeps them for the life of
//! the account.

use serde_json::Value;

use super::{CreatedFilter, fetch, list_where};
use crate::account::AccountData;
use crate::api::Ctx;
use crate::events::type_matches;
use crate::wire::list::Page;
use crate::wire::{ApiError, ApiResult, Params};

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    fetch(data, "event", "event", &id)
}

pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    let single = params.string("type")?;
    let several = params.string_array("types")?;
    if single.is_some() && several.is_some() {
        return Err(ApiError::invalid_param(
            "types",
            "You may only specify one of these parameters: type, types.",
        ));
    }
    let patterns: Vec<String> = single.map(|t| vec![t]).or(several).unwrap_or_default();
    let delivery_success = params.boolean("delivery_success")?;
    let created = CreatedFilter::take(&mut params)?;
    params.finish()?;
    list_where(ctx, data, "event", &page, |event| {
        let event_type = event["type"].as_str().unwrap_or_default();
        (patterns.is_empty() || patterns.iter().any(|p| type_matches(p, event_type)))
            && created.matches(event)
            && delivery_success
                .is_none_or(|wanted| (event["pending_webhooks"].as_i64() == Some(0)) == wanted)
    })
}
