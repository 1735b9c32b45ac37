//! The dashboard at `/_fakestripe/dashboard`: what one account's fake did,
//! for a developer debugging a scenario.
//!
//! - `GET /_fakestripe/dashboard`: the clock, the fault plan, sessions,
//!   payment intents, events with each delivery attempt, and the request
//!   log, newest first.
//! - `GET /_fakestripe/dashboard/sessions/{id}`: the timeline of one
//!   checkout, from its creation to the last delivery of its events.
//! - `GET /_fakestripe/dashboard/objects/{id}`: one stored object as JSON.
//!
//! Each page takes the account's key as the API does, in the
//! `Authorization` header, or as `?key=sk_test_…` so a browser can open it.
//! `?account=acct_…` (or `Stripe-Account`) selects a connected account. The
//! pages put the key and account in their own links, so following a link
//! stays on the same account.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{format, html, message};
use crate::account::{Account, AccountData, DeliveryRecord, TraceEntry};
use crate::clock::ClockMode;
use crate::server::Shared;
use crate::wire::auth;

/// Most rows the overview shows in each table, newest first. Older rows
/// stay in the control API's logs.
const MAX_ROWS: usize = 200;

/// Characters of an endpoint's response body shown next to a delivery.
const RESPONSE_CHARS: usize = 160;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_fakestripe/dashboard", get(overview))
        .route("/_fakestripe/dashboard/sessions/{id}", get(timeline))
        .route("/_fakestripe/dashboard/objects/{id}", get(object_json))
}

/// The query parameters that name an account.
#[derive(Debug, Default, Deserialize)]
struct AccountQuery {
    key: Option<String>,
    account: Option<String>,
}

/// The account a dashboard request reads, and the query string that keeps
/// it in links.
struct Viewer {
    account: Arc<Account>,
    /// `?key=…`, plus `&account=…` for a connected account.
    query: String,
    /// The key with all but its prefix and last four characters masked.
    label: String,
}

#[derive(Debug, Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    error: Option<String>,
}

fn login(status: StatusCode, error: Option<String>) -> Response {
    html(status, &LoginPage { error })
}

/// Returns the dashboard's query parameters, or a page that names the one
/// that is invalid, such as `key` sent twice.
fn account_query(
    query: Result<Query<AccountQuery>, QueryRejection>,
) -> Result<AccountQuery, Response> {
    query.map(|Query(query)| query).map_err(|rejection| {
        let detail = crate::control::rejection_detail(&rejection);
        message(
            StatusCode::BAD_REQUEST,
            "Invalid query string",
            &format!("{detail}. The dashboard takes `key` and `account`, each once."),
        )
    })
}

/// Finds the account from `?key=` or the `Authorization` header, checked by
/// the same rules as the API's keys.
fn authenticate(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    query: &AccountQuery,
) -> Result<Viewer, Response> {
    let key_in_query = query
        .key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let key = match key_in_query {
        Some(key) => {
            let mut from_query = HeaderMap::new();
            let value = HeaderValue::from_str(&format!("Bearer {key}"));
            let value = value.map_err(|_| {
                let error = "Invalid API key: it contains characters that no API key has. \
                             Enter a test-mode secret key, which starts with sk_test_."
                    .to_owned();
                login(StatusCode::UNAUTHORIZED, Some(error))
            })?;
            from_query.insert(header::AUTHORIZATION, value);
            auth::api_key(&from_query)
        }
        None if headers.contains_key(header::AUTHORIZATION) => auth::api_key(headers),
        None => return Err(login(StatusCode::UNAUTHORIZED, None)),
    };

    let key = key.map_err(|err| {
        tracing::debug!(error = %err.message, "dashboard key rejected");
        login(StatusCode::UNAUTHORIZED, Some(err.message))
    })?;

    // A header that is not ASCII is rejected, not ignored, so the page
    // never shows the platform account in place of the one requested.
    let header_account = auth::header_text(headers, &auth::STRIPE_ACCOUNT).map_err(|err| {
        tracing::debug!(error = %err.message, "dashboard Stripe-Account header rejected");
        message(
            StatusCode::BAD_REQUEST,
            "Invalid connected account",
            &err.message,
        )
    })?;
    let connected = query
        .account
        .as_deref()
        .or(header_account.as_deref())
        .map(str::trim)
        .filter(|acct| !acct.is_empty());
    if let Some(acct) = connected
        && !auth::is_account_id(acct)
    {
        tracing::debug!(account = %acct, "dashboard connected account rejected");
        return Err(message(
            StatusCode::BAD_REQUEST,
            "Invalid connected account",
            &format!(
                "{acct} is not a connected account id: expected acct_ followed by letters, digits or underscores."
            ),
        ));
    }

    // `api_key` accepts only letters, digits and underscores, and the
    // account was checked above, so neither needs percent-encoding.
    let mut query = format!("?key={key}");
    let mut label = auth::mask(&key);
    if let Some(acct) = connected {
        query.push_str(&format!("&account={acct}"));
        label.push_str(&format!(" / {acct}"));
    }
    Ok(Viewer {
        account: shared.account(&key, connected),
        query,
        label,
    })
}

/// Shows `value` as `k=v, k=v`, for metadata and trace details.
fn pairs(value: &Value) -> String {
    let Some(map) = value.as_object() else {
        return String::new();
    };
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            Value::String(text) => format!("{k}={text}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn amount(object: &Value, field: &str) -> String {
    let currency = object["currency"].as_str().unwrap_or("usd");
    format::money(object[field].as_i64().unwrap_or(0), currency)
}

fn when(object: &Value, field: &str) -> String {
    object[field].as_i64().map(format::time).unwrap_or_default()
}

/// Cuts `text` to at most `max` characters, marking the cut with `…`.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_owned(),
    }
}

fn clock_text(data: &AccountData) -> String {
    match data.clock.mode() {
        ClockMode::Manual => "manual: moves only when advanced".to_owned(),
        ClockMode::RealTime { speed } => {
            if speed == 1.0 {
                "real time".to_owned()
            } else {
                format!("real time × {speed}")
            }
        }
    }
}

#[derive(Debug)]
struct SessionRow {
    id: String,
    status: String,
    payment_status: String,
    amount: String,
    created: String,
    email: String,
    metadata: String,
    payment_intent: Option<String>,
    /// The hosted page, for a session that can still be opened.
    url: Option<String>,
}

#[derive(Debug)]
struct IntentRow {
    id: String,
    status: String,
    amount: String,
    created: String,
    metadata: String,
    latest_charge: Option<String>,
    last_error: String,
}

#[derive(Debug)]
struct DeliveryRow {
    endpoint: String,
    url: String,
    attempt: u32,
    /// The HTTP status, or why there is none.
    outcome: String,
    succeeded: bool,
    latency: String,
    sent: String,
    response: String,
    /// `forged: …` or `duplicate`, for deliveries a fault made.
    note: String,
}

#[derive(Debug)]
struct EventRow {
    id: String,
    event_type: String,
    created: String,
    object: String,
    pending_webhooks: i64,
    deliveries: Vec<DeliveryRow>,
}

#[derive(Debug)]
struct RequestRow {
    at: String,
    method: String,
    path: String,
    status: u16,
    succeeded: bool,
    request_id: String,
    idempotency_key: String,
    replayed: bool,
    fault: String,
    objects: Vec<String>,
}

/// A table's rows and how many exist in all.
#[derive(Debug)]
struct Table<T> {
    rows: Vec<T>,
    total: usize,
}

impl<T> Table<T> {
    fn truncated(&self) -> bool {
        self.rows.len() < self.total
    }
}

#[derive(Debug, Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    query: String,
    label: String,
    now: String,
    now_unix: i64,
    clock: String,
    fault_plan: String,
    faults_active: bool,
    held_deliveries: usize,
    sessions: Table<SessionRow>,
    intents: Table<IntentRow>,
    events: Table<EventRow>,
    requests: Table<RequestRow>,
    max_rows: usize,
}

fn delivery_row(record: &DeliveryRecord) -> DeliveryRow {
    let outcome = match (record.status, &record.error) {
        (Some(status), _) => status.to_string(),
        (None, Some(error)) => error.clone(),
        (None, None) => "no response".to_owned(),
    };
    let note = match (&record.forged, record.duplicate) {
        (Some(forgery), _) => format!("forged: {forgery}"),
        (None, true) => "duplicate".to_owned(),
        (None, false) => String::new(),
    };
    DeliveryRow {
        endpoint: record.endpoint.clone(),
        url: record.url.clone(),
        attempt: record.attempt,
        outcome,
        succeeded: record.succeeded(),
        latency: format!("{} ms", record.latency_ms),
        sent: format::time(record.sent_at),
        response: truncate(record.response_body.trim(), RESPONSE_CHARS),
        note,
    }
}

/// Builds a row with `row` for each of the newest `MAX_ROWS` objects of `kind`.
fn newest<T>(data: &AccountData, kind: &str, row: impl Fn(&str, &Value) -> T) -> Table<T> {
    let rows = data
        .store
        .ids_newest_first(kind)
        .filter_map(|id| data.store.get(kind, &id).map(|object| row(&id, &object)))
        .take(MAX_ROWS)
        .collect();
    Table {
        rows,
        total: data.store.count(kind),
    }
}

fn overview_page(data: &AccountData, viewer: &Viewer) -> OverviewPage {
    let sessions = newest(data, "checkout.session", |id, session| SessionRow {
        id: id.to_owned(),
        status: text(&session["status"]),
        payment_status: text(&session["payment_status"]),
        amount: amount(session, "amount_total"),
        created: when(session, "created"),
        email: session["customer_email"]
            .as_str()
            .or_else(|| session["customer_details"]["email"].as_str())
            .unwrap_or_default()
            .to_owned(),
        metadata: pairs(&session["metadata"]),
        payment_intent: session["payment_intent"].as_str().map(str::to_owned),
        url: (session["status"] == "open").then(|| format!("/c/pay/{id}")),
    });
    let intents = newest(data, "payment_intent", |id, pi| IntentRow {
        id: id.to_owned(),
        status: text(&pi["status"]),
        amount: amount(pi, "amount"),
        created: when(pi, "created"),
        metadata: pairs(&pi["metadata"]),
        latest_charge: pi["latest_charge"].as_str().map(str::to_owned),
        last_error: text(&pi["last_payment_error"]["message"]),
    });
    let mut by_event: HashMap<&str, Vec<&DeliveryRecord>> = HashMap::new();
    for record in data.deliveries.iter() {
        by_event.entry(&record.event_id).or_default().push(record);
    }
    let events = newest(data, "event", |id, event| EventRow {
        id: id.to_owned(),
        event_type: text(&event["type"]),
        created: when(event, "created"),
        object: text(&event["data"]["object"]["id"]),
        pending_webhooks: event["pending_webhooks"].as_i64().unwrap_or(0),
        deliveries: by_event
            .get(id)
            .map(|records| records.iter().map(|r| delivery_row(r)).collect())
            .unwrap_or_default(),
    });
    let requests = Table {
        rows: data
            .requests
            .iter()
            .rev()
            .take(MAX_ROWS)
            .map(|record| RequestRow {
                at: format::time(record.at),
                method: record.method.to_owned(),
                path: record.path.clone(),
                status: record.status,
                succeeded: (200..300).contains(&record.status),
                request_id: record.request_id.clone(),
                idempotency_key: record.idempotency_key.clone().unwrap_or_default(),
                replayed: record.idempotent_replayed,
                fault: record.fault.clone().unwrap_or_default(),
                objects: record.objects.clone(),
            })
            .collect(),
        total: data.requests.len() + data.requests.dropped() as usize,
    };
    let plan = crate::faults::plan_view(data);
    OverviewPage {
        query: viewer.query.clone(),
        label: viewer.label.clone(),
        now: format::time(data.now()),
        now_unix: data.now(),
        clock: clock_text(data),
        faults_active: plan["faults"].as_array().is_some_and(|f| !f.is_empty()),
        fault_plan: serde_json::to_string_pretty(&plan).unwrap_or_default(),
        held_deliveries: crate::faults::held(data).len(),
        sessions,
        intents,
        events,
        requests,
        max_rows: MAX_ROWS,
    }
}

async fn overview(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<AccountQuery>, QueryRejection>,
) -> Response {
    let query = match account_query(query) {
        Ok(query) => query,
        Err(response) => return response,
    };
    let viewer = match authenticate(&shared, &headers, &query) {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let page = {
        let data = viewer.account.lock();
        overview_page(&data, &viewer)
    };
    html(StatusCode::OK, &page)
}

/// One line of a checkout's timeline.
#[derive(Debug)]
struct TimelineRow {
    seq: u64,
    /// Virtual time since the session was created.
    offset: String,
    at: String,
    /// The trace entry's kind: `request`, `object`, `event`, `delivery`,
    /// `fault`, `customer` or `clock`.
    kind: &'static str,
    text: String,
    /// An object whose JSON the row links to.
    link: Option<String>,
    /// For deliveries and requests: whether the status was not 2xx.
    failed: bool,
}

#[derive(Debug, Template)]
#[template(path = "dashboard/timeline.html")]
struct TimelinePage {
    query: String,
    label: String,
    session_id: String,
    status: String,
    payment_status: String,
    amount: String,
    payment_intent: Option<String>,
    rows: Vec<TimelineRow>,
}

/// The ids that belong to one checkout: the session, its payment intent,
/// and that payment intent's charges, refunds, balance transactions and
/// payment method.
fn checkout_ids(data: &AccountData, session: &Value) -> HashSet<String> {
    let mut ids = HashSet::new();
    ids.insert(text(&session["id"]));
    let Some(pi_id) = session["payment_intent"].as_str() else {
        return ids;
    };
    ids.insert(pi_id.to_owned());
    if let Some(pm) = data
        .store
        .get("payment_intent", pi_id)
        .and_then(|pi| pi["payment_method"].as_str().map(str::to_owned))
    {
        ids.insert(pm);
    }
    for kind in ["charge", "refund"] {
        for id in data.store.ids_newest_first(kind) {
            let Some(object) = data.store.get(kind, &id) else {
                continue;
            };
            if object["payment_intent"] == pi_id {
                ids.insert(id.to_owned());
                if let Some(txn) = object["balance_transaction"].as_str() {
                    ids.insert(txn.to_owned());
                }
            }
        }
    }
    ids
}

/// Picks the trace entries that tell one checkout's story: requests that
/// touched its objects, changes to them, events about them, the deliveries
/// of those events, fault decisions naming any of these, and the
/// customer's actions. Clock changes and fault plan changes concern the
/// whole account and are kept when they fall inside that span.
fn checkout_trace<'a>(data: &'a AccountData, session: &Value) -> Vec<&'a TraceEntry> {
    let ids = checkout_ids(data, session);
    let session_id = text(&session["id"]);

    // Each line's detail is stored as JSON text, so it is parsed once here.
    let lines: Vec<(&TraceEntry, Value)> = data
        .trace
        .iter()
        .map(|entry| (entry, entry.detail()))
        .collect();

    // Event and request ids come first, so that entries logged before
    // their event or request (an API fault is decided before the request
    // is recorded) still match.
    let mut events = HashSet::new();
    let mut requests = HashSet::new();
    for (entry, detail) in &lines {
        match entry.kind {
            "event" if ids.contains(&text(&detail["object"])) => {
                events.insert(text(&detail["event_id"]));
            }
            "request" if mentions_any(&detail["objects"], &ids) => {
                requests.insert(text(&detail["request_id"]));
            }
            _ => {}
        }
    }

    let names = |value: &Value| {
        value
            .as_str()
            .is_some_and(|id| ids.contains(id) || events.contains(id) || requests.contains(id))
    };
    let belongs: Vec<bool> = lines
        .iter()
        .map(|(entry, detail)| match entry.kind {
            "request" => requests.contains(&text(&detail["request_id"])),
            "object" => ids.contains(&text(&detail["id"])),
            "event" | "delivery" | "delivery_abandoned" => {
                events.contains(&text(&detail["event_id"]))
            }
            "customer" => detail["session"] == session_id.as_str(),
            "fault" => ["event_id", "session", "payment_intent", "id", "request_id"]
                .iter()
                .any(|field| names(&detail[*field])),
            _ => false,
        })
        .collect();

    let first = belongs.iter().position(|b| *b);
    let last = belongs.iter().rposition(|b| *b);
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    (first..=last)
        .filter(|&index| {
            let (entry, detail) = &lines[index];
            belongs[index]
                || entry.kind == "clock"
                || (entry.kind == "fault"
                    && matches!(
                        detail["decision"].as_str(),
                        Some("plan_set" | "plan_cleared")
                    ))
        })
        .map(|index| lines[index].0)
        .collect()
}

fn mentions_any(list: &Value, ids: &HashSet<String>) -> bool {
    list.as_array().is_some_and(|items| {
        items
            .iter()
            .any(|id| id.as_str().is_some_and(|id| ids.contains(id)))
    })
}

/// Finds the delivery record a `delivery` trace entry was written with, for
/// the latency and the endpoint's response body, which the trace does not keep.
fn find_delivery<'a>(data: &'a AccountData, detail: &Value) -> Option<&'a DeliveryRecord> {
    data.deliveries.iter().find(|record| {
        detail["event_id"] == record.event_id.as_str()
            && detail["endpoint"] == record.endpoint.as_str()
            && detail["attempt"] == record.attempt
            && detail["status"] == serde_json::json!(record.status)
    })
}

/// Writes one trace entry as a line of the timeline.
fn describe(data: &AccountData, entry: &TraceEntry) -> (String, Option<String>, bool) {
    let detail = &entry.detail();
    match entry.kind {
        "request" => {
            let mut line = format!(
                "{} {} → {}",
                text(&detail["method"]),
                text(&detail["path"]),
                detail["status"]
            );
            if let Some(key) = detail["idempotency_key"].as_str() {
                line.push_str(&format!(", idempotency key {key}"));
            }
            if detail["idempotent_replayed"] == true {
                line.push_str(", replayed");
            }
            if let Some(fault) = detail["fault"].as_str() {
                line.push_str(&format!(", fault {fault}"));
            }
            line.push_str(&format!(" ({})", text(&detail["request_id"])));
            let ok = detail["status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s));
            (line, None, !ok)
        }
        "object" => {
            let id = text(&detail["id"]);
            let mut line = format!("{} {id} {}", text(&detail["kind"]), text(&detail["change"]));
            if let Some(status) = detail["status"].as_str() {
                line.push_str(&format!(", status {status}"));
            }
            (line, Some(id), false)
        }
        "event" => {
            let id = text(&detail["event_id"]);
            let endpoints = detail["endpoints"].as_array().map_or(0, Vec::len);
            let line = format!(
                "{} {id} about {}, for {endpoints} endpoint(s)",
                text(&detail["type"]),
                text(&detail["object"])
            );
            (line, Some(id), false)
        }
        "delivery" => {
            let outcome = match (detail["status"].as_u64(), detail["error"].as_str()) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(error)) => error.to_owned(),
                (None, None) => "no response".to_owned(),
            };
            let mut line = format!(
                "{} {} to {}, attempt {}: {outcome}",
                text(&detail["type"]),
                text(&detail["event_id"]),
                text(&detail["endpoint"]),
                detail["attempt"]
            );
            let record = find_delivery(data, detail);
            if let Some(record) = record {
                line.push_str(&format!(" in {} ms", record.latency_ms));
                let response = truncate(record.response_body.trim(), RESPONSE_CHARS);
                if !response.is_empty() {
                    line.push_str(&format!(", response: {response}"));
                }
            }
            if let Some(forgery) = detail["forged"].as_str() {
                line.push_str(&format!(" (forged: {forgery})"));
            }
            if detail["duplicate"] == true {
                line.push_str(" (duplicate)");
            }
            let ok = detail["status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s));
            (line, Some(text(&detail["event_id"])), !ok)
        }
        "delivery_abandoned" => {
            let line = format!(
                "gave up delivering {} to {} after {} attempts",
                text(&detail["event_id"]),
                text(&detail["endpoint"]),
                detail["attempts"]
            );
            (line, Some(text(&detail["event_id"])), true)
        }
        "customer" => {
            let line = match detail["action"].as_str() {
                Some("pay") if detail["method"] == "card" => {
                    format!("customer pays by card ending in {}", text(&detail["card"]))
                }
                Some("pay") => format!(
                    "customer pays by {}, set to settle as {} after {} s",
                    text(&detail["method"]),
                    text(&detail["outcome"]),
                    detail["delay_seconds"]
                ),
                Some("cancel") => "customer cancels and returns to cancel_url".to_owned(),
                Some("settle") => {
                    format!("the bank payment settles: {}", text(&detail["outcome"]))
                }
                _ => format!("customer: {}", pairs(detail)),
            };
            (line, None, false)
        }
        "clock" => {
            let now = detail["now"].as_i64().map(format::time).unwrap_or_default();
            (
                format!("clock set to {now}, mode {}", text(&detail["mode"])),
                None,
                false,
            )
        }
        "fault" => {
            let mut rest: Map<String, Value> = detail.as_object().cloned().unwrap_or_default();
            let decision = rest
                .remove("decision")
                .map(|d| text(&d))
                .unwrap_or_default();
            // The overview shows the plan itself, so its seed is enough here.
            if let Some(plan) = rest.remove("plan") {
                rest.insert("seed".to_owned(), plan["seed"].clone());
            }
            let line = format!("fault {decision}: {}", pairs(&Value::Object(rest)));
            (line, None, false)
        }
        other => (format!("{other}: {}", pairs(detail)), None, false),
    }
}

fn timeline_page(data: &AccountData, viewer: &Viewer, session: &Value) -> TimelinePage {
    let entries = checkout_trace(data, session);
    let start = session["created"]
        .as_i64()
        .or_else(|| entries.first().map(|entry| entry.at))
        .unwrap_or(0);
    let rows = entries
        .into_iter()
        .map(|entry| {
            let (text, link, failed) = describe(data, entry);
            TimelineRow {
                seq: entry.seq,
                offset: format::offset(entry.at - start),
                at: format::time(entry.at),
                kind: entry.kind,
                text,
                link,
                failed,
            }
        })
        .collect();
    TimelinePage {
        query: viewer.query.clone(),
        label: viewer.label.clone(),
        session_id: text(&session["id"]),
        status: text(&session["status"]),
        payment_status: text(&session["payment_status"]),
        amount: amount(session, "amount_total"),
        payment_intent: session["payment_intent"].as_str().map(str::to_owned),
        rows,
    }
}

async fn timeline(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<AccountQuery>, QueryRejection>,
) -> Response {
    let query = match account_query(query) {
        Ok(query) => query,
        Err(response) => return response,
    };
    let viewer = match authenticate(&shared, &headers, &query) {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let page = {
        let data = viewer.account.lock();
        let Some(session) = data.store.get("checkout.session", &id) else {
            tracing::debug!(account = %viewer.account.label, session = %id, "dashboard timeline of an unknown session");
            return message(
                StatusCode::NOT_FOUND,
                "Checkout Session not found",
                &format!("This account has no Checkout Session {id}."),
            );
        };
        timeline_page(&data, &viewer, &session)
    };
    html(StatusCode::OK, &page)
}

/// Serves the stored object as pretty JSON, without the fields the fake
/// keeps for itself (names starting with `_`).
async fn object_json(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<AccountQuery>, QueryRejection>,
) -> Response {
    let query = match account_query(query) {
        Ok(query) => query,
        Err(response) => return response,
    };
    let viewer = match authenticate(&shared, &headers, &query) {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let object = {
        let data = viewer.account.lock();
        data.store.get_any(&id)
    };
    let Some(mut object) = object else {
        tracing::debug!(account = %viewer.account.label, object = %id, "dashboard object not found");
        let err = crate::wire::ApiError::no_such("object", &id, "id");
        return crate::api::unlogged_error_response(&err, None);
    };
    if let Some(map) = object.as_object_mut() {
        map.retain(|key, _| !key.starts_with('_'));
    }
    let mut response = Response::new(Body::from(crate::api::render(&object)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
