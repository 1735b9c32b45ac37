"""``POST /checkout``: creates or reopens the order, then a Checkout Session
for it."""

import json
import logging
import urllib.parse
from typing import Any

import flask

from .bugs import Bug
from .store import OrderAlreadyPaid, PaymentInProgress
from .stripe_api import CALL_ERRORS, describe_error
from .web import BadGateway, BadRequest, Conflict, Shop, current_shop, quote

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("checkout", __name__)

# Stripe's limit on client_reference_id, which carries the order id.
MAX_ORDER_ID_LENGTH = 200


class CheckoutRequest:
    """The parsed body of ``POST /checkout``.

    Each item is ``{"price", "quantity"}`` (a catalogue price) or
    ``{"name", "unit_amount", "quantity"}`` (an inline product), with other
    keys dropped.
    """

    def __init__(
        self,
        order_id: str,
        items: list[dict[str, Any]],
        currency: str | None,
        email: str | None,
    ):
        self.order_id = order_id
        self.items = items
        self.currency = currency
        self.email = email

    @classmethod
    def parse(cls, body: Any) -> "CheckoutRequest":
        """Check the JSON types of ``body``. Raises BadRequest."""
        if not isinstance(body, dict):
            raise _invalid("expected a JSON object")
        order_id = body.get("order_id")
        if not isinstance(order_id, str):
            raise _invalid("missing field `order_id` or it is not a string")
        items = body.get("items")
        if not isinstance(items, list):
            raise _invalid("missing field `items` or it is not a list")
        currency = body.get("currency")
        if currency is not None and not isinstance(currency, str):
            raise _invalid("`currency` is not a string")
        email = body.get("email")
        if email is not None and not isinstance(email, str):
            raise _invalid("`email` is not a string")
        parsed_items = [_parse_item(index, item) for index, item in enumerate(items)]
        return cls(order_id, parsed_items, currency, email)


def _invalid(message: str) -> BadRequest:
    return BadRequest(f"invalid checkout request: {message}")


def _is_integer(value: Any) -> bool:
    """Check for a JSON integer that fits SQLite's and Stripe's 64-bit integers."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return -(2**63) <= value < 2**63


def _parse_item(index: int, item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        if isinstance(item.get("price"), str) and _is_integer(item.get("quantity")):
            return {"price": item["price"], "quantity": item["quantity"]}
        if (
            isinstance(item.get("name"), str)
            and _is_integer(item.get("unit_amount"))
            and _is_integer(item.get("quantity"))
        ):
            return {
                "name": item["name"],
                "unit_amount": item["unit_amount"],
                "quantity": item["quantity"],
            }
    raise _invalid(
        f"items[{index}] is neither {{price, quantity}} nor {{name, unit_amount, quantity}}"
        " with a string and integers"
    )


def validate(request: CheckoutRequest) -> None:
    """Check the values of a parsed request. Raises BadRequest."""
    if not request.order_id:
        raise BadRequest("order_id must not be empty")
    if len(request.order_id) > MAX_ORDER_ID_LENGTH:
        raise BadRequest(f"order_id is longer than {MAX_ORDER_ID_LENGTH} characters")
    if not request.items:
        raise BadRequest("items must not be empty")

    needs_currency = False
    for index, item in enumerate(request.items):
        if "price" in item:
            if not item["price"]:
                raise BadRequest(f"items[{index}].price must not be empty")
        else:
            needs_currency = True
            if not item["name"]:
                raise BadRequest(f"items[{index}].name must not be empty")
            if item["unit_amount"] < 0:
                raise BadRequest(
                    f"items[{index}].unit_amount must not be negative,"
                    f" got {item['unit_amount']}"
                )
        if item["quantity"] < 1:
            raise BadRequest(
                f"items[{index}].quantity must be at least 1, got {item['quantity']}"
            )

    currency = request.currency
    if currency is not None:
        if len(currency) != 3 or not (currency.isascii() and currency.isalpha()):
            raise BadRequest(
                f"invalid currency {quote(currency)}:"
                ' expected a three-letter ISO code such as "eur"'
            )
    elif needs_currency:
        raise BadRequest("currency is required for items with unit_amount")


@blueprint.post("/checkout")
def create() -> flask.Response:
    shop = current_shop()
    request = CheckoutRequest.parse(_json_body())
    validate(request)
    email = request.email or None
    currency = request.currency.lower() if request.currency is not None else None

    try:
        idempotency_key = shop.store.begin_checkout(
            request.order_id, request.items, currency, email
        )
    except OrderAlreadyPaid:
        raise Conflict(f"order {quote(request.order_id)} is already paid") from None
    except PaymentInProgress:
        raise Conflict(
            f"order {quote(request.order_id)} has a payment that has not settled yet"
        ) from None

    params = session_params(shop, request, currency, email)
    # BUG(no-idempotency-key): the create is retried without a key, so a
    # retry after a lost response creates a second session.
    key = None if shop.bug_is(Bug.NO_IDEMPOTENCY_KEY) else idempotency_key
    try:
        session = shop.stripe.create_checkout_session(params, key)
    except CALL_ERRORS as error:
        raise BadGateway(
            f"failed to create a checkout session for order {quote(request.order_id)}:"
            f" {describe_error(error)}"
        ) from error

    shop.store.record_session(
        request.order_id, session, cache=shop.bug_is(Bug.CACHED_SESSION)
    )
    log.info(
        "created checkout session %s for order %s (idempotency_key=%s)",
        session["id"],
        quote(request.order_id),
        key or "none",
    )
    return flask.jsonify(
        {
            "order_id": request.order_id,
            "session_id": session["id"],
            "url": session.get("url"),
        }
    )


def _json_body() -> Any:
    """Read the body as JSON. Raises BadRequest for another content type or
    invalid JSON."""
    if not flask.request.is_json:
        raise _invalid("expected request with `Content-Type: application/json`")
    try:
        return json.loads(flask.request.get_data())
    except ValueError as error:
        raise _invalid(f"invalid JSON: {error}") from None


def session_params(
    shop: Shop, request: CheckoutRequest, currency: str | None, email: str | None
) -> dict[str, Any]:
    """Build the session parameters. The SDK form-encodes nested dicts and
    lists in Stripe's bracket notation."""
    line_items = []
    for item in request.items:
        if "price" in item:
            line_items.append({"price": item["price"], "quantity": item["quantity"]})
        else:
            line_items.append(
                {
                    "price_data": {
                        "currency": currency,
                        "unit_amount": item["unit_amount"],
                        "product_data": {"name": item["name"]},
                    },
                    "quantity": item["quantity"],
                }
            )

    base = shop.config.app_base_url
    # Stripe replaces the literal {CHECKOUT_SESSION_ID} in success_url with
    # the session id. Only the form encoding of the whole value may escape
    # the braces. Escaping them inside the URL stops the replacement.
    if shop.bug_is(Bug.ENCODED_SESSION_TEMPLATE):
        # BUG(encoded-session-template): the token arrives percent-encoded.
        success_url = f"{base}/success?session_id=%7BCHECKOUT_SESSION_ID%7D"
    else:
        success_url = f"{base}/success?session_id={{CHECKOUT_SESSION_ID}}"
    cancel_url = f"{base}/cancel?order_id={urllib.parse.quote(request.order_id, safe='')}"

    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": line_items,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": request.order_id,
        "metadata": {"order_id": request.order_id},
        # Session metadata is not copied to the payment intent. Only this
        # field reaches it and its payment_intent.* events.
        "payment_intent_data": {"metadata": {"order_id": request.order_id}},
    }
    if email is not None:
        params["customer_email"] = email
    if shop.bug_is(Bug.PI_METADATA):
        # BUG(pi-metadata): the payment intent gets no order id.
        del params["payment_intent_data"]
    return params
