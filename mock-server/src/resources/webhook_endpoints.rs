//! Webhook endpoints: create (the only response that shows the signing
//! secret), retrieve, update, list, delete. The delivery settings live in
//! `AccountData::endpoints`; the object the API shows lives in the store.

use serde_json::{Map, Value, json};

use super::event_types::{EVENT_TYPES, is_event_type};
use super::{fetch, list_where, save};
use crate::account::{AccountData, Endpoint};
use crate::api::Ctx;
use crate::wire::list::Page;
use crate::wire::{ApiError, ApiResult, Params, metadata, version};

/// Most endpoints an account may have, as on Stripe.
pub const MAX_ENDPOINTS: usize = 16;

pub fn create(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    params.forbid_empty(&["description"]);
    let url = params.required_string("url")?;
    check_url(&url)?;
    let enabled_events =
        take_events(&mut params)?.ok_or_else(|| ApiError::missing_param("enabled_events"))?;
    let description = params.string("description")?;
    let api_version = params.string("api_version")?;
    if let Some(v) = &api_version
        && (!version::is_valid(v) || version::is_unreleased(v))
    {
        return Err(ApiError::invalid_param(
            "api_version",
            format!(
                "Invalid API version: {v}. Send a released version such as {}.",
                version::DEFAULT_API_VERSION
            ),
        ));
    }
    // A Connect endpoint receives the events of every connected account,
    // which live in accounts of their own, so it is rejected rather than
    // created as an endpoint that would never receive them.
    if params.boolean("connect")? == Some(true) {
        return Err(ApiError::invalid_param(
            "connect",
            "connect=true creates a Connect webhook endpoint, which fakestripe does not model \
             yet. Leave connect out or set it to false; the README lists what the fake does not \
             model.",
        ));
    }
    let meta = match params.hash("metadata")? {
        Some(update) => metadata::apply(&Map::new(), update)?,
        None => Map::new(),
    };
    params.finish()?;
    if data.store.count("webhook_endpoint") >= MAX_ENDPOINTS {
        return Err(ApiError::bad_state(format!(
            "An account can have at most {MAX_ENDPOINTS} webhook endpoints."
        )));
    }
    let id = data.new_id("we_");
    let secret = data.new_webhook_secret();
    let endpoint = json!({
        "id": id,
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": null,
        "created": data.now(),
        "description": description,
        "enabled_events": enabled_events,
        "livemode": false,
        "metadata": meta,
        "status": "enabled",
        "url": url,
    });
    save(data, "webhook_endpoint", &id, &endpoint);
    data.endpoints.insert(
        id.clone(),
        Endpoint {
            id: id.clone(),
            url,
            enabled_events,
            secrets: vec![(secret.clone(), None)],
            api_version,
            enabled: true,
            hidden: false,
        },
    );
    ctx.touch(&id);
    let mut shown = endpoint;
    shown["secret"] = json!(secret);
    Ok(shown)
}

/// Takes `enabled_events`: `*` or event types such as
/// `checkout.session.completed`.
fn take_events(params: &mut Params) -> ApiResult<Option<Vec<String>>> {
    let Some(events) = params.string_array("enabled_events")? else {
        return Ok(None);
    };
    if events.is_empty() {
        return Err(ApiError::missing_param("enabled_events"));
    }
    for (index, event) in events.iter().enumerate() {
        let well_formed = event == "*"
            || (event.contains('.')
                && event.split('.').all(|part| {
                    !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                }));
        if !well_formed {
            return Err(ApiError::invalid_param(
                format!("enabled_events[{index}]"),
                format!(
                    "Invalid event type `{event}`: use `*` or a type such as checkout.session.completed."
                ),
            ));
        }
        if event != "*" && !is_event_type(event) {
            let nearest = super::event_types::nearest_type(EVENT_TYPES, event)
                .map(|known| format!(" Did you mean `{known}`?"))
                .unwrap_or_default();
            return Err(ApiError::invalid_param(
                format!("enabled_events[{index}]"),
                format!("Invalid event type `{event}`: Stripe has no such event type.{nearest}"),
            ));
        }
    }
    Ok(Some(events))
}

fn check_url(url: &str) -> ApiResult<()> {
    // The URL parser drops tabs and line breaks, so a URL with one would
    // be stored as typed and sent somewhere else.
    if url.chars().any(char::is_control) {
        return Err(ApiError::invalid_param(
            "url",
            format!(
                "Invalid URL: {}. It contains a control character such as a line break; send the URL on one line.",
                url.escape_debug()
            ),
        ));
    }
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        _ => Err(ApiError::invalid_param(
            "url",
            format!("Invalid URL: {url}. Use an absolute http:// or https:// URL."),
        )),
    }
}

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    fetch(data, "webhook_endpoint", "webhook_endpoint", &id)
}

pub fn update(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let id = ctx.arg(0).to_owned();
    let mut endpoint = fetch(data, "webhook_endpoint", "webhook_endpoint", &id)?;
    let url = params.string("url")?;
    if let Some(url) = &url {
        check_url(url)?;
        endpoint["url"] = json!(url);
    }
    let events = take_events(&mut params)?;
    if let Some(events) = &events {
        endpoint["enabled_events"] = json!(events);
    }
    let disabled = params.boolean("disabled")?;
    if let Some(disabled) = disabled {
        endpoint["status"] = json!(if disabled { "disabled" } else { "enabled" });
    }
    if let Some(description) = params.string("description")? {
        endpoint["description"] = if description.is_empty() {
            Value::Null
        } else {
            json!(description)
        };
    }
    if let Some(update) = params.hash("metadata")? {
        let current = endpoint["metadata"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        endpoint["metadata"] = Value::Object(metadata::apply(&current, update)?);
    }
    params.finish()?;
    if let Some(settings) = data.endpoints.get_mut(&id) {
        if let Some(url) = url {
            settings.url = url;
        }
        if let Some(events) = events {
            settings.enabled_events = events;
        }
        if let Some(disabled) = disabled {
            settings.enabled = !disabled;
        }
    }
    save(data, "webhook_endpoint", &id, &endpoint);
    ctx.touch(&id);
    Ok(endpoint)
}

pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    params.finish()?;
    list_where(ctx, data, "webhook_endpoint", &page, |_| true)
}

pub fn delete(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    fetch(data, "webhook_endpoint", "webhook_endpoint", &id)?;
    data.store.delete(&id);
    data.endpoints.remove(&id);
    ctx.touch(&id);
    Ok(json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
}

/// Rolls an endpoint's signing secret. The old secret keeps signing until
/// `expires_at`, so deliveries carry both signatures for a while.
pub fn roll_secret(data: &mut AccountData, id: &str, old_expires_at: i64) -> ApiResult<String> {
    let secret = data.new_webhook_secret();
    let endpoint = data
        .endpoints
        .get_mut(id)
        .ok_or_else(|| ApiError::no_such("webhook_endpoint", id, "id"))?;
    for (_, expiry) in endpoint.secrets.iter_mut() {
        if expiry.is_none() {
            *expiry = Some(old_expires_at);
        }
    }
    endpoint.secrets.insert(0, (secret.clone(), None));
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_checked_against_stripes_list() {
        assert!(is_event_type("checkout.session.completed"));
        assert!(is_event_type("customer.subscription.created"));
        assert!(is_event_type("invoice.paid"));
        assert!(!is_event_type("checkout.sesion.completed"));
        assert!(!is_event_type("payment_intent.succeded"));
        assert!(!is_event_type("nope.event"));
        assert!(!is_event_type("invoice.paid.extra"));
    }
}
