//! Fulfilment steps shared by the success page and the webhook: turning a
//! paid session into the payment details stored on the order.

use serde_json::{Value, json};

use super::AppState;
use crate::bugs::Bug;
use crate::order::{Payment, Status};
use crate::stripe::{CheckoutSession, LineItem, List, StripeError};

#[derive(Debug, thiserror::Error)]
pub(super) enum FulfilmentError {
    #[error("failed to list the line items of session {session_id}: {cause}")]
    LineItems {
        session_id: String,
        // Not a `source`: the message already ends with it, and a source
        // would print it a second time in the error chain.
        cause: StripeError,
    },
    #[error("session {0} has no line_items field")]
    MissingLineItems(String),
}

/// Builds the payment details for a paid `session`, listing its line items
/// from Stripe, which is what the shop ships.
pub(super) async fn payment_from_session(
    state: &AppState,
    session: &CheckoutSession,
) -> Result<Payment, FulfilmentError> {
    let shipped_items = shipped_items(state, &session.id, session.line_items.as_ref()).await?;
    Ok(Payment {
        payment_intent: session.payment_intent_id().map(str::to_owned),
        amount_total: session.amount_total,
        currency: session.currency.clone(),
        email: session.buyer_email().map(str::to_owned),
        shipped_items,
    })
}

/// Lists the line items of `session_id`. Stripe never puts them in event
/// payloads, and includes them on a retrieve only with
/// `expand[]=line_items`.
pub(super) async fn shipped_items(
    state: &AppState,
    session_id: &str,
    included: Option<&List<LineItem>>,
) -> Result<Value, FulfilmentError> {
    let items = if state.bug_is(Bug::LineItemsFromEvent) {
        // BUG(line-items-from-event): reads a field that is not there.
        included
            .map(|list| list.data.clone())
            .ok_or_else(|| FulfilmentError::MissingLineItems(session_id.to_owned()))?
    } else {
        state
            .stripe
            .list_line_items(session_id)
            .await
            .map_err(|cause| FulfilmentError::LineItems {
                session_id: session_id.to_owned(),
                cause,
            })?
    };
    let shipped: Vec<Value> = items
        .iter()
        .map(|item| {
            json!({
                "description": item.description,
                "quantity": item.quantity,
                "amount_total": item.amount_total,
                "currency": item.currency,
                "price": item.price.as_ref().map(|price| price.id()),
            })
        })
        .collect();
    Ok(Value::Array(shipped))
}

/// Returns the status of `order_id`, or `None` for an unknown order. The
/// fulfilment paths read it to skip listing line items for an order that is
/// unknown or already paid. The transaction that fulfils checks again,
/// because a concurrent request may fulfil in between.
pub(super) fn order_status(state: &AppState, order_id: &str) -> anyhow::Result<Option<Status>> {
    let order = state.store.find_order(order_id)?;
    Ok(order.map(|order| order.status))
}
