"""The order state machine in isolation: which transitions apply."""

import pytest

from shop import order
from shop.order import Payment, Skip, Status, Transition

PAYMENT = Payment(
    payment_intent="pi_1", amount_total=5000, currency="eur", email=None, shipped_items=[]
)


def on_cs_1(target: Status) -> Transition:
    if target is Status.PAID:
        return order.paid(PAYMENT, "cs_1")
    return Transition(target, "cs_1")


@pytest.mark.parametrize(
    ("status", "target"),
    [
        (Status.PENDING, Status.PAID),
        (Status.PENDING, Status.AWAITING_PAYMENT),
        (Status.PENDING, Status.PAYMENT_FAILED),
        (Status.PENDING, Status.CANCELLED),
        (Status.AWAITING_PAYMENT, Status.PAID),
        (Status.AWAITING_PAYMENT, Status.PAYMENT_FAILED),
        # A payment is honoured even after the order gave up on it.
        (Status.CANCELLED, Status.PAID),
        (Status.PAYMENT_FAILED, Status.PAID),
    ],
)
def test_forward_transition_applies(status, target):
    assert order.decide(status, "cs_1", on_cs_1(target)) is None


@pytest.mark.parametrize(
    "target", [Status.AWAITING_PAYMENT, Status.PAYMENT_FAILED, Status.CANCELLED]
)
def test_paid_never_moves_back(target):
    skipped = order.decide(Status.PAID, "cs_1", on_cs_1(target))
    assert skipped is not None
    assert skipped.skip is Skip.NOT_ALLOWED_FROM
    assert skipped.reason() == "order is paid and cannot move back"


def test_paid_twice_skipped():
    skipped = order.decide(Status.PAID, "cs_1", on_cs_1(Status.PAID))
    assert skipped is not None
    assert skipped.skip is Skip.ALREADY_PAID


def test_late_unpaid_completion_skipped():
    # async_payment_failed overtook checkout.session.completed (unpaid).
    skipped = order.decide(Status.PAYMENT_FAILED, "cs_1", on_cs_1(Status.AWAITING_PAYMENT))
    assert skipped is not None
    assert skipped.skip is Skip.NOT_ALLOWED_FROM


def test_awaiting_order_not_cancelled():
    skipped = order.decide(Status.AWAITING_PAYMENT, "cs_1", on_cs_1(Status.CANCELLED))
    assert skipped is not None
    assert skipped.skip is Skip.NOT_ALLOWED_FROM


@pytest.mark.parametrize("target", [Status.CANCELLED, Status.PAYMENT_FAILED])
def test_event_of_replaced_session_skipped(target):
    skipped = order.decide(Status.PENDING, "cs_2", on_cs_1(target))
    assert skipped is not None
    assert skipped.skip is Skip.OTHER_SESSION


def test_payment_on_replaced_session_applies():
    assert order.decide(Status.PENDING, "cs_2", on_cs_1(Status.PAID)) is None


def test_without_paid_guard_fulfils_again():
    transition = on_cs_1(Status.PAID).without_paid_guard()
    assert order.decide(Status.PAID, "cs_1", transition) is None


def test_ignoring_order_downgrades():
    awaiting = on_cs_1(Status.AWAITING_PAYMENT).ignoring_order()
    assert order.decide(Status.PAID, "cs_1", awaiting) is None
    failed = on_cs_1(Status.PAYMENT_FAILED).ignoring_order()
    assert order.decide(Status.PAID, "cs_9", failed) is None


def test_paid_transition_needs_payment():
    with pytest.raises(ValueError):
        Transition(Status.PAID, "cs_1")
    with pytest.raises(ValueError):
        Transition(Status.PENDING, "cs_1")
