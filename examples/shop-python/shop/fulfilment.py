"""Fulfilment steps shared by the success page and the webhook: turning a
paid session into the payment details stored on the order."""

from typing import Any

from .bugs import Bug
from .order import Payment
from .stripe_api import CALL_ERRORS, buyer_email, describe_error, object_id
from .web import Shop


class FulfilmentError(Exception):
    """Listing the line items failed, so the order cannot ship yet."""


def payment_from_session(shop: Shop, session: dict[str, Any]) -> Payment:
    """Build the payment details for a paid ``session``, listing its line
    items from Stripe, which is what the shop ships."""
    return Payment(
        payment_intent=object_id(session.get("payment_intent")),
        amount_total=session.get("amount_total"),
        currency=session.get("currency"),
        email=buyer_email(session),
        shipped_items=shipped_items(shop, session["id"], session.get("line_items")),
    )


def shipped_items(
    shop: Shop, session_id: str, included: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """List the line items of ``session_id``.

    Stripe never puts them in event payloads, and includes them on a
    retrieve only with ``expand[]=line_items``. ``included`` is that field
    of the session, which only the line-items-from-event bug switch reads.
    Raises FulfilmentError when the items cannot be read.
    """
    if shop.bug_is(Bug.LINE_ITEMS_FROM_EVENT):
        # BUG(line-items-from-event): reads a field that is not there.
        if included is None:
            raise FulfilmentError(f"session {session_id} has no line_items field")
        items = included["data"]
    else:
        try:
            items = shop.stripe.list_line_items(session_id)
        except CALL_ERRORS as error:
            raise FulfilmentError(
                f"failed to list the line items of session {session_id}:"
                f" {describe_error(error)}"
            ) from error

    return [
        {
            "description": item.get("description"),
            "quantity": item.get("quantity"),
            "amount_total": item.get("amount_total"),
            "currency": item.get("currency"),
            "price": object_id(item.get("price")),
        }
        for item in items
    ]
