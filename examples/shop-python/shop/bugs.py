"""Bug switches.

``SHOP_BUG=NAME`` turns on exactly one classic checkout integration mistake,
so the scenarios can show that they catch it. Every switch is a small branch
at the spot where the mistake is made, and the correct behaviour is the
default. The names and meanings match the Rust reference shop.

This module imports nothing outside the standard library, so
``python app.py --list-bugs`` works before the venv exists.
"""

import enum


class Bug(enum.Enum):
    """One deliberate integration mistake. The value is the switch name."""

    TRUST_REDIRECT = "trust-redirect"
    FULFIL_UNPAID = "fulfil-unpaid"
    IGNORE_ASYNC = "ignore-async"
    PI_METADATA = "pi-metadata"
    NO_DEDUP = "no-dedup"
    MARK_BEFORE_COMMIT = "mark-before-commit"
    LAST_EVENT_WINS = "last-event-wins"
    NO_SIGNATURE_CHECK = "no-signature-check"
    NO_IDEMPOTENCY_KEY = "no-idempotency-key"
    EXPIRED_AS_FAILED = "expired-as-failed"
    CACHED_SESSION = "cached-session"
    ENCODED_SESSION_TEMPLATE = "encoded-session-template"
    RESERIALISE_BODY = "reserialise-body"
    REDIRECT_FULFILS_TOO = "redirect-fulfils-too"
    UNHANDLED_EVENT_500 = "unhandled-event-500"
    SWALLOW_ERRORS = "swallow-errors"
    REFETCH_STATUS = "refetch-status"
    LINE_ITEMS_FROM_EVENT = "line-items-from-event"

    @property
    def description(self) -> str:
        """One line on what the shop does wrong with this switch on."""
        return _DESCRIPTIONS[self]

    @classmethod
    def from_name(cls, name: str) -> "Bug | None":
        """Return the switch called ``name``, or None for an unknown name."""
        for bug in cls:
            if bug.value == name:
                return bug
        return None


_DESCRIPTIONS = {
    Bug.TRUST_REDIRECT: "the success page fulfils the order without checking payment_status",
    Bug.FULFIL_UNPAID: (
        "checkout.session.completed fulfils the order even when payment_status is unpaid"
    ),
    Bug.IGNORE_ASYNC: "checkout.session.async_payment_succeeded and _failed are ignored",
    Bug.PI_METADATA: (
        "sessions carry no payment_intent_data metadata, and only payment_intent.succeeded"
        " fulfils, using the payment intent's metadata"
    ),
    Bug.NO_DEDUP: (
        "every webhook delivery fulfils again: no processed-event check and no already-paid guard"
    ),
    Bug.MARK_BEFORE_COMMIT: (
        "the event is marked processed in its own transaction before its effects,"
        " so a failure in between loses it"
    ),
    Bug.LAST_EVENT_WINS: (
        "each event's status is applied whatever the current status, so paid can be downgraded"
    ),
    Bug.NO_SIGNATURE_CHECK: "the Stripe-Signature header is not verified",
    Bug.NO_IDEMPOTENCY_KEY: (
        "sessions are created without an Idempotency-Key but still retried,"
        " which creates duplicates"
    ),
    Bug.EXPIRED_AS_FAILED: (
        "checkout.session.expired marks the order payment_failed, even when it is paid"
    ),
    Bug.CACHED_SESSION: (
        "the session returned at creation is cached, and the success page and webhooks"
        " read payment_status and amounts from that copy"
    ),
    Bug.ENCODED_SESSION_TEMPLATE: (
        "success_url contains %7BCHECKOUT_SESSION_ID%7D, which Stripe does not replace"
    ),
    Bug.RESERIALISE_BODY: (
        "the signature is checked over re-serialised JSON instead of the raw body"
    ),
    Bug.REDIRECT_FULFILS_TOO: (
        "the success page and the webhook each fulfil without the already-paid guard"
    ),
    Bug.UNHANDLED_EVENT_500: (
        "event types the shop does not handle get a 500, so Stripe retries them"
    ),
    Bug.SWALLOW_ERRORS: (
        "a failed fulfilment returns 200 to the webhook, so Stripe never retries it"
    ),
    Bug.REFETCH_STATUS: (
        "checkout.session.completed retrieves the session and trusts the possibly stale"
        " payment_status from the API over the event"
    ),
    Bug.LINE_ITEMS_FROM_EVENT: (
        "fulfilment reads line_items from the session object, where Stripe never includes"
        " them unless expanded, instead of listing them"
    ),
}


def list_names() -> str:
    """Format every switch name, one per line, for ``--list-bugs``."""
    return "".join(f"{bug.value}\n" for bug in Bug)
