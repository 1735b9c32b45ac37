"""POST /checkout, the browser's return pages, the order read and reset."""

import urllib.parse

import pytest
import stripe

from conftest import CART


def form_of(request) -> dict[str, str]:
    return dict(request[3])


def key_of(request) -> str | None:
    headers = {name.lower(): value for name, value in request[2].items()}
    return headers.get("idempotency-key")


def test_healthz_ok(shop):
    response = shop.client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok"


def test_checkout_creates_pending_order(shop):
    response = shop.checkout()
    assert response.status_code == 200
    body = response.get_json()
    assert body["order_id"] == "O-1"
    assert body["session_id"].startswith("cs_test_")
    assert body["url"].endswith(body["session_id"])

    order = shop.order()
    assert order["status"] == "pending"
    assert order["fulfilment_count"] == 0
    assert order["session_id"] == body["session_id"]
    assert order["amount_total"] == 3000
    assert order["currency"] == "eur"
    assert order["released"] is False
    assert order["email"] == "a@example.test"
    assert order["items"] == CART
    assert order["payment_intent"] is None


def test_checkout_sends_session_params(shop):
    shop.checkout("O 1&x")
    form = form_of(shop.stub.creates()[0])
    assert form["mode"] == "payment"
    assert form["success_url"] == (
        "http://127.0.0.1:4242/success?session_id={CHECKOUT_SESSION_ID}"
    )
    assert form["cancel_url"] == "http://127.0.0.1:4242/cancel?order_id=O%201%26x"
    assert form["client_reference_id"] == "O 1&x"
    assert form["metadata[order_id]"] == "O 1&x"
    assert form["payment_intent_data[metadata][order_id]"] == "O 1&x"
    assert form["customer_email"] == "a@example.test"
    assert form["line_items[0][price_data][currency]"] == "eur"
    assert form["line_items[0][price_data][unit_amount]"] == "1500"
    assert form["line_items[0][price_data][product_data][name]"] == "Mug"
    assert form["line_items[0][quantity]"] == "2"


def test_checkout_with_catalogue_price(shop):
    response = shop.client.post(
        "/checkout", json={"order_id": "O-1", "items": [{"price": "price_9", "quantity": 1}]}
    )
    assert response.status_code == 200
    form = form_of(shop.stub.creates()[0])
    assert form["line_items[0][price]"] == "price_9"
    assert "customer_email" not in form


@pytest.mark.parametrize(
    "failure",
    [500, 429, 409, stripe.APIConnectionError("connection reset", should_retry=True)],
    ids=["500", "429", "409", "connection"],
)
def test_checkout_retries_with_same_key(shop, failure):
    shop.stub.create_failures = [failure, failure]
    response = shop.checkout()
    assert response.status_code == 200
    creates = shop.stub.creates()
    assert len(creates) == 3
    keys = {key_of(request) for request in creates}
    assert len(keys) == 1
    assert keys.pop().startswith("checkout-")
    assert len(shop.stub.sessions) == 1


def test_lost_response_replayed_by_key(shop):
    shop.stub.lost_responses = 1
    response = shop.checkout()
    assert response.status_code == 200
    assert len(shop.stub.creates()) == 2
    assert len(shop.stub.sessions) == 1
    assert shop.order()["session_id"] == response.get_json()["session_id"]


def test_checkout_gives_up_after_three_retries(shop):
    shop.stub.create_failures = [500, 500, 500, 500]
    response = shop.checkout()
    assert response.status_code == 502
    assert "failed to create a checkout session" in response.get_json()["error"]
    assert len(shop.stub.creates()) == 4


def test_checkout_not_retried_on_invalid_request(shop):
    shop.stub.create_failures = [400]
    assert shop.checkout().status_code == 502
    assert len(shop.stub.creates()) == 1


def test_new_attempt_gets_new_key(shop):
    shop.start()
    shop.start()
    first, second = (key_of(request) for request in shop.stub.creates())
    assert first != second
    assert first.endswith("-1")
    assert second.endswith("-2")


def test_keys_differ_after_reset(shop):
    shop.start()
    assert shop.client.post("/_reset").status_code == 200
    shop.start()
    first, second = (key_of(request) for request in shop.stub.creates())
    assert first != second


@pytest.mark.parametrize(
    "body",
    [
        {"order_id": "", "items": [{"price": "price_1", "quantity": 1}]},
        {"order_id": "O-1", "items": []},
        {"order_id": "O-1", "items": [{"price": "price_1", "quantity": 0}]},
        {"order_id": "O-1", "items": [{"name": "Mug", "unit_amount": 1, "quantity": 1}]},
        {"order_id": "O-1", "currency": "euro",
         "items": [{"name": "Mug", "unit_amount": 1, "quantity": 1}]},
        {"order_id": "O-1", "currency": "eur",
         "items": [{"name": "Mug", "unit_amount": -1, "quantity": 1}]},
        {"order_id": "x" * 201, "items": [{"price": "price_1", "quantity": 1}]},
        {"order_id": 7, "items": [{"price": "price_1", "quantity": 1}]},
        {"order_id": "O-1", "items": [{"price": "price_1", "quantity": 1.5}]},
        {"order_id": "O-1", "items": [{"quantity": 1}]},
        {"order_id": "O-1", "items": [{"price": "price_1", "quantity": 2**63}]},
        ["not", "an", "object"],
    ],
)
def test_invalid_checkout_rejected(shop, body):
    response = shop.client.post("/checkout", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]
    assert shop.stub.creates() == []


def test_checkout_needs_json_content_type(shop):
    response = shop.client.post("/checkout", data="order_id=O-1")
    assert response.status_code == 400
    assert "Content-Type" in response.get_json()["error"]


def test_paid_order_rejects_checkout(shop):
    session_id = shop.start()
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id))
    response = shop.checkout()
    assert response.status_code == 409
    assert "already paid" in response.get_json()["error"]
    assert len(shop.stub.creates()) == 1


def test_success_page_fulfils_paid_session(shop):
    session_id = shop.start()
    shop.stub.pay(session_id)
    response = shop.client.get(f"/success?session_id={session_id}")
    assert response.status_code == 200
    assert response.get_json()["status"] == "paid"
    assert response.get_json()["fulfilment_count"] == 1

    # The webhook that follows finds the order paid and fulfils nothing.
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id))
    assert shop.order()["fulfilment_count"] == 1


def test_success_page_leaves_unpaid_pending(shop):
    session_id = shop.start()
    shop.stub.pay(session_id, payment_status="unpaid")
    response = shop.client.get(f"/success?session_id={session_id}")
    assert response.status_code == 200
    assert response.get_json()["status"] == "pending"
    assert response.get_json()["fulfilment_count"] == 0


def test_success_page_survives_failed_line_items(shop):
    session_id = shop.start()
    shop.stub.pay(session_id)
    shop.stub.line_items_fail = True
    response = shop.client.get(f"/success?session_id={session_id}")
    assert response.status_code == 200
    assert response.get_json()["status"] == "pending"


@pytest.mark.parametrize(
    "query",
    ["", "session_id=", "session_id={CHECKOUT_SESSION_ID}",
     "session_id=%7BCHECKOUT_SESSION_ID%7D", "session_id=pi_1",
     "session_id=" + urllib.parse.quote("cs_1/line_items")],
)
def test_success_page_rejects_bad_ids(shop, query):
    response = shop.client.get(f"/success?{query}")
    assert response.status_code == 400
    assert "invalid session_id" in response.get_json()["error"]


def test_success_page_unknown_session_not_found(shop):
    response = shop.client.get("/success?session_id=cs_test_missing")
    assert response.status_code == 404


def test_cancel_page_changes_nothing(shop):
    shop.start()
    before = shop.order()
    response = shop.client.get("/cancel?order_id=O-1")
    assert response.status_code == 200
    assert response.get_json() == before
    assert shop.client.get("/cancel").status_code == 400
    assert shop.client.get("/cancel?order_id=O-9").status_code == 404


def test_unknown_order_not_found(shop):
    response = shop.client.get("/orders/O-9")
    assert response.status_code == 404
    assert response.get_json() == {"error": 'order "O-9" not found'}


def test_reset_deletes_orders_and_events(shop):
    session_id = shop.start()
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id), "evt_1")
    response = shop.client.post("/_reset")
    assert response.get_json() == {"deleted_orders": 1, "deleted_events": 1}
    assert shop.client.get("/orders/O-1").status_code == 404
    assert not shop.store.is_processed("evt_1")
