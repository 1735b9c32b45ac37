"""The order state machine.

::

    pending ──► awaiting_payment ──► paid
       │               │
       │               └──────────► payment_failed (stock released)
       ├──► paid
       ├──► payment_failed (stock released)
       └──► cancelled (stock released)

Stripe delivers events late, twice and in any order, so every rule only
moves an order forward. ``paid`` is final. A late
``checkout.session.completed`` with ``payment_status: unpaid`` cannot pull a
paid or failed order back to ``awaiting_payment``, and an expiry cannot
cancel a paid order. The one way back to ``pending`` is a new checkout for a
failed or cancelled order, which the checkout route starts.
"""

import dataclasses
import enum
from typing import Any


class Status(enum.Enum):
    """An order's status word, as ``GET /orders/{id}`` reports it."""

    # Created and not paid. Stock is reserved.
    PENDING = "pending"
    # The session completed with an asynchronous payment method (such as a
    # SEPA debit) that has not settled yet.
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    # The asynchronous payment failed.
    PAYMENT_FAILED = "payment_failed"
    # The session expired before payment.
    CANCELLED = "cancelled"


@dataclasses.dataclass(frozen=True)
class Payment:
    """The payment details stored on a paid order."""

    payment_intent: str | None
    amount_total: int | None
    currency: str | None
    # The email the buyer used at checkout, which may differ from the one the
    # shop prefilled.
    email: str | None
    # The line items listed from Stripe at fulfilment, which is what ships.
    shipped_items: list[dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Transition:
    """A requested change of one order, with the rules it is checked against.

    ``target`` is a Status other than PENDING. ``payment`` is set exactly when
    the target is PAID.
    """

    target: Status
    # The Checkout Session the change comes from. None when only a payment
    # intent is known, and then the order keeps its session id.
    session_id: str | None
    payment: Payment | None = None
    # Whether the forward-only rules apply. Only bug switches turn this off.
    enforce_order: bool = True
    # Whether fulfilling a paid order again is skipped. Only bug switches
    # turn this off.
    paid_guard: bool = True

    def __post_init__(self) -> None:
        if self.target is Status.PENDING:
            raise ValueError("a transition cannot target pending")
        if (self.target is Status.PAID) != (self.payment is not None):
            raise ValueError("a payment must be given exactly when the target is paid")

    def ignoring_order(self) -> "Transition":
        return dataclasses.replace(self, enforce_order=False)

    def without_paid_guard(self) -> "Transition":
        return dataclasses.replace(self, paid_guard=False)


def paid(payment: Payment, session_id: str | None) -> Transition:
    return Transition(Status.PAID, session_id, payment=payment)


class Skip(enum.Enum):
    """The reason a transition left the order unchanged."""

    ALREADY_PAID = "already_paid"
    # The order has moved past the state the transition starts from.
    NOT_ALLOWED_FROM = "not_allowed_from"
    # The event is about a session that the order no longer uses, such as
    # the expiry of a session that a newer checkout replaced.
    OTHER_SESSION = "other_session"


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A transition that did not apply, with the order's status at the time."""

    skip: Skip
    status: Status

    def reason(self) -> str:
        if self.skip is Skip.ALREADY_PAID:
            return "order is already paid"
        if self.skip is Skip.NOT_ALLOWED_FROM:
            return f"order is {self.status.value} and cannot move back"
        return "event is for a session the order no longer uses"


# The statuses each target may be reached from under the forward-only rules.
_ALLOWED_FROM = {
    Status.AWAITING_PAYMENT: {Status.PENDING},
    Status.PAYMENT_FAILED: {Status.PENDING, Status.AWAITING_PAYMENT},
    # A session that completed cannot expire, so an awaiting order is never
    # cancelled.
    Status.CANCELLED: {Status.PENDING},
}


def decide(
    status: Status, current_session: str | None, transition: Transition
) -> Skipped | None:
    """Decide whether ``transition`` applies to an order in ``status``.

    ``current_session`` is the id of the order's current session. Returns
    None when the transition applies, or the reason it does not.
    """
    if transition.target is Status.PAID:
        # A payment that succeeded is honoured from any state, even on a
        # session the order replaced, because the buyer's money was taken.
        if transition.paid_guard and status is Status.PAID:
            return Skipped(Skip.ALREADY_PAID, status)
        return None
    if not transition.enforce_order:
        return None

    if status not in _ALLOWED_FROM[transition.target]:
        return Skipped(Skip.NOT_ALLOWED_FROM, status)

    # Failure and expiry only count for the session the order is waiting on.
    # A newer checkout may have replaced the session they are about.
    about_current_session = (
        transition.target is Status.AWAITING_PAYMENT
        or current_session is None
        or transition.session_id is None
        or transition.session_id == current_session
    )
    if not about_current_session:
        return Skipped(Skip.OTHER_SESSION, status)
    return None
