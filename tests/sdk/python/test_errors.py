"""Errors, idempotency and account isolation as stripe-python reports them."""

import uuid

import pytest
import stripe

from conftest import fresh_key, make_client, session_params


def test_idempotent_retry_replays_session(client):
    key = f"checkout-{uuid.uuid4()}"

    first = client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": key})
    second = client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": key})

    assert first.id.startswith("cs_test_")
    assert second.id == first.id
    assert first.last_response.idempotency_key == key
    assert "idempotent-replayed" not in first.last_response.headers
    assert second.last_response.idempotency_key == key
    assert second.last_response.headers["idempotent-replayed"] == "true"
    assert second.last_response.request_id != first.last_response.request_id
    assert [s.id for s in client.v1.checkout.sessions.list().data] == [first.id]


def test_idempotency_key_reused_with_other_params(client):
    key = f"checkout-{uuid.uuid4()}"
    client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": key})

    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.checkout.sessions.create(
            params=session_params(metadata={"order_id": "order_2"}), options={"idempotency_key": key}
        )

    assert raised.value.http_status == 400
    assert raised.value.error.type == "idempotency_error"
    assert len(client.v1.checkout.sessions.list().data) == 1


def test_bad_api_key_raises_authentication_error(api_base):
    bad_client = make_client("sk_test_not-a-valid-key!", api_base)

    with pytest.raises(stripe.AuthenticationError) as raised:
        bad_client.v1.checkout.sessions.list()

    assert raised.value.http_status == 401
    assert raised.value.error.type == "invalid_request_error"
    assert "Invalid API Key" in raised.value.user_message
    # The key is masked in the message.
    assert "not-a-valid-key" not in raised.value.user_message


def test_missing_session_raises_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.retrieve("cs_test_does_not_exist")

    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "session"
    assert "cs_test_does_not_exist" in raised.value.user_message
    assert raised.value.request_id.startswith("req_")


def test_missing_customer_in_session_names_param(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(params=session_params(customer="cus_does_not_exist"))

    # A missing object named in a parameter is a 400; in the path, a 404.
    assert raised.value.http_status == 400
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "customer"


def test_unknown_parameter_is_named(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(params=session_params(colour="red"))

    assert raised.value.http_status == 400
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "colour"
    assert "colour" in raised.value.user_message


def test_unknown_nested_parameter_names_full_path(client):
    params = session_params()
    params["line_items"][1]["colour"] = "red"

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(params=params)

    assert raised.value.http_status == 400
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "line_items[1][colour]"


def test_second_key_cannot_see_first_keys_session(client, api_base):
    created = client.v1.checkout.sessions.create(params=session_params())
    other = make_client(fresh_key(), api_base)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        other.v1.checkout.sessions.retrieve(created.id)

    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert other.v1.checkout.sessions.list().data == []
    assert client.v1.checkout.sessions.retrieve(created.id).id == created.id


def test_idempotent_retry_replays_card_decline(client):
    intent = client.v1.payment_intents.create(params={"amount": 2500, "currency": "usd", "allowed_payment_method_types": ["card"]})
    key = f"confirm-{uuid.uuid4()}"

    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as raised:
            client.v1.payment_intents.confirm(
                intent.id, params={"payment_method": "pm_card_chargeDeclined"}, options={"idempotency_key": key}
            )
        errors.append(raised.value)
    charges = client.v1.charges.list(params={"payment_intent": intent.id})

    # Stripe saves a response once the endpoint began executing, and a card
    # decline is such a response.
    assert "idempotent-replayed" not in errors[0].headers
    assert errors[1].headers["idempotent-replayed"] == "true"
    assert errors[1].http_status == 402
    assert errors[1].error.decline_code == "generic_decline"
    assert errors[1].error.charge == errors[0].error.charge
    assert len(charges.data) == 1


def test_idempotency_key_reusable_after_validation_error(client):
    key = f"checkout-{uuid.uuid4()}"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(params=session_params(colour="red"), options={"idempotency_key": key})

    # A request that failed validation saved nothing under its key.
    session = client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": key})

    assert session.id.startswith("cs_test_")
    assert "idempotent-replayed" not in session.last_response.headers
