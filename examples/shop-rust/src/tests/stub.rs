//! A minimal stand-in for the three Stripe calls the shop makes, so the
//! route tests run without the fakestripe server. It keeps sessions in
//! memory, replays idempotency keys, and can fail on request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{Value, json};

pub(super) const SECRET_KEY: &str = "sk_test_shop";

/// One `POST /v1/checkout/sessions` as the stub received it.
#[derive(Debug, Clone)]
pub(super) struct CreateRequest {
    pub(super) idempotency_key: Option<String>,
    pub(super) params: Vec<(String, String)>,
}

impl CreateRequest {
    pub(super) fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Default)]
pub(super) struct Stub {
    sessions: Mutex<HashMap<String, Value>>,
    line_items: Mutex<HashMap<String, Vec<Value>>>,
    replays: Mutex<HashMap<String, Value>>,
    creates: Mutex<Vec<CreateRequest>>,
    next_id: AtomicUsize,
    /// How many of the next creates succeed but return 500, as when the
    /// response is lost after Stripe wrote the session.
    pub(super) lost_create_responses: AtomicUsize,
    /// How many of the next line-item lists fail with 500.
    pub(super) line_item_failures: AtomicUsize,
    /// When set, a retrieve returns the session as it was before payment.
    pub(super) stale_retrieve: AtomicBool,
}

impl Stub {
    pub(super) fn creates(&self) -> Vec<CreateRequest> {
        self.creates.lock().unwrap().clone()
    }

    pub(super) fn session_count(&self) -> usize {
        self.sessions.lock().unwrap().len()
    }

    /// Completes a session as the customer would, and returns it as an
    /// event payload would carry it.
    pub(super) fn complete(&self, session_id: &str, payment_status: &str) -> Value {
        let mut sessions = self.sessions.lock().unwrap();
        let session = sessions.get_mut(session_id).expect("session exists");
        session["status"] = json!("complete");
        session["payment_status"] = json!(payment_status);
        session["payment_intent"] = json!(format!("pi_for_{session_id}"));
        session["customer_details"] = json!({"email": "buyer@example.test"});
        session.clone()
    }

    /// Marks a completed session paid, as an asynchronous payment settling.
    pub(super) fn settle(&self, session_id: &str) -> Value {
        let mut sessions = self.sessions.lock().unwrap();
        let session = sessions.get_mut(session_id).expect("session exists");
        session["payment_status"] = json!("paid");
        session.clone()
    }

    pub(super) fn expire(&self, session_id: &str) -> Value {
        let mut sessions = self.sessions.lock().unwrap();
        let session = sessions.get_mut(session_id).expect("session exists");
        session["status"] = json!("expired");
        session.clone()
    }
}

pub(super) fn router(stub: Arc<Stub>) -> Router {
    Router::new()
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/checkout/sessions/{id}", get(retrieve_session))
        .route(
            "/v1/checkout/sessions/{id}/line_items",
            get(list_line_items),
        )
        .with_state(stub)
}

fn stripe_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"error": {"type": kind, "message": message}});
    (status, Json(body)).into_response()
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        == Some(&format!("Bearer {SECRET_KEY}"))
}

async fn create_session(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    if !authorised(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "invalid_request_error", "bad key");
    }
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    stub.creates.lock().unwrap().push(CreateRequest {
        idempotency_key: idempotency_key.clone(),
        params: params.clone(),
    });

    let replayed = idempotency_key
        .as_ref()
        .and_then(|key| stub.replays.lock().unwrap().get(key).cloned());
    let session = match replayed {
        Some(session) => session,
        None => {
            let session = new_session(&stub, &params);
            if let Some(key) = idempotency_key {
                stub.replays.lock().unwrap().insert(key, session.clone());
            }
            session
        }
    };

    let lost = stub
        .lost_create_responses
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    if lost {
        return stripe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "response lost",
        );
    }
    Json(session).into_response()
}

fn new_session(stub: &Stub, params: &[(String, String)]) -> Value {
    let number = stub.next_id.fetch_add(1, Ordering::SeqCst) + 1;
    let id = format!("cs_test_{number}");
    let param = |key: &str| {
        params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.clone())
    };

    let mut amount_total = 0;
    let mut currency = None;
    let mut items = Vec::new();
    for index in 0.. {
        let Some(quantity) = param(&format!("line_items[{index}][quantity]")) else {
            break;
        };
        let quantity: i64 = quantity.parse().unwrap();
        let unit_amount: i64 = param(&format!("line_items[{index}][price_data][unit_amount]"))
            .map_or(1000, |amount| amount.parse().unwrap());
        let name = param(&format!(
            "line_items[{index}][price_data][product_data][name]"
        ))
        .unwrap_or_else(|| "Catalogue item".to_owned());
        currency = currency.or(param(&format!("line_items[{index}][price_data][currency]")));
        amount_total += unit_amount * quantity;
        items.push(json!({
            "id": format!("li_{number}_{index}"),
            "object": "item",
            "description": name,
            "quantity": quantity,
            "amount_total": unit_amount * quantity,
            "currency": currency.clone().unwrap_or_else(|| "usd".to_owned()),
        }));
    }

    let mut metadata = serde_json::Map::new();
    for (name, value) in params {
        if let Some(key) = name
            .strip_prefix("metadata[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            metadata.insert(key.to_owned(), json!(value));
        }
    }

    let session = json!({
        "id": id,
        "object": "checkout.session",
        "status": "open",
        "payment_status": "unpaid",
        "url": format!("https://checkout.example.test/pay/{id}"),
        "metadata": metadata,
        "client_reference_id": param("client_reference_id"),
        "customer_email": param("customer_email"),
        "customer_details": null,
        "payment_intent": null,
        "amount_total": amount_total,
        "currency": currency.unwrap_or_else(|| "usd".to_owned()),
    });
    stub.sessions
        .lock()
        .unwrap()
        .insert(id.clone(), session.clone());
    stub.line_items.lock().unwrap().insert(id, items);
    session
}

async fn retrieve_session(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorised(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "invalid_request_error", "bad key");
    }
    let Some(mut session) = stub.sessions.lock().unwrap().get(&id).cloned() else {
        return stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!("No such checkout.session: '{id}'"),
        );
    };
    if stub.stale_retrieve.load(Ordering::SeqCst) {
        session["status"] = json!("open");
        session["payment_status"] = json!("unpaid");
    }
    Json(session).into_response()
}

async fn list_line_items(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorised(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "invalid_request_error", "bad key");
    }
    let failed = stub
        .line_item_failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    if failed {
        return stripe_error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "try again");
    }
    let Some(items) = stub.line_items.lock().unwrap().get(&id).cloned() else {
        return stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "no such session",
        );
    };
    Json(json!({"object": "list", "data": items, "has_more": false})).into_response()
}
