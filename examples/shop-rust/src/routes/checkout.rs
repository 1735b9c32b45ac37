//! `POST /checkout`: creates or reopens the order, then a Checkout Session
//! for it.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{AppError, AppState};
use crate::bugs::Bug;
use crate::store::{CheckoutStart, NewCheckout};
use crate::stripe::{Retry, form};

/// Stripe's limit on `client_reference_id`, which carries the order id.
const MAX_ORDER_ID_LENGTH: usize = 200;

#[derive(Debug, Deserialize)]
pub(super) struct CheckoutRequest {
    order_id: String,
    items: Vec<Item>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// One line of the cart: a catalogue price, or an inline product.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
enum Item {
    Price {
        price: String,
        quantity: i64,
    },
    Inline {
        name: String,
        unit_amount: i64,
        quantity: i64,
    },
}

#[derive(Debug, Serialize)]
pub(super) struct CheckoutResponse {
    order_id: String,
    session_id: String,
    /// The hosted Checkout page, or null for embedded Checkout.
    url: Option<String>,
    /// The secret the shop's page mounts embedded Checkout with, or null
    /// for hosted Checkout.
    client_secret: Option<String>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    body: Result<Json<CheckoutRequest>, JsonRejection>,
) -> Result<Json<CheckoutResponse>, AppError> {
    let Json(request) = body.map_err(|rejection| {
        AppError::BadRequest(format!(
            "invalid checkout request: {}",
            rejection.body_text()
        ))
    })?;
    validate(&request)?;
    let email = request.email.as_deref().filter(|email| !email.is_empty());
    let currency = request.currency.as_deref().map(str::to_ascii_lowercase);
    let items = serde_json::to_value(&request.items).map_err(anyhow::Error::from)?;

    let start = state.store.begin_checkout(&NewCheckout {
        order_id: &request.order_id,
        items: &items,
        currency: currency.as_deref(),
        email,
    })?;
    let idempotency_key = match start {
        CheckoutStart::Ready { idempotency_key } => idempotency_key,
        CheckoutStart::AlreadyPaid => {
            return Err(AppError::Conflict(format!(
                "order {:?} is already paid",
                request.order_id
            )));
        }
        CheckoutStart::PaymentInProgress => {
            return Err(AppError::Conflict(format!(
                "order {:?} has a payment that has not settled yet",
                request.order_id
            )));
        }
    };

    let params = session_params(&state, &request, currency.as_deref(), email);
    // BUG(no-idempotency-key): the create is retried without a key, so a
    // retry after a lost response creates a second session.
    let key = if state.bug_is(Bug::NoIdempotencyKey) {
        None
    } else {
        Some(idempotency_key.as_str())
    };
    let session = state
        .stripe
        .create_checkout_session(&form::flatten(&params), key, Retry::OnTransientError)
        .await
        .map_err(|error| {
            AppError::BadGateway(format!(
                "failed to create a checkout session for order {:?}: {error}",
                request.order_id
            ))
        })?;

    state.store.record_session(
        &request.order_id,
        &session,
        state.bug_is(Bug::CachedSession),
    )?;
    tracing::info!(
        order_id = %request.order_id,
        session_id = %session.id,
        idempotency_key = key.unwrap_or("none"),
        "created checkout session"
    );
    Ok(Json(CheckoutResponse {
        order_id: request.order_id,
        session_id: session.id,
        url: session.url,
        client_secret: session.client_secret,
    }))
}

fn validate(request: &CheckoutRequest) -> Result<(), AppError> {
    let invalid = |message: String| Err(AppError::BadRequest(message));
    if request.order_id.is_empty() {
        return invalid("order_id must not be empty".to_owned());
    }
    if request.order_id.chars().count() > MAX_ORDER_ID_LENGTH {
        return invalid(format!(
            "order_id is longer than {MAX_ORDER_ID_LENGTH} characters"
        ));
    }
    if request.items.is_empty() {
        return invalid("items must not be empty".to_owned());
    }

    let mut needs_currency = false;
    for (index, item) in request.items.iter().enumerate() {
        let quantity = match item {
            Item::Price { price, quantity } => {
                if price.is_empty() {
                    return invalid(format!("items[{index}].price must not be empty"));
                }
                *quantity
            }
            Item::Inline {
                name,
                unit_amount,
                quantity,
            } => {
                needs_currency = true;
                if name.is_empty() {
                    return invalid(format!("items[{index}].name must not be empty"));
                }
                if *unit_amount < 0 {
                    return invalid(format!(
                        "items[{index}].unit_amount must not be negative, got {unit_amount}"
                    ));
                }
                *quantity
            }
        };
        if quantity < 1 {
            return invalid(format!(
                "items[{index}].quantity must be at least 1, got {quantity}"
            ));
        }
    }

    match request.currency.as_deref() {
        Some(currency)
            if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            Ok(())
        }
        Some(currency) => invalid(format!(
            "invalid currency {currency:?}: expected a three-letter ISO code such as \"eur\""
        )),
        None if needs_currency => {
            invalid("currency is required for items with unit_amount".to_owned())
        }
        None => Ok(()),
    }
}

/// Builds the session parameters as JSON, which [`form::flatten`] turns
/// into Stripe's bracket notation.
fn session_params(
    state: &AppState,
    request: &CheckoutRequest,
    currency: Option<&str>,
    email: Option<&str>,
) -> Value {
    let line_items: Vec<Value> = request
        .items
        .iter()
        .map(|item| match item {
            Item::Price { price, quantity } => json!({"price": price, "quantity": quantity}),
            Item::Inline {
                name,
                unit_amount,
                quantity,
            } => json!({
                "price_data": {
                    "currency": currency,
                    "unit_amount": unit_amount,
                    "product_data": {"name": name},
                },
                "quantity": quantity,
            }),
        })
        .collect();

    let base = &state.config.app_base_url;
    // Stripe replaces the literal `{CHECKOUT_SESSION_ID}` in success_url
    // with the session id. Only the form encoding of the whole value may
    // escape the braces. Escaping them inside the URL stops the replacement.
    let success_url = if state.bug_is(Bug::EncodedSessionTemplate) {
        // BUG(encoded-session-template): the token arrives percent-encoded.
        format!("{base}/success?session_id=%7BCHECKOUT_SESSION_ID%7D")
    } else {
        format!("{base}/success?session_id={{CHECKOUT_SESSION_ID}}")
    };
    let cancel_url = format!(
        "{base}/cancel?order_id={}",
        percent_encode_query_value(&request.order_id)
    );

    let mut params = json!({
        "mode": "payment",
        "line_items": line_items,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": request.order_id,
        "metadata": {"order_id": request.order_id},
        // Session metadata is not copied to the payment intent. Only this
        // field reaches it and its payment_intent.* events.
        "payment_intent_data": {"metadata": {"order_id": request.order_id}},
        "customer_email": email,
    });
    if !state.config.payment_method_types.is_empty() {
        params["payment_method_types"] = json!(state.config.payment_method_types);
    }
    if state.config.embedded {
        // Embedded Checkout returns to one URL and has no cancel link: a
        // buyer who gives up closes the page, and the session expires.
        let fields = params.as_object_mut().expect("params is an object");
        let success_url = fields.remove("success_url").unwrap_or_default();
        fields.remove("cancel_url");
        fields.insert("return_url".to_owned(), success_url);
        fields.insert("ui_mode".to_owned(), json!("embedded_page"));
    }
    if state.bug_is(Bug::PiMetadata) {
        // BUG(pi-metadata): the payment intent gets no order id.
        params
            .as_object_mut()
            .expect("params is an object")
            .remove("payment_intent_data");
    }
    params
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
fn percent_encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_value_encoded() {
        assert_eq!(percent_encode_query_value("O-1"), "O-1");
        assert_eq!(percent_encode_query_value("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(percent_encode_query_value("é"), "%C3%A9");
    }

    #[test]
    fn items_of_both_shapes_parsed() {
        let request: CheckoutRequest = serde_json::from_value(json!({
            "order_id": "O-1",
            "items": [
                {"name": "Mug", "unit_amount": 1500, "quantity": 2},
                {"price": "price_1", "quantity": 1}
            ],
            "currency": "eur",
            "email": "a@example.test",
        }))
        .unwrap();
        assert!(matches!(request.items[0], Item::Inline { .. }));
        assert!(matches!(request.items[1], Item::Price { .. }));
        assert!(validate(&request).is_ok());
    }

    #[test]
    fn invalid_requests_rejected() {
        let cases = [
            json!({"order_id": "", "items": [{"price": "price_1", "quantity": 1}]}),
            json!({"order_id": "O-1", "items": []}),
            json!({"order_id": "O-1", "items": [{"price": "price_1", "quantity": 0}]}),
            json!({"order_id": "O-1", "items": [{"name": "Mug", "unit_amount": 1, "quantity": 1}]}),
            json!({"order_id": "O-1", "currency": "euro",
                   "items": [{"name": "Mug", "unit_amount": 1, "quantity": 1}]}),
            json!({"order_id": "O-1", "currency": "eur",
                   "items": [{"name": "Mug", "unit_amount": -1, "quantity": 1}]}),
            json!({"order_id": "x".repeat(201), "items": [{"price": "price_1", "quantity": 1}]}),
        ];
        for case in cases {
            let request: CheckoutRequest = serde_json::from_value(case.clone()).unwrap();
            assert!(validate(&request).is_err(), "{case}");
        }
    }
}
