"""Fixtures that run the shop in-process with Flask's test client.

The shop's Stripe calls go through the real ``stripe`` SDK into
``StubStripe``, an SDK HTTP client that serves a few Checkout Session
endpoints from memory, so no test opens a socket.
"""

import copy
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
import stripe
from requests.structures import CaseInsensitiveDict

from shop.bugs import Bug
from shop.config import Config
from shop.store import Store
from shop.stripe_api import DropIdempotencyKey, StripeGateway
from shop.web import create_app

WEBHOOK_SECRET = "whsec_test_secret"
API_BASE = "http://127.0.0.1:9"

CART = [{"name": "Mug", "unit_amount": 1500, "quantity": 2}]


class StubStripe(stripe.HTTPClient):
    """An SDK HTTP client that implements create, retrieve and line items
    of Checkout Sessions in memory.

    Idempotency keys replay the stored response, as Stripe does. Tests queue
    failures in ``create_failures`` and ``lost_responses``, and flip
    ``line_items_fail``.
    """

    name = "stub"

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        # Every request as (method, path, headers, form or query pairs).
        self.requests: list[tuple[str, str, dict[str, str], list[tuple[str, str]]]] = []
        # Each queued entry fails one create: an HTTP status, or an exception.
        self.create_failures: list[int | Exception] = []
        # The number of creates that succeed but whose response is lost on
        # the way back, so the shop gets a 502 from a proxy in between.
        self.lost_responses = 0
        self.line_items_fail = False
        # Overrides the retrieved session's payment_status, to model a read
        # that lags behind a payment.
        self.stale_payment_status: str | None = None
        self._replies_by_key: dict[str, tuple[str, int]] = {}
        self._ids = itertools.count(1)

    def request(self, method, url, headers, post_data=None):
        parsed = urllib.parse.urlsplit(url)
        pairs = urllib.parse.parse_qsl(post_data or parsed.query, keep_blank_values=True)
        self.requests.append((method.upper(), parsed.path, dict(headers or {}), pairs))
        body, status = self._route(method.upper(), parsed.path, headers or {}, pairs)
        return body, status, CaseInsensitiveDict({"Request-Id": f"req_{next(self._ids)}"})

    def request_stream(self, method, url, headers, post_data=None):
        raise NotImplementedError("the shop never streams")

    def close(self) -> None:
        pass

    def creates(self) -> list[tuple[str, str, dict[str, str], list[tuple[str, str]]]]:
        return [r for r in self.requests if r[:2] == ("POST", "/v1/checkout/sessions")]

    def pay(self, session_id: str, payment_status: str = "paid") -> dict[str, Any]:
        """Complete the session and return a copy as an event carries it."""
        session = self.sessions[session_id]
        session["status"] = "complete"
        session["payment_status"] = payment_status
        session["payment_intent"] = "pi_" + session_id.removeprefix("cs_")
        session["customer_details"] = {"email": "buyer@example.test"}
        return copy.deepcopy(session)

    def _route(self, method, path, headers, pairs):
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "checkout", "sessions"]:
            return self._create(headers, pairs)
        if method == "GET" and parts[:3] == ["v1", "checkout", "sessions"]:
            session = self.sessions.get(parts[3]) if len(parts) > 3 else None
            if session is None:
                return _error(404, "invalid_request_error", "No such checkout session")
            if len(parts) == 4:
                retrieved = copy.deepcopy(session)
                if self.stale_payment_status is not None:
                    retrieved["payment_status"] = self.stale_payment_status
                return json.dumps(retrieved), 200
            if parts[4:] == ["line_items"]:
                if self.line_items_fail:
                    return _error(500, "api_error", "line items unavailable")
                return json.dumps(
                    {"object": "list", "data": self.line_items[parts[3]], "has_more": False,
                     "url": path}
                ), 200
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({path})")

    def _create(self, headers, pairs):
        key = {name.lower(): value for name, value in headers.items()}.get("idempotency-key")
        if key is not None and key in self._replies_by_key:
            return self._replies_by_key[key]
        if self.create_failures:
            failure = self.create_failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return _error(failure, "api_error", "injected failure")

        form = dict(pairs)
        session_id = f"cs_test_{next(self._ids)}"
        items = []
        index = 0
        while f"line_items[{index}][quantity]" in form:
            prefix = f"line_items[{index}]"
            quantity = int(form[f"{prefix}[quantity]"])
            unit_amount = int(form.get(f"{prefix}[price_data][unit_amount]", "1000"))
            items.append(
                {
                    "id": f"li_{session_id}_{index}",
                    "object": "item",
                    "description": form.get(f"{prefix}[price_data][product_data][name]", "Item"),
                    "quantity": quantity,
                    "amount_total": unit_amount * quantity,
                    "currency": form.get(f"{prefix}[price_data][currency]", "eur"),
                    "price": {"id": form.get(f"{prefix}[price]", f"price_{index}"),
                              "object": "price"},
                }
            )
            index += 1
        session = {
            "id": session_id,
            "object": "checkout.session",
            "status": "open",
            "payment_status": "unpaid",
            "url": f"{API_BASE}/pay/{session_id}",
            "client_reference_id": form.get("client_reference_id"),
            "metadata": {"order_id": form["metadata[order_id]"]},
            "payment_intent": None,
            "amount_total": sum(item["amount_total"] for item in items),
            "currency": items[0]["currency"] if items else "eur",
            "customer_email": form.get("customer_email"),
            "customer_details": None,
            "success_url": form.get("success_url"),
        }
        self.sessions[session_id] = session
        self.line_items[session_id] = items
        reply = (json.dumps(session), 200)
        if key is not None:
            self._replies_by_key[key] = reply
        if self.lost_responses > 0:
            self.lost_responses -= 1
            return _error(502, "api_error", "bad gateway")
        return reply


class KeylessStubStripe(DropIdempotencyKey, StubStripe):
    """The stub behind the HTTP client that the no-idempotency-key switch uses."""


def _error(status: int, kind: str, message: str) -> tuple[str, int]:
    return json.dumps({"error": {"type": kind, "message": message}}), status


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """Build a Stripe-Signature header: HMAC-SHA256 of "{t}.{body}"."""
    if timestamp is None:
        timestamp = int(time.time())
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class TestShop:
    """The shop under test, its in-memory Stripe and helpers for the flows."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, bug: Bug | None = None):
        self.config = Config(
            port=4242,
            app_base_url="http://127.0.0.1:4242",
            stripe_api_base=API_BASE,
            stripe_secret_key="sk_test_shop",
            webhook_secret=WEBHOOK_SECRET,
            bug=bug,
        )
        if bug is Bug.NO_IDEMPOTENCY_KEY:
            self.stub: StubStripe = KeylessStubStripe()
        else:
            self.stub = StubStripe()
        client = stripe.StripeClient(
            "sk_test_shop",
            base_addresses={"api": API_BASE},
            max_network_retries=0,
            http_client=self.stub,
        )
        self.store = Store(None)
        gateway = StripeGateway(client, sleep=lambda seconds: None)
        self.app = create_app(self.config, store=self.store, stripe=gateway)
        self.client = self.app.test_client()
        self._event_ids = itertools.count(1)

    def checkout(self, order_id: str = "O-1", items: list | None = None, **extra: Any):
        body = {"order_id": order_id, "items": items or CART, "currency": "eur",
                "email": "a@example.test", **extra}
        return self.client.post("/checkout", json=body)

    def start(self, order_id: str = "O-1") -> str:
        """Check out ``order_id`` and return the session id."""
        response = self.checkout(order_id)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["session_id"]

    def order(self, order_id: str = "O-1") -> dict[str, Any]:
        response = self.client.get(f"/orders/{order_id}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def event(self, event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
        """Build an event body, pretty-printed as Stripe sends it."""
        event = {
            "id": event_id or f"evt_{next(self._event_ids)}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
        return json.dumps(event, indent=2).encode()

    def post_webhook(self, body: bytes, signature: str | None = None):
        headers = {"Content-Type": "application/json"}
        headers["Stripe-Signature"] = sign(body) if signature is None else signature
        return self.client.post("/webhooks/stripe", data=body, headers=headers)

    def deliver(self, event_type: str, obj: dict[str, Any], event_id: str | None = None):
        return self.post_webhook(self.event(event_type, obj, event_id))


@pytest.fixture
def shop() -> TestShop:
    return TestShop()


@pytest.fixture
def shop_with_bug() -> Callable[[str], TestShop]:
    def build(name: str) -> TestShop:
        bug = Bug.from_name(name)
        assert bug is not None, f"unknown bug switch {name}"
        return TestShop(bug)

    return build
