//! The `/v1` request pipeline: route, authenticate, decode, apply faults and
//! idempotency, run the resource handler under the account lock, expand,
//! log, and answer in Stripe's format.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, HeaderName};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::account::{Account, AccountData, RequestRecord};
use crate::faults::{self, ApiFault};
use crate::resources::{self, Handler};
use crate::server::Shared;
use crate::wire::idempotency::{self, Decision};
use crate::wire::{ApiError, Params, auth, expand, form, version};

const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
const STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");

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
    /// The request path, for list `url` fields.
    pub path: String,
    /// Ids the request created, changed or read, for the request log.
    pub touched: Vec<String>,
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

/// Handles every request that no other route matched.
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();

    let Some(route) = resources::route(&method, &path) else {
        tracing::debug!(method = %method, path, status = 404, "request to an unknown route");
        return error_response(
            &ApiError::unknown_route(method.as_str(), &path),
            &fallback_id(),
            None,
        );
    };
    let key = match auth::api_key(&headers) {
        Ok(key) => key,
        Err(err) => return error_response(&err, &fallback_id(), None),
    };
    let connected = match header(&headers, "stripe-account") {
        Some(acct) if !acct.starts_with("acct_") || acct.len() < 6 => {
            let err = ApiError::new(
                StatusCode::BAD_REQUEST,
                crate::wire::ErrorType::InvalidRequest,
                format!(
                    "Invalid Stripe-Account header `{acct}`: expected an id that starts with acct_."
                ),
            );
            return error_response(&err, &fallback_id(), None);
        }
        other => other,
    };
    let api_version = match header(&headers, "stripe-version") {
        Some(v) if !version::is_valid(&v) => {
            let err = ApiError::new(
                StatusCode::BAD_REQUEST,
                crate::wire::ErrorType::InvalidRequest,
                format!(
                    "Invalid Stripe API version: {v}. Send a dated version such as {}.",
                    version::DEFAULT_API_VERSION
                ),
            );
            return error_response(&err, &fallback_id(), None);
        }
        Some(v) => v,
        None => version::DEFAULT_API_VERSION.to_owned(),
    };
    let raw_params = match decode_params(&method, &uri, &headers, &body) {
        Ok(map) => map,
        Err(err) => return error_response(&err, &fallback_id(), Some(&api_version)),
    };
    let idempotency_key = header(&headers, "idempotency-key").filter(|k| !k.is_empty());

    let account = shared.account(&key, connected.as_deref());
    let params_value = Logged::new(&raw_params);

    // Faults and idempotency keys need the full pipeline below; a GET of
    // one object without them returns the stored bytes.
    let plain_read = (method == Method::GET && raw_params.is_empty() && idempotency_key.is_none())
        .then(|| plain_retrieve(route.template))
        .flatten();

    // Faults that respond before the request runs, and the request id.
    let (log, fault) = {
        let mut data = account.lock();
        let log = RequestLog {
            request_id: data.ids.next("req_"),
            method: &method,
            path: &path,
            params: &params_value,
            api_version: &api_version,
        };
        let fault = faults::api_fault(
            &mut data,
            method.as_str(),
            route.template,
            &path,
            &log.request_id,
        );
        // A plain read that no fault touches gets its response under this lock.
        if fault.is_none()
            && let Some(kind) = plain_read
            && let Some(body) = read_stored(&mut data, kind, route.args.first())
        {
            log.write(&mut data, None, false, 200, route.args.clone(), None);
            drop(data);
            return json_response(200, body, &log.request_id, Some(&api_version));
        }
        (log, fault)
    };
    let request_id = &log.request_id;
    let mut latency = None;
    let mut lost_response: Option<bool> = None;
    match &fault {
        Some(ApiFault::Error(err)) => {
            let mut data = account.lock();
            log.write(
                &mut data,
                idempotency_key.as_deref(),
                false,
                err.status.as_u16(),
                Vec::new(),
                Some(err.message.clone()),
            );
            drop(data);
            return error_response(err, request_id, Some(&api_version));
        }
        Some(ApiFault::Latency(duration)) => latency = Some(*duration),
        Some(ApiFault::LostResponse { drop }) => lost_response = Some(*drop),
        None => {}
    }
    // Idempotency: replay, reject, or mark the key in flight. This comes
    // before a latency fault's wait, so a retry sent during the wait finds
    // the key in flight and gets a 409.
    let mut early = None;
    let mut in_flight = None;
    if method == Method::POST
        && let Some(key) = &idempotency_key
    {
        let mut data = account.lock();
        let now = data.now();
        let fingerprint = idempotency::fingerprint(&raw_params);
        let route_name = format!("{} {}", method, route.template);
        match idempotency::begin(&mut data.idempotency, key, &route_name, &fingerprint, now) {
            Err(err) => {
                log.write(
                    &mut data,
                    Some(key),
                    false,
                    err.status.as_u16(),
                    Vec::new(),
                    None,
                );
                early = Some(error_response(&err, request_id, Some(&api_version)));
            }
            Ok(Decision::Replay { status, body }) => {
                log.write(&mut data, Some(key), true, status, Vec::new(), None);
                let mut response = json_response(status, body, request_id, Some(&api_version));
                let headers = response.headers_mut();
                headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
                if let Ok(value) = HeaderValue::from_str(key) {
                    headers.insert("idempotency-key", value);
                }
                early = Some(response);
            }
            Ok(Decision::Run) => in_flight = Some(key.as_str()),
        }
    }
    if let Some(duration) = latency {
        let mut guard = InFlightKey {
            account: &account,
            key: in_flight,
        };
        tokio::time::sleep(duration).await;
        guard.key = None;
    }
    if let Some(response) = early {
        return response;
    }

    // Run the handler under the account lock.
    let (status, body, error) = {
        let mut data = account.lock();
        let mut ctx = Ctx {
            shared: &shared,
            request_id: request_id.clone(),
            api_version: api_version.clone(),
            idempotency_key: idempotency_key.clone(),
            args: route.args.clone(),
            path: path.clone(),
            touched: Vec::new(),
        };
        let outcome = run_handler(
            route.handler,
            route.template,
            &method,
            &mut ctx,
            &mut data,
            raw_params,
        );
        let (status, body, error) = match outcome {
            Ok(value) => (StatusCode::OK, render(&value), None),
            Err(err) => (err.status, render(&err.body(request_id)), Some(err)),
        };
        if method == Method::POST
            && let Some(key) = &idempotency_key
        {
            idempotency::finish(&mut data.idempotency, key, status.as_u16(), &body);
        }
        let fault_note = lost_response.map(|_| "lost_response".to_owned());
        log.write(
            &mut data,
            idempotency_key.as_deref(),
            false,
            status.as_u16(),
            ctx.touched,
            fault_note,
        );
        (status, body, error)
    };
    account.wake.notify_one();

    match lost_response {
        Some(true) => return dropped_connection(),
        Some(false) => {
            return error_response(
                &faults::lost_response_error(),
                request_id,
                Some(&api_version),
            );
        }
        None => {}
    }
    let mut response = match error {
        Some(err) => error_response(&err, request_id, Some(&api_version)),
        None => json_response(status.as_u16(), body, request_id, Some(&api_version)),
    };
    if let Some(key) = &idempotency_key
        && let Ok(value) = HeaderValue::from_str(key)
    {
        response.headers_mut().insert("idempotency-key", value);
    }
    response
}

/// Returns the kind of object a retrieve route (`/v1/…/{id}`) reads. A GET
/// of such a route without parameters returns the stored object unchanged.
fn plain_retrieve(template: &str) -> Option<&'static str> {
    let (kind, _) = response_kind(template, &Method::GET);
    (template.ends_with("/{id}") && !kind.is_empty()).then_some(kind)
}

/// Returns the stored body of a plain retrieve when no fault changes what
/// reads see. `None` leaves the request to its handler, which also sends
/// the 404s and the stubs of deleted customers.
fn read_stored(data: &mut AccountData, kind: &str, id: Option<&String>) -> Option<Vec<u8>> {
    if faults::affects_reads(data) {
        return None;
    }
    data.store.public_bytes(kind, id?)
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
    let rest = template.trim_start_matches("/v1/");
    let kind = match rest.split('/').next().unwrap_or_default() {
        "checkout" => "checkout.session",
        "payment_intents" => "payment_intent",
        "charges" => "charge",
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
    expand::check(kind, list, &expand_paths)?;
    let mut value = handler(ctx, data, params)?;
    if !expand_paths.is_empty() {
        expand::apply(&mut value, &expand_paths, &data.store)?;
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

fn decode_params(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, ApiError> {
    let mut params = form::decode_query(uri.query().unwrap_or_default().as_bytes())?;
    if *method == Method::POST && !body.is_empty() {
        let is_json = header(headers, "content-type").is_some_and(|ct| ct.contains("json"))
            || body.first() == Some(&b'{');
        if is_json {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                crate::wire::ErrorType::InvalidRequest,
                "Invalid request: the Stripe API takes application/x-www-form-urlencoded \
                 bodies, not JSON. Encode nested parameters in bracket notation, such as \
                 metadata[order_id]=42.",
            ));
        }
        for (key, value) in form::decode(body)? {
            params.insert(key, value);
        }
    }
    Ok(params)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
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

/// Renders an error in Stripe's envelope with its status and headers.
pub fn error_response(err: &ApiError, request_id: &str, api_version: Option<&str>) -> Response {
    let mut response = json_response(
        err.status.as_u16(),
        render(&err.body(request_id)),
        request_id,
        api_version,
    );
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
