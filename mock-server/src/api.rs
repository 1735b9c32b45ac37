//! The `/v1` request pipeline: route, authenticate, decode, check the
//! idempotency key, apply faults, run the resource handler under the
//! account lock, expand, log, and respond in Stripe's format.

use std::sync::{Arc, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderName};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::account::{Account, AccountData, RequestRecord};
use crate::faults::{self, ApiFault};
use crate::resources::{self, Handler};
use crate::server::Shared;
use crate::store::StoredRead;
use crate::wire::idempotency::{self, Decision};
use crate::wire::{ApiError, Params, auth, expand, form, version};

const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
const STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// What a resource handler gets besides the account state and parameters.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub request_id: String,
    pub api_version: String,
    pub idempotency_key: Option<String>,
    /// The id segments of the path, such as the session id in
    /// `/v1/checkout/sessions/{id}/expire`.
    pub args: Vec<String>,
    /// The endpoint's path with its id decoded, such as
    /// `/v1/checkout/sessions/cs_test_…/line_items`. A list gives it as its
    /// `url` however the request spelled the path.
    pub path: String,
    /// Ids the request created, changed or read, for the request log.
    pub touched: Vec<String>,
    /// The response body, when the handler already printed the object it
    /// returns (as storing it does). The handler's returned tree is then
    /// not used, and may be `Value::Null`.
    pub printed: Option<Vec<u8>>,
}

impl Ctx<'_> {
    /// The path argument at `index`.
    pub fn arg(&self, index: usize) -> &str {
        self.args.get(index).map(String::as_str).unwrap_or_default()
    }

    pub fn touch(&mut self, id: &str) {
        if !self.touched.iter().any(|t| t == id) {
            self.touched.push(id.to_owned());
        }
    }
}

/// Reads the whole request body, up to `limit` bytes. A request with no
/// body, such as a GET, reads nothing. A longer body gets a 413, and one
/// that breaks off a 400, both in Stripe's envelope.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    use axum::body::HttpBody as _;
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(err) => {
            let err = err.into_inner();
            if err.is::<http_body_util::LengthLimitError>() {
                return Err(crate::server::body_too_large(limit));
            }
            tracing::debug!(%err, "reading a request body failed");
            let error = ApiError::new(
                StatusCode::BAD_REQUEST,
                crate::wire::ErrorType::InvalidRequest,
                format!("The request body could not be read: {err}."),
            );
            Err(unlogged_error_response(&error, None))
        }
    }
}

/// Handles every request that no other route matched.
pub async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    // The request is taken apart rather than read through the `Method`,
    // `Uri` and `HeaderMap` extractors, which copy each of them. The body
    // is read as `Bytes` reads it, with the server's size limit.
    let (mut parts, body) = request.into_parts();
    let method = std::mem::take(&mut parts.method);
    let uri = std::mem::take(&mut parts.uri);
    let headers = std::mem::take(&mut parts.headers);
    let body = match read_body(body, shared.config.max_body_bytes).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let path = uri.path().to_owned();

    let Some(route) = resources::route(&method, &path) else {
        tracing::debug!(method = %method, path, status = 404, "request to an unknown route");
        return unlogged_error_response(&ApiError::unknown_route(method.as_str(), &path), None);
    };
    let RequestHeaders {
        key,
        connected,
        idempotency_key,
        api_version,
    } = match read_headers(&headers) {
        Ok(read) => read,
        Err(err) => return unlogged_error_response(&err, None),
    };
    let mut raw_params = match decode_params(&method, &uri, &headers, &body) {
        Ok(map) => map,
        Err(err) => {
            // The key names the account, so the rejection goes in its
            // request log, without the parameters it could not read.
            let account = shared.account(&key, connected.as_deref());
            let mut data = account.lock();
            let log = RequestLog {
                request_id: data.ids.next("req_"),
                method: &method,
                path: &path,
                params: &Logged { compact: None },
                api_version: &api_version,
            };
            log.write(
                &mut data,
                None,
                false,
                err.status.as_u16(),
                Vec::new(),
                None,
            );
            drop(data);
            return error_response(&err, &shared.base_url, &log.request_id, Some(&api_version));
        }
    };

    let account = shared.account(&key, connected.as_deref());
    account.wait_out_burst().await;
    let params_value = Logged::new(&raw_params);

    // Faults and idempotency keys need the full pipeline below; a GET of
    // one object without them returns the stored bytes.
    // Versions that embed charge lists build them from other objects.
    let plain_read = (method == Method::GET
        && raw_params.is_empty()
        && idempotency_key.is_none()
        && !version::embeds_charge_lists(&api_version))
    .then(|| plain_retrieve(route.template))
    .flatten();

    let mut call = Call {
        shared: &shared,
        route: &route,
        method: &method,
        path: &path,
        api_version: &api_version,
        idempotency_key: idempotency_key.as_deref(),
        expands_line_items: method == Method::GET
            && route.template == "/v1/checkout/sessions/{id}"
            && expand_list(&raw_params).any(|path| path == "line_items"),
        log: RequestLog {
            request_id: String::new(),
            method: &method,
            path: &path,
            params: &params_value,
            api_version: &api_version,
        },
    };
    // The lock is held for the whole request unless a latency fault waits.
    let waits = {
        // A plain read holds the lock too briefly to be worth the queue.
        let turn = match plain_read {
            Some(_) => None,
            None => Some(account.turn().await),
        };
        let mut data = account.lock();
        call.log.request_id = data.ids.next("req_");
        // The key's record decides first: a replay or a rejected key never
        // runs, so a fault that loses a committed response cannot touch it.
        let decision = match (method == Method::POST, &idempotency_key) {
            (true, Some(key)) => {
                let fingerprint = idempotency::fingerprint(&raw_params);
                let route_name = format!("{} {}", method, route.template);
                let now = data.now();
                Some(idempotency::begin(
                    &mut data.idempotency,
                    key,
                    &route_name,
                    &fingerprint,
                    now,
                ))
            }
            _ => None,
        };
        let runs = matches!(decision, None | Some(Ok(Decision::Run)));
        let fault = faults::api_fault(&mut data, &call.route_call(), runs);
        match fault {
            None => {
                // A plain read that no fault touches gets the stored bytes.
                if let Some(kind) = plain_read
                    && let Some(stored) = read_stored(&mut data, kind, route.args.first())
                {
                    call.log
                        .write(&mut data, None, false, 200, route.args.clone(), None);
                    drop(data);
                    // The other worker can take the account while this
                    // one rebuilds the text.
                    let body = stored.public_bytes();
                    return json_response(200, body, &call.log.request_id, Some(&api_version));
                }
                let params = std::mem::take(&mut raw_params);
                Err(call.complete(&account, (turn, data), decision, params))
            }
            Some(ApiFault::Error(err)) => {
                if let (Some(Ok(Decision::Run)), Some(key)) = (&decision, &idempotency_key) {
                    idempotency::release(&mut data.idempotency, key);
                }
                call.log.write(
                    &mut data,
                    idempotency_key.as_deref(),
                    false,
                    err.status.as_u16(),
                    Vec::new(),
                    Some(format!("api_error {}", err.status.as_u16())),
                );
                drop(data);
                return error_response(
                    &err,
                    &call.shared.base_url,
                    &call.log.request_id,
                    Some(&api_version),
                );
            }
            Some(ApiFault::Latency(duration)) => Ok((duration, decision)),
        }
    };
    let (duration, decision) = match waits {
        Ok(wait) => wait,
        Err(response) => {
            // Dropping the turn woke the next request of the account on
            // this worker, in a slot the other worker cannot take. Yielding
            // runs it now, and leaves sending this response to whichever
            // worker is free first.
            tokio::task::yield_now().await;
            return response;
        }
    };
    // A retry sent during the wait finds the key in flight and gets a 409.
    // A request dropped during the wait or in the queue after it, as when
    // the client disconnects, releases the key.
    let mut guard = InFlightKey {
        account: &account,
        key: match decision {
            Some(Ok(Decision::Run)) => idempotency_key.as_deref(),
            _ => None,
        },
    };
    tokio::time::sleep(duration).await;
    let turn = Some(account.turn().await);
    guard.key = None;
    let data = account.lock();
    call.complete(&account, (turn, data), decision, raw_params)
}

/// The headers that decide whose request it is and how it runs.
struct RequestHeaders {
    key: String,
    connected: Option<String>,
    /// `None` for an empty key as well as for none.
    idempotency_key: Option<String>,
    api_version: String,
}

/// Reads and checks the API key, `Stripe-Account`, `Idempotency-Key` and
/// `Stripe-Version`, in that order, and returns the first error.
fn read_headers(headers: &HeaderMap) -> Result<RequestHeaders, ApiError> {
    let key = auth::api_key(headers)?;
    let connected = auth::connected_account(headers)?;
    let idempotency_key =
        auth::header_text(headers, &IDEMPOTENCY_KEY)?.filter(|key| !key.is_empty());
    let api_version = match auth::header_text(headers, &STRIPE_VERSION)? {
        Some(v) if !version::is_valid(&v) => {
            let message = match version::with_fitting_name(&v) {
                Some(fitting) => format!(
                    "Invalid Stripe API version: {v}. No release of that name has a version of that date; send {fitting}."
                ),
                None => format!(
                    "Invalid Stripe API version: {v}. Send a dated version such as {}.",
                    version::DEFAULT_API_VERSION
                ),
            };
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                crate::wire::ErrorType::InvalidRequest,
                message,
            ));
        }
        Some(v) if version::is_unreleased(&v) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                crate::wire::ErrorType::InvalidRequest,
                format!(
                    "Invalid Stripe API version: {v}. No version with that date has been released; send a released version such as {}.",
                    version::DEFAULT_API_VERSION
                ),
            ));
        }
        Some(v) => v,
        None => version::DEFAULT_API_VERSION.to_owned(),
    };
    Ok(RequestHeaders {
        key,
        connected,
        idempotency_key,
        api_version,
    })
}

/// An API request's place in its account's queue (`Account::turn`).
type TurnGuard<'a> = tokio::sync::MutexGuard<'a, ()>;

/// One request on its way through the handler, once faults and
/// idempotency have let it run.
struct Call<'a> {
    shared: &'a Shared,
    route: &'a resources::Route,
    method: &'a Method,
    path: &'a str,
    api_version: &'a str,
    idempotency_key: Option<&'a str>,
    /// A session retrieve that expands its line items.
    expands_line_items: bool,
    log: RequestLog<'a>,
}

impl Call<'_> {
    /// Returns the request as the fault plan's route patterns see it.
    fn route_call(&self) -> faults::RouteCall<'_> {
        faults::RouteCall {
            method: self.method.as_str(),
            template: self.route.template,
            path: self.path,
            request_id: &self.log.request_id,
            expands_line_items: self.expands_line_items,
        }
    }
}

/// The handler's result. The body is printed under the lock only when an
/// idempotency key must keep it, and otherwise after the lock is released.
enum Outcome {
    Value(Value),
    Printed(StatusCode, Vec<u8>, Option<ApiError>),
    Failed(ApiError),
}

impl Call<'_> {
    /// Builds the response to a request that no fault stopped, under the
    /// lock `data`: the key's rejection or replay, or the handler's result,
    /// unless a `lost_response` fault takes the result of a successful call.
    fn complete(
        &self,
        account: &Account,
        (turn, mut data): (Option<TurnGuard<'_>>, MutexGuard<'_, AccountData>),
        decision: Option<Result<Decision, ApiError>>,
        raw_params: Map<String, Value>,
    ) -> Response {
        let request_id = &self.log.request_id;
        let version = Some(self.api_version);
        match decision {
            Some(Err(err)) => {
                self.log.write(
                    &mut data,
                    self.idempotency_key,
                    false,
                    err.status.as_u16(),
                    Vec::new(),
                    None,
                );
                drop(data);
                drop(turn);
                error_response(&err, &self.shared.base_url, request_id, version)
            }
            Some(Ok(Decision::Replay { status, body })) => {
                self.log.write(
                    &mut data,
                    self.idempotency_key,
                    true,
                    status,
                    Vec::new(),
                    None,
                );
                drop(data);
                drop(turn);
                let mut response = sent_as_is(status, body, request_id, version);
                let headers = response.headers_mut();
                headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
                if let Some(key) = self.idempotency_key
                    && let Ok(value) = HeaderValue::from_str(key)
                {
                    headers.insert(IDEMPOTENCY_KEY, value);
                }
                response
            }
            None | Some(Ok(Decision::Run)) => {
                let (outcome, lost_response) = self.run(&mut data, raw_params);
                let wake = data.take_earlier_task();
                drop(data);
                drop(turn);
                if wake {
                    account.wake.notify_one();
                }
                match lost_response {
                    Some(true) => dropped_connection(),
                    Some(false) => error_response(
                        &faults::lost_response_error(),
                        &self.shared.base_url,
                        request_id,
                        version,
                    ),
                    None => self.respond(outcome),
                }
            }
        }
    }

    /// Runs the handler and writes the request's log line. Also returns
    /// whether a `lost_response` fault takes the response, and if so
    /// whether it drops the connection.
    fn run(
        &self,
        data: &mut AccountData,
        raw_params: Map<String, Value>,
    ) -> (Outcome, Option<bool>) {
        let mut ctx = Ctx {
            shared: self.shared,
            request_id: self.log.request_id.clone(),
            api_version: self.api_version.to_owned(),
            idempotency_key: self.idempotency_key.map(str::to_owned),
            args: self.route.args.clone(),
            path: match self.route.args.first() {
                Some(id) => self.route.template.replace("{id}", id),
                None => self.route.template.to_owned(),
            },
            touched: Vec::new(),
            printed: None,
        };
        // A panic in a handler is a bug in the fake. Caught here, it still
        // gets a response, a log line and its idempotency key's record,
        // so a retry with the key does not get a 409 forever.
        // NOTE: no known input reaches this path, so no test drives it.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_handler(
                self.route.handler,
                self.route.template,
                self.method,
                &mut ctx,
                data,
                raw_params,
            )
        }))
        .unwrap_or_else(|panic| {
            ctx.printed = None;
            let cause = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(ApiError::internal(format_args!(
                "{} {} ({}) panicked: {cause}",
                self.method, self.path, self.log.request_id
            )))
        });
        let status = match &result {
            Ok(_) => StatusCode::OK,
            Err(err) => err.status,
        };
        let outcome = match (result, ctx.printed.take()) {
            (Ok(_), Some(body)) => Outcome::Printed(status, body, None),
            (Ok(value), None) => Outcome::Value(value),
            (Err(err), _) => Outcome::Failed(err),
        };
        let outcome = match (self.method == Method::POST, self.idempotency_key) {
            (true, Some(key)) => {
                let outcome = match outcome {
                    Outcome::Value(value) => Outcome::Printed(status, render(&value), None),
                    Outcome::Failed(err) => Outcome::Printed(
                        status,
                        render(&err.body(Some(&request_log_url(
                            &self.shared.base_url,
                            &self.log.request_id,
                        )))),
                        Some(err),
                    ),
                    printed => printed,
                };
                // The record keeps the response as sent, in this request's
                // version, for a replay to repeat.
                let outcome = match outcome {
                    Outcome::Printed(status, body, err) => {
                        Outcome::Printed(status, in_version(body, self.api_version), err)
                    }
                    other => other,
                };
                if let Outcome::Printed(_, body, _) = &outcome {
                    let now = data.now();
                    idempotency::finish(&mut data.idempotency, key, status.as_u16(), body, now);
                }
                outcome
            }
            _ => outcome,
        };
        let lost_response = if status.is_success() {
            faults::lost_response(data, &self.route_call())
        } else {
            None
        };
        // The log records the status the client got, and the handler's.
        let (logged_status, fault_note) = match lost_response {
            None => (status.as_u16(), None),
            Some(true) => (
                status.as_u16(),
                Some(format!(
                    "lost_response: the handler returned {}, then the connection was dropped",
                    status.as_u16()
                )),
            ),
            Some(false) => (
                faults::lost_response_error().status.as_u16(),
                Some(format!(
                    "lost_response: the handler returned {}, the client got a 500",
                    status.as_u16()
                )),
            ),
        };
        // A 404 found nothing, so it names no object.
        let objects = if status == StatusCode::NOT_FOUND {
            Vec::new()
        } else {
            ctx.touched
        };
        self.log.write(
            data,
            self.idempotency_key,
            false,
            logged_status,
            objects,
            fault_note,
        );
        (outcome, lost_response)
    }

    /// Builds the HTTP response from the handler's result.
    fn respond(&self, outcome: Outcome) -> Response {
        let request_id = &self.log.request_id;
        let version = Some(self.api_version);
        let mut response = match outcome {
            Outcome::Value(value) => json_response(200, render(&value), request_id, version),
            Outcome::Printed(status, body, None) => {
                json_response(status.as_u16(), body, request_id, version)
            }
            // The body printed for the idempotency record is the response.
            Outcome::Printed(_, body, Some(err)) => {
                error_with_body(&err, body, request_id, version)
            }
            Outcome::Failed(err) => {
                error_response(&err, &self.shared.base_url, request_id, version)
            }
        };
        if let Some(key) = self.idempotency_key
            && let Ok(value) = HeaderValue::from_str(key)
        {
            response.headers_mut().insert(IDEMPOTENCY_KEY, value);
        }
        response
    }
}

/// Returns the kind of object a retrieve route (`/v1/…/{id}`) reads. A GET
/// of such a route without parameters returns the stored object unchanged.
fn plain_retrieve(template: &str) -> Option<&'static str> {
    if !template.ends_with("/{id}") {
        return None;
    }
    let (kind, _) = response_kind(template, &Method::GET);
    (!kind.is_empty()).then_some(kind)
}

/// Returns the stored object of a plain retrieve when no fault changes
/// what reads see, to be printed once the lock is released. `None` leaves
/// the request to its handler, which also sends the 404s and the stubs of
/// deleted customers.
fn read_stored(data: &mut AccountData, kind: &str, id: Option<&String>) -> Option<StoredRead> {
    if faults::affects_reads(data) {
        return None;
    }
    data.store.public_read(kind, id?)
}

/// Returns the method's name as a static string for the request log.
/// Routes take only these methods.
fn static_method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The parameters of a request as the request log keeps them: compact
/// JSON with card numbers, CVCs, secrets and passwords masked.
struct Logged {
    compact: Option<Box<RawValue>>,
}

impl Logged {
    fn new(params: &Map<String, Value>) -> Self {
        let compact = (!params.is_empty()).then(|| {
            serde_json::value::to_raw_value(&Masked(params))
                .unwrap_or_else(|_| RawValue::NULL.to_owned())
        });
        Logged { compact }
    }
}

/// Serializes parameters with the values of sensitive names replaced.
struct Masked<'a>(&'a Map<String, Value>);

impl serde::Serialize for Masked<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut out = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            if matches!(key.as_str(), "number" | "cvc" | "secret" | "password") {
                out.serialize_entry(key, "***")?;
            } else {
                out.serialize_entry(key, &MaskedValue(value))?;
            }
        }
        out.end()
    }
}

struct MaskedValue<'a>(&'a Value);

impl serde::Serialize for MaskedValue<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => Masked(map).serialize(serializer),
            Value::Array(items) => serializer.collect_seq(items.iter().map(MaskedValue)),
            other => other.serialize(serializer),
        }
    }
}

/// The object type a route answers with, and whether it answers a list.
fn response_kind(template: &str, method: &Method) -> (&'static str, bool) {
    let rest = template.strip_prefix("/v1/").unwrap_or(template);
    let kind = match rest.split('/').next().unwrap_or_default() {
        "checkout" => "checkout.session",
        "payment_intents" => "payment_intent",
        "charges" => "charge",
        "payment_methods" => "payment_method",
        "refunds" => "refund",
        "balance_transactions" => "balance_transaction",
        "customers" => "customer",
        "products" => "product",
        "prices" => "price",
        "events" => "event",
        "webhook_endpoints" => "webhook_endpoint",
        _ => "",
    };
    if template.ends_with("/line_items") {
        return ("item", true);
    }
    if template.ends_with("/{id}/payment_methods") {
        return ("payment_method", *method == Method::GET);
    }
    let collection = !template.ends_with("}")
        && !template.ends_with("/expire")
        && !template.ends_with("/confirm")
        && !template.ends_with("/capture")
        && !template.ends_with("/cancel");
    (kind, collection && *method == Method::GET)
}

fn run_handler(
    handler: Handler,
    template: &str,
    method: &Method,
    ctx: &mut Ctx<'_>,
    data: &mut AccountData,
    raw: Map<String, Value>,
) -> Result<Value, ApiError> {
    let mut params = Params::new(raw);
    let expand_paths = params.string_array("expand")?.unwrap_or_default();
    let (kind, list) = response_kind(template, method);
    let search = template.ends_with("/search");
    if search {
        expand::check_search(kind, &expand_paths)?;
    } else {
        expand::check(kind, list, &expand_paths)?;
    }
    let mut value = handler(ctx, data, params)?;
    // A search result carries `total_count` only when it is expanded.
    if search
        && !expand_paths.iter().any(|path| path == expand::TOTAL_COUNT)
        && let Some(result) = value.as_object_mut()
    {
        result.remove(expand::TOTAL_COUNT);
    }
    if !expand_paths.is_empty() {
        // A handler that printed its response may return no tree, so the
        // tree to expand is read back from the printed body.
        if let Some(printed) = ctx.printed.take() {
            value = serde_json::from_slice(&printed).unwrap_or_default();
        }
        expand::apply(&mut value, &expand_paths, &data.store)?;
    }
    if version::embeds_charge_lists(&ctx.api_version) {
        if let Some(printed) = ctx.printed.take() {
            value = serde_json::from_slice(&printed).unwrap_or_default();
        }
        resources::charges::embed_lists(&mut value, &data.store);
    }
    Ok(value)
}

/// An idempotency key marked in flight while its request waits out a
/// latency fault. A request dropped during the wait, as when the client
/// disconnects, releases the key, so later retries with it can run.
struct InFlightKey<'a> {
    account: &'a Account,
    /// The key, until the wait is over.
    key: Option<&'a str>,
}

impl Drop for InFlightKey<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut data = self.account.lock();
            idempotency::release(&mut data.idempotency, key);
        }
    }
}

/// The fields shared by every request-log line of one request.
struct RequestLog<'a> {
    request_id: String,
    method: &'a Method,
    path: &'a str,
    params: &'a Logged,
    api_version: &'a str,
}

impl RequestLog<'_> {
    /// Writes the request's line to the request log and the trace.
    fn write(
        &self,
        data: &mut AccountData,
        idempotency_key: Option<&str>,
        replayed: bool,
        status: u16,
        objects: Vec<String>,
        fault: Option<String>,
    ) {
        let at = data.now();
        let (request_id, method, path) = (self.request_id.as_str(), self.method, self.path);
        tracing::debug!(request_id, method = %method, path, status, idempotency_key, "request");
        let record = Arc::new(RequestRecord {
            request_id: request_id.to_owned(),
            at,
            method: static_method(method),
            path: path.to_owned(),
            params: self
                .params
                .compact
                .as_deref()
                .map(|json| data.log_params(json)),
            idempotency_key: idempotency_key.map(str::to_owned),
            idempotent_replayed: replayed,
            status,
            objects,
            fault,
            api_version: if self.api_version == version::DEFAULT_API_VERSION {
                std::borrow::Cow::Borrowed(version::DEFAULT_API_VERSION)
            } else {
                std::borrow::Cow::Owned(self.api_version.to_owned())
            },
        });
        data.trace_request(record.clone());
        data.requests.push(record);
    }
}

/// Returns the paths of a request's `expand` parameter.
fn expand_list(params: &Map<String, Value>) -> impl Iterator<Item = &str> {
    params
        .get("expand")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn decode_params(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, ApiError> {
    let mut params = form::decode_query(uri.query().unwrap_or_default().as_bytes())?;
    if *method == Method::POST && !body.is_empty() {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|ct| ct.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        // curl's -F sends multipart form data, where -d sends the form.
        let other_format = if content_type.contains("json") || body.first() == Some(&b'{') {
            Some(("JSON", ""))
        } else if content_type.starts_with("multipart/") {
            Some(("multipart form data", " With curl, use -d instead of -F."))
        } else {
            None
        };
        if let Some((format, hint)) = other_format {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                crate::wire::ErrorType::InvalidRequest,
                format!(
                    "Invalid request: the Stripe API takes application/x-www-form-urlencoded \
                     bodies, not {format}. Encode nested parameters in bracket notation, such \
                     as metadata[order_id]=42.{hint}"
                ),
            ));
        }
        let from_body = form::decode(body)?;
        if params.is_empty() {
            return Ok(from_body);
        }
        for (key, value) in from_body {
            params.insert(key, value);
        }
    }
    Ok(params)
}

/// Stripe answers with pretty-printed JSON; so does the fake.
pub fn render(value: &Value) -> Vec<u8> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    body
}

fn json_response(
    status: u16,
    body: Vec<u8>,
    request_id: &str,
    api_version: Option<&str>,
) -> Response {
    let body = match api_version {
        Some(version) => in_version(body, version),
        None => body,
    };
    sent_as_is(status, body, request_id, api_version)
}

/// Builds a JSON response from a body already in the request's version,
/// such as an idempotent replay, which repeats the first response byte
/// for byte.
fn sent_as_is(status: u16, body: Vec<u8>, request_id: &str, api_version: Option<&str>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, value);
    }
    let version = match api_version {
        Some(version::DEFAULT_API_VERSION) => {
            Some(HeaderValue::from_static(version::DEFAULT_API_VERSION))
        }
        Some(other) => HeaderValue::from_str(other).ok(),
        None => None,
    };
    if let Some(version) = version {
        headers.insert(STRIPE_VERSION, version);
    }
    response
}

/// Renders a response body in `version`. Objects are stored in the
/// current version's shape, so only a body for an older version that
/// contains an object whose shape differs there is parsed again.
fn in_version(body: Vec<u8>, version: &str) -> Vec<u8> {
    if !version::needs_rendering(version, &body) {
        return body;
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(mut value) => {
            version::render_objects(&mut value, version);
            render(&value)
        }
        Err(_) => body,
    }
}

/// Returns the absolute URL of the request log's entry for `request_id`,
/// as the `request_log_url` of an error. Stripe's errors link to the
/// Dashboard's request log with an absolute URL too.
pub fn request_log_url(base_url: &str, request_id: &str) -> String {
    format!("{base_url}/_fakestripe/requests?request_id={request_id}")
}

/// Renders an error in Stripe's envelope with its status and headers, and
/// a `request_log_url` under `base_url`.
pub fn error_response(
    err: &ApiError,
    base_url: &str,
    request_id: &str,
    api_version: Option<&str>,
) -> Response {
    let body = err.body(Some(&request_log_url(base_url, request_id)));
    error_with_body(err, render(&body), request_id, api_version)
}

/// Returns the response to `err` for a request that the request log does
/// not keep: one rejected before its account is known, or a control API
/// call. Its body leaves out `request_log_url`, which would find nothing.
pub fn unlogged_error_response(err: &ApiError, api_version: Option<&str>) -> Response {
    let request_id = fallback_id();
    let body = err.body(None);
    error_with_body(err, render(&body), &request_id, api_version)
}

/// Returns the response to `err`, whose body is already printed.
fn error_with_body(
    err: &ApiError,
    body: Vec<u8>,
    request_id: &str,
    api_version: Option<&str>,
) -> Response {
    let mut response = json_response(err.status.as_u16(), body, request_id, api_version);
    for (name, value) in &err.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    response
}

/// Returns a request id for a response sent before an account is known (bad
/// key, unknown route, a failed control request). These ids count from a
/// process-wide number, because no account's seed applies, and have the
/// shape of the others.
pub fn fallback_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut id = String::from("req_");
    crate::ids::push_body(&mut id, NEXT.fetch_add(1, Ordering::Relaxed), 24);
    id
}

/// A response whose body fails after the headers, so the client sees the
/// connection close before an answer arrives.
fn dropped_connection() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "lost_response fault",
        ))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}
