//! Stripe's error envelope and the statuses that go with each error type.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

/// The `error.type` values Stripe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// Bad parameters, unknown ids, unknown routes, wrong state.
    InvalidRequest,
    /// A card was declined or needs authentication.
    Card,
    /// The same idempotency key was used with other parameters or route.
    Idempotency,
    /// Something went wrong on the server's side (Stripe's `api_error`).
    Api,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Card => "card_error",
            ErrorType::Idempotency => "idempotency_error",
            ErrorType::Api => "api_error",
        }
    }
}

/// An error answered in Stripe's envelope: `{"error": {type, code, message, param, …}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorType,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
    /// Extra fields of the error object, such as `decline_code` or the
    /// `payment_intent` a card error belongs to.
    pub extra: Map<String, Value>,
    /// Extra response headers, such as `Stripe-Should-Retry`.
    pub headers: Vec<(&'static str, String)>,
}

/// The code of a control API call whose JSON body is not one JSON object
/// as a whole. Stripe's API takes form bodies and has no such code, so its
/// error has no `doc_url`.
pub const BODY_INVALID: &str = "body_invalid";

/// Longest parameter name, in characters, that an unknown-parameter error
/// repeats.
const MAX_SHOWN_NAME: usize = 200;

/// Cuts `name` to `MAX_SHOWN_NAME` characters and marks the cut with `…`.
fn shorten_name(mut name: String) -> String {
    if let Some((cut, _)) = name.char_indices().nth(MAX_SHOWN_NAME) {
        name.truncate(cut);
        name.push('…');
    }
    name
}

impl ApiError {
    pub fn new(status: StatusCode, kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            code: None,
            message: message.into(),
            param: None,
            extra: Map::new(),
            headers: Vec::new(),
        }
    }

    /// A 400 `invalid_request_error` about one parameter.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorType::InvalidRequest, message)
            .with_param(param)
            .with_code("parameter_invalid")
    }

    /// A 400 for a required parameter that was not sent.
    pub fn missing_param(param: impl Into<String>) -> Self {
        let param = param.into();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            format!("Missing required param: {param}."),
        )
        .with_code("parameter_missing")
        .with_param(param)
    }

    /// A 400 for a parameter the endpoint does not take. A name longer than
    /// `MAX_SHOWN_NAME` characters is cut there, so a huge name is not sent
    /// back whole.
    pub fn unknown_param(param: impl Into<String>) -> Self {
        let param = shorten_name(param.into());
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            format!("Received unknown parameter: {param}"),
        )
        .with_code("parameter_unknown")
        .with_param(param)
    }

    /// Returns a 400 for a JSON key that one object gives twice, named by
    /// its path such as `faults[0][copies]`. A path longer than
    /// `MAX_SHOWN_NAME` characters is cut there.
    pub fn repeated_key(path: impl Into<String>) -> Self {
        let path = shorten_name(path.into());
        let message = format!("The key {path} is given twice. Give each key once.");
        ApiError::invalid_param(path, message)
    }

    /// A 404 `resource_missing` for an id that does not exist in this account.
    pub fn no_such(object: &str, id: &str, param: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorType::InvalidRequest,
            format!("No such {object}: '{id}'"),
        )
        .with_code("resource_missing")
        .with_param(param)
    }

    /// Builds a 400 for a parameter that names an object the account does
    /// not have, such as `customer` or `line_items[0][price]`. Stripe
    /// returns a 404 for a missing object named in the path (`no_such`),
    /// and a 400 for one named in a parameter.
    pub fn no_such_param(object: &str, id: &str, param: &str) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            ..ApiError::no_such(object, id, param)
        }
    }

    /// A 400 for a request that the object's current state does not allow.
    pub fn bad_state(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorType::InvalidRequest, message)
    }

    /// A 404 for a route the fake does not implement, naming method and path.
    pub fn unknown_route(method: &str, path: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorType::InvalidRequest,
            format!(
                "Unrecognized request URL ({method}: {path}). fakestripe does not implement \
                 this endpoint; see its README for the endpoints it models."
            ),
        )
    }

    /// A 500 `api_error` for a bug in the fake. The cause goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error in the fake");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Api,
            "An unexpected error occurred in fakestripe; its log has the cause.",
        )
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_extra(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Builds the JSON body, `{"error": {…}}`, with Stripe's field names.
    /// `request_log_url` is left out when it is None.
    pub fn body(&self, request_log_url: Option<&str>) -> Value {
        let mut error = Map::new();
        if let Some(code) = self.code {
            error.insert("code".into(), json!(code));
        }
        error.insert(
            "doc_url".into(),
            match self.code {
                Some(code) if code != BODY_INVALID => json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
                _ => Value::Null,
            },
        );
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        if let Some(url) = request_log_url {
            error.insert("request_log_url".into(), json!(url));
        }
        for (key, value) in &self.extra {
            error.insert(key.clone(), value.clone());
        }
        error.insert("type".into(), json!(self.kind.as_str()));
        json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.kind.as_str(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

/// Returns Stripe's error code for serde's message about one parameter,
/// which may start with the parameter's name (`limt: unknown field …`).
pub fn serde_code(message: &str) -> &'static str {
    let message = message.split_once(": ").map_or(message, |(_, rest)| rest);
    if message.starts_with("unknown field") {
        "parameter_unknown"
    } else if message.starts_with("missing field") {
        "parameter_missing"
    } else {
        "parameter_invalid"
    }
}

/// Rewrites the Rust type names in a deserializer's message in words.
pub fn plain_types(message: &str) -> String {
    [
        ("expected u16", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected u8", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("invalid digit found in string", "expected a whole number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected an object"),
    ]
    .iter()
    .fold(message.to_owned(), |text, (rust, words)| {
        text.replace(rust, words)
    })
}
