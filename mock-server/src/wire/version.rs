//! `Stripe-Version`: read from each request, echoed on the response, and
//! used where Stripe's behaviour changed between versions.

/// The version used when a request sends none.
pub const DEFAULT_API_VERSION: &str = "2026-03-25.dahlia";

/// From this version on, a payment-mode Checkout Session has no payment
/// intent until the customer confirms it.
pub const DEFERRED_PAYMENT_INTENT: &str = "2022-08-01";

/// From this version on, `ui_mode` takes `hosted_page`, `embedded_page` and
/// `elements` instead of `hosted`, `embedded` and `custom`.
pub const RENAMED_UI_MODES: &str = "2026-03-25";

/// Whether `version` is at or after the dated release `date` (`YYYY-MM-DD`).
/// Versions compare by their date part; a release name after it
/// (`.basil`, `.clover`) does not change the order.
pub fn at_least(version: &str, date: &str) -> bool {
    let version_date = version.get(..10).unwrap_or(version);
    version_date >= date
}

/// Whether a header value looks like a Stripe API version.
pub fn is_valid(version: &str) -> bool {
    let bytes = version.as_bytes();
    bytes.len() >= 10
        && bytes[..10].iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
        && (bytes.len() == 10
            || (bytes[10] == b'.' && bytes[11..].iter().all(|b| b.is_ascii_lowercase())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_by_date() {
        assert!(at_least("2022-08-01", DEFERRED_PAYMENT_INTENT));
        assert!(at_least("2025-03-31.basil", DEFERRED_PAYMENT_INTENT));
        assert!(!at_least("2020-08-27", DEFERRED_PAYMENT_INTENT));
    }

    #[test]
    fn validates_shape() {
        assert!(is_valid("2020-08-27"));
        assert!(is_valid("2026-03-25.dahlia"));
        assert!(!is_valid("latest"));
        assert!(!is_valid("2020-8-27"));
    }
}
