"""The shop as a process against a running fake, over HTTP.

These tests run only when FAKESTRIPE_BASE is the base URL of a running
``fakestripe serve --manual-clock``. They start ``app.py`` with the
interpreter that runs pytest, on a free port of 127.0.0.1, and stop it
afterwards.
"""

import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

FAKE = os.environ.get("FAKESTRIPE_BASE", "").rstrip("/")
APP = pathlib.Path(__file__).resolve().parent.parent / "app.py"
CART = [{"name": "Mug", "unit_amount": 1500, "quantity": 2}]

pytestmark = [
    pytest.mark.needs_fake,
    pytest.mark.skipif(
        not FAKE,
        reason="set FAKESTRIPE_BASE to the URL of `fakestripe serve --port 0 --manual-clock`",
    ),
]


class RunningShop:
    def __init__(self, base_url: str, secret_key: str):
        self.base_url = base_url
        self.fake_headers = {"Authorization": f"Bearer {secret_key}"}

    def fake(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(
            method, f"{FAKE}{path}", headers=self.fake_headers, timeout=30, **kwargs
        )
        assert response.status_code == 200, (path, response.text)
        return response

    def checkout(self, order_id: str, currency: str = "eur") -> str:
        body = {"order_id": order_id, "items": CART, "currency": currency,
                "email": "a@example.test"}
        response = requests.post(f"{self.base_url}/checkout", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["session_id"]

    def pay(self, session_id: str, **payment) -> dict:
        payment = payment or {"payment_method": "card", "card_number": "4242424242424242"}
        return self.fake(
            "POST", f"/_fakestripe/checkout/sessions/{session_id}/pay", json=payment
        ).json()

    def advance(self, seconds: int) -> None:
        """Advance the fake's clock, which sends the webhooks that are due."""
        self.fake("POST", "/_fakestripe/clock/advance", json={"seconds": seconds})

    def order(self, order_id: str) -> dict:
        response = requests.get(f"{self.base_url}/orders/{order_id}", timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def deliveries(self) -> list[dict]:
        return self.fake("GET", "/_fakestripe/deliveries").json()["data"]


def free_port() -> int:
    # NOTE: another process may take the port between this close and the
    # shop's bind. The shop then fails to start and the fixture fails the
    # test with the shop's output.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def running_shop() -> Iterator[RunningShop]:
    # Each key is a fresh account in the fake.
    secret_key = f"sk_test_shop_python_{uuid.uuid4().hex}"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    endpoint = requests.post(
        f"{FAKE}/v1/webhook_endpoints",
        headers={"Authorization": f"Bearer {secret_key}"},
        data={"url": f"{base_url}/webhooks/stripe", "enabled_events[]": "*"},
        timeout=30,
    )
    assert endpoint.status_code == 200, endpoint.text

    env = dict(
        os.environ,
        PORT=str(port),
        APP_BASE_URL=base_url,
        STRIPE_API_BASE=FAKE,
        STRIPE_SECRET_KEY=secret_key,
        STRIPE_WEBHOOK_SECRET=endpoint.json()["secret"],
    )
    env.pop("SHOP_BUG", None)
    with tempfile.TemporaryFile() as log_file:
        process = subprocess.Popen(
            [sys.executable, str(APP)], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            wait_until_ready(base_url, process, log_file)
            yield RunningShop(base_url, secret_key)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_ready(base_url: str, process: subprocess.Popen, log_file) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_file.seek(0)
            pytest.fail(f"the shop exited with {process.returncode}:\n{log_file.read().decode()}")
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    pytest.fail("the shop did not answer /healthz within 30 seconds")


def test_card_payment_through_success_page(running_shop):
    session_id = running_shop.checkout("O-1")
    paid = running_shop.pay(session_id)
    assert paid["result"] == "succeeded"

    success = requests.get(paid["redirect_url"], timeout=30)
    assert success.status_code == 200, success.text
    assert success.json()["status"] == "paid"

    running_shop.advance(0)
    order = running_shop.order("O-1")
    assert order["status"] == "paid"
    assert order["fulfilment_count"] == 1
    assert order["session_id"] == session_id
    assert order["amount_total"] == 3000
    assert order["shipped_items"][0]["quantity"] == 2

    deliveries = running_shop.deliveries()
    assert deliveries, "the fake sent no webhook"
    assert all(200 <= (delivery["status"] or 0) < 300 for delivery in deliveries), deliveries


def test_card_payment_through_webhook_only(running_shop):
    session_id = running_shop.checkout("O-2")
    assert running_shop.pay(session_id)["result"] == "succeeded"
    running_shop.advance(0)
    order = running_shop.order("O-2")
    assert order["status"] == "paid"
    assert order["fulfilment_count"] == 1
    assert order["payment_intent"].startswith("pi_")


def test_delayed_payment_settles_by_webhook(running_shop):
    session_id = running_shop.checkout("O-3")
    paid = running_shop.pay(
        session_id, payment_method="sepa_debit", outcome="succeeded", delay_seconds=60
    )
    assert paid["result"] == "processing"
    running_shop.advance(0)
    assert running_shop.order("O-3")["status"] == "awaiting_payment"

    running_shop.advance(120)
    order = running_shop.order("O-3")
    assert order["status"] == "paid"
    assert order["fulfilment_count"] == 1


def test_expiry_releases_stock(running_shop):
    running_shop.checkout("O-4")
    # Checkout Sessions expire after 24 hours by default.
    running_shop.advance(25 * 3600)
    order = running_shop.order("O-4")
    assert order["status"] == "cancelled"
    assert order["released"] is True
