//! The search endpoints (`GET /v1/{resource}/search`) of payment intents,
//! customers, charges, prices and products, with the query fields Stripe's
//! search guide lists for each.
//!
//! A search scans the account's objects of one kind, newest first, and
//! finds each write as soon as it is stored. Stripe's search index lags
//! writes by up to a minute, which the fake does not model.

use base64::Engine;
use serde_json::{Value, json};

use crate::account::AccountData;
use crate::api::Ctx;
use crate::wire::search::{FieldKind, Query, SearchField};
use crate::wire::{ApiError, ApiResult, Params, params, version};

/// Maximum length of `query`, in characters, from Stripe's OpenAPI spec.
const MAX_QUERY_CHARS: usize = 5000;

/// The prefix of a `next_page` cursor. The rest is the base64url of the
/// id of the last object on the page.
const PAGE_PREFIX: &str = "page_";

/// One searchable resource.
struct Resource {
    /// Stripe's `object` value of its objects.
    kind: &'static str,
    /// Its name in errors, plural.
    label: &'static str,
    fields: &'static [SearchField],
}

const fn field(name: &'static str, kind: FieldKind) -> SearchField {
    SearchField { name, kind }
}

const PAYMENT_INTENTS: Resource = Resource {
    kind: "payment_intent",
    label: "payment intents",
    fields: &[
        field("amount", FieldKind::Numeric),
        field("created", FieldKind::Numeric),
        field("currency", FieldKind::Token),
        field("customer", FieldKind::Token),
        field("status", FieldKind::Token),
    ],
};

const CUSTOMERS: Resource = Resource {
    kind: "customer",
    label: "customers",
    fields: &[
        field("created", FieldKind::Numeric),
        field("email", FieldKind::Text),
        field("name", FieldKind::Text),
        field("phone", FieldKind::Text),
    ],
};

/// Stripe's guide lists the card fields under `payment_method_details`
/// for `card`, `card_present` and `interac_present`. The fake takes no
/// in-person payments, so the last two are always null.
const CHARGES: Resource = Resource {
    kind: "charge",
    label: "charges",
    fields: &[
        field("amount", FieldKind::Numeric),
        field("billing_details.address.postal_code", FieldKind::Token),
        field("created", FieldKind::Numeric),
        field("currency", FieldKind::Token),
        field("customer", FieldKind::Token),
        field("disputed", FieldKind::Boolean),
        field("payment_method_details.card.brand", FieldKind::Token),
        field("payment_method_details.card.exp_month", FieldKind::Token),
        field("payment_method_details.card.exp_year", FieldKind::Token),
        field("payment_method_details.card.fingerprint", FieldKind::Token),
        field("payment_method_details.card.last4", FieldKind::Token),
        field(
            "payment_method_details.card_present.brand",
            FieldKind::Token,
        ),
        field(
            "payment_method_details.card_present.exp_month",
            FieldKind::Token,
        ),
        field(
            "payment_method_details.card_present.exp_year",
            FieldKind::Token,
        ),
        field(
            "payment_method_details.card_present.fingerprint",
            FieldKind::Token,
        ),
        field(
            "payment_method_details.card_present.last4",
            FieldKind::Token,
        ),
        field(
            "payment_method_details.interac_present.brand",
            FieldKind::Token,
        ),
        field(
            "payment_method_details.interac_present.exp_month",
            FieldKind::Token,
        ),
        field(
            "payment_method_details.interac_present.exp_year",
            FieldKind::Token,
        ),
        field(
            "payment_method_details.interac_present.fingerprint",
            FieldKind::Token,
        ),
        field(
            "payment_method_details.interac_present.last4",
            FieldKind::Token,
        ),
        field("refunded", FieldKind::Refunded),
        field("status", FieldKind::Token),
    ],
};

const PRICES: Resource = Resource {
    kind: "price",
    label: "prices",
    fields: &[
        field("active", FieldKind::Boolean),
        field("currency", FieldKind::Token),
        field("lookup_key", FieldKind::Text),
        field("product", FieldKind::Text),
        field("type", FieldKind::Token),
    ],
};

const PRODUCTS: Resource = Resource {
    kind: "product",
    label: "products",
    fields: &[
        field("active", FieldKind::Boolean),
        field("description", FieldKind::Text),
        field("name", FieldKind::Text),
        field("shippable", FieldKind::Boolean),
        field("url", FieldKind::Text),
    ],
};

pub fn payment_intents(
    ctx: &mut Ctx<'_>,
    data: &mut AccountData,
    params: Params,
) -> ApiResult<Value> {
    search(ctx, data, params, &PAYMENT_INTENTS)
}

pub fn customers(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    search(ctx, data, params, &CUSTOMERS)
}

pub fn charges(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    search(ctx, data, params, &CHARGES)
}

pub fn prices(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    search(ctx, data, params, &PRICES)
}

pub fn products(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    search(ctx, data, params, &PRODUCTS)
}

/// Runs one search and returns a `search_result` page. Its `total_count`
/// counts every match; the pipeline removes it unless the request expands
/// it.
fn search(
    ctx: &mut Ctx<'_>,
    data: &mut AccountData,
    mut params: Params,
    resource: &Resource,
) -> ApiResult<Value> {
    params.reject_unknown(&["query", "limit", "page"])?;
    if !version::at_least(&ctx.api_version, version::SEARCH_MINIMUM) {
        return Err(ApiError::bad_state(format!(
            "Search needs API version {} or later, and this request uses {}. Send a later \
             Stripe-Version header with the request.",
            version::SEARCH_MINIMUM,
            ctx.api_version
        )));
    }

    let text = params.required_string("query")?;
    params::check_length("query", &text, MAX_QUERY_CHARS)?;
    let limit = params.integer_in("limit", 1, 100)?.unwrap_or(10) as usize;
    let cursor = match params.string("page")?.filter(|page| !page.is_empty()) {
        Some(page) => Some(decode_page(&page, &page_scope(resource.kind, &text))?),
        None => None,
    };
    params.finish()?;

    let query = crate::wire::search::parse(&text)
        .and_then(|query| query.check(resource.fields, resource.label).map(|()| query))
        .map_err(|message| {
            ApiError::invalid_param("query", format!("Invalid search query: {message}"))
        })?;

    let ids: Vec<String> = data.store.ids_newest_first(resource.kind).collect();
    // The page goes on after the cursor's object by the order objects were
    // stored, so deleting that object, as a search-and-delete loop does,
    // keeps the cursor valid.
    let start = match &cursor {
        Some(cursor) => {
            let Some(rank) = data.store.creation_rank(cursor) else {
                return Err(invalid_page(&encode_page(
                    &page_scope(resource.kind, &text),
                    cursor,
                )));
            };
            ids.iter()
                .position(|id| data.store.creation_rank(id).is_some_and(|r| r < rank))
                .unwrap_or(ids.len())
        }
        None => 0,
    };

    let page = scan(data, resource, &query, &ids, start, limit);
    let next_page = match (page.has_more, page.data.last()) {
        (true, Some(last)) => json!(encode_page(
            &page_scope(resource.kind, &text),
            last["id"].as_str().unwrap_or_default()
        )),
        _ => Value::Null,
    };
    Ok(json!({
        "object": "search_result",
        "data": page.data,
        "has_more": page.has_more,
        "next_page": next_page,
        "url": ctx.path,
        "total_count": page.total_count,
    }))
}

/// One page of matches, and the count of all of them.
struct Matches {
    data: Vec<Value>,
    has_more: bool,
    total_count: usize,
}

/// Matches every object of `ids` against `query`, and keeps up to `limit`
/// of those at `start` or after. Under a `search_lag` fault each object is
/// matched and shown as it was when the window began, and one created
/// since is missing, as in Stripe's index.
// NOTE: `ids` contains live objects only, and the store keeps no deletion
// time, so an object deleted inside the window leaves the results at
// once rather than when the window passes. Otherwise payment intents are
/// read as a list reads them, so the fault plan's stale reads and status
/// lag apply.
fn scan(
    data: &mut AccountData,
    resource: &Resource,
    query: &Query,
    ids: &[String],
    start: usize,
    limit: usize,
) -> Matches {
    let lag = crate::faults::search_lag(data);
    let through_faults = resource.kind == "payment_intent" && crate::faults::affects_reads(data);
    let indexed_at = data.now() - lag.unwrap_or(0);
    let (mut missing, mut earlier) = (0, 0);
    let mut matches = Matches {
        data: Vec::new(),
        has_more: false,
        total_count: 0,
    };
    for (position, id) in ids.iter().enumerate() {
        let object = if lag.is_some() && data.store.written_at(id).is_some_and(|at| at > indexed_at)
        {
            let version = data.store.version_at(id, indexed_at).map(|v| v.object);
            match version {
                Some(_) => earlier += 1,
                None => missing += 1,
            }
            version
        } else if through_faults {
            crate::faults::visible(data, resource.kind, id)
        } else {
            data.store.get(resource.kind, id)
        };
        let Some(object) = object else {
            continue;
        };
        if !query.matches(&object, resource.fields) {
            continue;
        }
        matches.total_count += 1;
        if position < start {
            continue;
        }
        if matches.data.len() < limit {
            matches.data.push(object);
        } else {
            matches.has_more = true;
        }
    }
    if let Some(seconds) = lag
        && missing + earlier > 0
    {
        data.trace(
            "fault",
            json!({"decision": "search_lag", "seconds": seconds, "not_indexed": missing, "earlier_versions": earlier}),
        );
    }
    matches
}

/// Returns what a cursor is valid for: the search of `kind` objects with
/// the query `text`, as the kind and a hash of the text.
fn page_scope(kind: &str, text: &str) -> String {
    // FNV-1a, which is stable across runs, unlike the std hasher.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{kind}:{hash:016x}")
}

/// Returns the cursor of a page that ends with `id`, for the search that
/// `scope` names, so that another resource's search, or a search with
/// another query, rejects it.
fn encode_page(scope: &str, id: &str) -> String {
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{scope}:{id}"));
    format!("{PAGE_PREFIX}{body}")
}

/// Returns the id a `page` cursor of the search that `scope` names
/// continues after.
fn decode_page(page: &str, scope: &str) -> ApiResult<String> {
    page.strip_prefix(PAGE_PREFIX)
        .and_then(|body| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let id = text.strip_prefix(scope)?.strip_prefix(':')?;
            Some(id.to_owned())
        })
        .ok_or_else(|| invalid_page(page))
}

fn invalid_page(page: &str) -> ApiError {
    let excerpt: String = page.chars().take(60).collect();
    ApiError::invalid_param(
        "page",
        format!(
            "Invalid page: {excerpt}. Pass the next_page value of an earlier search with the same \
             query, or leave page out for the first page."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_cursor_round_trips() {
        let scope = page_scope("payment_intent", "status:'succeeded'");
        let page = encode_page(&scope, "pi_3AbC");
        assert!(page.starts_with(PAGE_PREFIX));
        assert_eq!(decode_page(&page, &scope).unwrap(), "pi_3AbC");
    }

    #[test]
    fn page_of_another_search_is_400() {
        let query = "email:'a@example.com'";
        let page = encode_page(&page_scope("customer", query), "cus_3AbC");
        for scope in [
            page_scope("payment_intent", query),
            page_scope("customer", "email:'b@example.com'"),
        ] {
            let err = decode_page(&page, &scope).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("page"), "{scope}");
        }
    }

    #[test]
    fn malformed_page_is_400() {
        for page in ["pi_123", "page_***", "page_gA"] {
            let err = decode_page(page, &page_scope("payment_intent", "")).unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{page}");
            assert_eq!(err.param.as_deref(), Some("page"), "{page}");
        }
    }

    #[test]
    fn every_field_name_is_unique() {
        for resource in [&PAYMENT_INTENTS, &CUSTOMERS, &CHARGES, &PRICES, &PRODUCTS] {
            let mut names: Vec<&str> = resource.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), resource.fields.len(), "{}", resource.label);
        }
    }
}
