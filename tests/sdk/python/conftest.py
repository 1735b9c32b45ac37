"""Fixtures for running stripe-python against fakestripe.

STRIPE_API_BASE is the fake's base URL and STRIPE_SECRET_KEY a test-mode
key. Each test derives its own key from that key, and each key is a
separate account in the fake, so no test reads another test's objects.
"""

import collections
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

VISA = "4242424242424242"
CUSTOMER_EMAIL = "x@example.com"
SUCCESS_URL = "https://shop.example/success?session_id={CHECKOUT_SESSION_ID}"


def required_env(name):
    value = os.environ.get(name, "")
    if not value:
        raise pytest.UsageError(f"{name} is not set: run this suite through tests/tests/sdk.rs or set it by hand")
    return value


@pytest.fixture
def api_base():
    return required_env("STRIPE_API_BASE").rstrip("/")


def fresh_key():
    base_key = required_env("STRIPE_SECRET_KEY")
    return f"{base_key}_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def api_key():
    return fresh_key()


def make_client(api_key, api_base):
    return stripe.StripeClient(api_key, base_addresses={"api": api_base})


@pytest.fixture
def client(api_key, api_base):
    return make_client(api_key, api_base)


def session_params(**overrides):
    """Parameters of a payment-mode session with two line items worth 3700
    cents in total: two mugs at 1500 and one tea at 700."""
    params = {
        "mode": "payment",
        "success_url": SUCCESS_URL,
        "cancel_url": "https://shop.example/cart",
        "line_items": [
            {
                "price_data": {"currency": "usd", "unit_amount": 1500, "product_data": {"name": "Mug"}},
                "quantity": 2,
            },
            {
                "price_data": {"currency": "usd", "unit_amount": 700, "product_data": {"name": "Tea"}},
                "quantity": 1,
            },
        ],
        "metadata": {"order_id": "order_1"},
        "payment_intent_data": {"metadata": {"order_id": "order_1", "source": "payment_intent_data"}},
    }
    params.update(overrides)
    return params


class Control:
    """Client for the fake's control API under /_fakestripe, which acts for
    the account of `api_key`."""

    def __init__(self, api_base, api_key):
        self.api_base = api_base
        self.api_key = api_key

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.api_base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")
            raise AssertionError(f"{method} {path} failed with HTTP {err.code}: {detail}") from None

    def pay(self, session_id, card_number=VISA, email=CUSTOMER_EMAIL):
        return self.request(
            "POST",
            f"/_fakestripe/checkout/sessions/{session_id}/pay",
            {"payment_method": "card", "card_number": card_number, "email": email},
        )

    def use_manual_clock(self):
        return self.request("POST", "/_fakestripe/clock", {"mode": "manual"})

    def use_real_time_clock(self):
        return self.request("POST", "/_fakestripe/clock", {"mode": "real_time", "speed": 1})

    def advance(self, seconds):
        """Moves the account's clock forward. The call returns after every
        delivery that fell due has finished."""
        return self.request("POST", "/_fakestripe/clock/advance", {"seconds": seconds})

    def deliveries(self, event_id=None):
        query = "" if event_id is None else f"?event_id={event_id}"
        return self.request("GET", f"/_fakestripe/deliveries{query}")["data"]


@pytest.fixture
def control(api_base, api_key):
    return Control(api_base, api_key)


Delivery = collections.namedtuple("Delivery", "body signature answered")


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records each webhook delivery.

    It responds with 500 to the first `failures_per_event` attempts of each
    event and with 200 to the rest.
    """

    def __init__(self, failures_per_event=0):
        self.failures_per_event = failures_per_event
        self.deliveries = []
        self._attempts = collections.Counter()
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = receiver._record(body, self.headers.get("Stripe-Signature"))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_port}/webhooks/stripe"

    def _record(self, body, signature):
        try:
            event_id = json.loads(body)["id"]
        except (ValueError, KeyError):
            event_id = None
        with self._changed:
            self._attempts[event_id] += 1
            status = 500 if self._attempts[event_id] <= self.failures_per_event else 200
            self.deliveries.append(Delivery(body, signature, status))
            self._changed.notify_all()
        return status

    def snapshot(self):
        with self._changed:
            return list(self.deliveries)

    def wait_for(self, predicate, timeout):
        """Waits until `predicate(deliveries)` is true and returns the
        deliveries, or fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.deliveries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    types = [json.loads(d.body).get("type") for d in self.deliveries]
                    raise AssertionError(f"timed out after {timeout} s waiting for deliveries; received: {types}")
                self._changed.wait(remaining)
            return list(self.deliveries)

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def failing_receiver():
    server = WebhookReceiver(failures_per_event=2)
    yield server
    server.close()
