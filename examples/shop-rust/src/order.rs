//! The order state machine.
//!
//! ```text
//! pending ──► awaiting_payment ──► paid
//!    │               │
//!    │               └──────────► payment_failed (stock released)
//!    ├──► paid
//!    ├──► payment_failed (stock released)
//!    └──► cancelled (stock released)
//! ```
//!
//! Stripe delivers events late, twice and in any order, so every rule only
//! moves an order forward. `paid` is final. A late
//! `checkout.session.completed` with `payment_status: unpaid` cannot pull a
//! paid or failed order back to `awaiting_payment`, and an expiry cannot
//! cancel a paid order. The one way back to `pending` is a new checkout for a
//! failed or cancelled order, which the checkout route starts.

use serde::Serialize;
use serde_json::Value;

/// An order's status word, as `GET /orders/{id}` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Created and not paid. Stock is reserved.
    Pending,
    /// The session completed with an asynchronous payment method (such as a
    /// SEPA debit) that has not settled yet.
    AwaitingPayment,
    Paid,
    /// The asynchronous payment failed.
    PaymentFailed,
    /// The session expired before payment.
    Cancelled,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::AwaitingPayment => "awaiting_payment",
            Status::Paid => "paid",
            Status::PaymentFailed => "payment_failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::AwaitingPayment,
            Status::Paid,
            Status::PaymentFailed,
            Status::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == word)
    }
}

/// The payment details stored on a paid order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Payment {
    pub(crate) payment_intent: Option<String>,
    pub(crate) amount_total: Option<i64>,
    pub(crate) currency: Option<String>,
    /// The email the buyer used at checkout, which may differ from the one
    /// the shop prefilled.
    pub(crate) email: Option<String>,
    /// The line items listed from Stripe at fulfilment, which is what ships.
    pub(crate) shipped_items: Value,
}

/// The status an event or the success page requests.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    Paid(Payment),
    AwaitingPayment,
    PaymentFailed,
    Cancelled,
}

/// A requested change of one order, with the rules it is checked against.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transition {
    pub(crate) target: Target,
    /// The Checkout Session the change comes from. `None` when only a
    /// payment intent is known, and then the order keeps its session id.
    pub(crate) session_id: Option<String>,
    /// Whether the forward-only rules apply. Only bug switches turn this off.
    pub(crate) enforce_order: bool,
    /// Whether fulfilling a paid order again is skipped. Only bug switches
    /// turn this off.
    pub(crate) paid_guard: bool,
}

impl Transition {
    pub(crate) fn new(target: Target, session_id: Option<String>) -> Transition {
        Transition {
            target,
            session_id,
            enforce_order: true,
            paid_guard: true,
        }
    }

    pub(crate) fn ignoring_order(mut self) -> Transition {
        self.enforce_order = false;
        self
    }

    pub(crate) fn without_paid_guard(mut self) -> Transition {
        self.paid_guard = false;
        self
    }
}

/// The reason a transition left the order unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    AlreadyPaid,
    /// The order has moved past the state the transition starts from.
    NotAllowedFrom(Status),
    /// The event is about a session that the order no longer uses, such as
    /// the expiry of a session that a newer checkout replaced.
    OtherSession,
}

impl Skip {
    pub(crate) fn reason(self) -> String {
        match self {
            Skip::AlreadyPaid => "order is already paid".to_owned(),
            Skip::NotAllowedFrom(status) => {
                format!("order is {} and cannot move back", status.as_str())
            }
            Skip::OtherSession => "event is for a session the order no longer uses".to_owned(),
        }
    }
}

/// Decides whether `transition` applies to an order in `status` whose
/// current session is `current_session`.
pub(crate) fn decide(
    status: Status,
    current_session: Option<&str>,
    transition: &Transition,
) -> Result<(), Skip> {
    if let Target::Paid(_) = transition.target {
        // A payment that succeeded is honoured from any state, even on a
        // session the order replaced, because the buyer's money was taken.
        if transition.paid_guard && status == Status::Paid {
            return Err(Skip::AlreadyPaid);
        }
        return Ok(());
    }
    if !transition.enforce_order {
        return Ok(());
    }

    let allowed_from: &[Status] = match transition.target {
        Target::Paid(_) => unreachable!("handled above"),
        Target::AwaitingPayment => &[Status::Pending],
        Target::PaymentFailed => &[Status::Pending, Status::AwaitingPayment],
        // A session that completed cannot expire, so an awaiting order is
        // never cancelled.
        Target::Cancelled => &[Status::Pending],
    };
    if !allowed_from.contains(&status) {
        return Err(Skip::NotAllowedFrom(status));
    }

    // Failure and expiry only count for the session the order is waiting
    // on. A newer checkout may have replaced the session they are about.
    let about_current_session = match (&transition.target, current_session) {
        (Target::AwaitingPayment, _) | (_, None) => true,
        (_, Some(current)) => transition
            .session_id
            .as_deref()
            .is_none_or(|id| id == current),
    };
    if !about_current_session {
        return Err(Skip::OtherSession);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paid() -> Target {
        Target::Paid(Payment {
            payment_intent: Some("pi_1".to_owned()),
            amount_total: Some(5000),
            currency: Some("eur".to_owned()),
            email: None,
            shipped_items: json!([]),
        })
    }

    fn on_cs_1(target: Target) -> Transition {
        Transition::new(target, Some("cs_1".to_owned()))
    }

    #[test]
    fn status_words_round_trip() {
        for word in [
            "pending",
            "awaiting_payment",
            "paid",
            "payment_failed",
            "cancelled",
        ] {
            assert_eq!(Status::parse(word).map(Status::as_str), Some(word));
        }
        assert_eq!(Status::parse("failed"), None);
    }

    #[test]
    fn forward_transitions_apply() {
        use Status::*;
        let cases = [
            (Pending, paid()),
            (Pending, Target::AwaitingPayment),
            (Pending, Target::PaymentFailed),
            (Pending, Target::Cancelled),
            (AwaitingPayment, paid()),
            (AwaitingPayment, Target::PaymentFailed),
        ];
        for (status, target) in cases {
            let transition = on_cs_1(target.clone());
            assert_eq!(
                decide(status, Some("cs_1"), &transition),
                Ok(()),
                "{status:?} -> {target:?}"
            );
        }
    }

    #[test]
    fn paid_never_moves_back() {
        for target in [
            Target::AwaitingPayment,
            Target::PaymentFailed,
            Target::Cancelled,
        ] {
            assert_eq!(
                decide(Status::Paid, Some("cs_1"), &on_cs_1(target.clone())),
                Err(Skip::NotAllowedFrom(Status::Paid)),
                "{target:?}"
            );
        }
    }

    #[test]
    fn paid_twice_skipped() {
        assert_eq!(
            decide(Status::Paid, Some("cs_1"), &on_cs_1(paid())),
            Err(Skip::AlreadyPaid)
        );
    }

    #[test]
    fn late_unpaid_completion_skipped() {
        // async_payment_failed overtook checkout.session.completed (unpaid).
        assert_eq!(
            decide(
                Status::PaymentFailed,
                Some("cs_1"),
                &on_cs_1(Target::AwaitingPayment)
            ),
            Err(Skip::NotAllowedFrom(Status::PaymentFailed))
        );
    }

    #[test]
    fn awaiting_order_not_cancelled() {
        assert_eq!(
            decide(
                Status::AwaitingPayment,
                Some("cs_1"),
                &on_cs_1(Target::Cancelled)
            ),
            Err(Skip::NotAllowedFrom(Status::AwaitingPayment))
        );
    }

    #[test]
    fn expiry_of_replaced_session_skipped() {
        assert_eq!(
            decide(Status::Pending, Some("cs_2"), &on_cs_1(Target::Cancelled)),
            Err(Skip::OtherSession)
        );
        assert_eq!(
            decide(
                Status::Pending,
                Some("cs_2"),
                &on_cs_1(Target::PaymentFailed)
            ),
            Err(Skip::OtherSession)
        );
    }

    #[test]
    fn payment_on_replaced_session_applies() {
        assert_eq!(
            decide(Status::Pending, Some("cs_2"), &on_cs_1(paid())),
            Ok(())
        );
    }

    #[test]
    fn without_paid_guard_fulfils_again() {
        let transition = on_cs_1(paid()).without_paid_guard();
        assert_eq!(decide(Status::Paid, Some("cs_1"), &transition), Ok(()));
    }

    #[test]
    fn ignoring_order_downgrades() {
        let transition = on_cs_1(Target::AwaitingPayment).ignoring_order();
        assert_eq!(decide(Status::Paid, Some("cs_1"), &transition), Ok(()));
        let transition = on_cs_1(Target::PaymentFailed).ignoring_order();
        assert_eq!(decide(Status::Paid, Some("cs_9"), &transition), Ok(()));
    }
}
