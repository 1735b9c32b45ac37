"""POST /webhooks/stripe: signatures, duplicate deliveries and the order
state machine as events drive it."""

import json
import time

from conftest import WEBHOOK_SECRET, sign


def line_item_lists(shop) -> int:
    return sum(1 for r in shop.stub.requests if r[1].endswith("/line_items"))


# Signatures


def test_valid_signature_accepted(shop):
    session_id = shop.start()
    response = shop.deliver("checkout.session.completed", shop.stub.pay(session_id))
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "result": "applied"}


def test_forged_deliveries_rejected(shop):
    session_id = shop.start()
    body = shop.event("checkout.session.completed", shop.stub.pay(session_id))
    now = int(time.time())
    cases = {
        "missing header": "",
        "wrong secret": sign(body, secret="whsec_other"),
        "old timestamp": sign(body, timestamp=now - 301),
        "timestamp not signed": sign(body, timestamp=now - 60).replace(
            f"t={now - 60}", f"t={now}"
        ),
        "no v1 entry": f"t={now}",
        "unparsable header": "garbage",
        "non-hex signature": f"t={now},v1=not-hex",
    }
    for case, header in cases.items():
        response = shop.post_webhook(body, signature=header)
        assert response.status_code == 400, case
        assert "signature verification failed" in response.get_json()["error"], case
    assert shop.order()["status"] == "pending"
    assert shop.order()["fulfilment_count"] == 0
    assert not shop.store.is_processed(json.loads(body)["id"])


def test_changed_body_rejected(shop):
    session_id = shop.start()
    session = shop.stub.pay(session_id)
    body = shop.event("checkout.session.completed", session)
    header = sign(body)
    tampered = body.replace(b'"amount_total": 3000', b'"amount_total": 1')
    assert tampered != body
    response = shop.post_webhook(tampered, signature=header)
    assert response.status_code == 400
    assert shop.order()["status"] == "pending"


def test_compact_body_signature_differs(shop):
    # The signature covers the bytes as sent, so the same event with other
    # whitespace does not verify.
    session_id = shop.start()
    body = shop.event("checkout.session.completed", shop.stub.pay(session_id))
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    response = shop.post_webhook(compact, signature=sign(body))
    assert response.status_code == 400


def test_rolled_secret_accepted(shop):
    session_id = shop.start()
    body = shop.event("checkout.session.completed", shop.stub.pay(session_id))
    old = sign(body, secret="whsec_old").split(",v1=")[1]
    current = sign(body, secret=WEBHOOK_SECRET)
    response = shop.post_webhook(body, signature=f"{current},v1={old}")
    assert response.status_code == 200
    assert shop.order()["status"] == "paid"


def test_invalid_event_json_rejected(shop):
    for body in (b"not json", b'{"id": "evt_1"}', b'["list"]'):
        response = shop.post_webhook(body)
        assert response.status_code == 400, body
        assert "invalid event JSON" in response.get_json()["error"], body


# Duplicate deliveries


def test_duplicate_delivery_ignored(shop):
    session_id = shop.start()
    body = shop.event("checkout.session.completed", shop.stub.pay(session_id), "evt_dup")
    first = shop.post_webhook(body)
    second = shop.post_webhook(body)
    assert first.get_json()["result"] == "applied"
    assert second.status_code == 200
    assert second.get_json()["result"] == "duplicate"
    assert shop.order()["fulfilment_count"] == 1
    assert line_item_lists(shop) == 1


def test_second_paid_event_skipped(shop):
    # checkout.session.completed and a later async_payment_succeeded for the
    # same session fulfil once.
    session_id = shop.start()
    session = shop.stub.pay(session_id)
    assert shop.deliver("checkout.session.completed", session).status_code == 200
    response = shop.deliver("checkout.session.async_payment_succeeded", session, "evt_later")
    assert response.status_code == 200
    assert response.get_json()["result"] == "ignored"
    assert shop.store.is_processed("evt_later")
    assert shop.order()["fulfilment_count"] == 1


def test_processed_row_commits_with_effects(shop):
    session_id = shop.start()
    shop.stub.line_items_fail = True
    body = shop.event("checkout.session.completed", shop.stub.pay(session_id), "evt_retry")
    failed = shop.post_webhook(body)
    assert failed.status_code == 500
    assert not shop.store.is_processed("evt_retry")
    assert shop.order()["status"] == "pending"

    # Stripe's retry of the same event succeeds once the line items list.
    shop.stub.line_items_fail = False
    retried = shop.post_webhook(body)
    assert retried.status_code == 200
    assert retried.get_json()["result"] == "applied"
    assert shop.store.is_processed("evt_retry")
    assert shop.order()["status"] == "paid"
    assert shop.order()["fulfilment_count"] == 1


# The state machine as events drive it


def test_card_payment_fulfilled(shop):
    session_id = shop.start()
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id))
    order = shop.order()
    assert order["status"] == "paid"
    assert order["fulfilment_count"] == 1
    assert order["session_id"] == session_id
    assert order["payment_intent"] == "pi_" + session_id.removeprefix("cs_")
    assert order["amount_total"] == 3000
    assert order["currency"] == "eur"
    assert order["email"] == "buyer@example.test"
    assert order["released"] is False
    assert order["shipped_items"] == [
        {"description": "Mug", "quantity": 2, "amount_total": 3000, "currency": "eur",
         "price": "price_0"}
    ]


def test_async_payment_in_order(shop):
    session_id = shop.start()
    unpaid = shop.stub.pay(session_id, payment_status="unpaid")
    shop.deliver("checkout.session.completed", unpaid)
    assert shop.order()["status"] == "awaiting_payment"
    assert shop.checkout().status_code == 409

    settled = shop.stub.pay(session_id)
    shop.deliver("checkout.session.async_payment_succeeded", settled)
    assert shop.order()["status"] == "paid"
    assert shop.order()["fulfilment_count"] == 1


def test_async_success_before_completion(shop):
    session_id = shop.start()
    unpaid = shop.stub.pay(session_id, payment_status="unpaid")
    settled = shop.stub.pay(session_id)
    shop.deliver("checkout.session.async_payment_succeeded", settled)
    late = shop.deliver("checkout.session.completed", unpaid)
    assert late.get_json()["result"] == "unchanged"
    assert shop.order()["status"] == "paid"


def test_async_failure_releases_stock(shop):
    session_id = shop.start()
    unpaid = shop.stub.pay(session_id, payment_status="unpaid")
    shop.deliver("checkout.session.async_payment_failed", unpaid)
    late = shop.deliver("checkout.session.completed", unpaid)
    assert late.get_json()["result"] == "unchanged"
    order = shop.order()
    assert order["status"] == "payment_failed"
    assert order["released"] is True
    assert order["fulfilment_count"] == 0


def test_expiry_cancels_and_releases(shop):
    session_id = shop.start()
    expired = dict(shop.stub.sessions[session_id], status="expired")
    shop.deliver("checkout.session.expired", expired)
    order = shop.order()
    assert order["status"] == "cancelled"
    assert order["released"] is True


def test_expiry_after_payment_ignored(shop):
    session_id = shop.start()
    session = shop.stub.pay(session_id)
    shop.deliver("checkout.session.completed", session)
    response = shop.deliver("checkout.session.expired", dict(session, status="expired"))
    assert response.get_json()["result"] == "unchanged"
    assert shop.order()["status"] == "paid"
    assert shop.order()["released"] is False


def test_expiry_of_replaced_session_ignored(shop):
    first = shop.start()
    second = shop.start()
    assert first != second
    shop.deliver("checkout.session.expired", dict(shop.stub.sessions[first], status="expired"))
    order = shop.order()
    assert order["status"] == "pending"
    assert order["session_id"] == second


def test_cancelled_order_checks_out_again(shop):
    first = shop.start()
    shop.deliver("checkout.session.expired", dict(shop.stub.sessions[first], status="expired"))
    assert shop.order()["released"] is True
    second = shop.start()
    order = shop.order()
    assert order["status"] == "pending"
    assert order["released"] is False
    shop.deliver("checkout.session.completed", shop.stub.pay(second))
    assert shop.order()["status"] == "paid"


def test_payload_trusted_over_stale_retrieve(shop):
    session_id = shop.start()
    shop.stub.stale_payment_status = "unpaid"
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id))
    assert shop.order()["status"] == "paid"
    retrieves = [r for r in shop.stub.requests if r[1] == f"/v1/checkout/sessions/{session_id}"]
    assert retrieves == []


def test_unhandled_event_acknowledged(shop):
    response = shop.deliver("customer.created", {"id": "cus_1", "object": "customer"})
    assert response.status_code == 200
    assert response.get_json()["result"] == "ignored"


def test_event_for_unknown_order_acknowledged(shop):
    session = {"id": "cs_test_x", "payment_status": "paid", "metadata": {"order_id": "O-9"}}
    response = shop.deliver("checkout.session.completed", session)
    assert response.status_code == 200
    assert response.get_json()["result"] == "ignored"


def test_unreadable_session_rejected(shop):
    response = shop.deliver("checkout.session.completed", {"id": 7})
    assert response.status_code == 400
    response = shop.deliver("checkout.session.completed", {"id": "cs_1", "metadata": [1]})
    assert response.status_code == 400
