"""Payment intents, card declines, charges and refunds through
stripe-python."""

import pytest
import stripe

from conftest import session_params

# The account's default version, the last before 2026-09-30, when
# payment intents stopped taking payment_method_types.
DAHLIA = {"stripe_version": "2026-03-25.dahlia"}


def test_confirm_with_visa_succeeds(client):
    intent = client.v1.payment_intents.create(
        params={"amount": 4200, "currency": "usd", "allowed_payment_method_types": ["card"], "metadata": {"order_id": "order_7"}}
    )

    confirmed = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    charge = client.v1.charges.retrieve(confirmed.latest_charge)

    assert intent.id.startswith("pi_")
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert confirmed.id == intent.id
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 4200
    assert confirmed.payment_method.startswith("pm_")
    assert confirmed.metadata.to_dict() == {"order_id": "order_7"}
    assert charge.id.startswith("ch_")
    assert charge.amount == 4200
    assert charge.amount_captured == 4200
    assert charge.paid is True
    assert charge.status == "succeeded"
    assert charge.payment_intent == intent.id
    assert charge.payment_method_details.card.brand == "visa"
    assert charge.payment_method_details.card.last4 == "4242"


def test_create_and_confirm_in_one_call(client):
    intent = client.v1.payment_intents.create(
        params={"amount": 1999, "currency": "eur", "allowed_payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": True}
    )

    assert intent.status == "succeeded"
    assert intent.currency == "eur"
    assert intent.amount_received == 1999
    assert intent.latest_charge.startswith("ch_")


def test_declined_card_raises_card_error(client):
    intent = client.v1.payment_intents.create(params={"amount": 2500, "currency": "usd", "allowed_payment_method_types": ["card"]})

    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_chargeDeclined"})

    error = raised.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.error.decline_code == "generic_decline"
    assert error.error.payment_intent.id == intent.id
    assert error.error.payment_intent.status == "requires_payment_method"
    assert error.error.payment_method.object == "payment_method"
    assert error.error.payment_method.card.last4 == "0002"
    retrieved = client.v1.payment_intents.retrieve(intent.id)
    assert retrieved.status == "requires_payment_method"
    assert retrieved.last_payment_error.decline_code == "generic_decline"
    failed_charge = client.v1.charges.retrieve(retrieved.latest_charge)
    assert failed_charge.status == "failed"
    assert failed_charge.failure_code == "card_declined"


def test_insufficient_funds_decline_code(client):
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            params={
                "amount": 2500,
                "currency": "usd", "allowed_payment_method_types": ["card"],
                "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
                "confirm": True,
            }
        )

    assert raised.value.code == "card_declined"
    assert raised.value.error.decline_code == "insufficient_funds"


@pytest.mark.parametrize(
    ("payment_method", "decline_code"),
    [
        ("pm_card_visa_chargeDeclined", "generic_decline"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_visa_chargeDeclinedLostCard", "lost_card"),
        ("pm_card_visa_chargeDeclinedStolenCard", "stolen_card"),
        ("pm_card_visa_chargeDeclinedVelocityLimitExceeded", "card_velocity_exceeded"),
    ],
)
def test_testing_page_decline_names(client, payment_method, decline_code):
    # The names on Stripe's testing page, with `visa_` in them.
    params = {"amount": 2500, "currency": "usd", "allowed_payment_method_types": ["card"], "payment_method": payment_method, "confirm": True}
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(params=params)

    assert raised.value.code == "card_declined"
    assert raised.value.error.decline_code == decline_code


def test_intent_below_minimum_charge(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(params={"amount": 29, "currency": "gbp"})

    assert raised.value.error.code == "amount_too_small"
    assert raised.value.error.param == "amount"
    assert raised.value.error.message == "Amount must be at least £0.30 gbp."
    intent = client.v1.payment_intents.create(params={"amount": 30, "currency": "gbp"})
    assert intent.amount == 30
    # An update may not lower the amount below the minimum either.
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.update(intent.id, params={"amount": 29})
    assert raised.value.error.code == "amount_too_small"
    assert client.v1.payment_intents.retrieve(intent.id).amount == 30


def test_automatic_payment_methods_setting(client):
    base = {"amount": 1000, "currency": "usd"}

    by_default = client.v1.payment_intents.create(params=base)
    no_redirects = client.v1.payment_intents.create(
        params={**base, "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}}
    )
    listed_types = client.v1.payment_intents.create(params={**base, "allowed_payment_method_types": ["card"]})
    before_default = client.v1.payment_intents.create(params=base, options={"stripe_version": "2023-08-15"})

    assert by_default.automatic_payment_methods.to_dict() == {"allow_redirects": "always", "enabled": True}
    assert no_redirects.automatic_payment_methods.to_dict() == {"allow_redirects": "never", "enabled": True}
    assert listed_types.automatic_payment_methods is None
    # The setting became the default in API version 2023-08-16.
    assert before_default.automatic_payment_methods is None
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(
            params={**base, "allowed_payment_method_types": ["card"], "automatic_payment_methods": {"enabled": True}}
        )
    assert raised.value.error.param == "automatic_payment_methods"


def test_redirecting_methods_need_return_url(client):
    # Since 2023-08-16 an intent created without payment_method_types takes
    # the methods enabled in the Dashboard, some of which redirect, so
    # confirming it needs a return_url.
    base = {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(params=base)
    assert raised.value.http_status == 400
    assert raised.value.error.param == "return_url"
    assert client.v1.payment_intents.list().data == []

    intent = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert raised.value.error.param == "return_url"
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"

    with_url = client.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_visa", "return_url": "https://shop.example/done"}
    )
    no_redirects = client.v1.payment_intents.create(
        params={**base, "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}}
    )
    old_version = client.v1.payment_intents.create(params=base, options={"stripe_version": "2023-08-15"})
    assert with_url.status == "succeeded"
    assert no_redirects.status == "succeeded"
    assert old_version.status == "succeeded"
    # A settled intent reports its state before the missing return_url.
    with pytest.raises(stripe.InvalidRequestError) as settled:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert settled.value.error.code == "payment_intent_unexpected_state"


@pytest.mark.parametrize(
    ("types", "param"),
    [(["bogus"], "payment_method_types[0]"), (["card", ""], "payment_method_types[1]"), (["sepa_debit"], "payment_method_types[0]")],
)
def test_intent_payment_method_types_checked(client, types, param):
    # API versions from 2026-09-30 reject payment_method_types outright.
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "payment_method_types": types}, options=DAHLIA
        )

    assert raised.value.error.param == param
    assert client.v1.payment_intents.list().data == []


def test_intent_update_currency_and_types(client):
    intent = client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})

    updated = client.v1.payment_intents.update(
        intent.id, params={"currency": "eur", "payment_method_types": ["sepa_debit"]}, options=DAHLIA
    )
    with pytest.raises(stripe.InvalidRequestError) as wrong_currency:
        client.v1.payment_intents.update(intent.id, params={"currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as below_minimum:
        client.v1.payment_intents.update(
            intent.id, params={"currency": "gbp", "payment_method_types": ["card"], "amount": 25}, options=DAHLIA
        )

    assert (updated.currency, updated.payment_method_types) == ("eur", ["sepa_debit"])
    assert updated.automatic_payment_methods is None
    assert wrong_currency.value.error.param == "payment_method_types[0]"
    assert below_minimum.value.error.code == "amount_too_small"
    unchanged = client.v1.payment_intents.retrieve(intent.id)
    assert (unchanged.currency, unchanged.amount) == ("eur", 2000)
    paid = client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd", "allowed_payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": True}
    )
    with pytest.raises(stripe.InvalidRequestError) as settled:
        client.v1.payment_intents.update(paid.id, params={"currency": "eur"})
    assert settled.value.error.param == "currency"


def test_bypass_pending_card_succeeds(client):
    params = {"amount": 2500, "currency": "usd", "allowed_payment_method_types": ["card"], "payment_method": "pm_card_bypassPending", "confirm": True}
    intent = client.v1.payment_intents.create(params=params)

    assert intent.status == "succeeded"
    assert intent.amount_received == 2500


def test_partial_then_full_refund(client):
    intent = client.v1.payment_intents.create(
        params={"amount": 4200, "currency": "usd", "allowed_payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": True}
    )

    partial = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1000, "reason": "requested_by_customer"})
    after_partial = client.v1.charges.retrieve(intent.latest_charge)
    rest = client.v1.refunds.create(params={"charge": intent.latest_charge})
    after_full = client.v1.charges.retrieve(intent.latest_charge)
    listed = client.v1.refunds.list(params={"payment_intent": intent.id})

    assert partial.id.startswith("re_")
    assert partial.status == "succeeded"
    assert partial.amount == 1000
    assert partial.reason == "requested_by_customer"
    assert partial.charge == intent.latest_charge
    assert partial.payment_intent == intent.id
    assert after_partial.amount_refunded == 1000
    assert after_partial.refunded is False
    assert rest.amount == 3200
    assert after_full.amount_refunded == 4200
    assert after_full.refunded is True
    assert [refund.id for refund in listed.data] == [rest.id, partial.id]
    assert client.v1.refunds.retrieve(partial.id).amount == 1000


def test_refund_above_remaining_amount_fails(client):
    intent = client.v1.payment_intents.create(
        params={"amount": 4200, "currency": "usd", "allowed_payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": True}
    )
    client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 4000})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 201})

    assert raised.value.http_status == 400
    assert raised.value.param == "amount"
    assert "greater than the unrefunded amount" in raised.value.user_message
    assert client.v1.charges.retrieve(intent.latest_charge).amount_refunded == 4000

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 0})

    assert raised.value.param == "amount"
    assert "at least 1" in raised.value.user_message


def test_refund_of_refunded_charge_fails(client):
    intent = client.v1.payment_intents.create(
        params={"amount": 800, "currency": "usd", "allowed_payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": True}
    )
    client.v1.refunds.create(params={"payment_intent": intent.id})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"payment_intent": intent.id})

    assert raised.value.http_status == 400
    assert raised.value.code == "charge_already_refunded"


def test_full_refund_after_partial_capture(client):
    intent = client.v1.payment_intents.create(
        params={
            "amount": 800,
            "currency": "usd", "allowed_payment_method_types": ["card"],
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 500})
    captured = client.v1.charges.retrieve(intent.latest_charge)

    refund = client.v1.refunds.create(params={"payment_intent": intent.id})

    # Stripe refunds the uncaptured 300 at capture, so the customer gets the
    # captured 500 back and the whole charge counts as refunded.
    assert (captured.amount_captured, captured.amount_refunded, captured.refunded) == (500, 300, False)
    assert refund.amount == 500
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (800, True)


def test_session_payment_is_refundable(client, control):
    session = client.v1.checkout.sessions.create(params=session_params())
    control.pay(session.id)
    intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent

    refund = client.v1.refunds.create(params={"payment_intent": intent_id})

    assert refund.amount == 3700
    assert refund.payment_intent == intent_id


def test_authorized_session_unpaid_until_captured(client, control):
    params = session_params(payment_intent_data={"capture_method": "manual"})
    session = client.v1.checkout.sessions.create(params=params)
    control.pay(session.id)

    authorized = client.v1.checkout.sessions.retrieve(session.id)
    intent = client.v1.payment_intents.retrieve(authorized.payment_intent)
    assert authorized.status == "complete"
    assert authorized.payment_status == "unpaid"
    assert intent.status == "requires_capture"
    assert intent.amount_capturable == 3700

    client.v1.payment_intents.capture(intent.id)
    captured = client.v1.checkout.sessions.retrieve(session.id)
    assert captured.payment_status == "paid"


def test_canceling_held_intent_refunds_its_charge(client):
    intent = client.v1.payment_intents.create(
        params={
            "amount": 650,
            "currency": "usd",
            "allowed_payment_method_types": ["card"],
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )

    canceled = client.v1.payment_intents.cancel(intent.id)

    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert intent.status == "requires_capture"
    assert (canceled.status, canceled.amount_capturable) == ("canceled", 0)
    assert (charge.captured, charge.amount_captured) == (False, 0)
    assert (charge.amount_refunded, charge.refunded) == (650, True)
    refunded = client.v1.events.list(params={"type": "charge.refunded"})
    assert [event.data.object.id for event in refunded.data] == [charge.id]
    assert refunded.data[0].data.object.refunded is True


def test_uncaptured_authorization_lapses_after_seven_days(client, control):
    control.use_manual_clock()
    intent = client.v1.payment_intents.create(
        params={"amount": 900, "currency": "usd", "allowed_payment_method_types": ["card"], "capture_method": "manual"}
    )
    # The window counts from the authorization, not from the intent's creation.
    control.advance(6 * 86400)
    authorized = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    authorized_at = client.v1.charges.retrieve(authorized.latest_charge).created

    control.advance(7 * 86400 - 1)
    before_lapse = client.v1.payment_intents.retrieve(intent.id)
    control.advance(1)
    lapsed = client.v1.payment_intents.retrieve(intent.id)

    assert before_lapse.status == "requires_capture"
    assert (lapsed.status, lapsed.cancellation_reason, lapsed.amount_capturable) == ("canceled", "automatic", 0)
    charge = client.v1.charges.retrieve(authorized.latest_charge)
    assert charge.payment_method_details.card.capture_before == authorized_at + 7 * 86400
    assert (charge.captured, charge.refunded, charge.amount_refunded) == (False, True, 900)
    types = [event.type for event in client.v1.events.list(params={"limit": 2}).data]
    assert types == ["payment_intent.canceled", "charge.expired"]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(intent.id)
    assert raised.value.code == "payment_intent_unexpected_state"


def test_capture_sets_metadata(client):
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1200,
            "currency": "usd",
            "allowed_payment_method_types": ["card"],
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
            "metadata": {"order_id": "order_9"},
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(intent.id, params={"metadata": {"k" * 41: "x"}})
    still_held = client.v1.payment_intents.retrieve(intent.id)

    captured = client.v1.payment_intents.capture(intent.id, params={"metadata": {"shipment": "shp_1"}})

    assert raised.value.param.startswith("metadata")
    assert still_held.status == "requires_capture"
    assert captured.status == "succeeded"
    assert captured.metadata.to_dict() == {"order_id": "order_9", "shipment": "shp_1"}


def test_payment_method_of_a_session_is_retrievable(client, control):
    session = client.v1.checkout.sessions.create(params=session_params())
    control.pay(session.id, card_number="5555555555554444")
    intent = client.v1.payment_intents.retrieve(client.v1.checkout.sessions.retrieve(session.id).payment_intent)

    method = client.v1.payment_methods.retrieve(intent.payment_method)

    assert method.id == intent.payment_method
    assert method.type == "card"
    assert (method.card.brand, method.card.last4) == ("mastercard", "4444")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.retrieve("pm_missing")
    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")


def test_capture_method_default_follows_api_version(client):
    params = {"amount": 2000, "currency": "usd", "payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": True}

    sync = client.v1.payment_intents.create(params=params, options={"stripe_version": "2024-04-09"})
    deferred = client.v1.payment_intents.create(params=params, options={"stripe_version": "2024-04-10"})

    assert sync.capture_method == "automatic"
    assert deferred.capture_method == "automatic_async"
    events = client.v1.events.list(params={"types": ["charge.succeeded", "charge.updated"]}).data
    sync_events = [e for e in events if e.data.object.id == sync.latest_charge]
    deferred_events = [e for e in events if e.data.object.id == deferred.latest_charge]
    # Newest first: a synchronous capture sends the balance transaction
    # with charge.succeeded, an asynchronous one in a later charge.updated.
    assert [e.type for e in sync_events] == ["charge.succeeded"]
    assert sync_events[0].data.object.balance_transaction.startswith("txn_")
    assert [e.type for e in deferred_events] == ["charge.updated", "charge.succeeded"]
    assert deferred_events[1].data.object.balance_transaction is None


def test_versions_before_2022_11_15_embed_charge_lists(client):
    old = {"stripe_version": "2022-08-01"}
    params = {"amount": 3000, "currency": "usd", "payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": True}
    intent = client.v1.payment_intents.create(params=params, options=old)
    client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 700})

    reread = client.v1.payment_intents.retrieve(intent.id, options=old)
    current = client.v1.payment_intents.retrieve(intent.id)
    charge = client.v1.charges.retrieve(intent.latest_charge, options=old)

    assert [c.id for c in intent.charges.data] == [intent.latest_charge]
    assert intent.charges.data[0].refunds.total_count == 0
    assert reread.charges.data[0].refunds.data[0].amount == 700
    assert charge.refunds.url == f"/v1/charges/{charge.id}/refunds"
    assert [r.amount for r in charge.refunds.data] == [700]
    assert "charges" not in current
    expanded = client.v1.charges.retrieve(intent.latest_charge, params={"expand": ["refunds"]})
    plain = client.v1.charges.retrieve(intent.latest_charge)
    assert [r.amount for r in expanded.refunds.data] == [700]
    assert "refunds" not in plain


def test_update_sets_payment_method_before_confirm(client):
    intent = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "allowed_payment_method_types": ["card"]})

    updated = client.v1.payment_intents.update(
        intent.id,
        params={"payment_method": "pm_card_visa", "capture_method": "manual", "setup_future_usage": "off_session"},
    )
    confirmed = client.v1.payment_intents.confirm(intent.id)
    with pytest.raises(stripe.InvalidRequestError) as late:
        client.v1.payment_intents.update(intent.id, params={"capture_method": "automatic"})
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_intents.update(
            client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd"}).id,
            params={"payment_method": "pm_nope"},
        )

    assert (updated.status, updated.capture_method, updated.setup_future_usage) == ("requires_confirmation", "manual", "off_session")
    assert confirmed.status == "requires_capture"
    assert (late.value.param, late.value.code) == ("capture_method", "payment_intent_unexpected_state")
    assert unknown.value.param == "payment_method"


def test_confirming_succeeded_intent_fails(client):
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": True}
    )

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})

    assert raised.value.http_status == 400
    assert raised.value.code == "payment_intent_unexpected_state"
    assert len(client.v1.charges.list(params={"payment_intent": intent.id}).data) == 1


def test_card_needing_authentication_requires_action(client):
    # Stripe's guide "Migrate your basic card integration": without
    # error_on_requires_action, a payment that needs 3-D Secure leaves
    # server-side confirmation in status requires_action, with next_action
    # telling the client what to do. The test card behind
    # pm_card_authenticationRequired needs authentication on every payment.
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "return_url": "https://shop.example/return",
        }
    )

    assert intent.status == "requires_action"
    assert intent.next_action is not None
    assert intent.amount_received == 0


def test_saved_card_attaches_to_customer(client, control):
    # Stripe's session create reference: with payment_intent_data's
    # setup_future_usage, Checkout attaches the payment method to the
    # customer passed in, or to the one it creates. Without a customer the
    # method stays unattached.
    saver = client.v1.customers.create(params={"name": "Saver"})
    other = client.v1.customers.create(params={"name": "Other"})
    saving = client.v1.checkout.sessions.create(
        params=session_params(customer=saver.id, payment_intent_data={"setup_future_usage": "off_session"})
    )
    plain = client.v1.checkout.sessions.create(params=session_params(customer=other.id))
    control.pay(saving.id, card_number="5555555555554444")
    control.pay(plain.id)

    saved = client.v1.customers.payment_methods.list(saver.id, params={"type": "card"}).data
    assert [(m.customer, m.card.last4) for m in saved] == [(saver.id, "4444")]
    intent = client.v1.payment_intents.retrieve(client.v1.checkout.sessions.retrieve(saving.id).payment_intent)
    assert saved[0].id == intent.payment_method
    assert client.v1.customers.payment_methods.list(other.id).data == []
    assert [m.id for m in client.v1.payment_methods.list(params={"customer": saver.id}).data] == [saved[0].id]
    assert saved[0].allow_redisplay == "unspecified"
    unspecified = client.v1.customers.payment_methods.list(saver.id, params={"allow_redisplay": "unspecified"}).data
    assert [m.id for m in unspecified] == [saved[0].id]
    assert client.v1.customers.payment_methods.list(saver.id, params={"allow_redisplay": "always"}).data == []
    attached = client.v1.events.list(params={"type": "payment_method.attached"}).data
    assert [e.data.object.id for e in attached] == [saved[0].id]

    # A customer Checkout creates gets the card too.
    created = client.v1.checkout.sessions.create(
        params=session_params(customer_creation="always", payment_intent_data={"setup_future_usage": "on_session"})
    )
    control.pay(created.id)
    customer = client.v1.checkout.sessions.retrieve(created.id).customer
    assert [m.card.last4 for m in client.v1.customers.payment_methods.list(customer).data] == ["4242"]


def test_confirm_attaches_saved_method(client):
    customer = client.v1.customers.create(params={"email": "card@example.com"})
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": customer.id,
            "setup_future_usage": "off_session",
            "allowed_payment_method_types": ["card"],
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    unsaved = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": customer.id,
            "allowed_payment_method_types": ["card"],
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )

    assert client.v1.payment_methods.retrieve(intent.payment_method).customer == customer.id
    assert client.v1.payment_methods.retrieve(unsaved.payment_method).customer is None
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.payment_methods.list("cus_missing")
    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.list(params={"customer": customer.id, "type": "cards"})
    assert raised.value.param == "type"


def test_card_fingerprint_per_number(client, control):
    sessions = [client.v1.checkout.sessions.create(params=session_params()) for _ in range(3)]
    for session, number in zip(sessions, ["4242424242424242", "4242424242424242", "5555555555554444"]):
        control.pay(session.id, card_number=number)
    charges = [
        client.v1.payment_intents.retrieve(
            client.v1.checkout.sessions.retrieve(s.id).payment_intent, params={"expand": ["latest_charge"]}
        ).latest_charge
        for s in sessions
    ]

    prints = [c.payment_method_details.card.fingerprint for c in charges]
    assert prints[0] == prints[1] != prints[2]
    assert len(prints[0]) == 16
    assert prints[0].isalnum()
    card = charges[0].payment_method_details.card
    assert (card.network, card.checks.cvc_check, card.three_d_secure) == ("visa", "pass", None)
    method = client.v1.payment_methods.retrieve(charges[2].payment_method)
    assert (method.card.fingerprint, method.card.networks.available) == (prints[2], ["mastercard"])


def test_amount_over_maximum_too_large(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(params={"amount": 100_000_000, "currency": "usd"})
    assert (raised.value.code, raised.value.param) == ("amount_too_large", "amount")
    accepted = client.v1.payment_intents.create(params={"amount": 99_999_999, "currency": "usd"})
    assert accepted.amount == 99_999_999


def saved_card(client, customer, payment_method="pm_card_visa"):
    """Pays once with `payment_method` for `customer` with
    setup_future_usage, and returns the saved payment method's id."""
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": customer,
            "setup_future_usage": "off_session",
            "allowed_payment_method_types": ["card"],
            "payment_method": payment_method,
            "confirm": True,
            "return_url": "https://shop.example/return",
        }
    )
    return intent.payment_method


def test_saved_card_charges_off_session(client, control):
    # Stripe's guide to saving cards: a later payment charges the saved
    # method with off_session, and a card that needs authentication on
    # every payment is declined with authentication_required.
    customer = client.v1.customers.create(params={"name": "Returning"}).id
    method = saved_card(client, customer)
    params = {
        "amount": 1500,
        "currency": "usd",
        "customer": customer,
        "payment_method": method,
        "allowed_payment_method_types": ["card"],
        "off_session": True,
        "confirm": True,
    }

    again = client.v1.payment_intents.create(params=params)

    assert (again.status, again.payment_method) == ("succeeded", method)
    assert [m.id for m in client.v1.customers.payment_methods.list(customer).data] == [method]

    # Saved through Checkout, where the customer completes 3-D Secure.
    strict = client.v1.customers.create(params={"name": "Strict"}).id
    session = client.v1.checkout.sessions.create(
        params=session_params(customer=strict, payment_intent_data={"setup_future_usage": "off_session"})
    )
    control.pay(session.id, card_number="4000002760003184")
    [strict_method] = client.v1.customers.payment_methods.list(strict).data

    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(params={**params, "customer": strict, "payment_method": strict_method.id})

    assert (raised.value.http_status, raised.value.code) == (402, "authentication_required")
    declined = client.v1.payment_intents.list(params={"customer": strict, "limit": 1}).data[0]
    assert declined.status == "requires_payment_method"
    assert declined.last_payment_error.decline_code == "authentication_required"


def test_saved_card_belongs_to_its_customer(client):
    owner = client.v1.customers.create(params={"name": "Owner"}).id
    other = client.v1.customers.create(params={"name": "Other"}).id
    method = saved_card(client, owner)
    unsaved = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": True}
    ).payment_method
    base = {"amount": 1500, "currency": "usd", "allowed_payment_method_types": ["card"], "confirm": True}

    with pytest.raises(stripe.InvalidRequestError) as wrong_customer:
        client.v1.payment_intents.create(params={**base, "customer": other, "payment_method": method})
    with pytest.raises(stripe.InvalidRequestError) as never_saved:
        client.v1.payment_intents.create(params={**base, "customer": owner, "payment_method": unsaved})

    assert wrong_customer.value.param == "payment_method"
    assert owner in wrong_customer.value.user_message
    assert never_saved.value.param == "payment_method"
    assert "attached" in never_saved.value.user_message


def test_deleted_customer_gets_no_card(client):
    customer = client.v1.customers.create(params={"name": "Gone"}).id
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "customer": customer, "setup_future_usage": "off_session", "allowed_payment_method_types": ["card"]}
    )
    client.v1.customers.delete(customer)

    confirmed = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})

    assert confirmed.status == "succeeded"
    assert client.v1.payment_methods.retrieve(confirmed.payment_method).customer is None
    assert client.v1.events.list(params={"type": "payment_method.attached"}).data == []


def test_update_unsets_future_usage(client):
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "setup_future_usage": "off_session", "allowed_payment_method_types": ["card"]}
    )

    updated = client.v1.payment_intents.update(intent.id, params={"setup_future_usage": "", "transfer_group": "ORDER-7"})

    assert (updated.setup_future_usage, updated.transfer_group) == (None, "ORDER-7")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.update(intent.id, params={"transfer_group": "ORDER-8"})
    assert raised.value.param == "transfer_group"


def test_statement_descriptors_follow_stripe_rules(client):
    base = {"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card"]}
    for field, value in [
        ("statement_descriptor", "x" * 23),
        ("statement_descriptor", "12345"),
        ("statement_descriptor", "SHOP"),
        ("statement_descriptor_suffix", "ORDER<12>"),
        ("statement_descriptor_suffix", "ÉTÉ"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.payment_intents.create(params={**base, field: value})
        assert raised.value.param == field, value

    paid = client.v1.payment_intents.create(
        params={**base, "statement_descriptor_suffix": "ORDER 12345 FOR YOU", "payment_method": "pm_card_visa", "confirm": True},
    )
    charge = client.v1.charges.retrieve(paid.latest_charge)
    assert charge.statement_descriptor_suffix == "ORDER 12345 FOR YOU"
    assert charge.calculated_statement_descriptor == "FAKESTRIPE* ORDER 1234"
