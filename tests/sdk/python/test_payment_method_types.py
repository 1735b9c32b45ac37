"""payment_method_types and its replacements under the API version that
stripe-python pins. From 2026-09-30.endive, Stripe rejects
payment_method_types on Checkout Session create and on payment intent
create, update and confirm; allowed_payment_method_types and
excluded_payment_method_types choose the methods instead."""

import urllib.request

import pytest
import stripe

from conftest import session_params

EUR_ITEM = {"price_data": {"currency": "eur", "unit_amount": 2500, "product_data": {"name": "Mug"}}, "quantity": 1}


def test_pinned_version_is_after_removal():
    assert stripe.api_version >= "2026-09-30"


def test_session_rejects_payment_method_types(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(params=session_params(payment_method_types=["card"]))

    assert raised.value.http_status == 400
    assert raised.value.error.code == "payment_method_types_no_longer_supported"
    assert raised.value.error.param == "payment_method_types"
    assert "allowed_payment_method_types" in raised.value.error.message
    assert client.v1.checkout.sessions.list().data == []


def test_intent_calls_reject_payment_method_types(client):
    intent = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    calls = {
        "create": lambda: client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "payment_method_types": ["card"]}
        ),
        "update": lambda: client.v1.payment_intents.update(intent.id, params={"payment_method_types": ["card"]}),
        "confirm": lambda: client.v1.payment_intents.confirm(
            intent.id, params={"payment_method": "pm_card_visa", "payment_method_types": ["card"]}
        ),
    }

    for name, call in calls.items():
        with pytest.raises(stripe.InvalidRequestError) as raised:
            call()
        assert raised.value.error.code == "payment_method_types_no_longer_supported", name
        assert raised.value.error.param == "payment_method_types", name
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_older_version_keeps_payment_method_types(client):
    older = {"stripe_version": "2026-03-25.dahlia"}

    session = client.v1.checkout.sessions.create(
        params=session_params(payment_method_types=["card"]), options=older
    )
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method_types": ["card"]}, options=older
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(
            params=session_params(allowed_payment_method_types=["card"]), options=older
        )

    assert session.payment_method_types == ["card"]
    assert intent.payment_method_types == ["card"]
    assert raised.value.error.code == "parameter_unknown"
    assert raised.value.error.param == "allowed_payment_method_types"


def test_session_allowed_sepa_pays_by_sepa(client, control):
    session = client.v1.checkout.sessions.create(
        params=session_params(line_items=[EUR_ITEM], allowed_payment_method_types=["sepa_debit"])
    )
    with urllib.request.urlopen(session.url, timeout=60) as response:
        page = response.read().decode()
    paid = control.request(
        "POST",
        f"/_fakestripe/checkout/sessions/{session.id}/pay",
        {"payment_method": "sepa_debit", "outcome": "succeeded"},
    )

    assert session.allowed_payment_method_types == ["sepa_debit"]
    assert session.payment_method_types == ["sepa_debit"]
    assert 'id="method-sepa_debit"' in page
    assert 'id="method-card"' not in page
    assert paid["result"] == "processing"
    completed = client.v1.checkout.sessions.retrieve(session.id)
    assert (completed.status, completed.payment_status) == ("complete", "unpaid")
    intent = client.v1.payment_intents.retrieve(completed.payment_intent)
    assert intent.payment_method_types == ["sepa_debit"]
    assert intent.status == "processing"


def test_session_allowed_leaves_out_other_currency(client):
    session = client.v1.checkout.sessions.create(
        params=session_params(line_items=[EUR_ITEM], allowed_payment_method_types=["card", "us_bank_account"])
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(
            params=session_params(allowed_payment_method_types=["sepa_debit"])
        )

    assert session.payment_method_types == ["card"]
    assert session.allowed_payment_method_types == ["card", "us_bank_account"]
    assert raised.value.error.param == "allowed_payment_method_types"


def test_session_excluded_removes_default(client, control):
    session = client.v1.checkout.sessions.create(
        params=session_params(line_items=[EUR_ITEM], excluded_payment_method_types=["card"])
    )
    with pytest.raises(stripe.InvalidRequestError) as both:
        client.v1.checkout.sessions.create(
            params=session_params(allowed_payment_method_types=["card"], excluded_payment_method_types=["card"])
        )
    with pytest.raises(AssertionError) as by_card:
        control.pay(session.id)

    assert session.payment_method_types == ["sepa_debit"]
    assert session.excluded_payment_method_types == ["card"]
    assert session.allowed_payment_method_types is None
    assert "HTTP 400" in str(by_card.value)
    assert both.value.error.param == "excluded_payment_method_types"


def test_intent_allowed_and_excluded(client):
    allowed = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur", "allowed_payment_method_types": ["sepa_debit", "us_bank_account"]}
    )
    excluded = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "excluded_payment_method_types": ["sepa_debit"]}
    )
    with pytest.raises(stripe.InvalidRequestError) as both:
        client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "allowed_payment_method_types": ["card"],
                "excluded_payment_method_types": ["sepa_debit"],
            }
        )
    updated = client.v1.payment_intents.update(excluded.id, params={"allowed_payment_method_types": ["card"]})

    assert allowed.payment_method_types == ["sepa_debit"]
    assert allowed.allowed_payment_method_types == ["sepa_debit", "us_bank_account"]
    assert allowed.automatic_payment_methods is None
    assert excluded.payment_method_types == ["card"]
    assert excluded.excluded_payment_method_types == ["sepa_debit"]
    assert excluded.automatic_payment_methods.enabled is True
    assert both.value.error.param == "excluded_payment_method_types"
    assert updated.allowed_payment_method_types == ["card"]
    assert updated.automatic_payment_methods is None


def test_session_excluded_takes_unmodelled_types(client):
    session = client.v1.checkout.sessions.create(
        params=session_params(excluded_payment_method_types=["klarna", "ideal", "us_bank_account"])
    )
    with pytest.raises(stripe.InvalidRequestError) as not_a_type:
        client.v1.checkout.sessions.create(params=session_params(excluded_payment_method_types=["klarna", "kard"]))

    assert session.excluded_payment_method_types == ["klarna", "ideal", "us_bank_account"]
    assert session.payment_method_types == ["card"]
    assert not_a_type.value.http_status == 400
    assert not_a_type.value.error.param == "excluded_payment_method_types[1]"


def test_session_allowed_leaves_out_unmodelled_types(client):
    # Stripe leaves out the allowed methods that cannot be offered. The fake
    # offers only the methods it models, and a 400 names them when none is
    # left.
    session = client.v1.checkout.sessions.create(
        params=session_params(line_items=[EUR_ITEM], allowed_payment_method_types=["ideal", "link", "card"])
    )
    with pytest.raises(stripe.InvalidRequestError) as none_modelled:
        client.v1.checkout.sessions.create(
            params=session_params(line_items=[EUR_ITEM], allowed_payment_method_types=["ideal"])
        )
    with pytest.raises(stripe.InvalidRequestError) as not_a_type:
        client.v1.checkout.sessions.create(params=session_params(allowed_payment_method_types=["card", "kard"]))

    assert session.allowed_payment_method_types == ["ideal", "link", "card"]
    assert session.payment_method_types == ["card"]
    assert none_modelled.value.error.param == "allowed_payment_method_types"
    assert "it models card, sepa_debit, us_bank_account" in none_modelled.value.error.message
    assert not_a_type.value.error.param == "allowed_payment_method_types[1]"


def test_intent_excluded_takes_unmodelled_types(client):
    created = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur", "excluded_payment_method_types": ["paypal"]}
    )
    updated = client.v1.payment_intents.update(created.id, params={"excluded_payment_method_types": ["bizum"]})

    assert created.excluded_payment_method_types == ["paypal"]
    assert created.payment_method_types == ["card"]
    assert updated.excluded_payment_method_types == ["bizum"]


def test_confirm_takes_excluded_types(client):
    created = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})

    confirmed = client.v1.payment_intents.confirm(
        created.id,
        params={
            "payment_method": "pm_card_visa",
            "return_url": "https://shop.example/return",
            "excluded_payment_method_types": ["klarna"],
        },
    )

    assert confirmed.status == "succeeded"
    assert confirmed.excluded_payment_method_types == ["klarna"]
    assert confirmed.payment_method_types == ["card"]


def test_confirm_takes_allowed_types(client):
    created = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})

    confirmed = client.v1.payment_intents.confirm(
        created.id,
        params={"payment_method": "pm_card_visa", "allowed_payment_method_types": ["card", "sepa_debit"]},
    )

    assert confirmed.status == "succeeded"
    assert confirmed.allowed_payment_method_types == ["card", "sepa_debit"]
    assert confirmed.payment_method_types == ["card"]
    assert confirmed.automatic_payment_methods is None
