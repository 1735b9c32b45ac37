"""The three Stripe calls the shop makes, through the official ``stripe``
package, and the object fields it reads.

Objects come back from the SDK as ``StripeObject`` and are turned into plain
dicts with ``to_dict()``, so the rest of the shop, the database cache and the
tests all handle the same JSON shapes that webhooks carry.
"""

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import stripe

from .config import Config

log = logging.getLogger(__name__)

# Waits in seconds before each retry of a session create, doubling each time.
RETRY_DELAYS = (0.1, 0.2, 0.4)

# Per-request timeout in seconds. A slow response raises
# stripe.APIConnectionError and is retried where retries apply.
REQUEST_TIMEOUT = 20

# The page size for listing line items (Stripe's maximum is 100).
LINE_ITEMS_PAGE_SIZE = 100

_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]+")


class InvalidSessionIdError(ValueError):
    def __init__(self, session_id: str):
        super().__init__(f"invalid checkout session id {session_id!r}")


class InvalidObjectError(ValueError):
    """A Stripe object in a webhook payload lacks a field or has the wrong type."""


# Everything a Stripe call can raise that the routes handle.
CALL_ERRORS = (stripe.StripeError, InvalidSessionIdError)


def is_session_id(text: str) -> bool:
    """Check that ``text`` looks like a Checkout Session id before it goes
    into a URL path. Stripe ids are ``cs_`` followed by letters, digits and
    ``_``."""
    return _SESSION_ID.fullmatch(text) is not None


def describe_error(error: Exception) -> str:
    """Format a failed call for logs and error responses."""
    if isinstance(error, stripe.APIConnectionError):
        return f"request to stripe failed: {error.user_message or error}"
    if isinstance(error, stripe.StripeError) and error.http_status is not None:
        body = error.json_body if isinstance(error.json_body, dict) else {}
        details = body.get("error") if isinstance(body.get("error"), dict) else {}
        kind = details.get("type") or "unknown_error"
        message = details.get("message") or error.user_message or "no error message"
        return f"stripe returned {error.http_status} {kind}: {message}"
    return str(error)


def is_not_found(error: Exception) -> bool:
    return isinstance(error, stripe.StripeError) and error.http_status == 404


def should_retry(error: Exception) -> bool:
    """Decide whether a failed create may be sent again.

    Stripe's ``Stripe-Should-Retry`` header wins when present. Otherwise 409
    (a concurrent request with the same key, or a lock timeout), 429 and
    5xx are transient, as are connection errors and timeouts.
    """
    if isinstance(error, stripe.APIConnectionError):
        return True
    if not isinstance(error, stripe.StripeError):
        return False
    hint = _header(error.headers, "Stripe-Should-Retry")
    if hint == "true":
        return True
    if hint == "false":
        return False
    status = error.http_status
    return status is not None and (status in (409, 429) or status >= 500)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


class DropIdempotencyKey:
    """A mixin for an SDK HTTP client that drops the Idempotency-Key header.

    The SDK puts a key on every POST, generating a random one when the
    caller gives none. Only the no-idempotency-key bug switch uses this, so
    its creates reach Stripe with no key at all.
    """

    def request(self, method, url, headers, post_data=None):
        headers = {
            name: value
            for name, value in (headers or {}).items()
            if name.lower() != "idempotency-key"
        }
        return super().request(method, url, headers, post_data)


class _KeylessRequestsClient(DropIdempotencyKey, stripe.RequestsClient):
    pass


def build_client(config: Config, send_idempotency_keys: bool = True) -> stripe.StripeClient:
    """Create the SDK client for ``STRIPE_API_BASE`` and ``STRIPE_SECRET_KEY``.

    The SDK's own retries are off unless ``SHOP_SDK_RETRIES`` turns them on,
    because ``StripeGateway`` retries the one call that may be retried, and
    also on 429, which the SDK does not retry. With them on, the shop calls
    Stripe as an app that keeps the SDK's defaults does.
    """
    http_client_class = stripe.RequestsClient if send_idempotency_keys else _KeylessRequestsClient
    return stripe.StripeClient(
        config.stripe_secret_key,
        base_addresses={"api": config.stripe_api_base.rstrip("/")},
        max_network_retries=config.sdk_retries,
        http_client=http_client_class(timeout=REQUEST_TIMEOUT),
    )


class StripeGateway:
    """The Stripe calls the shop makes, returning plain dicts."""

    def __init__(
        self,
        client: stripe.StripeClient,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._client = client
        self._retry_delays = tuple(retry_delays)
        self._sleep = sleep

    def create_checkout_session(
        self, params: dict[str, Any], idempotency_key: str | None
    ) -> dict[str, Any]:
        """Create a Checkout Session, retrying transient failures.

        With an idempotency key, every retry sends the same key, so Stripe
        returns the first request's stored response instead of creating a
        second session when only the response was lost. Raises the last
        stripe.StripeError once the retries run out.
        """
        options: dict[str, Any] = {}
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
        attempt = 0
        while True:
            try:
                session = self._client.v1.checkout.sessions.create(params, options)
                return session.to_dict()
            except stripe.StripeError as error:
                if attempt >= len(self._retry_delays) or not should_retry(error):
                    raise
                delay = self._retry_delays[attempt]
                attempt += 1
                log.warning(
                    "retrying stripe request POST /v1/checkout/sessions"
                    " (idempotency_key=%s, attempt=%d, delay=%.1fs): %s",
                    idempotency_key or "none",
                    attempt,
                    delay,
                    describe_error(error),
                )
                self._sleep(delay)

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        """Retrieve a Checkout Session, without retries."""
        if not is_session_id(session_id):
            raise InvalidSessionIdError(session_id)
        return self._client.v1.checkout.sessions.retrieve(session_id).to_dict()

    def list_line_items(self, session_id: str) -> list[dict[str, Any]]:
        """List every line item of a session, following pages."""
        if not is_session_id(session_id):
            raise InvalidSessionIdError(session_id)
        page = self._client.v1.checkout.sessions.line_items.list(
            session_id, {"limit": LINE_ITEMS_PAGE_SIZE}
        )
        return [item.to_dict() for item in page.auto_paging_iter()]


# Fields of a Checkout Session that the shop reads. The helpers below take
# the dict that validate_session returned, or a session from the API.


def validate_session(value: Any) -> dict[str, Any]:
    """Return ``value`` if it has the Checkout Session fields the shop reads
    with the right types, and raise InvalidObjectError otherwise."""
    if not isinstance(value, dict):
        raise InvalidObjectError("expected an object")
    if not isinstance(value.get("id"), str):
        raise InvalidObjectError("missing field `id` or it is not a string")
    for name in (
        "status",
        "payment_status",
        "client_reference_id",
        "currency",
        "url",
        "customer_email",
    ):
        _check_optional(value, name, str, "a string")
    _check_optional(value, "amount_total", int, "an integer")
    _check_metadata(value)

    payment_intent = value.get("payment_intent")
    if payment_intent is not None and not isinstance(payment_intent, str):
        if not isinstance(payment_intent, dict) or not isinstance(payment_intent.get("id"), str):
            raise InvalidObjectError("payment_intent is neither an id nor an object with an id")

    details = value.get("customer_details")
    if details is not None:
        if not isinstance(details, dict):
            raise InvalidObjectError("customer_details is not an object")
        _check_optional(details, "email", str, "a string")

    line_items = value.get("line_items")
    if line_items is not None:
        if not isinstance(line_items, dict) or not isinstance(line_items.get("data"), list):
            raise InvalidObjectError("line_items is not a list object")
    return value


def validate_payment_intent(value: Any) -> dict[str, Any]:
    """Return ``value`` if it has the PaymentIntent fields the shop reads."""
    if not isinstance(value, dict):
        raise InvalidObjectError("expected an object")
    if not isinstance(value.get("id"), str):
        raise InvalidObjectError("missing field `id` or it is not a string")
    _check_optional(value, "amount_received", int, "an integer")
    _check_optional(value, "currency", str, "a string")
    _check_metadata(value)
    return value


def _check_optional(value: dict[str, Any], name: str, kind: type, kind_text: str) -> None:
    field = value.get(name)
    # bool is a subclass of int, but JSON true is not an amount.
    if field is not None and (not isinstance(field, kind) or isinstance(field, bool)):
        raise InvalidObjectError(f"{name} is not {kind_text}")


def _check_metadata(value: dict[str, Any]) -> None:
    metadata = value.get("metadata")
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(
        isinstance(item, str) for item in metadata.values()
    ):
        raise InvalidObjectError("metadata is not an object of strings")


def session_order_id(session: Mapping[str, Any]) -> str | None:
    """Find the shop's order id: ``metadata.order_id``, or else
    ``client_reference_id``. The shop sets both on every session."""
    metadata = session.get("metadata") or {}
    order_id = metadata.get("order_id")
    if order_id is None:
        order_id = session.get("client_reference_id")
    return order_id or None


def is_paid(session: Mapping[str, Any]) -> bool:
    """Check ``payment_status``, which is ``paid``, ``unpaid`` or
    ``no_payment_required``. Only ``paid`` means the money arrived. A session
    completed with a delayed method is ``complete`` and ``unpaid`` until
    ``checkout.session.async_payment_succeeded``."""
    return session.get("payment_status") == "paid"


def object_id(value: Any) -> str | None:
    """Return the id of a field that contains an id, or the whole object
    when expanded."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def buyer_email(session: Mapping[str, Any]) -> str | None:
    """Return the email the buyer entered at checkout, falling back to the
    one the shop prefilled."""
    details = session.get("customer_details") or {}
    return details.get("email") or session.get("customer_email")
