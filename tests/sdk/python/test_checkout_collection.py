"""What a Checkout Session collects from the customer, and what it records
of it, through stripe-python's StripeClient."""

import pytest
import stripe

from conftest import CUSTOMER_EMAIL, VISA, session_params


def pay(control, session_id, **fields):
    body = {"payment_method": "card", "card_number": VISA, "email": CUSTOMER_EMAIL, **fields}
    return control.request("POST", f"/_fakestripe/checkout/sessions/{session_id}/pay", body)


def test_phone_number_lands_on_session_and_customer(client, control):
    created = client.v1.checkout.sessions.create(
        params=session_params(phone_number_collection={"enabled": True}, customer_creation="always")
    )
    assert created.phone_number_collection.enabled is True

    pay(control, created.id, phone="+14155550123")

    session = client.v1.checkout.sessions.retrieve(created.id, params={"expand": ["customer"]})
    assert session.customer_details.phone == "+14155550123"
    assert session.customer.phone == "+14155550123"


def test_custom_text_is_echoed(client):
    session = client.v1.checkout.sessions.create(
        params=session_params(custom_text={"submit": {"message": "Ships in two days."}})
    )

    assert session.custom_text.submit.message == "Ships in two days."
    assert session.custom_text.after_submit is None
    retrieved = client.v1.checkout.sessions.retrieve(session.id)
    assert retrieved.custom_text.submit.message == "Ships in two days."


def test_consent_is_filled_on_payment(client, control):
    created = client.v1.checkout.sessions.create(
        params=session_params(consent_collection={"terms_of_service": "required", "promotions": "auto"})
    )
    assert created.consent_collection.terms_of_service == "required"
    assert created.consent is None

    pay(control, created.id, promotions="opt_in")

    session = client.v1.checkout.sessions.retrieve(created.id)
    assert session.consent.terms_of_service == "accepted"
    assert session.consent.promotions == "opt_in"


def test_currency_must_match_line_items(client):
    session = client.v1.checkout.sessions.create(params=session_params(currency="usd"))
    assert session.currency == "usd"

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(params=session_params(currency="eur"))
    assert raised.value.http_status == 400
    assert raised.value.param == "currency"


def test_customer_update_name_auto_renames_customer(client, control):
    customer = client.v1.customers.create(params={"name": "Old Name", "email": CUSTOMER_EMAIL})
    created = client.v1.checkout.sessions.create(
        params=session_params(customer=customer.id, customer_update={"name": "auto"})
    )

    pay(control, created.id, name="Grace Hopper")

    assert client.v1.customers.retrieve(customer.id).name == "Grace Hopper"


def test_payment_intent_data_shipping_reaches_charge(client, control):
    shipping = {"name": "Grace Hopper", "address": {"line1": "1 Navy Way", "postal_code": "20001", "country": "US"}}
    created = client.v1.checkout.sessions.create(params=session_params(payment_intent_data={"shipping": shipping}))

    pay(control, created.id)

    session = client.v1.checkout.sessions.retrieve(created.id, params={"expand": ["payment_intent.latest_charge"]})
    intent = session.payment_intent
    assert intent.shipping.name == "Grace Hopper"
    assert intent.shipping.address.line1 == "1 Navy Way"
    assert intent.shipping.address.postal_code == "20001"
    assert intent.latest_charge.shipping.address.country == "US"
