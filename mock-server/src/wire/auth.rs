//! API keys. Each test-mode secret or restricted key is an account of its
//! own, so parallel jobs that share one server never see each other's
//! objects. `Stripe-Account` narrows a request to a connected account.

use axum::http::{HeaderMap, HeaderName, StatusCode, header::AUTHORIZATION};
use base64::Engine;

use super::error::{ApiError, ErrorType};

/// Reads the API key from `Authorization: Bearer KEY` or from Basic auth with
/// the key as the user name, and checks that it is a test-mode key.
pub fn api_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(missing_key());
    };
    // A value with bytes outside visible ASCII cannot contain a valid key.
    // The error says so without repeating the value.
    let header = value.to_str().map_err(|_| not_ascii_key())?.trim();
    let key = if let Some(token) = strip_scheme(header, "Bearer") {
        token.trim().to_owned()
    } else if let Some(encoded) = strip_scheme(header, "Basic") {
        let text = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .ok_or_else(undecodable_basic)?;
        text.split(':').next().unwrap_or_default().to_owned()
    } else {
        return Err(invalid_key(header));
    };
    if key.is_empty() {
        return Err(missing_key());
    }
    let well_formed = ["sk_test_", "rk_test_"]
        .iter()
        .any(|prefix| key.len() > prefix.len() && key.starts_with(prefix))
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !well_formed {
        return Err(invalid_key(&key));
    }
    Ok(key)
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (head, rest) = header.split_at_checked(scheme.len())?;
    (head.eq_ignore_ascii_case(scheme) && rest.starts_with(' ')).then_some(rest)
}

/// Masks a key for messages and logs, keeping the prefix and last four
/// characters as Stripe's dashboard does.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len());
    }
    let prefix: String = chars[..8].iter().collect();
    let suffix: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}{}{suffix}", "*".repeat(chars.len() - 12))
}

/// The `Stripe-Account` header, which names a connected account.
pub const STRIPE_ACCOUNT: HeaderName = HeaderName::from_static("stripe-account");

/// Reads a header's value, trimmed. A header that is present but not
/// visible ASCII is an error rather than absent: ignoring a
/// `Stripe-Account` or an `Idempotency-Key` would act on the wrong
/// account or create an object twice.
pub fn header_text(headers: &HeaderMap, name: &HeaderName) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            format!(
                "Invalid {} header: its value has bytes outside printable ASCII. Send it as plain ASCII text.",
                display_name(name)
            ),
        )),
    }
}

/// Returns the connected account that `Stripe-Account` names, if it is
/// sent. Any other value, empty included, is a 400.
pub fn connected_account(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match header_text(headers, &STRIPE_ACCOUNT)? {
        Some(acct) if !is_account_id(&acct) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            format!(
                "Invalid Stripe-Account header `{acct}`: expected an account id, acct_ followed by letters, digits or underscores, such as acct_1A2b3C."
            ),
        )),
        other => Ok(other),
    }
}

/// Returns whether `acct` reads as a connected account id: `acct_` and
/// then at least one letter, digit or underscore, and nothing else. The
/// API and the dashboard take the same ids.
pub fn is_account_id(acct: &str) -> bool {
    acct.strip_prefix("acct_").is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// Spells a header's name as Stripe's documentation does
/// (`idempotency-key` as `Idempotency-Key`).
fn display_name(name: &HeaderName) -> String {
    name.as_str()
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn missing_key() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorType::InvalidRequest,
        "You did not provide an API key. Send it in the Authorization header as \
         'Authorization: Bearer sk_test_...', or as the user name of Basic auth.",
    )
}

fn not_ascii_key() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorType::InvalidRequest,
        "Invalid API Key provided: the Authorization header has characters outside ASCII. \
         fakestripe takes test-mode keys only: sk_test_ or rk_test_ followed by letters, \
         digits or underscores.",
    )
    .with_code("api_key_invalid")
}

fn undecodable_basic() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorType::InvalidRequest,
        "Invalid API Key provided: the Basic credentials are not base64 of UTF-8 text. \
         Send the key as the user name, such as 'curl -u sk_test_...:'.",
    )
    .with_code("api_key_invalid")
}

fn invalid_key(key: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorType::InvalidRequest,
        format!(
            "Invalid API Key provided: {}. fakestripe takes test-mode keys only: \
             sk_test_ or rk_test_ followed by letters, digits or underscores.",
            mask(key)
        ),
    )
    .with_code("api_key_invalid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn bearer_and_basic_give_same_key() {
        let bearer = api_key(&headers("Bearer sk_test_abc123")).unwrap();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("sk_test_abc123:")
        );
        assert_eq!(bearer, "sk_test_abc123");
        assert_eq!(api_key(&headers(&basic)).unwrap(), "sk_test_abc123");
    }

    #[test]
    fn live_key_is_rejected_and_masked() {
        let err = api_key(&headers("Bearer sk_live_1234567890abcdef")).unwrap_err();
        assert_eq!(err.status, StatusCode::UNAUTHORIZED);
        assert!(
            err.message.contains("sk_live_************cdef"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("1234567890ab"));
    }

    #[test]
    fn undecodable_basic_credentials_are_named() {
        for header in ["Basic !!!", "Basic //79"] {
            let err = api_key(&headers(header)).unwrap_err();
            assert_eq!(err.status, StatusCode::UNAUTHORIZED);
            assert!(
                err.message.contains("not base64 of UTF-8"),
                "{}",
                err.message
            );
            assert!(!err.message.contains('*'), "{}", err.message);
        }
    }

    #[test]
    fn missing_header_is_401() {
        let err = api_key(&HeaderMap::new()).unwrap_err();
        assert_eq!(err.status, StatusCode::UNAUTHORIZED);
    }
}
