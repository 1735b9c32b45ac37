//! The fault plan: Stripe's quirks, switched on per account, drawn from one
//! seeded generator, and written to the trace.
//!
//! A plan is `{"seed": N, "faults": [{"kind": NAME, …}]}`. Every fault is
//! off unless the plan names it; with no plan the fake behaves as if this
//! module did not exist. Each decision that involves chance draws from the
//! account's generator, seeded from the plan's seed, and the trace records
//! the decision and the draw, so the same seed replays the same run.
//! docs/faults.md describes every kind and parameter.

mod repeated_keys;

use std::collections::HashMap;

use axum::http::StatusCode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::account::{AccountData, Task};
use crate::events::delivery::{self, Prepared};
use crate::events::type_matches;
use crate::wire::{ApiError, ErrorType};

pub use repeated_keys::reject_repeated_keys;

/// Ways to forge a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forgery {
    WrongSecret,
    StaleTimestamp,
    TamperedBody,
}

impl Forgery {
    /// Every way to forge, in the order the docs list them.
    pub const ALL: [Forgery; 3] = [
        Forgery::WrongSecret,
        Forgery::StaleTimestamp,
        Forgery::TamperedBody,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Forgery::WrongSecret => "wrong_secret",
            Forgery::StaleTimestamp => "stale_timestamp",
            Forgery::TamperedBody => "tampered_body",
        }
    }
}

/// The kind of a scheduled delivery: the event itself, a deliberate
/// duplicate, or a forgery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Duplicate,
    Forged(Forgery),
}

/// A fault that changes the response to an API request.
#[derive(Debug, Clone)]
pub enum ApiFault {
    /// Respond with this error instead of running the request.
    Error(ApiError),
    /// Run the request after this delay.
    Latency(std::time::Duration),
}

/// The way a payment intent's metadata departs from what the session requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Divergence {
    /// The keys are missing from the payment intent.
    #[default]
    Missing,
    /// The keys have other values.
    Changed,
    /// The payment intent starts right and is rewritten later, with a
    /// `payment_intent.updated` event.
    Rewritten,
}

/// The distribution a webhook delay is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    #[default]
    Fixed,
    Uniform,
    Exponential,
}

fn one() -> f64 {
    1.0
}
fn one_u32() -> u32 {
    1
}
fn thirty() -> i64 {
    30
}
fn sixty() -> i64 {
    60
}
fn one_second() -> i64 {
    1
}
fn all_forgeries() -> Vec<Forgery> {
    vec![Forgery::WrongSecret]
}

/// One fault of a plan. Field names are the plan's parameter names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    PaymentStatusLag {
        #[serde(default = "thirty")]
        seconds: i64,
        #[serde(default = "one")]
        probability: f64,
    },
    StaleRead {
        #[serde(default = "thirty")]
        seconds: i64,
        #[serde(default)]
        resources: Vec<String>,
        #[serde(default = "one")]
        probability: f64,
    },
    MetadataDivergence {
        #[serde(default)]
        mode: Divergence,
        #[serde(default)]
        keys: Vec<String>,
        #[serde(default)]
        after_seconds: i64,
    },
    WebhookDelay {
        #[serde(default)]
        distribution: Distribution,
        #[serde(default)]
        seconds: i64,
        #[serde(default)]
        min_seconds: i64,
        #[serde(default)]
        max_seconds: i64,
        #[serde(default)]
        mean_seconds: f64,
        #[serde(default)]
        types: Vec<String>,
    },
    WebhookOrder {
        #[serde(default)]
        order: Vec<String>,
        #[serde(default)]
        shuffle: bool,
        #[serde(default)]
        types: Vec<String>,
        #[serde(default = "one_second")]
        spacing_seconds: i64,
    },
    WebhookDuplicate {
        #[serde(default)]
        types: Vec<String>,
        #[serde(default = "one_u32")]
        copies: u32,
        #[serde(default)]
        concurrent: bool,
        #[serde(default)]
        delay_seconds: i64,
        #[serde(default = "one")]
        probability: f64,
    },
    WebhookDrop {
        #[serde(default)]
        types: Vec<String>,
        #[serde(default = "one_u32")]
        attempts: u32,
    },
    Hold {
        types: Vec<String>,
    },
    ApiError {
        #[serde(default)]
        routes: Vec<String>,
        #[serde(default)]
        status: Option<u16>,
        #[serde(default)]
        latency_ms: Option<u64>,
        #[serde(default = "one_u32")]
        count: u32,
        #[serde(default)]
        skip: u32,
    },
    LostResponse {
        #[serde(default)]
        routes: Vec<String>,
        #[serde(default = "one_u32")]
        count: u32,
        #[serde(default)]
        skip: u32,
        #[serde(default)]
        drop_connection: bool,
    },
    ForgedWebhook {
        #[serde(default)]
        types: Vec<String>,
        #[serde(default = "all_forgeries")]
        forgeries: Vec<Forgery>,
    },
    SearchLag {
        #[serde(default = "sixty")]
        seconds: i64,
    },
}

/// Every fault kind, for error messages and the schema.
pub const KINDS: &[&str] = &[
    "payment_status_lag",
    "stale_read",
    "metadata_divergence",
    "webhook_delay",
    "webhook_order",
    "webhook_duplicate",
    "webhook_drop",
    "hold",
    "api_error",
    "lost_response",
    "forged_webhook",
    "search_lag",
];

/// A parsed plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub seed: Option<u64>,
    #[serde(default)]
    pub faults: Vec<Fault>,
}

/// A delivery held by a `hold` fault until released.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub endpoint: String,
    pub held_at: i64,
}

/// The fault plan in force, its generator and its bookkeeping.
#[derive(Debug)]
pub struct FaultState {
    /// The plan as set, with its seed filled in.
    pub plan: Option<Value>,
    faults: Vec<Fault>,
    pub rng: ChaCha8Rng,
    default_seed: u64,
    /// Calls each API fault has matched, by fault index.
    matched: Vec<u32>,
    /// Sessions whose paid state is hidden: until when, and the version
    /// retrieve shows meanwhile.
    lags: HashMap<String, (i64, Value)>,
    held: Vec<Held>,
    /// Copies to send at once with the next delivery of an event to an
    /// endpoint, asked for through a resend.
    bursts: HashMap<(String, String), u32>,
}

impl FaultState {
    pub fn new(seed: u64) -> Self {
        FaultState {
            plan: None,
            faults: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            default_seed: seed,
            matched: Vec::new(),
            lags: HashMap::new(),
            held: Vec::new(),
            bursts: HashMap::new(),
        }
    }
}

/// The deliveries to schedule for one event and endpoint: a delay in
/// seconds and what each send is.
#[derive(Debug, Clone, Default)]
pub struct DeliveryPlan {
    pub sends: Vec<(i64, Variant)>,
}

/// Most seconds any fault may delay or hide something: thirty days.
pub const MAX_SECONDS: i64 = 30 * 24 * 3600;

/// Parses and checks a plan. Errors name the field (`faults[1][copies]`)
/// and, for an unknown kind, list the valid ones.
/// The maximum number of entries in a fault plan.
pub const MAX_PLAN_ENTRIES: usize = 100;

/// The maximum number of duplicate copies of one delivery, however many
/// `webhook_duplicate` entries match its event.
pub const MAX_COPIES: usize = 20;

pub fn parse_plan(value: &Value) -> Result<Plan, ApiError> {
    let Some(object) = value.as_object() else {
        return Err(ApiError::invalid_param(
            "plan",
            "A fault plan is an object: {\"seed\": N, \"faults\": [...]}.",
        ));
    };
    for key in object.keys() {
        if key != "seed" && key != "faults" {
            return Err(
                ApiError::unknown_param(key.clone()).with_extra("valid", json!(["seed", "faults"]))
            );
        }
    }
    if let Some(seed) = object.get("seed")
        && !seed.is_null()
        && !seed.is_u64()
    {
        return Err(ApiError::invalid_param(
            "seed",
            "seed must be a whole number from 0 to 18446744073709551615.",
        ));
    }
    let faults = match object.get("faults") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            return Err(ApiError::invalid_param(
                "faults",
                "faults must be a list of {\"kind\": NAME, …} objects.",
            ));
        }
    };
    if faults.len() > MAX_PLAN_ENTRIES {
        return Err(ApiError::invalid_param(
            "faults",
            format!(
                "A fault plan has at most {MAX_PLAN_ENTRIES} entries; this one has {}. Merge entries of the same kind with a list of `types`.",
                faults.len()
            ),
        ));
    }
    let mut parsed = Vec::with_capacity(faults.len());
    for (index, item) in faults.iter().enumerate() {
        if !item.is_object() {
            return Err(ApiError::invalid_param(
                format!("faults[{index}]"),
                format!(
                    "Each fault must be an object such as {{\"kind\": \"hold\", …}}; got {item}."
                ),
            ));
        }
        let kind = item.get("kind").and_then(Value::as_str).unwrap_or_default();
        if let Some(other) = item.get("kind").filter(|kind| !kind.is_string()) {
            return Err(ApiError::invalid_param(
                format!("faults[{index}][kind]"),
                format!(
                    "kind must be a string, one of: {}; got {other}.",
                    KINDS.join(", ")
                ),
            ));
        }
        if !KINDS.contains(&kind) {
            let nearest = nearest_kind(kind)
                .map(|k| format!(" Did you mean `{k}`?"))
                .unwrap_or_default();
            let message = if kind.is_empty() {
                format!("Each fault needs a kind, one of: {}.", KINDS.join(", "))
            } else {
                format!(
                    "Unknown fault kind `{kind}`.{nearest} Valid kinds: {}.",
                    KINDS.join(", ")
                )
            };
            let error = ApiError::invalid_param(format!("faults[{index}][kind]"), message);
            return Err(if item.get("kind").is_none() {
                error.with_code("parameter_missing")
            } else {
                error
            });
        }
        let item = &whole_numbers(item, index)?;
        let fault: Fault = serde_json::from_value(item.clone()).map_err(|err| {
            let message = err.to_string();
            let field = message
                .split('`')
                .nth(1)
                .filter(|_| message.contains("field"))
                .map(str::to_owned)
                .or_else(|| field_at_fault(item, &message));
            let param = match field {
                Some(field) => format!("faults[{index}][{field}]"),
                None => format!("faults[{index}]"),
            };
            let nearest = nearest_field(&message)
                .map(|name| format!(" Did you mean `{name}`?"))
                .unwrap_or_default();
            let code = crate::wire::error::serde_code(&message);
            let message = crate::wire::error::plain_types(&message);
            ApiError::invalid_param(param, format!("Invalid {kind} fault: {message}.{nearest}"))
                .with_code(code)
        })?;
        check_fault(&fault, index)?;
        parsed.push(fault);
    }
    Ok(Plan {
        seed: object.get("seed").and_then(Value::as_u64),
        faults: parsed,
    })
}

/// Returns the parameter a misspelt one most likely means, from the
/// deserializer's message for an unknown field: "unknown field `attempt`,
/// expected `types` or `attempts`".
fn nearest_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| (strsim::jaro_winkler(name, unknown), name))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// The range of each whole-number parameter of a fault, by name. A name
/// has the same range in every kind that takes it.
const INTEGER_RANGES: &[(&str, i64, i64)] = &[
    ("seconds", 0, MAX_SECONDS),
    ("min_seconds", 0, MAX_SECONDS),
    ("max_seconds", 0, MAX_SECONDS),
    ("after_seconds", 0, MAX_SECONDS),
    ("delay_seconds", 0, MAX_SECONDS),
    ("spacing_seconds", 1, 3600),
    ("copies", 1, 20),
    ("attempts", 1, 10),
    ("latency_ms", 0, 60_000),
    ("count", 1, u32::MAX as i64),
    ("skip", 0, u32::MAX as i64),
];

/// Returns a fault entry with its whole-number parameters as integers
/// (`5.0` as `5`), or rejects one outside its parameter's range with the
/// range. Checked before the entry is parsed, because a number that does
/// not fit the parameter's type would get the parser's message, which
/// names no range.
fn whole_numbers(item: &Value, index: usize) -> Result<Value, ApiError> {
    let mut item = item.clone();
    let Some(fields) = item.as_object_mut() else {
        return Ok(item);
    };
    for name in INTEGER_RANGES
        .iter()
        .map(|(name, ..)| *name)
        .chain(["status"])
    {
        if let Some(value) = fields.get_mut(name)
            && let Some(float) = value.as_f64().filter(|_| value.is_f64())
            && float.fract() == 0.0
            && float.abs() < 9.0e15
        {
            *value = Value::from(float as i64);
        }
    }
    // `status` takes three values, not a range.
    if let Some(status) = fields.get("status").and_then(Value::as_number)
        && !matches!(status.as_u64(), Some(429 | 500 | 503))
    {
        return Err(ApiError::invalid_param(
            format!("faults[{index}][status]"),
            format!("status must be 429, 500 or 503, not {status}."),
        ));
    }
    for &(name, min, max) in INTEGER_RANGES {
        let Some(number) = fields.get(name).and_then(Value::as_number) else {
            continue;
        };
        let value = number
            .as_i64()
            .map_or_else(|| number.as_f64(), |n| Some(n as f64));
        let fits = value.is_some_and(|v| v.fract() == 0.0 && v >= min as f64 && v <= max as f64);
        if !fits {
            return Err(ApiError::invalid_param(
                format!("faults[{index}][{name}]"),
                format!("{name} must be a whole number between {min} and {max}; got {number}."),
            ));
        }
    }
    Ok(item)
}

fn check_fault(fault: &Fault, index: usize) -> Result<(), ApiError> {
    let param = |name: &str| format!("faults[{index}][{name}]");
    let probability = |value: f64| {
        if (0.0..=1.0).contains(&value) {
            Ok(())
        } else {
            Err(ApiError::invalid_param(
                param("probability"),
                "probability must be between 0 and 1.",
            ))
        }
    };
    let patterns = |name: &str, list: &[String]| check_patterns(list, &param(name));
    match fault {
        Fault::PaymentStatusLag { probability: p, .. } => probability(*p)?,
        Fault::StaleRead {
            resources,
            probability: p,
            ..
        } => {
            probability(*p)?;
            for (i, resource) in resources.iter().enumerate() {
                if !READABLE.contains(&resource.as_str()) {
                    return Err(ApiError::invalid_param(
                        format!("faults[{index}][resources][{i}]"),
                        format!(
                            "Unknown resource `{resource}`: use {}.",
                            READABLE.join(", ")
                        ),
                    ));
                }
            }
        }
        Fault::MetadataDivergence { .. } | Fault::SearchLag { .. } => {}
        Fault::WebhookDelay {
            distribution,
            min_seconds,
            max_seconds,
            mean_seconds,
            types,
            ..
        } => {
            patterns("types", types)?;
            if *distribution == Distribution::Uniform && min_seconds > max_seconds {
                return Err(ApiError::invalid_param(
                    param("max_seconds"),
                    "max_seconds must not be below min_seconds.",
                ));
            }
            if *distribution == Distribution::Exponential
                && !(mean_seconds.is_finite()
                    && *mean_seconds > 0.0
                    && *mean_seconds <= MAX_SECONDS as f64)
            {
                return Err(ApiError::invalid_param(
                    param("mean_seconds"),
                    if *mean_seconds == 0.0 {
                        format!(
                            "The exponential distribution needs mean_seconds, above 0 and at most {MAX_SECONDS}."
                        )
                    } else {
                        format!(
                            "mean_seconds must be above 0 and at most {MAX_SECONDS} for the exponential distribution; got {mean_seconds:?}."
                        )
                    },
                ));
            }
        }
        Fault::WebhookOrder {
            order,
            shuffle,
            types,
            ..
        } => {
            patterns("order", order)?;
            patterns("types", types)?;
            if order.is_empty() != *shuffle {
                let problem = if *shuffle { "not both" } else { "one of them" };
                return Err(ApiError::invalid_param(
                    param("order"),
                    format!(
                        "Give either order (a list of event types) or shuffle: true, {problem}."
                    ),
                ));
            }
        }
        Fault::WebhookDuplicate {
            types,
            probability: p,
            ..
        } => {
            patterns("types", types)?;
            probability(*p)?;
        }
        Fault::WebhookDrop { types, .. } => patterns("types", types)?,
        Fault::Hold { types } => {
            if types.is_empty() {
                return Err(ApiError::invalid_param(
                    param("types"),
                    "hold needs the event types to hold in types, such as [\"checkout.session.completed\"]; [\"*\"] holds every event.",
                ));
            }
            patterns("types", types)?;
        }
        Fault::ApiError {
            routes,
            status,
            latency_ms,
            ..
        } => {
            check_routes(routes, index)?;
            match (status, latency_ms) {
                (Some(429 | 500 | 503), None) => {}
                // `whole_numbers` has checked the range.
                (None, Some(_)) => {}
                (Some(_), Some(_)) => {
                    return Err(ApiError::invalid_param(
                        param("latency_ms"),
                        "Give status or latency_ms, not both.",
                    ));
                }
                (Some(other), None) => {
                    return Err(ApiError::invalid_param(
                        param("status"),
                        format!("status must be 429, 500 or 503, not {other}."),
                    ));
                }
                (None, None) => {
                    return Err(ApiError::invalid_param(
                        param("status"),
                        "api_error needs status (429, 500 or 503) to fail calls, or latency_ms to slow them down.",
                    ));
                }
            }
        }
        Fault::LostResponse { routes, .. } => check_routes(routes, index)?,
        Fault::ForgedWebhook { types, forgeries } => {
            patterns("types", types)?;
            if forgeries.is_empty() {
                let quote = |forgery: &Forgery| format!("`{}`", forgery.name());
                let choices: Vec<String> = Forgery::ALL.iter().map(quote).collect();
                let defaults: Vec<String> = all_forgeries().iter().map(quote).collect();
                return Err(ApiError::invalid_param(
                    param("forgeries"),
                    format!(
                        "forgeries is an empty list: give one or more of {}, \
                         or leave it out to send {}.",
                        choices.join(", "),
                        defaults.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Rejects the first item of `list`, the parameter `param`, that is not an
/// event type pattern.
fn check_patterns(list: &[String], param: &str) -> Result<(), ApiError> {
    for (index, pattern) in list.iter().enumerate() {
        if !is_type_pattern(pattern) {
            return Err(ApiError::invalid_param(
                format!("{param}[{index}]"),
                format!(
                    "`{pattern}` is not an event type pattern; use a type such as checkout.session.completed, or a prefix with one `*` at the end such as checkout.session.*."
                ),
            ));
        }
    }
    Ok(())
}

/// Resources whose reads the stale-read fault can affect.
pub const READABLE: &[&str] = &["checkout.session", "payment_intent"];

fn check_routes(routes: &[String], index: usize) -> Result<(), ApiError> {
    for (i, route) in routes.iter().enumerate() {
        let path = route
            .split_once(' ')
            .map_or(route.as_str(), |(_, path)| path);
        let method_ok = route
            .split_once(' ')
            .is_none_or(|(m, _)| matches!(m, "GET" | "POST" | "DELETE" | "*"));
        if !path.starts_with("/v1/") || !method_ok {
            return Err(ApiError::invalid_param(
                format!("faults[{index}][routes][{i}]"),
                format!(
                    "`{route}` is not a route: use METHOD and path template, such as `POST /v1/checkout/sessions` or `GET /v1/checkout/sessions/{{id}}`, or a path prefix ending in *."
                ),
            ));
        }
        let method = route.split_once(' ').map(|(m, _)| m);
        if path[..path.len() - 1].contains('*') {
            return Err(ApiError::invalid_param(
                format!("faults[{index}][routes][{i}]"),
                format!(
                    "`{route}` has a `*` before its end: a pattern is a route, or a prefix that ends in one `*`, such as `/v1/checkout/sessions/*`."
                ),
            ));
        }
        if !route_exists(method, path) {
            // The suggestion takes the pattern's method, so it names a
            // route that exists as written.
            let method = method
                .filter(|m| *m != "*")
                .and_then(|m| axum::http::Method::from_bytes(m.as_bytes()).ok());
            let nearest = crate::resources::TEMPLATES
                .iter()
                .filter(|t| {
                    method
                        .as_ref()
                        .is_none_or(|m| crate::resources::route(m, t).is_some())
                })
                .map(|t| (strsim::jaro_winkler(t, path.trim_end_matches('*')), *t))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, t)| match &method {
                    Some(m) => format!(" The nearest is `{m} {t}`."),
                    None => format!(" The nearest is `{t}`."),
                })
                .unwrap_or_default();
            return Err(ApiError::invalid_param(
                format!("faults[{index}][routes][{i}]"),
                format!(
                    "`{route}` matches no route of the fake, so the fault would never apply.{nearest} docs/faults.md lists the routes."
                ),
            ));
        }
    }
    Ok(())
}

/// Returns whether some API route matches a pattern's method (`None` or `*` for
/// any) and path, as `matches_route` compares them: a template, a path of
/// concrete ids, or a prefix ending in `*`.
fn route_exists(method: Option<&str>, path: &str) -> bool {
    use crate::resources::TEMPLATES;
    let methods: &[axum::http::Method] = match method {
        Some("GET") => &[axum::http::Method::GET],
        Some("POST") => &[axum::http::Method::POST],
        Some("DELETE") => &[axum::http::Method::DELETE],
        _ => &[
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::DELETE,
        ],
    };
    let routes = |path: &str| {
        methods
            .iter()
            .filter_map(|m| crate::resources::route(m, path))
            .map(|route| route.template)
            .collect::<Vec<_>>()
    };
    match path.strip_suffix('*') {
        // A prefix of a template, or of a path with a concrete id, as
        // `/v1/customers/cus_` or `/v1/checkout/sessions/cs_1/`.
        // The route must also take one of the pattern's methods.
        Some(prefix) => TEMPLATES.iter().any(|template| {
            let under = template.starts_with(prefix)
                || template.find('{').is_some_and(|open| {
                    let (fixed, after_id) = (&template[..open], &template[open + "{id}".len()..]);
                    match prefix.strip_prefix(fixed).map(|rest| rest.split_once('/')) {
                        None => false,
                        Some(None) => !prefix[fixed.len()..].contains(['{', '}']),
                        Some(Some((id, tail))) => {
                            !id.is_empty()
                                && !id.contains(['{', '}'])
                                && after_id.starts_with(&format!("/{tail}"))
                        }
                    }
                });
            under && routes(template).contains(template)
        }),
        // A template as written, or a path of ids that routes, spelled as
        // the request path is.
        None if path.contains(['{', '}']) => {
            TEMPLATES.contains(&path) && routes(path).contains(&path)
        }
        None => !path.ends_with('/') && !path.contains("//") && !routes(path).is_empty(),
    }
}

/// Finds the field of a fault entry whose value has the wrong type. The
/// entry is read through its `kind` tag, which hides the field from the
/// deserializer's message, so each field is left out in turn until the
/// message changes.
fn field_at_fault(item: &Value, message: &str) -> Option<String> {
    let object = item.as_object()?;
    object.keys().filter(|key| *key != "kind").find_map(|key| {
        let mut without = object.clone();
        without.remove(key);
        let changed = match serde_json::from_value::<Fault>(Value::Object(without)) {
            Ok(_) => true,
            Err(err) => err.to_string() != message,
        };
        changed.then(|| key.clone())
    })
}

/// Returns the fault kind a misspelt `kind` most likely means: the one of
/// highest Jaro-Winkler similarity to `kind` or to its words reversed,
/// when that is above 0.8. The scenario
/// loader suggests kinds with it too, so both name the same one.
pub fn nearest_kind(kind: &str) -> Option<&'static str> {
    // The words in reverse order too, so `webhook_forge` finds
    // `forged_webhook`.
    let reversed: Vec<&str> = kind.split('_').rev().collect();
    let reversed = reversed.join("_");
    KINDS
        .iter()
        .map(|k| {
            let score = strsim::jaro_winkler(k, kind).max(strsim::jaro_winkler(k, &reversed));
            (score, *k)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.8)
        .map(|(_, k)| k)
}

/// Checks a plan without setting it.
pub fn validate_plan(plan: &Value) -> Result<(), ApiError> {
    parse_plan(plan).map(|_| ())
}

/// Sets an account's plan, replacing any other. The generator restarts
/// from the plan's seed (or the account's own when the plan has none).
/// On an account with no objects yet but webhook endpoints, ids restart
/// from the seed too, so a seed replays the same ids on a new account.
/// After a reset, ids drawn from the seed before are not drawn again.
pub fn set_plan(data: &mut AccountData, plan: Value) -> Result<(), ApiError> {
    let parsed = parse_plan(&plan)?;
    check_sent_types(&plan)?;
    let seed = parsed.seed.unwrap_or(data.faults.default_seed);
    let mut shown = plan;
    shown["seed"] = json!(seed);
    if shown.get("faults").is_none_or(Value::is_null) {
        shown["faults"] = json!([]);
    }
    // The plan is shown with whole numbers as they were read: `5.0` as 5.
    if let Some(items) = shown["faults"].as_array_mut() {
        for (index, item) in items.iter_mut().enumerate() {
            if let Ok(normal) = whole_numbers(item, index) {
                *item = normal;
            }
        }
    }
    data.faults.rng = ChaCha8Rng::seed_from_u64(seed);
    data.faults.matched = vec![0; parsed.faults.len()];
    data.faults.faults = parsed.faults;
    data.faults.plan = Some(shown.clone());
    if parsed.seed.is_some() && data.store.holds_only(&["webhook_endpoint"]) {
        data.ids.restart(seed);
    }
    data.trace("fault", json!({"decision": "plan_set", "plan": shown}));
    Ok(())
}

/// The plan in force, as `GET /_fakestripe/faults` shows it.
pub fn plan_view(data: &AccountData) -> Value {
    data.faults
        .plan
        .clone()
        .unwrap_or_else(|| json!({"seed": data.faults.default_seed, "faults": []}))
}

/// Removes the plan. Held deliveries stay held until released; lags end.
pub fn clear_plan(data: &mut AccountData) {
    data.faults.plan = None;
    data.faults.faults.clear();
    data.faults.matched.clear();
    data.faults.lags.clear();
    data.trace("fault", json!({"decision": "plan_cleared"}));
}

/// Rejects the first pattern of a fault's `types` or `order` that matches
/// no event type the fake sends. Such a fault would never apply, which
/// looks like an app that passes, so a plan with one is not set. The
/// patterns are already well shaped ([`check_patterns`]).
fn check_sent_types(plan: &Value) -> Result<(), ApiError> {
    use crate::resources::event_types::{SENT_EVENT_TYPES, is_event_type, nearest_type};

    let items = plan.get("faults").and_then(Value::as_array);
    for (index, item) in items.into_iter().flatten().enumerate() {
        for key in ["types", "order"] {
            let patterns = item.get(key).and_then(Value::as_array);
            for (at, pattern) in patterns.into_iter().flatten().enumerate() {
                let Some(pattern) = pattern.as_str() else {
                    continue;
                };
                if SENT_EVENT_TYPES
                    .iter()
                    .any(|name| type_matches(pattern, name))
                {
                    continue;
                }
                // Only a name that is no event type may be a misspelt one.
                let mut nearest = None;
                let reason = if pattern.ends_with('*') {
                    format!("`{pattern}` matches no event type that the fake sends")
                } else if is_event_type(pattern) {
                    format!("The fake never sends `{pattern}` events")
                } else {
                    nearest = nearest_type(SENT_EVENT_TYPES, pattern);
                    format!("Unknown event type `{pattern}`")
                };
                let nearest = nearest
                    .map(|name| format!(" Did you mean `{name}`?"))
                    .unwrap_or_default();
                return Err(ApiError::invalid_param(
                    format!("faults[{index}][{key}][{at}]"),
                    format!(
                        "{reason}, so this fault would never apply.{nearest} The fake sends: {}.",
                        SENT_EVENT_TYPES.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Returns whether `pattern` is shaped like an event type pattern: `*`
/// alone, or parts of lowercase letters and `_` joined by `.`, with at
/// most one `*` at the end for a prefix match (`events::type_matches`).
fn is_type_pattern(pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (body, prefix) = match pattern.strip_suffix('*') {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
        && !body.starts_with('.')
        && !body.contains("..")
        && (prefix || !body.ends_with('.'))
}

fn matches_types(types: &[String], event_type: &str) -> bool {
    types.is_empty()
        || types
            .iter()
            .any(|pattern| type_matches(pattern, event_type))
}

/// Whether a route pattern matches a route such as
/// `POST /v1/checkout/sessions/{id}` for the request path `path`.
fn matches_route(routes: &[String], method: &str, template: &str, path: &str) -> bool {
    if routes.is_empty() {
        return true;
    }
    routes.iter().any(|pattern| {
        let (want_method, want_path) = match pattern.split_once(' ') {
            Some((m, p)) => (Some(m), p),
            None => (None, pattern.as_str()),
        };
        let method_ok = want_method.is_none_or(|m| m == "*" || m == method);
        let path_ok = match want_path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix) || template.starts_with(prefix),
            None => want_path == template || want_path == path,
        };
        method_ok && path_ok
    })
}

/// Draws a number in `0..1` and writes the decision to the trace.
fn draw(data: &mut AccountData) -> f64 {
    data.faults.rng.random::<f64>()
}

/// An API request as route patterns see it.
#[derive(Debug, Clone, Copy)]
pub struct RouteCall<'a> {
    pub method: &'a str,
    /// The route's template, such as `/v1/checkout/sessions/{id}`.
    pub template: &'a str,
    pub path: &'a str,
    pub request_id: &'a str,
    /// A session retrieve with `expand[]=line_items`. It reads the line
    /// items as their list does, so patterns of the list match it too.
    pub expands_line_items: bool,
}

impl RouteCall<'_> {
    /// Returns whether one of `routes` matches this call.
    fn matches(&self, routes: &[String]) -> bool {
        matches_route(routes, self.method, self.template, self.path)
            || (self.expands_line_items
                && matches_route(
                    routes,
                    self.method,
                    "/v1/checkout/sessions/{id}/line_items",
                    &format!("{}/line_items", self.path),
                ))
    }
}

/// Returns the `api_error` fault, if any, for an API request, decided
/// before the request runs. A request that will not run (an idempotent
/// replay, a rejected key) is not matched or counted.
pub fn api_fault(data: &mut AccountData, call: &RouteCall<'_>, runs: bool) -> Option<ApiFault> {
    let RouteCall {
        method,
        template,
        request_id,
        ..
    } = *call;
    for index in 0..data.faults.faults.len() {
        let (count, skip) = match &data.faults.faults[index] {
            Fault::ApiError {
                routes,
                count,
                skip,
                ..
            } if runs && call.matches(routes) => (*count, *skip),
            _ => continue,
        };
        let Some(matched) = next_match(data, index, count, skip) else {
            continue;
        };
        let fault = match &data.faults.faults[index] {
            Fault::ApiError {
                status: Some(status),
                ..
            } => ApiFault::Error(injected_error(*status)),
            Fault::ApiError {
                latency_ms: Some(ms),
                ..
            } => ApiFault::Latency(std::time::Duration::from_millis(*ms)),
            _ => continue,
        };
        let name = match &fault {
            ApiFault::Error(err) => format!("api_error {}", err.status.as_u16()),
            ApiFault::Latency(d) => format!("latency {} ms", d.as_millis()),
        };
        data.trace(
            "fault",
            json!({"decision": name, "fault_index": index, "route": format!("{method} {template}"), "request_id": request_id, "call": matched}),
        );
        return Some(fault);
    }
    None
}

/// Decides whether the client loses the response to a call whose handler
/// succeeded and committed its writes: `Some(drop_connection)` when a
/// `lost_response` fault takes it. Only such calls match the fault and
/// count against it, since a rejected call commits nothing to lose.
pub fn lost_response(data: &mut AccountData, call: &RouteCall<'_>) -> Option<bool> {
    let RouteCall {
        method,
        template,
        request_id,
        ..
    } = *call;
    for index in 0..data.faults.faults.len() {
        let (count, skip, drop) = match &data.faults.faults[index] {
            Fault::LostResponse {
                routes,
                count,
                skip,
                drop_connection,
            } if call.matches(routes) => (*count, *skip, *drop_connection),
            _ => continue,
        };
        let Some(matched) = next_match(data, index, count, skip) else {
            continue;
        };
        let name = if drop {
            "lost_response (connection dropped)"
        } else {
            "lost_response"
        };
        data.trace(
            "fault",
            json!({"decision": name, "fault_index": index, "route": format!("{method} {template}"), "request_id": request_id, "call": matched}),
        );
        return Some(drop);
    }
    None
}

/// Counts one more matching call of fault `index` and returns its number
/// when it falls within the fault's window (after `skip`, at most `count`).
fn next_match(data: &mut AccountData, index: usize, count: u32, skip: u32) -> Option<u32> {
    data.faults.matched[index] += 1;
    let matched = data.faults.matched[index];
    (matched > skip && matched <= skip + count).then_some(matched)
}

fn injected_error(status: u16) -> ApiError {
    match status {
        429 => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorType::InvalidRequest,
            "Too many requests hit the API too quickly (api_error fault). Retry with exponential backoff.",
        )
        .with_code("rate_limit")
        .with_header("stripe-should-retry", "true"),
        503 => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Api,
            "The service is temporarily unavailable (api_error fault). Retry later.",
        )
        .with_header("stripe-should-retry", "true"),
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Api,
            "Something went wrong on Stripe's end (api_error fault). The request was not applied.",
        ),
    }
}

/// The error a client sees when the response to a committed write is lost.
pub fn lost_response_error() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorType::Api,
        "The response was lost after the request was committed (lost_response fault). \
         Retry with the same Idempotency-Key to get the committed object.",
    )
}

/// How one event's deliveries to one endpoint are scheduled: held, delayed,
/// reordered, duplicated or accompanied by forgeries.
pub fn plan_delivery(
    data: &mut AccountData,
    event_id: &str,
    event_type: &str,
    _object: &Value,
    endpoint_id: &str,
) -> DeliveryPlan {
    let faults = data.faults.faults.clone();
    if faults.is_empty() {
        return DeliveryPlan {
            sends: vec![(0, Variant::Original)],
        };
    }
    for fault in &faults {
        if let Fault::Hold { types } = fault
            && matches_types(types, event_type)
        {
            let held_at = data.now();
            data.faults.held.push(Held {
                event_id: event_id.to_owned(),
                event_type: event_type.to_owned(),
                endpoint: endpoint_id.to_owned(),
                held_at,
            });
            data.trace("fault", json!({"decision": "hold", "event_id": event_id, "type": event_type, "endpoint": endpoint_id}));
            return DeliveryPlan::default();
        }
    }
    let mut delay = 0;
    let mut sends = Vec::new();
    for fault in &faults {
        match fault {
            Fault::WebhookDelay {
                distribution,
                seconds,
                min_seconds,
                max_seconds,
                mean_seconds,
                types,
            } if matches_types(types, event_type) => {
                let roll = draw(data);
                let drawn = match distribution {
                    Distribution::Fixed => *seconds,
                    Distribution::Uniform => {
                        min_seconds
                            + (roll * ((max_seconds - min_seconds + 1) as f64)).floor() as i64
                    }
                    Distribution::Exponential => (-(1.0 - roll).ln() * mean_seconds)
                        .round()
                        .min(MAX_SECONDS as f64)
                        as i64,
                };
                delay += drawn;
                data.trace("fault", json!({"decision": "webhook_delay", "event_id": event_id, "type": event_type, "draw": roll, "seconds": drawn}));
            }
            Fault::WebhookOrder {
                order,
                shuffle,
                types,
                spacing_seconds,
            } => {
                let rank = if *shuffle {
                    if !matches_types(types, event_type) {
                        continue;
                    }
                    let roll = draw(data);
                    let rank = (roll * 10.0).floor() as i64;
                    data.trace("fault", json!({"decision": "webhook_order", "event_id": event_id, "type": event_type, "draw": roll, "rank": rank}));
                    rank
                } else {
                    match order
                        .iter()
                        .position(|pattern| type_matches(pattern, event_type))
                    {
                        Some(position) => {
                            data.trace("fault", json!({"decision": "webhook_order", "event_id": event_id, "type": event_type, "rank": position + 1}));
                            position as i64 + 1
                        }
                        None => continue,
                    }
                };
                delay += rank * spacing_seconds;
            }
            _ => {}
        }
    }
    for forged in forgeries(data, event_id, event_type) {
        sends.push((delay, forged));
    }
    sends.push((delay, Variant::Original));
    sends.extend(sequential_duplicates(data, event_id, event_type, delay));
    DeliveryPlan { sends }
}

/// Returns the copies that the sequential `webhook_duplicate` entries of
/// the plan in force send after the genuine delivery, which goes out
/// `delay` seconds from now.
fn sequential_duplicates(
    data: &mut AccountData,
    event_id: &str,
    event_type: &str,
    delay: i64,
) -> Vec<(i64, Variant)> {
    let mut sends = Vec::new();
    for fault in data.faults.faults.clone() {
        if let Fault::WebhookDuplicate {
            types,
            copies,
            concurrent: false,
            delay_seconds,
            probability,
        } = fault
            && matches_types(&types, event_type)
        {
            let roll = draw(data);
            if roll >= probability {
                continue;
            }
            data.trace("fault", json!({"decision": "webhook_duplicate", "event_id": event_id, "type": event_type, "draw": roll, "copies": copies}));
            let room = u32::try_from(MAX_COPIES.saturating_sub(sends.len())).unwrap_or(0);
            for copy in 0..copies.min(room) {
                sends.push((
                    delay + delay_seconds * i64::from(copy + 1),
                    Variant::Duplicate,
                ));
            }
        }
    }
    sends
}

/// Returns the forged sends that go before the genuine delivery of an
/// event: one per entry in `forgeries` of each matching `forged_webhook`.
fn forgeries(data: &mut AccountData, event_id: &str, event_type: &str) -> Vec<Variant> {
    let mut sends = Vec::new();
    for fault in data.faults.faults.clone() {
        if let Fault::ForgedWebhook { types, forgeries } = fault
            && matches_types(&types, event_type)
        {
            for forgery in forgeries {
                data.trace("fault", json!({"decision": "forged_webhook", "event_id": event_id, "type": event_type, "forgery": forgery.name()}));
                sends.push(Variant::Forged(forgery));
            }
        }
    }
    sends
}

/// Schedules, at `now`, the genuine delivery of an event that a `hold`
/// fault held, after the forgeries that the plan in force sends before it
/// and followed by the copies of its sequential duplicate entries.
fn schedule_released(data: &mut AccountData, held: &Held, now: i64) {
    for forged in forgeries(data, &held.event_id, &held.event_type) {
        data.schedule(
            now,
            Task::deliver(&held.event_id, &held.endpoint, 1, forged),
        );
    }
    data.schedule(
        now,
        Task::deliver(&held.event_id, &held.endpoint, 1, Variant::Original),
    );
    for (delay, copy) in sequential_duplicates(data, &held.event_id, &held.event_type, 0) {
        data.schedule(
            now + delay,
            Task::deliver(&held.event_id, &held.endpoint, 1, copy),
        );
    }
}

/// Builds one scheduled send, applying duplicate, forgery and drop faults.
pub fn prepare_attempt(
    data: &mut AccountData,
    event_id: &str,
    endpoint_id: &str,
    attempt: u32,
    due: i64,
    variant: Variant,
) -> Option<Prepared> {
    if !delivery::endpoint_accepts(data, event_id, endpoint_id, attempt) {
        return None;
    }
    let mut prepared = delivery::prepare(data, event_id, endpoint_id, attempt, due)?;
    match variant {
        Variant::Original => {}
        Variant::Duplicate => {
            prepared.duplicate = true;
            prepared.retry_on_failure = false;
        }
        Variant::Forged(forgery) => {
            let now = data.now();
            let secrets: Vec<String> = data
                .endpoints
                .get(endpoint_id)
                .map(|e| e.live_secrets(now).into_iter().map(str::to_owned).collect())
                .unwrap_or_default();
            let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let wrong = data.ids.next("whsec_");
            delivery::forge(&mut prepared, forgery, &refs, &wrong);
            return Some(prepared);
        }
    }
    if variant == Variant::Original {
        let drops = data.faults.faults.iter().find_map(|fault| match fault {
            Fault::WebhookDrop { types, attempts }
                if matches_types(types, &prepared.event_type) =>
            {
                Some(*attempts)
            }
            _ => None,
        });
        if let Some(attempts) = drops
            && attempt <= attempts
        {
            prepared.lost = true;
            data.trace("fault", json!({"decision": "webhook_drop", "event_id": event_id, "endpoint": endpoint_id, "attempt": attempt}));
        }
    }
    Some(prepared)
}

/// Extra copies of a delivery to send at the same moment, for a concurrent
/// duplicate fault. Only an event's first attempt gets them.
pub fn concurrent_copies(data: &mut AccountData, prepared: &Prepared) -> Vec<Prepared> {
    // A forgery that goes before a released event leaves the burst to the
    // genuine send.
    if prepared.forged.is_some() {
        return Vec::new();
    }
    let burst_key = (prepared.event_id.clone(), prepared.endpoint_id.clone());
    if let Some(count) = data.faults.bursts.remove(&burst_key) {
        return (0..count)
            .map(|_| {
                let mut copy = prepared.clone();
                copy.duplicate = true;
                copy.retry_on_failure = false;
                copy.lost = false;
                copy
            })
            .collect();
    }
    if prepared.attempt != 1 || prepared.duplicate {
        return Vec::new();
    }
    let faults = data.faults.faults.clone();
    let mut copies = Vec::new();
    for fault in &faults {
        if let Fault::WebhookDuplicate {
            types,
            copies: count,
            concurrent: true,
            probability,
            ..
        } = fault
            && matches_types(types, &prepared.event_type)
        {
            let roll = draw(data);
            if roll >= *probability {
                continue;
            }
            data.trace(
                "fault",
                json!({"decision": "webhook_duplicate_concurrent", "event_id": prepared.event_id, "draw": roll, "copies": count}),
            );
            let room = MAX_COPIES.saturating_sub(copies.len());
            for _ in 0..(*count as usize).min(room) {
                let mut copy = prepared.clone();
                copy.duplicate = true;
                copy.retry_on_failure = false;
                copy.lost = false;
                copies.push(copy);
            }
        }
    }
    copies
}

/// The held deliveries, oldest first.
pub fn held(data: &AccountData) -> Vec<Held> {
    data.faults.held.clone()
}

/// Which held deliveries to release, in the order given. Empty releases all.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    #[serde(default)]
    pub event_ids: Vec<String>,
    #[serde(default)]
    pub types: Vec<String>,
}

/// Schedules held deliveries now, in the order asked for; returns how many.
pub fn release(data: &mut AccountData, selector: &Release) -> Result<usize, ApiError> {
    if !selector.event_ids.is_empty() && !selector.types.is_empty() {
        return Err(ApiError::invalid_param(
            "types",
            "Give event_ids or types, not both.",
        ));
    }
    check_patterns(&selector.types, "types")?;
    let mut chosen: Vec<Held> = Vec::new();
    if !selector.event_ids.is_empty() {
        for (index, id) in selector.event_ids.iter().enumerate() {
            let found: Vec<Held> = data
                .faults
                .held
                .iter()
                .filter(|h| &h.event_id == id)
                .cloned()
                .collect();
            if found.is_empty() {
                return Err(ApiError::no_such_param(
                    "held event",
                    id,
                    &format!("event_ids[{index}]"),
                ));
            }
            chosen.extend(found);
        }
    } else if !selector.types.is_empty() {
        for pattern in &selector.types {
            chosen.extend(
                data.faults
                    .held
                    .iter()
                    .filter(|h| type_matches(pattern, &h.event_type))
                    .cloned(),
            );
        }
    } else {
        chosen = data.faults.held.clone();
    }
    let now = data.now();
    let mut count = 0;
    for held in &chosen {
        let Some(position) = data
            .faults
            .held
            .iter()
            .position(|h| h.event_id == held.event_id && h.endpoint == held.endpoint)
        else {
            continue;
        };
        data.faults.held.remove(position);
        data.trace("fault", json!({"decision": "release", "event_id": held.event_id, "type": held.event_type, "endpoint": held.endpoint}));
        schedule_released(data, held, now);
        count += 1;
    }
    Ok(count)
}

/// How to send an event again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resend {
    /// Sends in all; 1 sends the event once more.
    #[serde(default = "one_u32", deserialize_with = "whole_u32")]
    pub copies: u32,
    /// Send the copies at the same moment, in parallel.
    #[serde(default)]
    pub concurrent: bool,
}

/// Reads a whole number that JSON may write as `2` or `2.0`, as a fault
/// plan's numbers are read.
fn whole_u32<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = match (number.as_u64(), number.as_f64()) {
        (Some(n), _) => u32::try_from(n).ok(),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => {
            Some(f as u32)
        }
        _ => None,
    };
    whole.ok_or_else(|| {
        serde::de::Error::custom(format!(
            "expected a whole number from 1 to 20, got {number}"
        ))
    })
}

/// Sends an event again to every endpoint that subscribes to it, as
/// Stripe does when it delivers an event twice. A held event is released
/// instead, and the extra copies follow it. Returns the number of sends
/// scheduled.
pub fn resend(data: &mut AccountData, event_id: &str, request: &Resend) -> Result<usize, ApiError> {
    if !(1..=20).contains(&request.copies) {
        return Err(ApiError::invalid_param(
            "copies",
            format!("copies must be between 1 and 20, got {}.", request.copies),
        ));
    }
    let event_type = data
        .store
        .get("event", event_id)
        .and_then(|e| e["type"].as_str().map(str::to_owned))
        .ok_or_else(|| ApiError::no_such("event", event_id, "id"))?;
    let endpoints: Vec<String> = data
        .endpoints
        .values()
        .filter(|e| e.subscribes_to(&event_type))
        .map(|e| e.id.clone())
        .collect();
    let now = data.now();
    let mut scheduled = 0;
    for endpoint in endpoints {
        let held = data
            .faults
            .held
            .iter()
            .position(|h| h.event_id == event_id && h.endpoint == endpoint);
        let released = held.map(|position| data.faults.held.remove(position));
        let extra = request.copies - 1;
        if request.concurrent && extra > 0 {
            data.faults
                .bursts
                .insert((event_id.to_owned(), endpoint.clone()), extra);
        }
        data.trace(
            "fault",
            json!({"decision": "resend", "event_id": event_id, "endpoint": endpoint, "copies": request.copies, "concurrent": request.concurrent, "released": released.is_some()}),
        );
        match &released {
            Some(held) => schedule_released(data, held, now),
            None => data.schedule(
                now,
                Task::deliver(event_id, &endpoint, 1, Variant::Duplicate),
            ),
        }
        if !request.concurrent {
            for _ in 0..extra {
                data.schedule(
                    now,
                    Task::deliver(event_id, &endpoint, 1, Variant::Duplicate),
                );
            }
        }
        scheduled += request.copies as usize;
    }
    Ok(scheduled)
}

/// The version of an object that a retrieve sees: the current one unless a
/// lag or stale-read fault hides it. `None` answers 404.
pub fn visible(data: &mut AccountData, kind: &str, id: &str) -> Option<Value> {
    let current = data.store.get(kind, id)?;
    if data.faults.faults.is_empty() {
        return Some(current);
    }
    let now = data.now();
    if let Some((until, snapshot)) = data.faults.lags.get(id)
        && now < *until
    {
        let snapshot = snapshot.clone();
        data.trace(
            "fault",
            json!({"decision": "payment_status_lag", "id": id, "until": until}),
        );
        return Some(snapshot);
    }
    let stale = data.faults.faults.iter().find_map(|fault| match fault {
        Fault::StaleRead {
            seconds,
            resources,
            probability,
        } if resources.is_empty() || resources.iter().any(|r| r == kind) => {
            Some((*seconds, *probability))
        }
        _ => None,
    });
    let Some((window, probability)) = stale else {
        return Some(current);
    };
    let newest_written = data.store.written_at(id).unwrap_or(now);
    if now - newest_written >= window {
        return Some(current);
    }
    let roll = draw(data);
    if roll >= probability {
        return Some(current);
    }
    let settled = data
        .store
        .version_at(id, now - window)
        .map(|version| version.object);
    data.trace(
        "fault",
        json!({"decision": "stale_read", "id": id, "draw": roll, "served": if settled.is_some() { "previous_version" } else { "not_found" }}),
    );
    settled
}

/// Returns the window of the plan's `search_lag` fault: searches see each
/// object as it was this many seconds ago.
pub fn search_lag(data: &AccountData) -> Option<i64> {
    data.faults.faults.iter().find_map(|fault| match fault {
        Fault::SearchLag { seconds } => Some(*seconds),
        _ => None,
    })
}

/// Returns whether the plan has a fault that changes what reads see or
/// whether their responses arrive.
pub fn affects_reads(data: &AccountData) -> bool {
    !data.faults.lags.is_empty()
        || data
            .faults
            .faults
            .iter()
            .any(|fault| matches!(fault, Fault::StaleRead { .. } | Fault::LostResponse { .. }))
}

/// The objects of `kind` that a list sees, newest first.
pub fn visible_list(data: &mut AccountData, kind: &str) -> Vec<Value> {
    let ids: Vec<String> = data.store.ids_newest_first(kind).collect();
    ids.iter()
        .filter_map(|id| visible(data, kind, id))
        .collect()
}

/// The metadata a session's payment intent is created with.
pub fn payment_intent_metadata(
    data: &mut AccountData,
    session: &Value,
    metadata: Map<String, Value>,
) -> Map<String, Value> {
    let divergence = data.faults.faults.iter().find_map(|fault| match fault {
        Fault::MetadataDivergence {
            mode,
            keys,
            after_seconds,
        } => Some((*mode, keys.clone(), *after_seconds)),
        _ => None,
    });
    let Some((mode, keys, _)) = divergence else {
        return metadata;
    };
    let affected = |key: &str| keys.is_empty() || keys.iter().any(|k| k == key);
    let result: Map<String, Value> = match mode {
        Divergence::Missing => metadata
            .into_iter()
            .filter(|(key, _)| !affected(key))
            .collect(),
        Divergence::Changed => metadata
            .into_iter()
            .map(|(key, value)| {
                if affected(&key) {
                    let changed = format!("{}-diverged", value.as_str().unwrap_or_default());
                    (key, json!(changed))
                } else {
                    (key, value)
                }
            })
            .collect(),
        Divergence::Rewritten => metadata,
    };
    data.trace("fault", json!({"decision": "metadata_divergence", "session": session["id"], "mode": mode, "metadata": result}));
    result
}

/// Schedules the later rewrite of a payment intent's metadata, for the
/// `rewritten` divergence.
pub fn after_payment_intent_created(data: &mut AccountData, pi_id: &str) {
    let rewrite = data.faults.faults.iter().find_map(|fault| match fault {
        Fault::MetadataDivergence {
            mode: Divergence::Rewritten,
            after_seconds,
            ..
        } => Some(*after_seconds),
        _ => None,
    });
    if let Some(after) = rewrite {
        let at = data.now() + after;
        data.schedule(
            at,
            Task::RewriteMetadata {
                payment_intent: pi_id.into(),
            },
        );
    }
}

/// The metadata key that the `rewritten` divergence adds when the payment
/// intent has none of the affected keys.
pub const REWRITE_MARKER_KEY: &str = "fakestripe_metadata_divergence";

/// Rewrites a payment intent's metadata and emits `payment_intent.updated`.
/// Each affected value gets `-rewritten` appended. When no key is affected,
/// the marker key is added with the value `rewritten`.
pub fn rewrite_metadata(data: &mut AccountData, pi_id: &str) {
    let keys = data.faults.faults.iter().find_map(|fault| match fault {
        Fault::MetadataDivergence { keys, .. } => Some(keys.clone()),
        _ => None,
    });
    let Some(mut pi) = data.store.get("payment_intent", pi_id) else {
        return;
    };
    let before = pi.clone();
    let keys = keys.unwrap_or_default();
    if !pi["metadata"].is_object() {
        pi["metadata"] = json!({});
    }
    if let Some(meta) = pi["metadata"].as_object_mut() {
        let mut rewritten = false;
        for (key, value) in meta.iter_mut() {
            if keys.is_empty() || keys.iter().any(|k| k == key) {
                *value = json!(format!("{}-rewritten", value.as_str().unwrap_or_default()));
                rewritten = true;
            }
        }
        // A payment intent without the affected keys still changes, so the
        // payment_intent.updated event is sent whatever metadata the shop set.
        if !rewritten {
            meta.insert(REWRITE_MARKER_KEY.to_owned(), json!("rewritten"));
        }
    }
    crate::resources::save(data, "payment_intent", pi_id, &pi);
    data.trace("fault", json!({"decision": "metadata_rewrite", "payment_intent": pi_id, "metadata": pi["metadata"]}));
    let previous = crate::events::changed_fields(&before, &pi);
    crate::events::emit(
        data,
        "payment_intent.updated",
        &pi,
        Some(previous),
        &crate::events::Origin::default(),
    );
}

/// Starts a payment_status lag for a session that was just paid: until it
/// ends, retrieve and list show `before`.
pub fn start_lag(data: &mut AccountData, session_id: &str, before: &Value) {
    let lag = data.faults.faults.iter().find_map(|fault| match fault {
        Fault::PaymentStatusLag {
            seconds,
            probability,
        } => Some((*seconds, *probability)),
        _ => None,
    });
    let Some((seconds, probability)) = lag else {
        return;
    };
    let roll = draw(data);
    if roll >= probability || seconds == 0 {
        return;
    }
    let until = data.now() + seconds;
    data.faults
        .lags
        .insert(session_id.to_owned(), (until, before.clone()));
    data.trace("fault", json!({"decision": "payment_status_lag_start", "session": session_id, "draw": roll, "until": until}));
    data.schedule(
        until,
        Task::EndLag {
            session_id: session_id.into(),
        },
    );
}

/// Ends a payment_status lag for a session.
pub fn end_lag(data: &mut AccountData, session_id: &str) {
    if data.faults.lags.remove(session_id).is_some() {
        data.trace(
            "fault",
            json!({"decision": "payment_status_lag_end", "session": session_id}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kind_names_the_field_and_suggests() {
        let err =
            parse_plan(&json!({"seed": 1, "faults": [{"kind": "webhook_duplicat"}]})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("faults[0][kind]"));
        assert!(
            err.message.contains("Did you mean `webhook_duplicate`?"),
            "{}",
            err.message
        );
        assert!(err.message.contains("forged_webhook"), "{}", err.message);
    }

    #[test]
    fn nearest_kind_words_in_either_order() {
        assert_eq!(nearest_kind("webhook_forge"), Some("forged_webhook"));
        assert_eq!(nearest_kind("webhook_forged"), Some("forged_webhook"));
        assert_eq!(nearest_kind("delay_webhook"), Some("webhook_delay"));
        assert_eq!(nearest_kind("webhook_duplicat"), Some("webhook_duplicate"));
        assert_eq!(nearest_kind("xyz"), None);
    }

    #[test]
    fn empty_forgeries_names_the_choices() {
        let plan = json!({"faults": [{"kind": "forged_webhook", "forgeries": []}]});
        let err = parse_plan(&plan).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("faults[0][forgeries]"));
        assert_eq!(err.code, Some("parameter_invalid"));
        assert_eq!(
            err.message,
            "forgeries is an empty list: give one or more of `wrong_secret`, \
             `stale_timestamp`, `tampered_body`, or leave it out to send `wrong_secret`."
        );
    }

    #[test]
    fn unknown_parameter_names_its_path() {
        let err = parse_plan(&json!({"faults": [{"kind": "hold", "types": ["charge.*"]}, {"kind": "webhook_drop", "attempt": 2}]})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("faults[1][attempt]"));
    }

    #[test]
    fn route_patterns_must_match_a_route() {
        for route in [
            "POST /v1/custmers",
            "GET /v1/checkout/session/{id}",
            "DELETE /v1/checkout/sessions",
            "/v1/checkout/sesions*",
            "/v1/customersXYZ*",
            "GET /v1/checkout/sessions/{session}",
            "/v1/customers/",
            "GET /v1/customers/{id}/",
            "/v1/prices/{id}/*",
            "/v1/customers/cus_1/x*",
            "POST /v1/checkout/sessions/{id}/expire/x",
            "POST /v1/events*",
            "DELETE /v1/payment_intents/*",
            "DELETE /v1/checkout/*",
        ] {
            let plan = json!({"faults": [{"kind": "lost_response", "routes": ["POST /v1/refunds", route]}]});
            let err = parse_plan(&plan).unwrap_err();
            assert_eq!(
                err.param.as_deref(),
                Some("faults[0][routes][1]"),
                "{route}"
            );
            assert!(
                err.message.contains("matches no route"),
                "{route}: {}",
                err.message
            );
        }
        let err = parse_plan(&json!({"faults": [{"kind": "api_error", "status": 500, "routes": ["POST /v1/custmers"]}]}))
            .unwrap_err();
        assert!(
            err.message.contains("The nearest is `POST /v1/customers`."),
            "{}",
            err.message
        );
        // The nearest path that takes the method, which for a DELETE of
        // sessions is not the sessions' own path.
        let err = parse_plan(&json!({"faults": [{"kind": "api_error", "status": 500, "routes": ["DELETE /v1/checkout/sesions/{id}"]}]}))
            .unwrap_err();
        assert!(
            !err.message.contains("checkout/sessions"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("The nearest is `DELETE "),
            "{}",
            err.message
        );
        let err = parse_plan(
            &json!({"faults": [{"kind": "api_error", "status": 500, "routes": ["/v1/custmers"]}]}),
        )
        .unwrap_err();
        assert!(
            err.message.contains("The nearest is `/v1/customers`."),
            "{}",
            err.message
        );
        for route in [
            "POST /v1/customers",
            "GET /v1/checkout/sessions/{id}",
            "GET /v1/checkout/sessions/cs_test_123",
            "* /v1/payment_intents/{id}/confirm",
            "DELETE /v1/customers/{id}",
            "/v1/checkout/*",
            "/v1/customers/cus_*",
            "POST /v1/*",
            "/v1/checkout/sessions/{id}*",
            "/v1/checkout/sessions/{id}/*",
            "/v1/checkout/sessions/cs_1/ex*",
            "POST /v1/checkout/sessions/cs_test_1/expire",
        ] {
            let plan = json!({"faults": [{"kind": "lost_response", "routes": [route]}]});
            assert!(parse_plan(&plan).is_ok(), "{route}");
        }
    }

    #[test]
    fn wrong_types_name_the_field_in_words() {
        let err = parse_plan(&json!({"faults": [{"kind": "webhook_duplicate", "copies": "3"}]}))
            .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("faults[0][copies]"));
        assert!(
            err.message.contains("expected a whole number"),
            "{}",
            err.message
        );
        let err =
            parse_plan(&json!({"faults": [{"kind": "hold", "types": "checkout.*"}]})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("faults[0][types]"));
        assert!(err.message.contains("expected a list"), "{}", err.message);
    }

    #[test]
    fn star_only_ends_a_route_pattern() {
        for route in [
            "/v1/payment_intents/*/confirm",
            "/v1/checkout/sessions/**",
            "GET /v1/*/line_items",
        ] {
            let plan = json!({"faults": [{"kind": "api_error", "status": 503, "routes": [route]}]});
            let err = parse_plan(&plan).unwrap_err();
            assert_eq!(
                err.param.as_deref(),
                Some("faults[0][routes][0]"),
                "{route}"
            );
            assert!(
                err.message.contains("before its end"),
                "{route}: {}",
                err.message
            );
        }
        let err =
            parse_plan(&json!({"faults": [{"kind": "api_error", "status": "500"}]})).unwrap_err();
        assert!(
            err.message.contains("expected a whole number"),
            "{}",
            err.message
        );
    }

    #[test]
    fn incomplete_faults_say_what_to_add() {
        let err = parse_plan(&json!({"faults": [{"kind": "hold", "types": []}]})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("faults[0][types]"));
        assert!(
            err.message.contains("[\"*\"] holds every event"),
            "{}",
            err.message
        );
        let err = parse_plan(&json!({"faults": [{"kind": "api_error"}]})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("faults[0][status]"));
        assert!(err.message.contains("or latency_ms"), "{}", err.message);
    }

    #[test]
    fn hold_patterns_that_cannot_match() {
        for pattern in [
            "checkout.**",
            "check*out.session",
            "checkout..session",
            ".checkout",
            "checkout.session.",
            "",
            "Checkout.*",
        ] {
            let err = parse_plan(
                &json!({"faults": [{"kind": "hold", "types": ["charge.succeeded", pattern]}]}),
            )
            .unwrap_err();
            assert_eq!(
                err.param.as_deref(),
                Some("faults[0][types][1]"),
                "{pattern}"
            );
        }
        for pattern in [
            "*",
            "checkout.*",
            "checkout.session.*",
            "checkout*",
            "payment_intent.succeeded",
        ] {
            assert!(
                parse_plan(&json!({"faults": [{"kind": "hold", "types": [pattern]}]})).is_ok(),
                "{pattern}"
            );
        }
    }

    #[test]
    fn ranges_are_checked() {
        let err = parse_plan(&json!({"faults": [{"kind": "webhook_duplicate", "copies": 0}]}))
            .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("faults[0][copies]"));
        let err =
            parse_plan(&json!({"faults": [{"kind": "api_error", "status": 404}]})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("faults[0][status]"));
        let err = parse_plan(&json!({"faults": [{"kind": "stale_read", "resources": ["charge"]}]}))
            .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("faults[0][resources][0]"));
    }

    #[test]
    fn order_messages_say_what_is_wrong() {
        let neither = parse_plan(&json!({"faults": [{"kind": "webhook_order"}]})).unwrap_err();
        assert!(
            neither.message.ends_with("one of them."),
            "{}",
            neither.message
        );
        let both = parse_plan(
            &json!({"faults": [{"kind": "webhook_order", "order": ["charge.*"], "shuffle": true}]}),
        )
        .unwrap_err();
        assert!(both.message.ends_with("not both."), "{}", both.message);
        let huge = parse_plan(&json!({"faults": [{"kind": "webhook_delay", "distribution": "exponential", "mean_seconds": 1e300}]}))
            .unwrap_err();
        assert_eq!(huge.param.as_deref(), Some("faults[0][mean_seconds]"));
        assert!(huge.message.contains("at most 2592000"), "{}", huge.message);
        assert!(huge.message.ends_with("got 1e300."), "{}", huge.message);
    }

    #[test]
    fn routes_match_templates_prefixes_and_methods() {
        let route = ("POST", "/v1/checkout/sessions");
        assert!(matches_route(
            &[],
            route.0,
            route.1,
            "/v1/checkout/sessions"
        ));
        assert!(matches_route(
            &["POST /v1/checkout/sessions".into()],
            route.0,
            route.1,
            "/v1/checkout/sessions"
        ));
        assert!(!matches_route(
            &["GET /v1/checkout/sessions".into()],
            route.0,
            route.1,
            "/v1/checkout/sessions"
        ));
        assert!(matches_route(
            &["/v1/checkout/*".into()],
            route.0,
            route.1,
            "/v1/checkout/sessions"
        ));
        let retrieve = ("GET", "/v1/checkout/sessions/{id}");
        assert!(matches_route(
            &["GET /v1/checkout/sessions/{id}".into()],
            retrieve.0,
            retrieve.1,
            "/v1/checkout/sessions/cs_test_1"
        ));
        assert!(!matches_route(
            &["POST /v1/checkout/sessions".into()],
            retrieve.0,
            retrieve.1,
            "/v1/checkout/sessions/cs_test_1"
        ));
    }
}
