//! A small Stripe client over reqwest: the three calls the shop makes, the
//! object fields it reads, and webhook signature checks.
//!
//! Every request goes to `STRIPE_API_BASE` with
//! `Authorization: Bearer $STRIPE_SECRET_KEY`. POST bodies are form-encoded in
//! Stripe's bracket notation (see [`form`]).

pub(crate) mod form;
pub(crate) mod signature;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Waits before each retry of a session create, doubling each time.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];

/// Per-request timeout. A slow response counts as a connection error and is
/// retried where retries apply.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The page size for listing line items (Stripe's maximum is 100).
const LINE_ITEMS_PAGE_SIZE: u32 = 100;

/// An error from one Stripe call.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StripeError {
    #[error("stripe returned {status} {kind}: {message}")]
    Api {
        status: StatusCode,
        kind: String,
        message: String,
    },
    #[error("request to stripe failed: {0}")]
    Network(#[source] reqwest::Error),
    #[error("invalid response from stripe: {0}")]
    InvalidResponse(String),
    #[error("invalid checkout session id {0:?}")]
    InvalidSessionId(String),
}

impl StripeError {
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, StripeError::Api { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// The fields of a Checkout Session that the shop reads.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct CheckoutSession {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) status: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`. Only `paid` means the money
    /// arrived. A session completed with a delayed method is `complete` and
    /// `unpaid` until `checkout.session.async_payment_succeeded`.
    #[serde(default)]
    pub(crate) payment_status: Option<String>,
    #[serde(default)]
    pub(crate) metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) client_reference_id: Option<String>,
    /// An id, an expanded object, or null. Since API version 2022-08-01 it
    /// is null until the session is confirmed.
    #[serde(default)]
    pub(crate) payment_intent: Option<IdOrObject>,
    #[serde(default)]
    pub(crate) amount_total: Option<i64>,
    #[serde(default)]
    pub(crate) currency: Option<String>,
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// The secret that mounts an embedded Checkout on the shop's page;
    /// null for hosted Checkout.
    #[serde(default)]
    pub(crate) client_secret: Option<String>,
    /// The email the shop prefilled. The buyer may change it.
    #[serde(default)]
    pub(crate) customer_email: Option<String>,
    #[serde(default)]
    pub(crate) customer_details: Option<CustomerDetails>,
    /// Present only on a retrieve with `expand[]=line_items`, and never in
    /// event payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) line_items: Option<List<LineItem>>,
}

impl CheckoutSession {
    /// Finds the shop's order id: `metadata.order_id`, or else
    /// `client_reference_id`. The shop sets both on every session.
    pub(crate) fn order_id(&self) -> Option<&str> {
        let from_metadata = self
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.get("order_id"))
            .map(String::as_str);
        from_metadata
            .or(self.client_reference_id.as_deref())
            .filter(|id| !id.is_empty())
    }

    pub(crate) fn is_paid(&self) -> bool {
        self.payment_status.as_deref() == Some("paid")
    }

    pub(crate) fn payment_intent_id(&self) -> Option<&str> {
        self.payment_intent.as_ref().map(IdOrObject::id)
    }

    /// Returns the email the buyer entered at checkout, falling back to the
    /// prefilled one.
    pub(crate) fn buyer_email(&self) -> Option<&str> {
        self.customer_details
            .as_ref()
            .and_then(|details| details.email.as_deref())
            .or(self.customer_email.as_deref())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct CustomerDetails {
    #[serde(default)]
    pub(crate) email: Option<String>,
}

/// A field that contains an id, or the whole object when expanded.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    pub(crate) fn id(&self) -> &str {
        match self {
            IdOrObject::Id(id) | IdOrObject::Object { id } => id,
        }
    }
}

/// The fields of a PaymentIntent that the shop reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PaymentIntent {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) amount_received: Option<i64>,
    #[serde(default)]
    pub(crate) currency: Option<String>,
    #[serde(default)]
    pub(crate) metadata: BTreeMap<String, String>,
}

/// One line of a session's line items list.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct LineItem {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) quantity: Option<i64>,
    #[serde(default)]
    pub(crate) amount_total: Option<i64>,
    #[serde(default)]
    pub(crate) currency: Option<String>,
    #[serde(default)]
    pub(crate) price: Option<IdOrObject>,
}

/// One page of a Stripe list.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct List<T> {
    pub(crate) data: Vec<T>,
    #[serde(default)]
    pub(crate) has_more: bool,
}

/// An event as delivered to the webhook endpoint.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Event {
    pub(crate) id: String,
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    pub(crate) data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EventData {
    pub(crate) object: Value,
}

/// Checks that `id` looks like a Checkout Session id before it goes into a
/// URL path. Stripe ids are `cs_` followed by letters, digits and `_`.
pub(crate) fn is_session_id(id: &str) -> bool {
    id.strip_prefix("cs_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    })
}

/// Whether a failed call may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Send again on 409, 429, 5xx or a connection error, up to three times.
    /// Safe for a create only with an idempotency key.
    OnTransientError,
    Never,
}

/// A Stripe API client for one secret key.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    api_base: String,
    secret_key: String,
}

impl Client {
    pub(crate) fn new(api_base: &str, secret_key: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Client {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    /// Creates a Checkout Session (`POST /v1/checkout/sessions`).
    ///
    /// With an idempotency key, every retry sends the same key, so Stripe
    /// returns the first request's stored response instead of creating a
    /// second session when only the response was lost.
    pub(crate) async fn create_checkout_session(
        &self,
        params: &[(String, String)],
        idempotency_key: Option<&str>,
        retry: Retry,
    ) -> Result<CheckoutSession, StripeError> {
        let request = Request {
            method: Method::POST,
            path: "/v1/checkout/sessions".to_owned(),
            form: params,
            query: &[],
            idempotency_key,
        };
        self.send(&request, retry).await
    }

    /// Retrieves a Checkout Session (`GET /v1/checkout/sessions/{id}`).
    pub(crate) async fn retrieve_checkout_session(
        &self,
        id: &str,
    ) -> Result<CheckoutSession, StripeError> {
        if !is_session_id(id) {
            return Err(StripeError::InvalidSessionId(id.to_owned()));
        }
        let request = Request {
            method: Method::GET,
            path: format!("/v1/checkout/sessions/{id}"),
            form: &[],
            query: &[],
            idempotency_key: None,
        };
        self.send(&request, Retry::Never).await
    }

    /// Lists every line item of a session
    /// (`GET /v1/checkout/sessions/{id}/line_items`), following pages.
    pub(crate) async fn list_line_items(
        &self,
        session_id: &str,
    ) -> Result<Vec<LineItem>, StripeError> {
        if !is_session_id(session_id) {
            return Err(StripeError::InvalidSessionId(session_id.to_owned()));
        }
        let mut items: Vec<LineItem> = Vec::new();
        loop {
            let mut query = vec![("limit".to_owned(), LINE_ITEMS_PAGE_SIZE.to_string())];
            if let Some(last) = items.last() {
                query.push(("starting_after".to_owned(), last.id.clone()));
            }
            let request = Request {
                method: Method::GET,
                path: format!("/v1/checkout/sessions/{session_id}/line_items"),
                form: &[],
                query: &query,
                idempotency_key: None,
            };
            let page: List<LineItem> = self.send(&request, Retry::Never).await?;
            let has_more = page.has_more && !page.data.is_empty();
            items.extend(page.data);
            if !has_more {
                return Ok(items);
            }
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: &Request<'_>,
        retry: Retry,
    ) -> Result<T, StripeError> {
        let mut attempt = 0;
        loop {
            let outcome = self.send_once(request).await;
            let delay = match retry {
                Retry::OnTransientError => RETRY_DELAYS.get(attempt).copied(),
                Retry::Never => None,
            };
            let Some(delay) = delay.filter(|_| should_retry(&outcome)) else {
                return finish(outcome).await;
            };

            attempt += 1;
            tracing::warn!(
                method = %request.method,
                path = %request.path,
                idempotency_key = request.idempotency_key.unwrap_or("none"),
                attempt,
                error = %describe(&outcome),
                "retrying stripe request"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(&self, request: &Request<'_>) -> Result<reqwest::Response, reqwest::Error> {
        let url = format!("{}{}", self.api_base, request.path);
        let mut builder = self
            .http
            .request(request.method.clone(), url)
            .bearer_auth(&self.secret_key);
        if !request.query.is_empty() {
            builder = builder.query(request.query);
        }
        if request.method == Method::POST {
            builder = builder.form(request.form);
        }
        if let Some(key) = request.idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        builder.send().await
    }
}

struct Request<'a> {
    method: Method,
    path: String,
    form: &'a [(String, String)],
    query: &'a [(String, String)],
    idempotency_key: Option<&'a str>,
}

/// Decides whether to send again: Stripe's `Stripe-Should-Retry` header wins
/// when present, then 409 (a concurrent request with the same key or a lock
/// timeout), 429 and 5xx are transient, as are connection errors and
/// timeouts.
fn should_retry(outcome: &Result<reqwest::Response, reqwest::Error>) -> bool {
    let response = match outcome {
        Ok(response) => response,
        Err(_) => return true,
    };
    let hint = response
        .headers()
        .get("Stripe-Should-Retry")
        .and_then(|value| value.to_str().ok());
    match hint {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    let status = response.status();
    status == StatusCode::CONFLICT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

fn describe(outcome: &Result<reqwest::Response, reqwest::Error>) -> String {
    match outcome {
        Ok(response) => format!("status {}", response.status()),
        Err(error) => error.to_string(),
    }
}

async fn finish<T: DeserializeOwned>(
    outcome: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, StripeError> {
    let response = outcome.map_err(StripeError::Network)?;
    let status = response.status();
    let body = response.bytes().await.map_err(StripeError::Network)?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|error| StripeError::InvalidResponse(error.to_string()));
    }

    // Stripe's error envelope: {"error": {"type": …, "message": …}}.
    let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let error = &envelope["error"];
    Err(StripeError::Api {
        status,
        kind: error["type"].as_str().unwrap_or("unknown_error").to_owned(),
        message: error["message"]
            .as_str()
            .unwrap_or("no error message")
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn session_ids_checked() {
        assert!(is_session_id("cs_test_a1B2"));
        assert!(!is_session_id("cs_"));
        assert!(!is_session_id("{CHECKOUT_SESSION_ID}"));
        assert!(!is_session_id("%7BCHECKOUT_SESSION_ID%7D"));
        assert!(!is_session_id("cs_1/line_items"));
        assert!(!is_session_id("cs_1?expand[]=x"));
        assert!(!is_session_id("pi_1"));
    }

    #[test]
    fn order_id_from_metadata_first() {
        let session: CheckoutSession = serde_json::from_value(json!({
            "id": "cs_1",
            "metadata": {"order_id": "O-1"},
            "client_reference_id": "O-2",
        }))
        .unwrap();
        assert_eq!(session.order_id(), Some("O-1"));
    }

    #[test]
    fn order_id_falls_back_to_reference() {
        let session: CheckoutSession = serde_json::from_value(json!({
            "id": "cs_1",
            "metadata": {},
            "client_reference_id": "O-2",
        }))
        .unwrap();
        assert_eq!(session.order_id(), Some("O-2"));
    }

    #[test]
    fn expanded_payment_intent_read() {
        let session: CheckoutSession = serde_json::from_value(json!({
            "id": "cs_1",
            "payment_intent": {"id": "pi_1", "object": "payment_intent"},
        }))
        .unwrap();
        assert_eq!(session.payment_intent_id(), Some("pi_1"));
    }

    #[test]
    fn null_fields_accepted() {
        let session: CheckoutSession = serde_json::from_value(json!({
            "id": "cs_1",
            "payment_intent": null,
            "metadata": null,
            "customer_details": null,
            "amount_total": null,
        }))
        .unwrap();
        assert_eq!(session.payment_intent_id(), None);
        assert_eq!(session.order_id(), None);
        assert_eq!(session.buyer_email(), None);
    }

    #[test]
    fn buyer_email_prefers_details() {
        let session: CheckoutSession = serde_json::from_value(json!({
            "id": "cs_1",
            "customer_email": "a@example.test",
            "customer_details": {"email": "b@example.test"},
        }))
        .unwrap();
        assert_eq!(session.buyer_email(), Some("b@example.test"));
    }
}
