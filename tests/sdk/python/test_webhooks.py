"""Webhook endpoints, events, and deliveries that stripe-python's
`stripe.Webhook.construct_event` must accept, or reject once tampered with."""

import json
import time

import pytest
import stripe

from conftest import session_params

# Events that paying a session by card produces, in order.
CARD_PAYMENT_EVENTS = [
    "payment_intent.created",
    "charge.succeeded",
    "payment_intent.succeeded",
    "checkout.session.completed",
    "charge.updated",
]


def register(client, url, enabled_events=("*",)):
    endpoint = client.v1.webhook_endpoints.create(params={"url": url, "enabled_events": list(enabled_events)})
    return endpoint, endpoint.secret


def verify_all(deliveries, secret):
    return [stripe.Webhook.construct_event(d.body, d.signature, secret) for d in deliveries]


def types_of(deliveries):
    return [json.loads(d.body)["type"] for d in deliveries]


def has_all_card_events(deliveries):
    return set(CARD_PAYMENT_EVENTS) <= set(types_of(deliveries))


def test_webhook_endpoint_secret_only_on_create(client):
    endpoint, secret = register(client, "http://127.0.0.1:9/webhooks", ["checkout.session.completed"])

    retrieved = client.v1.webhook_endpoints.retrieve(endpoint.id)
    listed = client.v1.webhook_endpoints.list()

    assert endpoint.id.startswith("we_")
    assert secret.startswith("whsec_")
    assert len(secret) > len("whsec_")
    assert endpoint.status == "enabled"
    assert endpoint.enabled_events == ["checkout.session.completed"]
    assert retrieved.url == "http://127.0.0.1:9/webhooks"
    assert "secret" not in retrieved
    assert [e.id for e in listed.data] == [endpoint.id]


def test_events_list_type_filter(client, control):
    session = client.v1.checkout.sessions.create(params=session_params())
    control.pay(session.id)

    completed = client.v1.events.list(params={"type": "checkout.session.completed"})
    intent_events = client.v1.events.list(params={"type": "payment_intent.*"})
    every_type = [event.type for event in client.v1.events.list(params={"limit": 2}).auto_paging_iter()]

    assert len(completed.data) == 1
    event = completed.data[0]
    assert event.id.startswith("evt_")
    assert event.type == "checkout.session.completed"
    assert event.data.object.id == session.id
    assert event.data.object.payment_status == "paid"
    assert [e.type for e in intent_events.data] == ["payment_intent.succeeded", "payment_intent.created"]
    # Events are listed newest first.
    assert every_type == list(reversed(CARD_PAYMENT_EVENTS))
    assert client.v1.events.retrieve(event.id).type == "checkout.session.completed"


def test_real_time_deliveries_verify(client, control, receiver):
    control.use_real_time_clock()
    _, secret = register(client, receiver.url)
    session = client.v1.checkout.sessions.create(params=session_params())

    control.pay(session.id)
    deliveries = receiver.wait_for(has_all_card_events, timeout=10)
    events = verify_all(deliveries, secret)

    assert [e.type for e in events] == CARD_PAYMENT_EVENTS
    completed = next(e for e in events if e.type == "checkout.session.completed")
    assert completed.data.object.id == session.id
    assert completed.data.object.metadata.to_dict() == {"order_id": "order_1"}
    listed = {e.id for e in client.v1.events.list(params={"limit": 100}).data}
    assert {e.id for e in events} <= listed
    # Signatures carry the wall-clock time, so they pass the SDK's default
    # tolerance of 300 s.
    timestamp = int(deliveries[0].signature.split(",")[0].removeprefix("t="))
    assert abs(timestamp - time.time()) < 60


def test_tampered_delivery_fails_verification(client, control, receiver):
    control.use_real_time_clock()
    _, secret = register(client, receiver.url)
    session = client.v1.checkout.sessions.create(params=session_params())
    control.pay(session.id)
    delivery = receiver.wait_for(has_all_card_events, timeout=10)[0]
    stripe.Webhook.construct_event(delivery.body, delivery.signature, secret)

    tampered = delivery.body.replace(b'"livemode": false', b'"livemode": true', 1)
    assert tampered != delivery.body
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, delivery.signature, secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, delivery.signature, "whsec_not_the_endpoint_secret")


def test_manual_clock_delivers_on_advance(client, control, receiver):
    control.use_manual_clock()
    _, secret = register(client, receiver.url)
    session = client.v1.checkout.sessions.create(params=session_params())

    control.pay(session.id)
    time.sleep(0.5)
    before_advance = receiver.snapshot()
    advanced = control.advance(0)
    after_advance = receiver.snapshot()

    assert before_advance == []
    assert advanced["mode"] == "manual"
    assert advanced["ran"] == len(CARD_PAYMENT_EVENTS)
    assert [e.type for e in verify_all(after_advance, secret)] == CARD_PAYMENT_EVENTS


def test_failed_delivery_is_retried(client, control, failing_receiver):
    control.use_manual_clock()
    endpoint, secret = register(client, failing_receiver.url, ["checkout.session.completed"])
    session = client.v1.checkout.sessions.create(params=session_params())
    control.pay(session.id)
    event_id = client.v1.events.list(params={"type": "checkout.session.completed"}).data[0].id

    control.advance(0)
    after_first = len(failing_receiver.snapshot())
    control.advance(59)
    before_retry = len(failing_receiver.snapshot())
    control.advance(1)
    after_second = len(failing_receiver.snapshot())
    control.advance(299)
    before_third = len(failing_receiver.snapshot())
    control.advance(1)
    deliveries = failing_receiver.snapshot()

    assert (after_first, before_retry, after_second, before_third, len(deliveries)) == (1, 1, 2, 2, 3)
    assert [d.answered for d in deliveries] == [500, 500, 200]
    assert {json.loads(d.body)["id"] for d in deliveries} == {event_id}
    # The third attempt is sent 360 virtual seconds later and still verifies.
    event = stripe.Webhook.construct_event(deliveries[2].body, deliveries[2].signature, secret)
    assert event.id == event_id
    attempts = control.deliveries(event_id)
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == [500, 500, 200]
    assert all(a["endpoint"] == endpoint.id for a in attempts)
    assert attempts[1]["sent_at"] - attempts[0]["sent_at"] == 60
    assert attempts[2]["sent_at"] - attempts[1]["sent_at"] == 300
    assert client.v1.events.retrieve(event_id).pending_webhooks == 0
