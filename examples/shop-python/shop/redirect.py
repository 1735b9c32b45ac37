"""The browser's return from Checkout: ``GET /success`` and ``GET /cancel``.

The success page is a convenience, not the source of truth. The buyer may
never come back, and an asynchronous payment is still unpaid when they do,
so the webhook finishes every order. The page fulfils early only when a
fresh retrieve of the session shows ``payment_status: paid``.
"""

import logging
from typing import Any

import flask

from . import order
from .bugs import Bug
from .fulfilment import FulfilmentError, payment_from_session
from .order import Status
from .stripe_api import (
    CALL_ERRORS,
    describe_error,
    is_not_found,
    is_paid,
    is_session_id,
    session_order_id,
)
from .web import BadGateway, BadRequest, NotFound, Shop, current_shop, quote

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("redirect", __name__)


@blueprint.get("/success")
def success() -> flask.Response:
    shop = current_shop()
    session_id = flask.request.args.get("session_id", "")
    if not is_session_id(session_id):
        raise BadRequest(
            f"invalid session_id {quote(session_id)}: expected a Checkout Session id such as"
            " cs_test_123 (success_url must contain the literal {CHECKOUT_SESSION_ID})"
        )

    try:
        session = _load_session(shop, session_id)
    except CALL_ERRORS as error:
        return _order_after_failed_retrieve(shop, session_id, error)
    order_id = session_order_id(session)
    if order_id is None:
        raise NotFound(f"session {session_id} has no metadata.order_id or client_reference_id")

    # BUG(trust-redirect): reaching this page is taken as proof of payment.
    if is_paid(session) or shop.bug_is(Bug.TRUST_REDIRECT):
        _fulfil(shop, order_id, session)
    else:
        log.info(
            "success page: session %s of order %s not paid yet (payment_status=%s),"
            " leaving the order to the webhook",
            session_id,
            quote(order_id),
            session.get("payment_status") or "none",
        )

    found = shop.store.find_order(order_id)
    if found is None:
        raise NotFound(f"order {quote(order_id)} not found")
    return flask.jsonify(found)


def _load_session(shop: Shop, session_id: str) -> dict[str, Any]:
    """Retrieve the session from Stripe."""
    if shop.bug_is(Bug.CACHED_SESSION):
        # BUG(cached-session): the copy from creation is still unpaid.
        found = shop.store.find_order_by_session(session_id)
        if found is not None:
            cached = shop.store.cached_session(found["order_id"])
            if cached is not None:
                return cached
    return shop.stripe.retrieve_checkout_session(session_id)


def _order_after_failed_retrieve(
    shop: Shop, session_id: str, error: Exception
) -> flask.Response:
    """Show the order anyway when the retrieve failed but the session is the
    order's current one. Right after a write Stripe may briefly return 404
    or an error, and a buyer who paid should not see an error page for that.
    """
    found = shop.store.find_order_by_session(session_id)
    if found is not None:
        log.warning(
            "success page: failed to retrieve session %s, showing the stored order %s: %s",
            session_id,
            quote(found["order_id"]),
            describe_error(error),
        )
        return flask.jsonify(found)
    if is_not_found(error):
        raise NotFound(f"checkout session {session_id} not found")
    raise BadGateway(
        f"failed to retrieve checkout session {session_id}: {describe_error(error)}"
    )


def _fulfil(shop: Shop, order_id: str, session: dict[str, Any]) -> None:
    """Fulfil from the success page. A failure to list the line items is
    logged and left to the webhook, which Stripe retries."""
    # BUG(redirect-fulfils-too): the page fulfils again, whatever the status.
    paid_guard = not shop.bug_is(Bug.REDIRECT_FULFILS_TOO)
    status = shop.store.order_status(order_id)
    if status is None or (status is Status.PAID and paid_guard):
        return

    try:
        payment = payment_from_session(shop, session)
    except FulfilmentError as error:
        log.warning(
            "success page: fulfilment of order %s failed, leaving it to the webhook: %s",
            quote(order_id),
            error,
        )
        return
    transition = order.paid(payment, session["id"])
    if not paid_guard:
        transition = transition.without_paid_guard()
    applied = shop.store.apply(None, order_id, transition)
    log.info(
        "success page: fulfilment of order %s from session %s: %s %s",
        quote(order_id),
        session["id"],
        applied.outcome.value,
        applied.detail(order_id),
    )


@blueprint.get("/cancel")
def cancel() -> flask.Response:
    shop = current_shop()
    order_id = flask.request.args.get("order_id", "")
    if not order_id:
        raise BadRequest("missing order_id")
    # The session stays open until it expires, and its
    # checkout.session.expired event releases the stock.
    found = shop.store.find_order(order_id)
    if found is None:
        raise NotFound(f"order {quote(order_id)} not found")
    log.info("buyer returned from checkout without paying for order %s", quote(order_id))
    return flask.jsonify(found)
