"""What a Checkout Session collects from the customer, and what it records
of it, through stripe-python's StripeClient."""

import urllib.request

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


ADDRESS = {
    "line1": "12 Rue de Rivoli",
    "line2": "Apt 3",
    "city": "Paris",
    "postal_code": "75001",
    "country": "fr",
}


def test_customer_update_address_auto_saves_address(client, control):
    customer = client.v1.customers.create(
        params={"email": CUSTOMER_EMAIL, "address": {"line1": "1 Old Road", "country": "GB"}}
    )
    created = client.v1.checkout.sessions.create(
        params=session_params(
            customer=customer.id,
            billing_address_collection="required",
            customer_update={"address": "auto"},
        )
    )

    pay(control, created.id, address=ADDRESS)

    address = client.v1.customers.retrieve(customer.id).address
    assert address.line1 == "12 Rue de Rivoli"
    assert address.line2 == "Apt 3"
    assert address.city == "Paris"
    assert address.postal_code == "75001"
    assert address.country == "FR"
    assert address.state is None
    session = client.v1.checkout.sessions.retrieve(created.id)
    assert session.customer_details.address.line1 == "12 Rue de Rivoli"
    assert session.customer_details.address.country == "FR"


def test_customer_update_address_never_keeps_address(client, control):
    customer = client.v1.customers.create(
        params={"email": CUSTOMER_EMAIL, "address": {"line1": "1 Old Road", "country": "GB"}}
    )
    created = client.v1.checkout.sessions.create(
        params=session_params(customer=customer.id, billing_address_collection="required")
    )

    pay(control, created.id, address=ADDRESS)

    assert client.v1.customers.retrieve(customer.id).address.line1 == "1 Old Road"
    session = client.v1.checkout.sessions.retrieve(created.id)
    assert session.customer_details.address.line1 == "12 Rue de Rivoli"


def test_address_needs_required_collection(client, control):
    created = client.v1.checkout.sessions.create(params=session_params())

    with pytest.raises(AssertionError) as raised:
        pay(control, created.id, address=ADDRESS)
    assert "HTTP 400" in str(raised.value)
    assert "billing_address_collection=required" in str(raised.value)
    pay(control, created.id)
    assert client.v1.checkout.sessions.retrieve(created.id).customer_details.address is None


def test_address_without_line1_is_rejected(client, control):
    created = client.v1.checkout.sessions.create(params=session_params(billing_address_collection="required"))

    with pytest.raises(AssertionError) as raised:
        pay(control, created.id, address={"country": "US"})
    assert "HTTP 400" in str(raised.value)
    assert "address[line1]" in str(raised.value)


def test_customer_update_shipping_auto_saves_shipping(client, control):
    customer = client.v1.customers.create(params={"email": CUSTOMER_EMAIL})
    created = client.v1.checkout.sessions.create(
        params=session_params(
            customer=customer.id,
            shipping_address_collection={"allowed_countries": ["FR", "DE"]},
            customer_update={"shipping": "auto"},
        )
    )
    assert created.shipping_address_collection.allowed_countries == ["FR", "DE"]
    assert created.collected_information is None

    pay(control, created.id, shipping={"name": "Ada Lovelace", "address": ADDRESS})

    session = client.v1.checkout.sessions.retrieve(created.id)
    details = session.collected_information.shipping_details
    assert details.name == "Ada Lovelace"
    assert details.address.line1 == "12 Rue de Rivoli"
    assert details.address.country == "FR"
    shipping = client.v1.customers.retrieve(customer.id).shipping
    assert shipping.name == "Ada Lovelace"
    assert shipping.address.city == "Paris"
    assert shipping.address.country == "FR"


def test_created_customer_and_payment_carry_addresses(client, control):
    created = client.v1.checkout.sessions.create(
        params=session_params(
            customer_creation="always",
            billing_address_collection="required",
            shipping_address_collection={"allowed_countries": ["FR"]},
        )
    )

    pay(
        control,
        created.id,
        name="Ada Lovelace",
        address=ADDRESS,
        shipping={"name": "Grace Hopper", "address": ADDRESS},
    )

    session = client.v1.checkout.sessions.retrieve(
        created.id, params={"expand": ["customer", "payment_intent.payment_method"]}
    )
    assert session.customer.address.line1 == "12 Rue de Rivoli"
    assert session.customer.address.country == "FR"
    assert session.customer.shipping.name == "Grace Hopper"
    assert session.customer.shipping.address.city == "Paris"
    intent = session.payment_intent
    assert intent.shipping.name == "Grace Hopper"
    assert intent.shipping.address.postal_code == "75001"
    assert intent.shipping.carrier is None
    billing = intent.payment_method.billing_details
    assert billing.name == "Ada Lovelace"
    assert billing.email == CUSTOMER_EMAIL
    assert billing.address.line2 == "Apt 3"
    assert billing.address.country == "FR"


def test_shipping_country_must_be_allowed(client, control):
    created = client.v1.checkout.sessions.create(
        params=session_params(shipping_address_collection={"allowed_countries": ["DE"]})
    )

    with pytest.raises(AssertionError) as raised:
        pay(control, created.id, shipping={"name": "Ada Lovelace", "address": ADDRESS})
    assert "HTTP 400" in str(raised.value)
    assert "shipping[address][country]" in str(raised.value)


def test_shipping_needs_shipping_collection(client, control):
    created = client.v1.checkout.sessions.create(params=session_params())

    with pytest.raises(AssertionError) as raised:
        pay(control, created.id, shipping={"name": "Ada Lovelace", "address": ADDRESS})
    assert "HTTP 400" in str(raised.value)
    assert "shipping_address_collection" in str(raised.value)


def test_shipping_collection_rejects_unknown_country(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(
            params=session_params(shipping_address_collection={"allowed_countries": ["US", "XX"]})
        )
    assert raised.value.http_status == 400
    assert raised.value.error.param == "shipping_address_collection[allowed_countries][1]"


def test_phone_replaces_existing_customer_phone(client, control):
    customer = client.v1.customers.create(params={"email": CUSTOMER_EMAIL, "phone": "+14155550100"})
    created = client.v1.checkout.sessions.create(
        params=session_params(customer=customer.id, phone_number_collection={"enabled": True})
    )

    pay(control, created.id, phone="+14155550199")

    assert client.v1.customers.retrieve(customer.id).phone == "+14155550199"


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


def test_custom_fields_take_values_on_payment(client, control):
    fields = [
        {"key": "engraving", "label": {"type": "custom", "custom": "Engraving"}, "type": "text"},
        {
            "key": "size",
            "label": {"type": "custom", "custom": "Size"},
            "type": "dropdown",
            "dropdown": {"options": [{"label": "Small", "value": "S"}, {"label": "Large", "value": "L"}]},
        },
    ]
    created = client.v1.checkout.sessions.create(params=session_params(custom_fields=fields))
    assert created.custom_fields[0].text.value is None
    assert created.custom_fields[1].dropdown.options[1].label == "Large"

    pay(control, created.id, custom_fields={"engraving": "For Grace", "size": "S"})

    session = client.v1.checkout.sessions.retrieve(created.id)
    assert session.custom_fields[0].text.value == "For Grace"
    assert session.custom_fields[1].dropdown.value == "S"


def test_custom_fields_error_names_bracket_path(client):
    field = {"key": "size", "label": {"type": "custom", "custom": "Size"}, "type": "dropdown", "dropdown": {"default_value": "S"}}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(params=session_params(custom_fields=[field]))
    assert raised.value.http_status == 400
    assert raised.value.param == "custom_fields[0][dropdown][options]"


def test_recovery_url_appears_on_expiry(client, api_base):
    created = client.v1.checkout.sessions.create(
        params=session_params(after_expiration={"recovery": {"enabled": True, "allow_promotion_codes": True}})
    )
    assert created.after_expiration.recovery.enabled is True
    assert created.after_expiration.recovery.url is None

    expired = client.v1.checkout.sessions.expire(created.id)

    recovery = expired.after_expiration.recovery
    assert recovery.url == f"{api_base}/c/recover/{created.id}"
    assert recovery.expires_at >= created.created + 30 * 86400

    # Opening the URL leads to the page of a new session that copies the
    # expired one.
    with urllib.request.urlopen(recovery.url, timeout=60) as page:
        copy_id = page.geturl().rsplit("/", 1)[-1]
    copy = client.v1.checkout.sessions.retrieve(copy_id)
    assert copy.recovered_from == created.id
    assert copy.status == "open"
    assert copy.allow_promotion_codes is True


def test_card_options_reach_payment_intent(client, control):
    created = client.v1.checkout.sessions.create(
        params=session_params(payment_method_options={"card": {"capture_method": "manual"}})
    )
    assert created.payment_method_options.card.capture_method == "manual"
    assert created.payment_method_options.card.request_three_d_secure == "automatic"

    pay(control, created.id)

    session = client.v1.checkout.sessions.retrieve(created.id, params={"expand": ["payment_intent"]})
    assert session.payment_intent.status == "requires_capture"
    assert session.payment_intent.payment_method_options.card.capture_method == "manual"
