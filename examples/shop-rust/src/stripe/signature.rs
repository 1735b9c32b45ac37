//! Verification of the `Stripe-Signature` header that Stripe puts on every
//! webhook delivery: `t=TIMESTAMP,v1=HEX[,v1=HEX…]`, where each `v1` is the
//! hex HMAC-SHA256 of `"{t}.{raw body}"` under an endpoint secret. Several
//! `v1` entries appear while a secret is being rolled, and one match is
//! enough.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The maximum distance, in seconds, between the signed timestamp and the
/// shop's clock.
/// Stripe's own libraries default to 300 seconds, which limits replays of a
/// captured delivery.
pub(crate) const TOLERANCE_SECONDS: i64 = 300;

/// The reason a delivery was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SignatureError {
    #[error("missing Stripe-Signature header")]
    MissingHeader,
    #[error("invalid Stripe-Signature header: {0}")]
    InvalidHeader(&'static str),
    #[error("no v1 signature matches the webhook secret")]
    NoMatch,
    #[error("signature timestamp {timestamp} is more than {TOLERANCE_SECONDS} s from now ({now})")]
    OutsideTolerance { timestamp: i64, now: i64 },
}

/// Computes the hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`,
/// as Stripe does when it signs a delivery. Only tests sign.
#[cfg(test)]
pub(crate) fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = new_mac(secret, timestamp, body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks `header` against `body` and `secret`, with `now` in Unix seconds.
///
/// The body must be the bytes exactly as received: parsing and
/// re-serialising JSON changes whitespace, escapes and key order, and with
/// them the HMAC.
pub(crate) fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::MissingHeader)?;

    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(SignatureError::InvalidHeader("an entry has no `=`"));
        };
        match key {
            "t" if timestamp.is_none() => {
                let parsed = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::InvalidHeader("`t` is not an integer"))?;
                timestamp = Some(parsed);
            }
            "v1" => signatures.push(value),
            // Other schemes, such as `v0`, are ignored, so only HMAC-SHA256
            // signatures count.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::InvalidHeader("no `t` entry"))?;
    if signatures.is_empty() {
        return Err(SignatureError::InvalidHeader("no `v1` entry"));
    }

    // `verify_slice` compares in constant time, so response timing does not
    // reveal how much of a guessed signature was right.
    let matched = signatures.iter().any(|signature| {
        let Ok(bytes) = hex::decode(signature) else {
            return false;
        };
        new_mac(secret, timestamp, body)
            .verify_slice(&bytes)
            .is_ok()
    });
    if !matched {
        return Err(SignatureError::NoMatch);
    }

    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::OutsideTolerance { timestamp, now });
    }
    Ok(())
}

fn new_mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const T: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"a":1}"#;

    #[test]
    fn known_vector() {
        // Computed independently with:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let expected = "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";
        assert_eq!(sign(SECRET, T, BODY), expected);
    }

    #[test]
    fn valid_header_accepted() {
        let header = format!("t={T},v1={}", sign(SECRET, T, BODY));
        assert_eq!(verify(Some(&header), BODY, SECRET, T + 10), Ok(()));
    }

    #[test]
    fn any_of_several_v1_accepted() {
        let old = sign("whsec_old", T, BODY);
        let new = sign(SECRET, T, BODY);
        let header = format!("t={T},v1={old},v1={new}");
        assert_eq!(verify(Some(&header), BODY, SECRET, T), Ok(()));
        assert_eq!(verify(Some(&header), BODY, "whsec_old", T), Ok(()));
    }

    #[test]
    fn wrong_secret_rejected() {
        let header = format!("t={T},v1={}", sign("whsec_other", T, BODY));
        assert_eq!(
            verify(Some(&header), BODY, SECRET, T),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn changed_body_rejected() {
        let header = format!("t={T},v1={}", sign(SECRET, T, BODY));
        assert_eq!(
            verify(Some(&header), br#"{"a":2}"#, SECRET, T),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), br#"{"a": 1}"#, SECRET, T),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn old_timestamp_rejected() {
        let header = format!("t={T},v1={}", sign(SECRET, T, BODY));
        let now = T + TOLERANCE_SECONDS + 1;
        assert_eq!(
            verify(Some(&header), BODY, SECRET, now),
            Err(SignatureError::OutsideTolerance { timestamp: T, now })
        );
    }

    #[test]
    fn future_timestamp_rejected() {
        let header = format!("t={T},v1={}", sign(SECRET, T, BODY));
        let now = T - TOLERANCE_SECONDS - 1;
        assert!(matches!(
            verify(Some(&header), BODY, SECRET, now),
            Err(SignatureError::OutsideTolerance { .. })
        ));
    }

    #[test]
    fn edge_of_tolerance_accepted() {
        let header = format!("t={T},v1={}", sign(SECRET, T, BODY));
        assert_eq!(
            verify(Some(&header), BODY, SECRET, T + TOLERANCE_SECONDS),
            Ok(())
        );
    }

    #[test]
    fn timestamp_is_signed() {
        // The same v1 under a later `t` must fail, or an old delivery could be
        // replayed with a fresh timestamp.
        let header = format!("t={},v1={}", T + 60, sign(SECRET, T, BODY));
        assert_eq!(
            verify(Some(&header), BODY, SECRET, T + 60),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn malformed_headers_rejected() {
        let good = sign(SECRET, T, BODY);
        assert_eq!(
            verify(None, BODY, SECRET, T),
            Err(SignatureError::MissingHeader)
        );
        let cases = [
            format!("v1={good}"),
            format!("t=abc,v1={good}"),
            format!("t={T}"),
            format!("t={T},v0={good}"),
            format!("t={T};v1={good}"),
            String::new(),
        ];
        for header in cases {
            assert!(
                matches!(
                    verify(Some(&header), BODY, SECRET, T),
                    Err(SignatureError::InvalidHeader(_))
                ),
                "header {header:?}"
            );
        }
    }

    #[test]
    fn non_hex_signature_rejected() {
        let header = format!("t={T},v1=not-hex");
        assert_eq!(
            verify(Some(&header), BODY, SECRET, T),
            Err(SignatureError::NoMatch)
        );
    }
}
