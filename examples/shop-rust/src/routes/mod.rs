//! The shop's HTTP routes, one module per flow: starting a checkout, the
//! browser's return, and Stripe's webhooks. The order read and the reset
//! used by the fakestripe harness live here.

mod checkout;
mod fulfilment;
mod redirect;
mod webhook;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::bugs::Bug;
use crate::config::Config;
use crate::store::{Order, Store};
use crate::stripe;

/// Everything a handler needs. Cloned per request, so it holds only handles.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<Store>,
    pub(crate) stripe: stripe::Client,
    pub(crate) config: Arc<Config>,
}

impl AppState {
    pub(crate) fn new(config: Config) -> anyhow::Result<AppState> {
        let store = Store::open(config.database.as_deref())?;
        let stripe = stripe::Client::new(&config.stripe_api_base, &config.stripe_secret_key)?;
        Ok(AppState {
            store: Arc::new(store),
            stripe,
            config: Arc::new(config),
        })
    }

    /// Checks whether `bug` is the switch turned on by `SHOP_BUG`.
    pub(crate) fn bug_is(&self, bug: Bug) -> bool {
        self.config.bug == Some(bug)
    }
}

/// Builds the router. Tests serve it on an ephemeral port.
pub(crate) fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/checkout", post(checkout::create))
        .route("/success", get(redirect::success))
        .route("/cancel", get(redirect::cancel))
        .route("/webhooks/stripe", post(webhook::receive))
        .route("/orders/{order_id}", get(get_order))
        .route("/_reset", post(reset))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn get_order(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<Order>, AppError> {
    let order = state
        .store
        .find_order(&order_id)?
        .ok_or_else(|| AppError::NotFound(format!("order {order_id:?} not found")))?;
    Ok(Json(order))
}

async fn reset(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    let (orders, events) = state.store.reset()?;
    tracing::info!(orders, events, "deleted all orders and processed events");
    Ok(Json(
        json!({"deleted_orders": orders, "deleted_events": events}),
    ))
}

/// A failed request, rendered as `{"error": message}` with its status.
#[derive(Debug)]
pub(crate) enum AppError {
    BadRequest(String),
    NotFound(String),
    Conflict(String),
    /// Stripe failed or rejected a call that the request depends on.
    BadGateway(String),
    /// An unexpected failure. For a webhook, the 500 status also makes
    /// Stripe deliver the event again later.
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for AppError {
    fn from(error: anyhow::Error) -> AppError {
        AppError::Internal(error)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            AppError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            AppError::Conflict(message) => (StatusCode::CONFLICT, message),
            AppError::BadGateway(message) => {
                tracing::error!(%message, "stripe call failed");
                (StatusCode::BAD_GATEWAY, message)
            }
            AppError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}"))
            }
        };
        (status, Json(json!({"error": message}))).into_response()
    }
}
