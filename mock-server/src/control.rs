//! The control API under `/_fakestripe/`: what Stripe's own API has no
//! call for. The clock, the customer's actions, the logs, the fault plan,
//! held events and reset. Calls authenticate with the account's secret key
//! like the API, take and return JSON, and return errors in Stripe's
//! envelope.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::account::{Account, AccountData};
use crate::api::{render, unlogged_error_response};
use crate::clock::{Clock, ClockMode};
use crate::events::dispatcher;
use crate::faults;
use crate::server::Shared;
use crate::simulate::{self, PayRequest};
use crate::wire::{ApiError, ErrorType, auth};

/// The control API's routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_fakestripe/clock", get(clock_get).post(clock_set))
        .route("/_fakestripe/clock/advance", post(clock_advance))
        .route("/_fakestripe/checkout/sessions/{id}/pay", post(session_pay))
        .route(
            "/_fakestripe/checkout/sessions/{id}/cancel",
            post(session_cancel),
        )
        .route("/_fakestripe/deliveries", get(deliveries))
        .route("/_fakestripe/requests", get(requests))
        .route("/_fakestripe/trace", get(trace))
        .route(
            "/_fakestripe/faults",
            get(faults_get).put(faults_put).delete(faults_delete),
        )
        .route("/_fakestripe/events/held", get(held))
        .route("/_fakestripe/events/release", post(release))
        .route("/_fakestripe/events/{id}/resend", post(resend))
        .route(
            "/_fakestripe/webhook_endpoints/{id}/roll_secret",
            post(roll_secret),
        )
        .route("/_fakestripe/reset", post(reset))
        .route("/_fakestripe/objects/{id}", get(object))
        .route_layer(axum::middleware::from_fn(reject_query))
}

/// Rejects a query string on a control call that takes none, as the calls
/// that take query parameters reject one they do not know, so a
/// misplaced parameter is never ignored.
async fn reject_query(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let takes_query = matches!(
        request.uri().path(),
        "/_fakestripe/deliveries" | "/_fakestripe/requests" | "/_fakestripe/trace"
    );
    let first = request
        .uri()
        .query()
        .and_then(|query| query.split('&').find(|part| !part.is_empty()))
        .map(|part| part.split_once('=').map_or(part, |(name, _)| name));
    match first {
        Some(name) if !takes_query => fail(
            &ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorType::InvalidRequest,
                format!(
                    "Received unknown parameter: {name}. This control call takes no query parameters."
                ),
            )
            .with_code("parameter_unknown")
            .with_param(name),
        ),
        _ => next.run(request).await,
    }
}

type Answer = Result<Response, Response>;

/// The account a control call acts on: the API key, and `Stripe-Account`
/// for a connected account.
pub fn account_for(shared: &Arc<Shared>, headers: &HeaderMap) -> Result<Arc<Account>, Response> {
    let key = auth::api_key(headers).map_err(|err| fail(&err))?;
    let connected = auth::connected_account(headers).map_err(|err| fail(&err))?;
    Ok(shared.account(&key, connected.as_deref()))
}

fn fail(err: &ApiError) -> Response {
    unlogged_error_response(err, None)
}

fn ok(value: &Value) -> Response {
    let mut response = Response::new(Body::from(render(value)));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(&crate::api::fallback_id()) {
        headers.insert("request-id", id);
    }
    response
}

/// Parses a JSON body. An empty body counts as `{}`. A field at fault is
/// named in `param` with a `parameter_*` code. A body that is not one JSON
/// object as a whole gets the code `body_invalid`, with no `param`.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Response> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    if let Some(found) = not_an_object(text) {
        return Err(fail(&body_invalid(format!(
            "Invalid JSON body: the body must be a JSON object, not {found}."
        ))));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let mut inner = crate::wire::error::plain_types(&inner.to_string());
        // A missing field has no place in the text, which may even be
        // empty. The position serde gives is only where the object ended.
        if inner.starts_with("missing field")
            && let Some(at) = inner.find(" at line ")
        {
            inner.truncate(at);
        }
        // Unknown, missing and repeated fields name themselves in the
        // message.
        let named = inner
            .split('`')
            .nth(1)
            .filter(|_| {
                ["unknown field", "missing field", "duplicate field"]
                    .iter()
                    .any(|start| inner.starts_with(start))
            })
            .map(str::to_owned);
        // The path ends in the field whose value failed, also when its
        // text is not valid JSON. It is `?` for a fault outside any value,
        // such as a body cut short after a value or a key not in quotes.
        let param = match path.as_str() {
            "." | "?" => named,
            _ => Some(path),
        };
        match param {
            Some(param) => fail(
                &ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorType::InvalidRequest,
                    format!("Invalid JSON body: {param}: {inner}."),
                )
                .with_code(crate::wire::error::serde_code(&inner))
                .with_param(param),
            ),
            None => fail(&body_invalid(format!("Invalid JSON body: {inner}."))),
        }
    })?;
    // A second value after the object would otherwise be dropped unread.
    deserializer.end().map_err(|err| {
        fail(&body_invalid(format!(
            "Invalid JSON body: {err} after the object. Send one JSON object."
        )))
    })?;
    Ok(value)
}

/// Returns what a body that is not a JSON object starts with, in words,
/// or `None` for one that starts as an object.
fn not_an_object(text: &[u8]) -> Option<&'static str> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace())?;
    Some(match first {
        b'{' => return None,
        b'[' => "an array",
        b'"' => "a string",
        b'-' | b'0'..=b'9' => "a number",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "text that is not JSON",
    })
}

/// Builds the 400 for a control body that cannot be read as one JSON
/// object as a whole.
fn body_invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorType::InvalidRequest, message)
        .with_code(crate::wire::error::BODY_INVALID)
}

/// Returns axum's message for a query string that did not parse, without
/// its generic prefix: `duplicate field `key``.
pub(crate) fn rejection_detail(rejection: &QueryRejection) -> String {
    let text = rejection.body_text();
    match text.strip_prefix("Failed to deserialize query string: ") {
        Some(detail) => detail.to_owned(),
        None => text,
    }
}

/// Returns the query parameters of a control call, or a 400 that names the
/// parameter at fault when they do not parse.
fn query_params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Response> {
    let rejection = match query {
        Ok(Query(params)) => return Ok(params),
        Err(rejection) => rejection,
    };
    let detail = rejection_detail(&rejection);
    let detail = detail.as_str();
    // A value that does not parse is named before a colon (`after: …`).
    // An unknown parameter and one sent twice are named in backquotes.
    let before_colon = detail
        .split_once(": ")
        .map(|(name, _)| name)
        .filter(|name| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    let named = before_colon
        .or_else(|| detail.split('`').nth(1))
        .filter(|name| !name.is_empty())
        .map(str::to_owned);
    let mut error = ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequest,
        format!(
            "Invalid query string: {}.",
            crate::wire::error::plain_types(detail)
        ),
    );
    if let Some(param) = named {
        error = error
            .with_param(param)
            .with_code(crate::wire::error::serde_code(detail));
    }
    Err(fail(&error))
}

fn clock_view(data: &AccountData) -> Value {
    match data.clock.mode() {
        ClockMode::Manual => json!({"now": data.now(), "mode": "manual", "speed": null}),
        ClockMode::RealTime { speed } => {
            json!({"now": data.now(), "mode": "real_time", "speed": speed})
        }
    }
}

async fn clock_get(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Answer {
    let account = account_for(&shared, &headers)?;
    let data = account.lock();
    Ok(ok(&clock_view(&data)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockSet {
    mode: Option<String>,
    speed: Option<f64>,
    now: Option<i64>,
}

async fn clock_set(State(shared): State<Arc<Shared>>, headers: HeaderMap, bytes: Bytes) -> Answer {
    let account = account_for(&shared, &headers)?;
    let request: ClockSet = body(&bytes)?;
    let mode = match (request.mode.as_deref(), request.speed) {
        (None, None) => None,
        (Some("manual"), None) => Some(ClockMode::Manual),
        (Some("manual"), Some(_)) => {
            return Err(fail(&ApiError::invalid_param(
                "speed",
                "speed applies to the real_time mode only.",
            )));
        }
        (Some("real_time") | None, speed) => {
            let speed = speed.unwrap_or(1.0);
            if !(speed.is_finite() && speed > 0.0 && speed <= crate::clock::MAX_SPEED) {
                return Err(fail(&ApiError::invalid_param(
                    "speed",
                    format!(
                        "speed must be a number above 0 and at most {}.",
                        crate::clock::MAX_SPEED
                    ),
                )));
            }
            Some(ClockMode::RealTime { speed })
        }
        (Some(other), _) => {
            return Err(fail(&ApiError::invalid_param(
                "mode",
                format!("Unknown clock mode `{other}`: use manual or real_time."),
            )));
        }
    };
    // How far `now` moves the clock forward. That move runs as an advance,
    // so the work that falls due on the way happens at its own time.
    let mut forward = 0;
    {
        let mut data = account.lock();
        if let Some(now) = request.now {
            if now < data.now()
                && data.store.count("checkout.session") + data.store.count("event") > 0
            {
                return Err(fail(&ApiError::invalid_param(
                    "now",
                    format!(
                        "The clock cannot move back ({now} is before {}) once objects exist; reset the account first.",
                        data.now()
                    ),
                )));
            }
            if !(0..=LATEST_NOW).contains(&now) {
                return Err(fail(&ApiError::invalid_param(
                    "now",
                    "now must be a Unix time between 1970 and 2100.",
                )));
            }
            if now > data.now() {
                forward = now - data.now();
            } else {
                data.clock.set_now(now);
            }
        }
    }
    let ran = match forward {
        0 => 0,
        seconds => dispatcher::advance(&shared, &account, seconds)
            .await
            .map_err(|stopped| interrupted(&account, stopped))?,
    };
    {
        let mut data = account.lock();
        if let Some(mode) = mode {
            data.clock.set_mode(mode);
        }
        let view = clock_view(&data);
        data.trace("clock", view);
    }
    account.wake.notify_one();
    let data = account.lock();
    let mut view = clock_view(&data);
    view["ran"] = json!(ran);
    Ok(ok(&view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: i64,
}

/// Most a single advance may move the clock: thirty days, which covers
/// Stripe's retry schedule with room to spare.
const MAX_ADVANCE: i64 = 30 * 24 * 3600;

/// The latest time the clock can reach: the start of 2100, so that dates
/// keep four-digit years.
const LATEST_NOW: i64 = 4_102_444_800;

async fn clock_advance(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let account = account_for(&shared, &headers)?;
    let request: Advance = body(&bytes)?;
    if !(0..=MAX_ADVANCE).contains(&request.seconds) {
        return Err(fail(&ApiError::invalid_param(
            "seconds",
            format!(
                "seconds must be between 0 and {MAX_ADVANCE}, got {}.",
                request.seconds
            ),
        )));
    }
    let now = account.lock().now();
    if now.saturating_add(request.seconds) > LATEST_NOW {
        return Err(fail(&ApiError::invalid_param(
            "seconds",
            format!(
                "The clock stops at the start of 2100 ({LATEST_NOW}); it is at {now}, so advance by at most {} seconds, or reset the account.",
                (LATEST_NOW - now).max(0)
            ),
        )));
    }
    let ran = dispatcher::advance(&shared, &account, request.seconds)
        .await
        .map_err(|stopped| interrupted(&account, stopped))?;
    let data = account.lock();
    let mut view = clock_view(&data);
    view["ran"] = json!(ran);
    Ok(ok(&view))
}

/// Builds the error for an advance that a reset or a stop ended early.
fn interrupted(account: &Account, stopped: dispatcher::Interrupted) -> Response {
    let now = account.lock().now();
    let ran = match stopped.ran {
        1 => "1 task".to_owned(),
        count => format!("{count} tasks"),
    };
    let error = match stopped.cause {
        dispatcher::Cause::Reset => ApiError::new(
            StatusCode::CONFLICT,
            ErrorType::InvalidRequest,
            format!(
                "The account was reset while this advance ran, so it stopped after {ran} \
                 with the clock at {now}. Advance again to move the clock further."
            ),
        ),
        dispatcher::Cause::Stop => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Api,
            format!(
                "The server is stopping, so this advance stopped after {ran} with the \
                 clock at {now}."
            ),
        ),
    };
    fail(&error)
}

async fn session_pay(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let account = account_for(&shared, &headers)?;
    let request: PayRequest = body(&bytes)?;
    let result = {
        let mut data = account.lock();
        simulate::pay(&mut data, &id, &request).map_err(|err| fail(&err))?
    };
    account.wake.notify_one();
    Ok(ok(&serde_json::to_value(result).unwrap_or_default()))
}

async fn session_cancel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let account = account_for(&shared, &headers)?;
    let mut data = account.lock();
    let url = simulate::cancel_url(&data, &id).map_err(|err| fail(&err))?;
    data.trace("customer", json!({"session": id, "action": "cancel"}));
    Ok(ok(&json!({"redirect_url": url})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryFilter {
    event_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
}

async fn deliveries(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<DeliveryFilter>, QueryRejection>,
) -> Answer {
    let account = account_for(&shared, &headers)?;
    let filter = query_params(query)?;
    let data = account.lock();
    let list: Vec<&crate::account::DeliveryRecord> = data
        .deliveries
        .iter()
        .filter(|d| filter.event_id.as_ref().is_none_or(|id| &d.event_id == id))
        .filter(|d| {
            filter
                .event_type
                .as_ref()
                .is_none_or(|t| crate::events::type_matches(t, &d.event_type))
        })
        .collect();
    Ok(ok(
        &json!({ "data": list, "dropped": data.deliveries.dropped() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFilter {
    request_id: Option<String>,
}

async fn requests(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<RequestFilter>, QueryRejection>,
) -> Answer {
    let account = account_for(&shared, &headers)?;
    let filter = query_params(query)?;
    let data = account.lock();
    let list: Vec<&crate::account::RequestRecord> = data
        .requests
        .iter()
        .filter(|r| {
            filter
                .request_id
                .as_ref()
                .is_none_or(|id| &r.request_id == id)
        })
        .map(|r| &**r)
        .collect();
    Ok(ok(
        &json!({ "data": list, "dropped": data.requests.dropped() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceFilter {
    /// Only entries with a sequence number above this one.
    after: Option<u64>,
}

async fn trace(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<TraceFilter>, QueryRejection>,
) -> Answer {
    let account = account_for(&shared, &headers)?;
    let filter = query_params(query)?;
    let data = account.lock();
    let after = filter.after.unwrap_or(0);
    // Entries are in sequence order, so the tail starts at the first one
    // past `after`.
    let start = data.trace.partition_point(|entry| entry.seq <= after);
    let tail: Vec<&crate::account::TraceEntry> = data.trace.range(start..).collect();
    // Lines after `after` that the log limit let go: the caller has a gap.
    let truncated = data.trace_dropped_through > after;
    Ok(ok(&json!({
        "data": tail,
        "dropped": data.trace.dropped(),
        "truncated": truncated,
    })))
}

/// Reads an object as stored, past every fault and without a line in the
/// request log, for checks made by a harness rather than the app.
async fn object(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let account = account_for(&shared, &headers)?;
    let data = account.lock();
    let object = data
        .store
        .get_any(&id)
        .ok_or_else(|| fail(&ApiError::no_such("object", &id, "id")))?;
    Ok(ok(&crate::resources::checkout_sessions::into_public(
        object,
    )))
}

async fn faults_get(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Answer {
    let account = account_for(&shared, &headers)?;
    let data = account.lock();
    Ok(ok(&faults::plan_view(&data)))
}

async fn faults_put(State(shared): State<Arc<Shared>>, headers: HeaderMap, bytes: Bytes) -> Answer {
    let account = account_for(&shared, &headers)?;
    // `body` reads an empty body as `{}`, which is a valid empty plan, so a
    // PUT that lost its body would silently replace the plan in force.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(fail(&body_invalid(
            "Missing request body: PUT /_fakestripe/faults takes a fault plan as JSON, \
             such as {\"faults\": [{\"kind\": \"webhook_duplicate\"}]}. \
             To clear the plan, send DELETE /_fakestripe/faults."
                .to_owned(),
        )));
    }
    let plan: Value = body(&bytes)?;
    // `Value` keeps only the last value of a repeated key, so the text is
    // checked for one.
    faults::reject_repeated_keys(&bytes).map_err(|err| fail(&err))?;
    let mut data = account.lock();
    faults::set_plan(&mut data, plan).map_err(|err| fail(&err))?;
    Ok(ok(&faults::plan_view(&data)))
}

async fn faults_delete(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Answer {
    let account = account_for(&shared, &headers)?;
    let mut data = account.lock();
    faults::clear_plan(&mut data);
    Ok(ok(&faults::plan_view(&data)))
}

async fn held(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Answer {
    let account = account_for(&shared, &headers)?;
    let data = account.lock();
    Ok(ok(&json!({ "data": faults::held(&data) })))
}

async fn release(State(shared): State<Arc<Shared>>, headers: HeaderMap, bytes: Bytes) -> Answer {
    let account = account_for(&shared, &headers)?;
    let selector: faults::Release = body(&bytes)?;
    let released = {
        let mut data = account.lock();
        faults::release(&mut data, &selector).map_err(|err| fail(&err))?
    };
    account.wake.notify_one();
    Ok(ok(&json!({ "released": released })))
}

async fn resend(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let account = account_for(&shared, &headers)?;
    let request: faults::Resend = body(&bytes)?;
    let scheduled = {
        let mut data = account.lock();
        faults::resend(&mut data, &id, &request).map_err(|err| fail(&err))?
    };
    account.wake.notify_one();
    Ok(ok(&json!({ "scheduled": scheduled })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Roll {
    /// Seconds the old secret keeps signing; Stripe allows up to a day.
    #[serde(default = "one_day")]
    expires_in_seconds: i64,
}

fn one_day() -> i64 {
    24 * 3600
}

async fn roll_secret(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let account = account_for(&shared, &headers)?;
    let request: Roll = body(&bytes)?;
    if !(0..=one_day()).contains(&request.expires_in_seconds) {
        return Err(fail(&ApiError::invalid_param(
            "expires_in_seconds",
            format!(
                "expires_in_seconds must be between 0 and 86400, got {}.",
                request.expires_in_seconds
            ),
        )));
    }
    let mut data = account.lock();
    let expires_at = data.now() + request.expires_in_seconds;
    let secret = crate::resources::webhook_endpoints::roll_secret(&mut data, &id, expires_at)
        .map_err(|err| fail(&err))?;
    Ok(ok(
        &json!({ "id": id, "secret": secret, "previous_secret_expires_at": expires_at }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    /// Keep webhook endpoints and their secrets, so an app that was started
    /// with a secret keeps receiving events.
    #[serde(default)]
    keep_webhook_endpoints: bool,
}

async fn reset(State(shared): State<Arc<Shared>>, headers: HeaderMap, bytes: Bytes) -> Answer {
    let account = account_for(&shared, &headers)?;
    let request: ResetRequest = body(&bytes)?;
    // Nothing here waits: the old state's sends in flight are cut off, and
    // their outcomes are not recorded (`dispatcher::start_generation`).
    let mut data = account.lock();
    let generation = data.generation + 1;
    let mode = data.clock.mode();
    let now = data.now();
    let seed = data.ids_seed();
    let connected = data.connected_account.clone();
    let kept: Vec<_> = data
        .endpoints
        .values()
        .filter(|e| e.hidden || request.keep_webhook_endpoints)
        .cloned()
        .collect();
    let kept_objects: Vec<(String, serde_json::Value)> = kept
        .iter()
        .filter_map(|e| {
            data.store
                .get("webhook_endpoint", &e.id)
                .map(|o| (e.id.clone(), o.clone()))
        })
        .collect();
    let ids = data.ids.clone();
    let secret_key = data.secret_key();
    let last_seq = data.next_seq();
    *data =
        AccountData::new(Clock::new(mode), seed, connected).with_log_limit(shared.config.log_limit);
    // The clock keeps its time: a reset forgets objects, not the date.
    data.clock.set_now(now);
    data.resume_sequence(last_seq);
    // Ids go on from where they were: an app that kept its records across
    // the reset must not see an event id or object id a second time.
    data.store = crate::store::Store::new(ids.upcoming());
    data.ids = ids;
    data.set_secret_key(secret_key);
    for endpoint in kept {
        data.endpoints.insert(endpoint.id.clone(), endpoint);
    }
    for (id, object) in kept_objects {
        data.store.insert("webhook_endpoint", &id, &object, now);
    }
    if let Some(default_plan) = &shared.config.default_faults {
        // The plan's seed drives its fault draws again, but does not restart
        // the ids, for the same reason as above.
        let ids = data.ids.clone();
        let _ = faults::set_plan(&mut data, default_plan.clone());
        data.ids = ids;
    }
    dispatcher::start_generation(&account, &mut data, generation);
    drop(data);
    Ok(ok(&json!({ "reset": true })))
}
