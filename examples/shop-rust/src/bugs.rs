//! Bug switches. `SHOP_BUG=NAME` turns on exactly one classic checkout
//! integration mistake, so the scenarios can show that they catch it. Every
//! switch is a small branch at the spot where the mistake is made, and the
//! correct behaviour is the default.

use std::fmt;

/// One deliberate integration mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bug {
    TrustRedirect,
    FulfilUnpaid,
    IgnoreAsync,
    PiMetadata,
    NoDedup,
    MarkBeforeCommit,
    LastEventWins,
    NoSignatureCheck,
    NoIdempotencyKey,
    ExpiredAsFailed,
    CachedSession,
    EncodedSessionTemplate,
    ReserialiseBody,
    RedirectFulfilsToo,
    UnhandledEvent500,
    SwallowErrors,
    RefetchStatus,
    LineItemsFromEvent,
}

impl Bug {
    pub(crate) const ALL: [Bug; 18] = [
        Bug::TrustRedirect,
        Bug::FulfilUnpaid,
        Bug::IgnoreAsync,
        Bug::PiMetadata,
        Bug::NoDedup,
        Bug::MarkBeforeCommit,
        Bug::LastEventWins,
        Bug::NoSignatureCheck,
        Bug::NoIdempotencyKey,
        Bug::ExpiredAsFailed,
        Bug::CachedSession,
        Bug::EncodedSessionTemplate,
        Bug::ReserialiseBody,
        Bug::RedirectFulfilsToo,
        Bug::UnhandledEvent500,
        Bug::SwallowErrors,
        Bug::RefetchStatus,
        Bug::LineItemsFromEvent,
    ];

    /// Returns the name that `SHOP_BUG` and `--list-bugs` use.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Bug::TrustRedirect => "trust-redirect",
            Bug::FulfilUnpaid => "fulfil-unpaid",
            Bug::IgnoreAsync => "ignore-async",
            Bug::PiMetadata => "pi-metadata",
            Bug::NoDedup => "no-dedup",
            Bug::MarkBeforeCommit => "mark-before-commit",
            Bug::LastEventWins => "last-event-wins",
            Bug::NoSignatureCheck => "no-signature-check",
            Bug::NoIdempotencyKey => "no-idempotency-key",
            Bug::ExpiredAsFailed => "expired-as-failed",
            Bug::CachedSession => "cached-session",
            Bug::EncodedSessionTemplate => "encoded-session-template",
            Bug::ReserialiseBody => "reserialise-body",
            Bug::RedirectFulfilsToo => "redirect-fulfils-too",
            Bug::UnhandledEvent500 => "unhandled-event-500",
            Bug::SwallowErrors => "swallow-errors",
            Bug::RefetchStatus => "refetch-status",
            Bug::LineItemsFromEvent => "line-items-from-event",
        }
    }

    /// Returns one line on what the shop does wrong with this switch on.
    pub(crate) fn description(self) -> &'static str {
        match self {
            Bug::TrustRedirect => {
                "the success page fulfils the order without checking payment_status"
            }
            Bug::FulfilUnpaid => {
                "checkout.session.completed fulfils the order even when payment_status is unpaid"
            }
            Bug::IgnoreAsync => "checkout.session.async_payment_succeeded and _failed are ignored",
            Bug::PiMetadata => {
                "sessions carry no payment_intent_data metadata, and only \
                 payment_intent.succeeded fulfils, using the payment intent's metadata"
            }
            Bug::NoDedup => {
                "every webhook delivery fulfils again: no processed-event check and no \
                 already-paid guard"
            }
            Bug::MarkBeforeCommit => {
                "the event is marked processed in its own transaction before its effects, \
                 so a failure in between loses it"
            }
            Bug::LastEventWins => {
                "each event's status is applied whatever the current status, so paid can be \
                 downgraded"
            }
            Bug::NoSignatureCheck => "the Stripe-Signature header is not verified",
            Bug::NoIdempotencyKey => {
                "sessions are created without an Idempotency-Key but still retried, which \
                 creates duplicates"
            }
            Bug::ExpiredAsFailed => {
                "checkout.session.expired marks the order payment_failed, even when it is paid"
            }
            Bug::CachedSession => {
                "the session returned at creation is cached, and the success page and \
                 webhooks read payment_status and amounts from that copy"
            }
            Bug::EncodedSessionTemplate => {
                "success_url contains %7BCHECKOUT_SESSION_ID%7D, which Stripe does not replace"
            }
            Bug::ReserialiseBody => {
                "the signature is checked over re-serialised JSON instead of the raw body"
            }
            Bug::RedirectFulfilsToo => {
                "the success page and the webhook each fulfil without the already-paid guard"
            }
            Bug::UnhandledEvent500 => {
                "event types the shop does not handle get a 500, so Stripe retries them"
            }
            Bug::SwallowErrors => {
                "a failed fulfilment returns 200 to the webhook, so Stripe never retries it"
            }
            Bug::RefetchStatus => {
                "checkout.session.completed retrieves the session and trusts the possibly \
                 stale payment_status from the API over the event"
            }
            Bug::LineItemsFromEvent => {
                "fulfilment reads line_items from the session object, where Stripe never \
                 includes them unless expanded, instead of listing them"
            }
        }
    }

    /// Parses a switch name, returning `None` for an unknown name.
    pub(crate) fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|bug| bug.name() == name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Formats every switch name, one per line, for `--list-bugs`.
pub(crate) fn list_names() -> String {
    let mut names = String::new();
    for bug in Bug::ALL {
        names.push_str(bug.name());
        names.push('\n');
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Bug::ALL.iter().map(|bug| bug.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Bug::ALL.len());
    }

    #[test]
    fn names_round_trip() {
        for bug in Bug::ALL {
            assert_eq!(Bug::from_name(bug.name()), Some(bug), "{bug}");
        }
    }

    #[test]
    fn unknown_name_rejected() {
        assert_eq!(Bug::from_name("no-such-bug"), None);
        assert_eq!(Bug::from_name(""), None);
        assert_eq!(Bug::from_name("trust-redirect,no-dedup"), None);
    }

    #[test]
    fn list_has_one_name_per_line() {
        let listed: Vec<_> = list_names().lines().map(str::to_owned).collect();
        assert_eq!(listed.len(), Bug::ALL.len());
        assert!(listed.contains(&"trust-redirect".to_owned()));
        assert!(listed.contains(&"encoded-session-template".to_owned()));
        assert!(listed.iter().all(|name| Bug::from_name(name).is_some()));
    }

    #[test]
    fn required_switches_present() {
        let required = [
            "trust-redirect",
            "fulfil-unpaid",
            "ignore-async",
            "pi-metadata",
            "no-dedup",
            "mark-before-commit",
            "last-event-wins",
            "no-signature-check",
            "no-idempotency-key",
            "expired-as-failed",
            "cached-session",
            "encoded-session-template",
        ];
        for name in required {
            assert!(Bug::from_name(name).is_some(), "missing switch {name}");
        }
    }

    #[test]
    fn descriptions_not_empty() {
        for bug in Bug::ALL {
            assert!(!bug.description().is_empty(), "{bug}");
        }
    }
}
