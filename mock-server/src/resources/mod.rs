//! One module per Stripe resource. Each takes its parameters from a
//! `Params`, applies them to the account's store, and returns the object
//! as Stripe renders it. `route` maps a method and path to a handler.

pub mod balance_transactions;
pub mod charges;
pub mod checkout_sessions;
pub mod custom_fields;
pub mod customers;
pub mod event_types;
pub mod events;
pub mod payment_checks;
pub mod payment_intents;
pub mod payment_methods;
pub mod prices;
pub mod products;
pub mod refunds;
pub mod search;
pub mod session_recovery;
pub mod webhook_endpoints;

use axum::http::Method;
use serde_json::Value;

use crate::account::AccountData;
use crate::api::Ctx;
use crate::wire::list::Page;
use crate::wire::{ApiError, ApiResult, Params};

/// The largest amount Stripe charges in one payment, in the currency's
/// smallest unit: eight digits, such as $999,999.99.
pub const MAX_AMOUNT: i64 = 99_999_999;

/// Takes a payment's `amount`: at least 1, and above `MAX_AMOUNT` a 400
/// with the code `amount_too_large`, which Stripe's error codes list for
/// an amount over the maximum.
pub fn take_amount(params: &mut Params) -> ApiResult<Option<i64>> {
    let amount = params.integer_in("amount", 1, i64::MAX)?;
    match amount {
        Some(value) if value > MAX_AMOUNT => Err(ApiError::invalid_param(
            "amount",
            format!(
                "Amount must be no more than {MAX_AMOUNT} in the currency's smallest unit; got {value}."
            ),
        )
        .with_code("amount_too_large")),
        _ => Ok(amount),
    }
}

/// A resource handler: runs under the account lock, never awaits.
pub type Handler = fn(&mut Ctx<'_>, &mut AccountData, Params) -> ApiResult<Value>;

/// A matched route: the handler, the ids in the path, and the path
/// template for logs (`/v1/checkout/sessions/{id}`).
#[derive(Debug, Clone)]
pub struct Route {
    pub handler: Handler,
    pub args: Vec<String>,
    pub template: &'static str,
}

/// The path templates of the API routes, for checking route patterns in a
/// fault plan. A unit test checks that each one routes.
pub const TEMPLATES: &[&str] = &[
    "/v1/checkout/sessions",
    "/v1/checkout/sessions/{id}",
    "/v1/checkout/sessions/{id}/expire",
    "/v1/checkout/sessions/{id}/line_items",
    "/v1/payment_intents",
    "/v1/payment_intents/search",
    "/v1/payment_intents/{id}",
    "/v1/payment_intents/{id}/confirm",
    "/v1/payment_intents/{id}/capture",
    "/v1/payment_intents/{id}/cancel",
    "/v1/charges",
    "/v1/charges/search",
    "/v1/charges/{id}",
    "/v1/payment_methods",
    "/v1/payment_methods/{id}",
    "/v1/refunds",
    "/v1/refunds/{id}",
    "/v1/balance_transactions",
    "/v1/balance_transactions/{id}",
    "/v1/customers",
    "/v1/customers/search",
    "/v1/customers/{id}",
    "/v1/customers/{id}/payment_methods",
    "/v1/products",
    "/v1/products/search",
    "/v1/products/{id}",
    "/v1/prices",
    "/v1/prices/search",
    "/v1/prices/{id}",
    "/v1/events",
    "/v1/events/{id}",
    "/v1/webhook_endpoints",
    "/v1/webhook_endpoints/{id}",
];

/// Finds the handler for `method` and `path`.
pub fn route(method: &Method, path: &str) -> Option<Route> {
    // Routes have at most five segments, so a longer path matches none.
    let mut parts = [""; 5];
    let mut count = 0;
    for segment in path.trim_end_matches('/').split('/').skip(1) {
        *parts.get_mut(count)? = segment;
        count += 1;
    }
    let m = method.as_str();
    let found: (Handler, &'static str, Option<&str>) = match (m, &parts[..count]) {
        ("GET", ["v1", "payment_intents", "search"]) => {
            (search::payment_intents, "/v1/payment_intents/search", None)
        }
        ("GET", ["v1", "customers", "search"]) => (search::customers, "/v1/customers/search", None),
        ("GET", ["v1", "charges", "search"]) => (search::charges, "/v1/charges/search", None),
        ("GET", ["v1", "prices", "search"]) => (search::prices, "/v1/prices/search", None),
        ("GET", ["v1", "products", "search"]) => (search::products, "/v1/products/search", None),
        // Any other `search` in an id's place, such as a POST or a search
        // of a resource that Stripe cannot search, would otherwise read as
        // an object named `search`.
        (_, ["v1", _, "search"]) => return None,
        ("POST", ["v1", "checkout", "sessions"]) => {
            (checkout_sessions::create, "/v1/checkout/sessions", None)
        }
        ("GET", ["v1", "checkout", "sessions"]) => {
            (checkout_sessions::list, "/v1/checkout/sessions", None)
        }
        ("GET", ["v1", "checkout", "sessions", id]) => (
            checkout_sessions::retrieve,
            "/v1/checkout/sessions/{id}",
            Some(id),
        ),
        ("POST", ["v1", "checkout", "sessions", id]) => (
            checkout_sessions::update,
            "/v1/checkout/sessions/{id}",
            Some(id),
        ),
        ("POST", ["v1", "checkout", "sessions", id, "expire"]) => (
            checkout_sessions::expire,
            "/v1/checkout/sessions/{id}/expire",
            Some(id),
        ),
        ("GET", ["v1", "checkout", "sessions", id, "line_items"]) => (
            checkout_sessions::line_items,
            "/v1/checkout/sessions/{id}/line_items",
            Some(id),
        ),

        ("POST", ["v1", "payment_intents"]) => {
            (payment_intents::create, "/v1/payment_intents", None)
        }
        ("GET", ["v1", "payment_intents"]) => (payment_intents::list, "/v1/payment_intents", None),
        ("GET", ["v1", "payment_intents", id]) => (
            payment_intents::retrieve,
            "/v1/payment_intents/{id}",
            Some(id),
        ),
        ("POST", ["v1", "payment_intents", id]) => (
            payment_intents::update,
            "/v1/payment_intents/{id}",
            Some(id),
        ),
        ("POST", ["v1", "payment_intents", id, "confirm"]) => (
            payment_intents::confirm,
            "/v1/payment_intents/{id}/confirm",
            Some(id),
        ),
        ("POST", ["v1", "payment_intents", id, "capture"]) => (
            payment_intents::capture,
            "/v1/payment_intents/{id}/capture",
            Some(id),
        ),
        ("POST", ["v1", "payment_intents", id, "cancel"]) => (
            payment_intents::cancel,
            "/v1/payment_intents/{id}/cancel",
            Some(id),
        ),

        ("GET", ["v1", "charges"]) => (charges::list, "/v1/charges", None),
        ("GET", ["v1", "charges", id]) => (charges::retrieve, "/v1/charges/{id}", Some(id)),
        ("GET", ["v1", "payment_methods"]) => (payment_methods::list, "/v1/payment_methods", None),
        ("GET", ["v1", "payment_methods", id]) => (
            payment_methods::retrieve,
            "/v1/payment_methods/{id}",
            Some(id),
        ),

        ("POST", ["v1", "refunds"]) => (refunds::create, "/v1/refunds", None),
        ("GET", ["v1", "refunds"]) => (refunds::list, "/v1/refunds", None),
        ("GET", ["v1", "refunds", id]) => (refunds::retrieve, "/v1/refunds/{id}", Some(id)),

        ("GET", ["v1", "balance_transactions"]) => {
            (balance_transactions::list, "/v1/balance_transactions", None)
        }
        ("GET", ["v1", "balance_transactions", id]) => (
            balance_transactions::retrieve,
            "/v1/balance_transactions/{id}",
            Some(id),
        ),

        ("POST", ["v1", "customers"]) => (customers::create, "/v1/customers", None),
        ("GET", ["v1", "customers"]) => (customers::list, "/v1/customers", None),
        ("GET", ["v1", "customers", id]) => (customers::retrieve, "/v1/customers/{id}", Some(id)),
        ("POST", ["v1", "customers", id]) => (customers::update, "/v1/customers/{id}", Some(id)),
        ("DELETE", ["v1", "customers", id]) => (customers::delete, "/v1/customers/{id}", Some(id)),
        ("GET", ["v1", "customers", id, "payment_methods"]) => (
            payment_methods::list_for_customer,
            "/v1/customers/{id}/payment_methods",
            Some(id),
        ),

        ("POST", ["v1", "products"]) => (products::create, "/v1/products", None),
        ("GET", ["v1", "products"]) => (products::list, "/v1/products", None),
        ("GET", ["v1", "products", id]) => (products::retrieve, "/v1/products/{id}", Some(id)),
        ("POST", ["v1", "products", id]) => (products::update, "/v1/products/{id}", Some(id)),
        ("DELETE", ["v1", "products", id]) => (products::delete, "/v1/products/{id}", Some(id)),

        ("POST", ["v1", "prices"]) => (prices::create, "/v1/prices", None),
        ("GET", ["v1", "prices"]) => (prices::list, "/v1/prices", None),
        ("GET", ["v1", "prices", id]) => (prices::retrieve, "/v1/prices/{id}", Some(id)),
        ("POST", ["v1", "prices", id]) => (prices::update, "/v1/prices/{id}", Some(id)),

        ("GET", ["v1", "events"]) => (events::list, "/v1/events", None),
        ("GET", ["v1", "events", id]) => (events::retrieve, "/v1/events/{id}", Some(id)),

        ("POST", ["v1", "webhook_endpoints"]) => {
            (webhook_endpoints::create, "/v1/webhook_endpoints", None)
        }
        ("GET", ["v1", "webhook_endpoints"]) => {
            (webhook_endpoints::list, "/v1/webhook_endpoints", None)
        }
        ("GET", ["v1", "webhook_endpoints", id]) => (
            webhook_endpoints::retrieve,
            "/v1/webhook_endpoints/{id}",
            Some(id),
        ),
        ("POST", ["v1", "webhook_endpoints", id]) => (
            webhook_endpoints::update,
            "/v1/webhook_endpoints/{id}",
            Some(id),
        ),
        ("DELETE", ["v1", "webhook_endpoints", id]) => (
            webhook_endpoints::delete,
            "/v1/webhook_endpoints/{id}",
            Some(id),
        ),
        _ => return None,
    };
    let (handler, template, args) = found;
    Some(Route {
        handler,
        // SDKs percent-encode ids in the path (`prod_a%3Ab` for `prod_a:b`).
        args: args
            .map(|arg| match arg.contains('%') {
                true => percent_encoding::percent_decode_str(arg)
                    .decode_utf8_lossy()
                    .into_owned(),
                false => arg.to_owned(),
            })
            .into_iter()
            .collect(),
        template,
    })
}

/// Stores a new object or a new version of one, and writes the change to
/// the trace.
pub fn save(data: &mut AccountData, kind: &'static str, id: &str, object: &Value) {
    let now = data.now();
    let status = object.get("status").cloned().unwrap_or(Value::Null);
    let created = !data.store.exists(id);
    if created {
        data.store.insert(kind, id, object, now);
    } else {
        data.store.update(id, object, now);
    }
    data.trace(
        "object",
        serde_json::json!({ "id": id, "kind": kind, "change": if created { "created" } else { "updated" }, "status": status }),
    );
}

/// Stores a new object printed by `store::encode_parts`, writes it to
/// the trace like `save`, and returns its public fields printed as the
/// response body.
pub fn save_new_printed(
    data: &mut AccountData,
    kind: &'static str,
    id: &str,
    text: Vec<u8>,
    status: &str,
) -> Vec<u8> {
    debug_assert!(!data.store.has_id(id), "{id} is not new");
    let now = data.now();
    let printed = data.store.insert_encoded_printed(kind, id, text, now);
    data.trace(
        "object",
        serde_json::json!({ "id": id, "kind": kind, "change": "created", "status": status }),
    );
    printed
}

/// The current version of an object, or a 404 naming it.
pub fn fetch(data: &AccountData, kind: &'static str, label: &str, id: &str) -> ApiResult<Value> {
    data.store
        .get(kind, id)
        .ok_or_else(|| ApiError::no_such(label, id, "id"))
}

/// Takes a list filter that names an object of `kind`, such as a
/// charge list's `customer`, and rejects an id that names no object of
/// this account with a 400, as Stripe does.
pub fn take_filter(
    data: &AccountData,
    params: &mut Params,
    name: &str,
    kind: &'static str,
) -> ApiResult<Option<String>> {
    let id = params.string(name)?;
    if let Some(id) = &id
        && !id.is_empty()
        && !data.store.contains(kind, id)
    {
        return Err(ApiError::no_such_param(kind, id, name));
    }
    Ok(id)
}

/// A page of `kind`, newest first, keeping the objects `keep` accepts.
pub fn list_where(
    ctx: &Ctx<'_>,
    data: &AccountData,
    kind: &'static str,
    page: &Page,
    keep: impl Fn(&Value) -> bool,
) -> ApiResult<Value> {
    page.walk(
        data.store.ids_newest_first(kind),
        |id| data.store.get(kind, id).filter(|object| keep(object)),
        &ctx.path,
    )
}

/// A `created` filter: an exact timestamp or a hash of `gt`, `gte`, `lt`, `lte`.
#[derive(Debug, Clone, Default)]
pub struct CreatedFilter {
    gt: Option<i64>,
    gte: Option<i64>,
    lt: Option<i64>,
    lte: Option<i64>,
}

impl CreatedFilter {
    pub fn take(params: &mut Params) -> ApiResult<CreatedFilter> {
        if !params.contains("created") {
            return Ok(CreatedFilter::default());
        }
        let mut probe = params.clone();
        if let Ok(Some(exact)) = probe.integer("created") {
            params.integer("created")?;
            return Ok(CreatedFilter {
                gte: Some(exact),
                lte: Some(exact),
                ..Default::default()
            });
        }
        let Some(mut range) = params.hash("created")? else {
            return Ok(CreatedFilter::default());
        };
        let filter = CreatedFilter {
            gt: range.integer("gt")?,
            gte: range.integer("gte")?,
            lt: range.integer("lt")?,
            lte: range.integer("lte")?,
        };
        range.finish()?;
        Ok(filter)
    }

    pub fn matches(&self, object: &Value) -> bool {
        let created = object["created"].as_i64().unwrap_or_default();
        self.gt.is_none_or(|v| created > v)
            && self.gte.is_none_or(|v| created >= v)
            && self.lt.is_none_or(|v| created < v)
            && self.lte.is_none_or(|v| created <= v)
    }
}

/// Three-letter lowercase ISO currency codes the fake accepts. A subset of
/// what Stripe supports, covering the common settlement currencies.
pub const CURRENCIES: &[&str] = &[
    "usd", "eur", "gbp", "jpy", "cad", "aud", "chf", "sek", "nok", "dkk", "pln", "czk", "nzd",
    "sgd", "hkd", "mxn", "brl", "inr", "aed", "bgn", "huf", "myr", "ron", "thb",
];

/// Returns the smallest amount Stripe charges in `currency`, in its minor
/// unit, from Stripe's table of minimum charge amounts. Every currency in
/// `CURRENCIES` is listed.
pub fn minimum_charge(currency: &str) -> i64 {
    match currency {
        "gbp" => 30,
        "bgn" => 100,
        "pln" | "aed" | "myr" | "ron" => 200,
        "dkk" => 250,
        "sek" | "nok" => 300,
        "hkd" => 400,
        "mxn" | "thb" => 1000,
        "czk" => 1500,
        "huf" => 17500,
        // usd, eur, jpy (50 yen), cad, aud, chf, nzd, sgd, brl, inr.
        _ => 50,
    }
}

/// Returns the minimum charge of `currency` written as Stripe's errors
/// write it, such as `$0.50 usd`.
pub fn minimum_charge_text(currency: &str) -> String {
    let amount = minimum_charge(currency);
    let symbol = match currency {
        "usd" | "cad" | "aud" | "nzd" | "sgd" | "hkd" | "mxn" => "$",
        "eur" => "€",
        "gbp" => "£",
        "jpy" => "¥",
        "inr" => "₹",
        "brl" => "R$",
        _ => "",
    };
    let number = match crate::pages::format::decimals(currency) {
        0 => amount.to_string(),
        _ => format!("{}.{:02}", amount / 100, amount % 100),
    };
    format!("{symbol}{number} {currency}")
}

/// Takes a currency parameter and checks it against `CURRENCIES`.
pub fn currency(params: &mut Params, name: &str) -> ApiResult<Option<String>> {
    let path = params.path(name);
    match params.string(name)? {
        None => Ok(None),
        Some(code) => {
            let lower = code.to_ascii_lowercase();
            if CURRENCIES.contains(&lower.as_str()) {
                Ok(Some(lower))
            } else if code.len() == 3 && code.bytes().all(|b| b.is_ascii_lowercase()) {
                Err(ApiError::invalid_param(
                    path,
                    format!(
                        "Unsupported currency: {code}. fakestripe accepts {}.",
                        CURRENCIES.join(", ")
                    ),
                ))
            } else {
                Err(ApiError::invalid_param(
                    path,
                    format!(
                        "Invalid currency: {code}. Use a lowercase ISO code such as eur or usd."
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_routes_to_itself() {
        for template in TEMPLATES {
            let routed = [Method::GET, Method::POST, Method::DELETE]
                .iter()
                .filter_map(|method| route(method, template))
                .map(|found| found.template)
                .collect::<Vec<_>>();
            assert!(!routed.is_empty(), "{template} routes nowhere");
            assert!(
                routed.iter().all(|t| t == template),
                "{template}: {routed:?}"
            );
        }
    }
}
