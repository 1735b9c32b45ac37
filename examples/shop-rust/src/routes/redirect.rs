//! The browser's return from Checkout: `GET /success` and `GET /cancel`.
//!
//! The success page is a convenience, not the source of truth. The buyer may
//! never come back, and an asynchronous payment is still unpaid when they
//! do, so the webhook finishes every order. The page fulfils early only when
//! a fresh retrieve of the session shows `payment_status: paid`.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::fulfilment::{order_status, payment_from_session};
use super::{AppError, AppState};
use crate::bugs::Bug;
use crate::order::Status;
use crate::order::{Target, Transition};
use crate::store::Order;
use crate::stripe::{self, CheckoutSession, StripeError};

#[derive(Debug, Deserialize)]
pub(super) struct SuccessQuery {
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CancelQuery {
    #[serde(default)]
    order_id: Option<String>,
}

pub(super) async fn success(
    State(state): State<AppState>,
    Query(query): Query<SuccessQuery>,
) -> Result<Json<Order>, AppError> {
    let session_id = query.session_id.unwrap_or_default();
    if !stripe::is_session_id(&session_id) {
        return Err(AppError::BadRequest(format!(
            "invalid session_id {session_id:?}: expected a Checkout Session id such as \
             cs_test_123 (success_url must contain the literal {{CHECKOUT_SESSION_ID}})"
        )));
    }

    let session = match load_session(&state, &session_id).await {
        Ok(session) => session,
        Err(error) => return order_after_failed_retrieve(&state, &session_id, error),
    };
    let Some(order_id) = session.order_id() else {
        return Err(AppError::NotFound(format!(
            "session {session_id} has no metadata.order_id or client_reference_id"
        )));
    };

    // BUG(trust-redirect): reaching this page is taken as proof of payment.
    let paid = session.is_paid() || state.bug_is(Bug::TrustRedirect);
    if paid {
        fulfil(&state, order_id, &session).await?;
    } else {
        tracing::info!(
            %order_id,
            %session_id,
            payment_status = session.payment_status.as_deref().unwrap_or("none"),
            "success page: session not paid yet, leaving the order to the webhook"
        );
    }

    let order = state
        .store
        .find_order(order_id)?
        .ok_or_else(|| AppError::NotFound(format!("order {order_id:?} not found")))?;
    Ok(Json(order))
}

/// Retrieves the session from Stripe.
async fn load_session(state: &AppState, session_id: &str) -> Result<CheckoutSession, StripeError> {
    if state.bug_is(Bug::CachedSession) {
        // BUG(cached-session): the copy from creation is still `unpaid`.
        let order = state.store.find_order_by_session(session_id);
        if let Ok(Some(order)) = order
            && let Ok(Some(cached)) = state.store.cached_session(&order.order_id)
        {
            return Ok(cached);
        }
    }
    state.stripe.retrieve_checkout_session(session_id).await
}

/// Shows the order anyway when the retrieve failed but the session is the
/// order's current one. Right after a write Stripe may briefly return 404 or
/// an error, and a buyer who paid should not see an error page for that.
fn order_after_failed_retrieve(
    state: &AppState,
    session_id: &str,
    error: StripeError,
) -> Result<Json<Order>, AppError> {
    if let Some(order) = state.store.find_order_by_session(session_id)? {
        tracing::warn!(
            order_id = %order.order_id,
            %session_id,
            %error,
            "success page: failed to retrieve the session, showing the stored order"
        );
        return Ok(Json(order));
    }
    if error.is_not_found() {
        return Err(AppError::NotFound(format!(
            "checkout session {session_id} not found"
        )));
    }
    Err(AppError::BadGateway(format!(
        "failed to retrieve checkout session {session_id}: {error}"
    )))
}

/// Fulfils from the success page. A failure to list the line items is
/// logged and left to the webhook, which Stripe retries.
async fn fulfil(
    state: &AppState,
    order_id: &str,
    session: &CheckoutSession,
) -> Result<(), AppError> {
    // BUG(redirect-fulfils-too): the page fulfils again, whatever the status.
    let paid_guard = !state.bug_is(Bug::RedirectFulfilsToo);
    match order_status(state, order_id)? {
        None => return Ok(()),
        Some(Status::Paid) if paid_guard => return Ok(()),
        Some(_) => {}
    }

    let payment = match payment_from_session(state, session).await {
        Ok(payment) => payment,
        Err(error) => {
            tracing::warn!(
                %order_id,
                session_id = %session.id,
                %error,
                "success page: fulfilment failed, leaving the order to the webhook"
            );
            return Ok(());
        }
    };
    let mut transition = Transition::new(Target::Paid(payment), Some(session.id.clone()));
    if !paid_guard {
        transition = transition.without_paid_guard();
    }
    let applied = state.store.apply(None, order_id, &transition)?;
    tracing::info!(%order_id, session_id = %session.id, ?applied, "success page: fulfilment");
    Ok(())
}

pub(super) async fn cancel(
    State(state): State<AppState>,
    Query(query): Query<CancelQuery>,
) -> Result<Json<Order>, AppError> {
    let order_id = query
        .order_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| AppError::BadRequest("missing order_id".to_owned()))?;
    // The session stays open until it expires, and its
    // checkout.session.expired event releases the stock.
    let order = state
        .store
        .find_order(&order_id)?
        .ok_or_else(|| AppError::NotFound(format!("order {order_id:?} not found")))?;
    tracing::info!(%order_id, "buyer returned from checkout without paying");
    Ok(Json(order))
}
