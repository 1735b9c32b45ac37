"""``POST /webhooks/stripe``: verifies, de-duplicates and applies events.

Stripe delivers at least once, in any order, and retries every delivery that
does not get a 2xx. The handler is built around that:

1. Verify ``Stripe-Signature`` over the raw body (400 on failure).
2. Return 200 at once for an event id already processed.
3. Decide what the event means for its order, trusting the signed payload
   for ``payment_status``, because a retrieve may lag behind.
4. Before fulfilling, list the session's line items. If that fails, return
   500 so Stripe delivers the event again.
5. In one SQLite transaction, record the event id and apply the change. A
   failure before the commit leaves the event unprocessed for the retry.
"""

import dataclasses
import json
import logging
from typing import Any

import flask
import stripe

from . import order
from .bugs import Bug
from .fulfilment import FulfilmentError, payment_from_session, shipped_items
from .order import Payment, Status, Transition
from .store import EventRecord
from .stripe_api import (
    CALL_ERRORS,
    InvalidObjectError,
    describe_error,
    is_paid,
    session_order_id,
    validate_payment_intent,
    validate_session,
)
from .web import BadRequest, Shop, current_shop, quote

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("webhook", __name__)


@dataclasses.dataclass(frozen=True)
class Apply:
    """A change the event requests for one order."""

    order_id: str
    transition: Transition


@dataclasses.dataclass(frozen=True)
class Ignore:
    """A handled event type that needs no change."""

    reason: str


class Unhandled:
    """An event type the shop does not handle."""


Plan = Apply | Ignore | Unhandled


class RetrieveError(Exception):
    """Retrieving the session that an event is about failed."""


@blueprint.post("/webhooks/stripe")
def receive() -> Any:
    shop = current_shop()
    event = _verified_event(shop, flask.request.get_data())
    event_id = event["id"]
    event_type = event["type"]
    record = EventRecord(id=event_id, event_type=event_type)

    # BUG(no-dedup): every delivery is handled as if it were the first.
    dedup = not shop.bug_is(Bug.NO_DEDUP)
    if dedup and shop.store.is_processed(event_id):
        log.info("duplicate event %s (%s)", event_id, event_type)
        return _acknowledge("duplicate")

    # BUG(mark-before-commit): the event counts as processed before its
    # effects are, so if they fail, Stripe's retry is taken for a duplicate.
    mark_before_commit = shop.bug_is(Bug.MARK_BEFORE_COMMIT)
    if mark_before_commit and not shop.store.mark_processed(record):
        return _acknowledge("duplicate")
    record_with_effects = record if dedup and not mark_before_commit else None

    try:
        plan = _plan(shop, event)
    except InvalidObjectError as error:
        log.warning("rejected event %s with an invalid %s object: %s", event_id, event_type, error)
        raise BadRequest(f"invalid {event_type} object: {error}") from None
    except FulfilmentError as error:
        if shop.bug_is(Bug.SWALLOW_ERRORS):
            # BUG(swallow-errors): a 2xx response stops Stripe's retries.
            log.warning("fulfilment failed for event %s, acknowledging anyway: %s", event_id, error)
            return _acknowledge("failed")
        raise _redelivery_error(event_id, event_type, error) from error
    except RetrieveError as error:
        raise _redelivery_error(event_id, event_type, error) from error

    if isinstance(plan, Unhandled):
        if shop.bug_is(Bug.UNHANDLED_EVENT_500):
            # BUG(unhandled-event-500): Stripe keeps retrying these deliveries.
            raise RuntimeError(f"no handler for event type {event_type}")
        log.debug("event %s: type %s not handled", event_id, event_type)
        return _acknowledge("ignored")

    if isinstance(plan, Ignore):
        if record_with_effects is not None:
            shop.store.mark_processed(record_with_effects)
        log.info("event %s (%s) ignored: %s", event_id, event_type, plan.reason)
        return _acknowledge("ignored")

    applied = shop.store.apply(record_with_effects, plan.order_id, plan.transition)
    log.info(
        "event %s (%s) for order %s: %s %s",
        event_id,
        event_type,
        quote(plan.order_id),
        applied.outcome.value,
        applied.detail(plan.order_id),
    )
    return _acknowledge(applied.outcome.value)


def _acknowledge(result: str) -> flask.Response:
    return flask.jsonify({"received": True, "result": result})


def _redelivery_error(event_id: str, event_type: str, error: Exception) -> RuntimeError:
    return RuntimeError(
        f"failed to handle event {event_id} ({event_type}), so Stripe will deliver it"
        f" again: {error}"
    )


def _verified_event(shop: Shop, body: bytes) -> dict[str, Any]:
    """Verify the signature and return the event as a plain dict.

    Raises BadRequest when the JSON or the signature is invalid.
    """
    # The body is parsed before construct_event gets it, because
    # stripe-python 16.1.0 raises AttributeError on a JSON value that is not
    # an object.
    try:
        parsed = json.loads(body)
    except ValueError as error:
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors.
        raise _invalid_event(str(error)) from None
    if not isinstance(parsed, dict):
        raise _invalid_event("expected an object")

    if shop.bug_is(Bug.NO_SIGNATURE_CHECK):
        # BUG(no-signature-check): anyone can post a forged event.
        event = parsed
    else:
        signed = body
        if shop.bug_is(Bug.RESERIALISE_BODY):
            # BUG(reserialise-body): writing the parsed JSON back changes
            # whitespace and escapes, so the HMAC no longer matches.
            signed = json.dumps(parsed).encode()
        header = flask.request.headers.get("Stripe-Signature")
        try:
            # construct_event checks the v1 HMAC-SHA256 over the bytes as
            # received, and rejects a signed timestamp more than 300 seconds
            # old (stripe-python 16.1.0 accepts future timestamps).
            event = stripe.Webhook.construct_event(
                signed, header, shop.config.webhook_secret
            ).to_dict()
        except stripe.SignatureVerificationError as error:
            log.warning("rejected webhook delivery: signature verification failed: %s", error)
            raise BadRequest(f"signature verification failed: {error}") from None
        except ValueError as error:
            # The SDK rejects a thin (v2) event this way.
            raise _invalid_event(str(error)) from None

    problem = _event_shape_problem(event)
    if problem is not None:
        raise _invalid_event(problem)
    return event


def _invalid_event(problem: str) -> BadRequest:
    log.warning("rejected webhook delivery with invalid event JSON: %s", problem)
    return BadRequest(f"invalid event JSON: {problem}")


def _event_shape_problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "expected an object"
    if not isinstance(event.get("id"), str):
        return "missing field `id` or it is not a string"
    if not isinstance(event.get("type"), str):
        return "missing field `type` or it is not a string"
    data = event.get("data")
    if not isinstance(data, dict) or "object" not in data:
        return "missing field `data.object`"
    return None


def _plan(shop: Shop, event: dict[str, Any]) -> Plan:
    event_type = event["type"]
    obj = event["data"]["object"]
    if event_type == "checkout.session.completed":
        return _on_completed(shop, validate_session(obj))
    if event_type == "checkout.session.async_payment_succeeded":
        return _on_async_payment_succeeded(shop, validate_session(obj))
    if event_type == "checkout.session.async_payment_failed":
        return _on_async_payment_failed(shop, validate_session(obj))
    if event_type == "checkout.session.expired":
        return _on_expired(shop, validate_session(obj))
    if event_type == "payment_intent.succeeded" and shop.bug_is(Bug.PI_METADATA):
        return _on_payment_intent_succeeded(shop, validate_payment_intent(obj))
    return Unhandled()


def _on_completed(shop: Shop, session: dict[str, Any]) -> Plan:
    """``checkout.session.completed``: the buyer finished checkout.

    The payment is done when ``payment_status`` is ``paid``. With a delayed
    method it is ``unpaid``, and an ``async_payment_*`` event follows.
    """
    if shop.bug_is(Bug.PI_METADATA):
        # BUG(pi-metadata): only payment_intent.succeeded fulfils.
        return Ignore("session events are not used to fulfil")
    order_id = session_order_id(session)
    if order_id is None:
        return _missing_order_id(session)

    if shop.bug_is(Bug.CACHED_SESSION):
        # BUG(cached-session): decides from the copy saved at creation.
        session = _cached_or(shop, order_id, session)
    elif shop.bug_is(Bug.REFETCH_STATUS):
        # BUG(refetch-status): a retrieve right after payment may still show
        # unpaid, and no later event corrects it for a card payment.
        try:
            session = shop.stripe.retrieve_checkout_session(session["id"])
        except CALL_ERRORS as error:
            raise RetrieveError(
                f"failed to retrieve session {session['id']}: {describe_error(error)}"
            ) from error

    # BUG(fulfil-unpaid): completion is taken as payment.
    if is_paid(session) or shop.bug_is(Bug.FULFIL_UNPAID):
        return _fulfil(shop, order_id, session)
    return _apply(shop, order_id, Transition(Status.AWAITING_PAYMENT, session["id"]))


def _on_async_payment_succeeded(shop: Shop, session: dict[str, Any]) -> Plan:
    """``checkout.session.async_payment_succeeded``: a delayed payment settled."""
    if shop.bug_is(Bug.IGNORE_ASYNC):
        # BUG(ignore-async): the order stays awaiting_payment forever.
        return Ignore("asynchronous payment events are not handled")
    if shop.bug_is(Bug.PI_METADATA):
        # BUG(pi-metadata): only payment_intent.succeeded fulfils.
        return Ignore("session events are not used to fulfil")
    order_id = session_order_id(session)
    if order_id is None:
        return _missing_order_id(session)
    if shop.bug_is(Bug.CACHED_SESSION):
        # BUG(cached-session): amounts and payment intent from the old copy.
        session = _cached_or(shop, order_id, session)
    return _fulfil(shop, order_id, session)


def _on_async_payment_failed(shop: Shop, session: dict[str, Any]) -> Plan:
    """``checkout.session.async_payment_failed``: a delayed payment failed."""
    if shop.bug_is(Bug.IGNORE_ASYNC):
        # BUG(ignore-async): the stock stays reserved forever.
        return Ignore("asynchronous payment events are not handled")
    order_id = session_order_id(session)
    if order_id is None:
        return _missing_order_id(session)
    return _apply(shop, order_id, Transition(Status.PAYMENT_FAILED, session["id"]))


def _on_expired(shop: Shop, session: dict[str, Any]) -> Plan:
    """``checkout.session.expired``: the session closed without payment."""
    order_id = session_order_id(session)
    if order_id is None:
        return _missing_order_id(session)
    if shop.bug_is(Bug.EXPIRED_AS_FAILED):
        # BUG(expired-as-failed): an abandoned checkout is reported as a
        # failed payment, overwriting whatever the order was.
        transition = Transition(Status.PAYMENT_FAILED, session["id"]).ignoring_order()
        return Apply(order_id, transition)
    return _apply(shop, order_id, Transition(Status.CANCELLED, session["id"]))


def _on_payment_intent_succeeded(shop: Shop, payment_intent: dict[str, Any]) -> Plan:
    """``payment_intent.succeeded``, read only with the pi-metadata bug switch."""
    # BUG(pi-metadata): session metadata is not copied to the payment
    # intent, so this is empty for every checkout.
    order_id = (payment_intent.get("metadata") or {}).get("order_id")
    if order_id is None:
        log.warning("payment intent %s has no metadata.order_id", payment_intent["id"])
        return Ignore("payment intent has no metadata.order_id")
    skip = _skip_fulfilment(shop, order_id)
    if skip is not None:
        return skip
    found = shop.store.find_order(order_id)
    session_id = found["session_id"] if found is not None else None
    if session_id is None:
        return Ignore(f"order {quote(order_id)} has no session")
    payment = Payment(
        payment_intent=payment_intent["id"],
        amount_total=payment_intent.get("amount_received"),
        currency=payment_intent.get("currency"),
        email=None,
        shipped_items=shipped_items(shop, session_id, None),
    )
    return _apply(shop, order_id, order.paid(payment, None))


def _fulfil(shop: Shop, order_id: str, session: dict[str, Any]) -> Plan:
    """Plan fulfilment of a paid session. Raises FulfilmentError when the
    line items cannot be listed."""
    skip = _skip_fulfilment(shop, order_id)
    if skip is not None:
        return skip
    payment = payment_from_session(shop, session)
    return _apply(shop, order_id, order.paid(payment, session["id"]))


def _skip_fulfilment(shop: Shop, order_id: str) -> Ignore | None:
    """Return an Ignore plan when the order is unknown or already paid, in
    which case listing the line items would be wasted. The transaction that
    fulfils checks again, because a concurrent request may fulfil in
    between."""
    status = shop.store.order_status(order_id)
    if status is None:
        return Ignore(f"order {quote(order_id)} not found")
    if status is Status.PAID and _paid_guard(shop):
        return Ignore("order is already paid")
    return None


def _apply(shop: Shop, order_id: str, transition: Transition) -> Apply:
    """Build the plan for ``transition``, with the rules the bug switch bends."""
    if not _paid_guard(shop):
        transition = transition.without_paid_guard()
    if shop.bug_is(Bug.LAST_EVENT_WINS):
        # BUG(last-event-wins): a late event overwrites a newer status.
        transition = transition.ignoring_order()
    return Apply(order_id, transition)


def _paid_guard(shop: Shop) -> bool:
    """Check whether fulfilling skips an order that is already paid."""
    # BUG(no-dedup) and BUG(redirect-fulfils-too): each fulfilment counts.
    return not (shop.bug_is(Bug.NO_DEDUP) or shop.bug_is(Bug.REDIRECT_FULFILS_TOO))


def _cached_or(shop: Shop, order_id: str, session: dict[str, Any]) -> dict[str, Any]:
    cached = shop.store.cached_session(order_id)
    return cached if cached is not None else session


def _missing_order_id(session: dict[str, Any]) -> Ignore:
    log.warning("session %s has no metadata.order_id or client_reference_id", session["id"])
    return Ignore(f"session {session['id']} has no order id")
