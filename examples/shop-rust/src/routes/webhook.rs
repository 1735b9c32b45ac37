//! `POST /webhooks/stripe`: verifies, de-duplicates and applies events.
//!
//! Stripe delivers at least once, in any order, and retries every delivery
//! that does not get a 2xx. The handler is built around that:
//!
//! 1. Verify `Stripe-Signature` over the raw body (400 on failure).
//! 2. Return 200 at once for an event id already processed.
//! 3. Decide what the event means for its order, trusting the signed
//!    payload for `payment_status`, because a retrieve may lag behind.
//! 4. Before fulfilling, list the session's line items. If that fails,
//!    return 500 so Stripe delivers the event again.
//! 5. In one SQLite transaction, record the event id and apply the change.
//!    A failure before the commit leaves the event unprocessed for the
//!    retry.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::fulfilment::{FulfilmentError, order_status, payment_from_session, shipped_items};
use super::{AppError, AppState};
use crate::bugs::Bug;
use crate::order::{Payment, Status, Target, Transition};
use crate::store::{Applied, EventRecord};
use crate::stripe::{CheckoutSession, Event, PaymentIntent, StripeError, signature};

/// The change an event requests from the shop.
#[derive(Debug)]
enum Plan {
    Apply {
        order_id: String,
        transition: Transition,
    },
    /// A handled event type that needs no change.
    Ignore(String),
    /// An event type the shop does not handle.
    Unhandled,
}

#[derive(Debug, thiserror::Error)]
enum PlanError {
    #[error("invalid {event_type} object: {message}")]
    InvalidObject { event_type: String, message: String },
    #[error(transparent)]
    Fulfilment(#[from] FulfilmentError),
    #[error("failed to retrieve session {session_id}: {cause}")]
    Retrieve {
        session_id: String,
        // Not a `source`: the message already ends with it, and a source
        // would print it a second time in the error chain.
        cause: StripeError,
    },
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

pub(super) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    verify_signature(&state, &headers, &body)?;
    let event: Event = serde_json::from_slice(&body).map_err(|error| {
        tracing::warn!(%error, "rejected webhook delivery with invalid event JSON");
        AppError::BadRequest(format!("invalid event JSON: {error}"))
    })?;
    let record = EventRecord {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
    };

    // BUG(no-dedup): every delivery is handled as if it were the first.
    let dedup = !state.bug_is(Bug::NoDedup);
    if dedup && state.store.is_processed(&event.id)? {
        tracing::info!(event_id = %event.id, event_type = %event.event_type, "duplicate event");
        return Ok(acknowledge("duplicate"));
    }

    // BUG(mark-before-commit): the event counts as processed before its
    // effects are, so if they fail, Stripe's retry is taken for a duplicate.
    let mark_before_commit = state.bug_is(Bug::MarkBeforeCommit);
    if mark_before_commit && !state.store.mark_processed(&record)? {
        return Ok(acknowledge("duplicate"));
    }
    let record_with_effects = (dedup && !mark_before_commit).then_some(&record);

    let plan = match plan(&state, &event).await {
        Ok(plan) => plan,
        Err(error) => return handle_plan_error(&state, &event, error),
    };

    match plan {
        Plan::Unhandled => {
            if state.bug_is(Bug::UnhandledEvent500) {
                // BUG(unhandled-event-500): Stripe retries these forever.
                return Err(AppError::Internal(anyhow::anyhow!(
                    "no handler for event type {}",
                    event.event_type
                )));
            }
            tracing::debug!(event_id = %event.id, event_type = %event.event_type, "event type not handled");
            Ok(acknowledge("ignored"))
        }
        Plan::Ignore(reason) => {
            if let Some(record) = record_with_effects {
                state.store.mark_processed(record)?;
            }
            tracing::info!(event_id = %event.id, event_type = %event.event_type, %reason, "event ignored");
            Ok(acknowledge("ignored"))
        }
        Plan::Apply {
            order_id,
            transition,
        } => {
            let applied = state
                .store
                .apply(record_with_effects, &order_id, &transition)?;
            let (result, detail) = match applied {
                Applied::Duplicate => ("duplicate", String::new()),
                Applied::UnknownOrder => ("unknown_order", format!("order {order_id:?} not found")),
                Applied::Skipped(skip) => ("unchanged", skip.reason()),
                Applied::Changed { from, to } => {
                    ("applied", format!("{} -> {}", from.as_str(), to.as_str()))
                }
            };
            tracing::info!(
                event_id = %event.id,
                event_type = %event.event_type,
                %order_id,
                result,
                %detail,
                "event handled"
            );
            Ok(acknowledge(result))
        }
    }
}

fn acknowledge(result: &str) -> Json<Value> {
    Json(json!({"received": true, "result": result}))
}

fn handle_plan_error(
    state: &AppState,
    event: &Event,
    error: PlanError,
) -> Result<Json<Value>, AppError> {
    match error {
        PlanError::InvalidObject { .. } => {
            tracing::warn!(event_id = %event.id, %error, "rejected event with an invalid object");
            Err(AppError::BadRequest(error.to_string()))
        }
        PlanError::Fulfilment(_) if state.bug_is(Bug::SwallowErrors) => {
            // BUG(swallow-errors): a 2xx response stops Stripe's retries.
            tracing::warn!(event_id = %event.id, %error, "fulfilment failed, acknowledging anyway");
            Ok(acknowledge("failed"))
        }
        error => Err(AppError::Internal(anyhow::Error::new(error).context(
            format!(
                "failed to handle event {} ({}), so Stripe will deliver it again",
                event.id, event.event_type
            ),
        ))),
    }
}

fn verify_signature(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Result<(), AppError> {
    if state.bug_is(Bug::NoSignatureCheck) {
        // BUG(no-signature-check): anyone can post a forged event.
        return Ok(());
    }
    let header = headers
        .get("Stripe-Signature")
        .and_then(|value| value.to_str().ok());

    let reserialised: Vec<u8>;
    let signed: &[u8] = if state.bug_is(Bug::ReserialiseBody) {
        // BUG(reserialise-body): parsing and writing the JSON back changes
        // whitespace and escapes, so the HMAC no longer matches.
        reserialised = serde_json::from_slice::<Value>(body)
            .and_then(|value| serde_json::to_vec(&value))
            .map_err(|error| AppError::BadRequest(format!("invalid event JSON: {error}")))?;
        &reserialised
    } else {
        body
    };

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default();
    signature::verify(header, signed, &state.config.webhook_secret, now).map_err(|error| {
        tracing::warn!(%error, "rejected webhook delivery");
        AppError::BadRequest(format!("signature verification failed: {error}"))
    })
}

async fn plan(state: &AppState, event: &Event) -> Result<Plan, PlanError> {
    match event.event_type.as_str() {
        "checkout.session.completed" => on_completed(state, session_of(event)?).await,
        "checkout.session.async_payment_succeeded" => {
            on_async_payment_succeeded(state, session_of(event)?).await
        }
        "checkout.session.async_payment_failed" => {
            Ok(on_async_payment_failed(state, session_of(event)?))
        }
        "checkout.session.expired" => Ok(on_expired(state, session_of(event)?)),
        "payment_intent.succeeded" if state.bug_is(Bug::PiMetadata) => {
            on_payment_intent_succeeded(state, event).await
        }
        _ => Ok(Plan::Unhandled),
    }
}

fn session_of(event: &Event) -> Result<CheckoutSession, PlanError> {
    serde_json::from_value(event.data.object.clone()).map_err(|error| PlanError::InvalidObject {
        event_type: event.event_type.clone(),
        message: error.to_string(),
    })
}

/// `checkout.session.completed`: the buyer finished checkout. The payment is
/// done when `payment_status` is `paid`. With a delayed method it is
/// `unpaid`, and an `async_payment_*` event follows.
async fn on_completed(state: &AppState, session: CheckoutSession) -> Result<Plan, PlanError> {
    if state.bug_is(Bug::PiMetadata) {
        // BUG(pi-metadata): only payment_intent.succeeded fulfils.
        return Ok(Plan::Ignore(
            "session events are not used to fulfil".to_owned(),
        ));
    }
    let Some(order_id) = session.order_id().map(str::to_owned) else {
        return Ok(missing_order_id(&session));
    };

    let session = if state.bug_is(Bug::CachedSession) {
        // BUG(cached-session): decides from the copy saved at creation.
        cached_or(state, &order_id, session)?
    } else if state.bug_is(Bug::RefetchStatus) {
        // BUG(refetch-status): a retrieve right after payment may still show
        // `unpaid`, and no later event corrects it for a card payment.
        state
            .stripe
            .retrieve_checkout_session(&session.id)
            .await
            .map_err(|cause| PlanError::Retrieve {
                session_id: session.id.clone(),
                cause,
            })?
    } else {
        session
    };

    // BUG(fulfil-unpaid): completion is taken as payment.
    if session.is_paid() || state.bug_is(Bug::FulfilUnpaid) {
        return fulfil(state, order_id, &session).await;
    }
    Ok(apply(
        state,
        order_id,
        Target::AwaitingPayment,
        Some(session.id),
    ))
}

/// `checkout.session.async_payment_succeeded`: a delayed payment settled.
async fn on_async_payment_succeeded(
    state: &AppState,
    session: CheckoutSession,
) -> Result<Plan, PlanError> {
    if state.bug_is(Bug::IgnoreAsync) {
        // BUG(ignore-async): the order stays awaiting_payment forever.
        return Ok(Plan::Ignore(
            "asynchronous payment events are not handled".to_owned(),
        ));
    }
    if state.bug_is(Bug::PiMetadata) {
        // BUG(pi-metadata): only payment_intent.succeeded fulfils.
        return Ok(Plan::Ignore(
            "session events are not used to fulfil".to_owned(),
        ));
    }
    let Some(order_id) = session.order_id().map(str::to_owned) else {
        return Ok(missing_order_id(&session));
    };
    let session = if state.bug_is(Bug::CachedSession) {
        // BUG(cached-session): amounts and payment intent from the old copy.
        cached_or(state, &order_id, session)?
    } else {
        session
    };
    fulfil(state, order_id, &session).await
}

/// `checkout.session.async_payment_failed`: a delayed payment failed.
fn on_async_payment_failed(state: &AppState, session: CheckoutSession) -> Plan {
    if state.bug_is(Bug::IgnoreAsync) {
        // BUG(ignore-async): the stock stays reserved forever.
        return Plan::Ignore("asynchronous payment events are not handled".to_owned());
    }
    let Some(order_id) = session.order_id().map(str::to_owned) else {
        return missing_order_id(&session);
    };
    apply(state, order_id, Target::PaymentFailed, Some(session.id))
}

/// `checkout.session.expired`: the session closed without payment.
fn on_expired(state: &AppState, session: CheckoutSession) -> Plan {
    let Some(order_id) = session.order_id().map(str::to_owned) else {
        return missing_order_id(&session);
    };
    if state.bug_is(Bug::ExpiredAsFailed) {
        // BUG(expired-as-failed): an abandoned checkout is reported as a
        // failed payment, overwriting whatever the order was.
        let transition = Transition::new(Target::PaymentFailed, Some(session.id)).ignoring_order();
        return Plan::Apply {
            order_id,
            transition,
        };
    }
    apply(state, order_id, Target::Cancelled, Some(session.id))
}

/// `payment_intent.succeeded`, read only with the pi-metadata bug switch.
async fn on_payment_intent_succeeded(state: &AppState, event: &Event) -> Result<Plan, PlanError> {
    let payment_intent: PaymentIntent =
        serde_json::from_value(event.data.object.clone()).map_err(|error| {
            PlanError::InvalidObject {
                event_type: event.event_type.clone(),
                message: error.to_string(),
            }
        })?;
    // BUG(pi-metadata): session metadata is not copied to the payment
    // intent, so this is empty for every checkout.
    let Some(order_id) = payment_intent.metadata.get("order_id").cloned() else {
        tracing::warn!(payment_intent = %payment_intent.id, "payment intent has no metadata.order_id");
        return Ok(Plan::Ignore(
            "payment intent has no metadata.order_id".to_owned(),
        ));
    };
    if let Some(skip) = skip_fulfilment(state, &order_id)? {
        return Ok(skip);
    }
    let Some(session_id) = state
        .store
        .find_order(&order_id)?
        .and_then(|order| order.session_id)
    else {
        return Ok(Plan::Ignore(format!("order {order_id:?} has no session")));
    };
    let payment = Payment {
        payment_intent: Some(payment_intent.id),
        amount_total: payment_intent.amount_received,
        currency: payment_intent.currency,
        email: None,
        shipped_items: shipped_items(state, &session_id, None).await?,
    };
    Ok(apply(state, order_id, Target::Paid(payment), None))
}

/// Plans fulfilment of a paid session.
async fn fulfil(
    state: &AppState,
    order_id: String,
    session: &CheckoutSession,
) -> Result<Plan, PlanError> {
    if let Some(skip) = skip_fulfilment(state, &order_id)? {
        return Ok(skip);
    }
    let payment = payment_from_session(state, session).await?;
    Ok(apply(
        state,
        order_id,
        Target::Paid(payment),
        Some(session.id.clone()),
    ))
}

/// Returns an `Ignore` plan when the order is unknown or already paid, in
/// which case listing the line items would be wasted.
fn skip_fulfilment(state: &AppState, order_id: &str) -> anyhow::Result<Option<Plan>> {
    let plan = match order_status(state, order_id)? {
        None => Some(Plan::Ignore(format!("order {order_id:?} not found"))),
        Some(Status::Paid) if paid_guard(state) => {
            Some(Plan::Ignore("order is already paid".to_owned()))
        }
        Some(_) => None,
    };
    Ok(plan)
}

/// Builds the plan for `target`, with the rules the bug switch bends.
fn apply(state: &AppState, order_id: String, target: Target, session_id: Option<String>) -> Plan {
    let mut transition = Transition::new(target, session_id);
    if !paid_guard(state) {
        transition = transition.without_paid_guard();
    }
    if state.bug_is(Bug::LastEventWins) {
        // BUG(last-event-wins): a late event overwrites a newer status.
        transition = transition.ignoring_order();
    }
    Plan::Apply {
        order_id,
        transition,
    }
}

/// Checks whether fulfilling skips an order that is already paid.
fn paid_guard(state: &AppState) -> bool {
    // BUG(no-dedup) and BUG(redirect-fulfils-too): each fulfilment counts.
    !(state.bug_is(Bug::NoDedup) || state.bug_is(Bug::RedirectFulfilsToo))
}

fn cached_or(
    state: &AppState,
    order_id: &str,
    session: CheckoutSession,
) -> Result<CheckoutSession, PlanError> {
    Ok(state.store.cached_session(order_id)?.unwrap_or(session))
}

fn missing_order_id(session: &CheckoutSession) -> Plan {
    tracing::warn!(
        session_id = %session.id,
        "session has no metadata.order_id or client_reference_id"
    );
    Plan::Ignore(format!("session {} has no order id", session.id))
}
