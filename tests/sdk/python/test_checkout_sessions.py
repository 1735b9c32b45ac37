"""Checkout Sessions through stripe-python's StripeClient and its
module-level API."""

import pytest
import stripe

from conftest import CUSTOMER_EMAIL, SUCCESS_URL, session_params


def test_create_session_with_two_line_items(client, api_base):
    session = client.v1.checkout.sessions.create(params=session_params())

    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.mode == "payment"
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.amount_subtotal == 3700
    assert session.amount_total == 3700
    assert session.currency == "usd"
    assert session.metadata.to_dict() == {"order_id": "order_1"}
    # The placeholder stays in the stored URL and is filled in on redirect.
    assert session.success_url == SUCCESS_URL
    assert session.cancel_url == "https://shop.example/cart"
    assert session.url.startswith(f"{api_base}/")
    assert session.livemode is False
    # Since API version 2022-08-01 the payment intent is created on payment.
    assert session.payment_intent is None


def test_retrieve_session(client):
    created = client.v1.checkout.sessions.create(params=session_params())

    session = client.v1.checkout.sessions.retrieve(created.id)

    assert session.id == created.id
    assert session.amount_total == 3700
    assert session.metadata.to_dict() == {"order_id": "order_1"}
    assert session.expires_at == created.expires_at
    assert session.expires_at - session.created == 24 * 3600


def test_update_session_metadata(client):
    created = client.v1.checkout.sessions.create(params=session_params(metadata={"order_id": "order_1", "note": "gift"}))

    updated = client.v1.checkout.sessions.update(created.id, params={"metadata": {"note": "", "channel": "web"}})

    # An empty value removes a key, and other keys are kept.
    assert updated.metadata.to_dict() == {"order_id": "order_1", "channel": "web"}
    retrieved = client.v1.checkout.sessions.retrieve(created.id)
    assert retrieved.metadata.to_dict() == {"order_id": "order_1", "channel": "web"}


def test_list_sessions_auto_paginates(client):
    created = [
        client.v1.checkout.sessions.create(params=session_params(metadata={"index": str(i)})).id for i in range(5)
    ]

    first_page = client.v1.checkout.sessions.list(params={"limit": 2})
    walked = [session.id for session in first_page.auto_paging_iter()]

    assert [session.id for session in first_page.data] == [created[4], created[3]]
    assert first_page.has_more is True
    assert walked == list(reversed(created))


def test_list_sessions_filters_by_status(client):
    created = [client.v1.checkout.sessions.create(params=session_params()).id for _ in range(5)]
    client.v1.checkout.sessions.expire(created[1])

    open_ids = [s.id for s in client.v1.checkout.sessions.list(params={"status": "open", "limit": 2}).auto_paging_iter()]
    expired = client.v1.checkout.sessions.list(params={"status": "expired"})

    assert open_ids == [created[4], created[3], created[2], created[0]]
    assert [s.id for s in expired.data] == [created[1]]
    assert expired.has_more is False


def test_expire_open_sessions_while_paging(client):
    # Expiring each open session while paging makes every cursor name a
    # session that the filter no longer matches.
    created = [client.v1.checkout.sessions.create(params=session_params()).id for _ in range(5)]

    swept = []
    for session in client.v1.checkout.sessions.list(params={"status": "open", "limit": 2}).auto_paging_iter():
        client.v1.checkout.sessions.expire(session.id)
        swept.append(session.id)

    assert swept == list(reversed(created))
    left = client.v1.checkout.sessions.list(params={"status": "open"})
    assert left.data == []


def test_list_sessions_filters_by_payment_and_email(client, control):
    paid = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.create(params=session_params())
    control.pay(paid.id)
    payment_intent = client.v1.checkout.sessions.retrieve(paid.id).payment_intent

    by_intent = client.v1.checkout.sessions.list(params={"payment_intent": payment_intent})
    by_email = client.v1.checkout.sessions.list(params={"customer_details": {"email": CUSTOMER_EMAIL}})
    by_other_email = client.v1.checkout.sessions.list(params={"customer_details": {"email": "y@example.com"}})

    assert payment_intent.startswith("pi_")
    assert [s.id for s in by_intent.data] == [paid.id]
    assert [s.id for s in by_email.data] == [paid.id]
    assert by_other_email.data == []


def one_item(currency, unit_amount, quantity=1):
    price_data = {"currency": currency, "unit_amount": unit_amount, "product_data": {"name": "Sticker"}}
    return [{"price_data": price_data, "quantity": quantity}]


@pytest.mark.parametrize(
    ("currency", "below", "minimum_text"),
    [("usd", 49, "$0.50 usd"), ("jpy", 49, "¥50 jpy"), ("dkk", 249, "2.50 dkk"), ("huf", 17499, "175.00 huf")],
)
def test_session_below_minimum_charge(client, currency, below, minimum_text):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(params=session_params(line_items=one_item(currency, below)))

    error = raised.value.error
    assert raised.value.http_status == 400
    assert error.code == "amount_too_small"
    assert error.param == "line_items"
    expected = f"The Checkout Session's total amount due must add up to at least {minimum_text}."
    assert error.message.startswith(expected)
    # The minimum itself is enough, and so are two items below it.
    at_minimum = client.v1.checkout.sessions.create(params=session_params(line_items=one_item(currency, below + 1)))
    assert at_minimum.amount_total == below + 1
    two = client.v1.checkout.sessions.create(params=session_params(line_items=one_item(currency, below, quantity=2)))
    assert two.amount_total == below * 2


def test_unsupported_currency_lists_accepted_ones(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(params=session_params(line_items=one_item("krw", 5000)))

    assert raised.value.error.param == "line_items[0][price_data][currency]"
    assert raised.value.error.message.startswith("Unsupported currency: krw. fakestripe accepts usd, eur,")


def test_expire_session_twice(client):
    created = client.v1.checkout.sessions.create(params=session_params())

    expired = client.v1.checkout.sessions.expire(created.id)

    assert expired.id == created.id
    assert expired.status == "expired"
    assert expired.url is None
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.expire(created.id)
    assert raised.value.http_status == 400
    assert raised.value.error.type == "invalid_request_error"
    assert "expired" in raised.value.user_message


def test_list_line_items(client):
    created = client.v1.checkout.sessions.create(params=session_params())

    items = client.v1.checkout.sessions.line_items.list(created.id)
    one_per_page = [item.id for item in client.v1.checkout.sessions.line_items.list(created.id, params={"limit": 1}).auto_paging_iter()]

    # Line items keep the order they were sent in.
    assert [item.description for item in items.data] == ["Mug", "Tea"]
    assert [item.quantity for item in items.data] == [2, 1]
    assert [item.amount_total for item in items.data] == [3000, 700]
    assert [item.price.unit_amount for item in items.data] == [1500, 700]
    assert all(item.id.startswith("li_") for item in items.data)
    assert all(item.price.id.startswith("price_") for item in items.data)
    assert all(item.price.product.startswith("prod_") for item in items.data)
    assert one_per_page == [item.id for item in items.data]


def test_line_item_price_is_retrievable(client):
    created = client.v1.checkout.sessions.create(params=session_params())
    item = client.v1.checkout.sessions.line_items.list(created.id).data[1]

    price = client.v1.prices.retrieve(item.price.id, params={"expand": ["product"]})

    assert price.id == item.price.id
    assert price.unit_amount == 700
    assert price.active is False
    assert price.product.name == "Tea"


def test_paid_session_fills_redirect_and_intent(client, control):
    created = client.v1.checkout.sessions.create(params=session_params())

    result = control.pay(created.id)
    session = client.v1.checkout.sessions.retrieve(created.id, params={"expand": ["payment_intent"]})

    assert result["result"] == "succeeded"
    assert result["redirect_url"] == f"https://shop.example/success?session_id={created.id}"
    assert session.status == "complete"
    assert session.payment_status == "paid"
    assert session.customer_details.email == CUSTOMER_EMAIL
    intent = session.payment_intent
    assert intent.id.startswith("pi_")
    assert intent.status == "succeeded"
    assert intent.amount == 3700
    assert intent.amount_received == 3700
    # Only payment_intent_data.metadata reaches the payment intent.
    assert intent.metadata.to_dict() == {"order_id": "order_1", "source": "payment_intent_data"}
    assert session.metadata.to_dict() == {"order_id": "order_1"}


def test_module_level_api_base(api_key, api_base):
    saved = (stripe.api_key, stripe.api_base)
    stripe.api_key = api_key
    stripe.api_base = api_base
    try:
        created = [stripe.checkout.Session.create(**session_params()).id for _ in range(3)]
        retrieved = stripe.checkout.Session.retrieve(created[0])
        walked = [s.id for s in stripe.checkout.Session.list(limit=2).auto_paging_iter()]
    finally:
        stripe.api_key, stripe.api_base = saved

    assert retrieved.id == created[0]
    assert retrieved.amount_total == 3700
    assert walked == list(reversed(created))


def test_session_expires_after_24_hours(client, control):
    control.use_manual_clock()
    created = client.v1.checkout.sessions.create(params=session_params())

    control.advance(24 * 3600 - 1)
    still_open = client.v1.checkout.sessions.retrieve(created.id)
    control.advance(1)
    expired = client.v1.checkout.sessions.retrieve(created.id)
    events = client.v1.events.list(params={"type": "checkout.session.expired"})

    assert still_open.status == "open"
    assert expired.status == "expired"
    assert expired.url is None
    assert [e.data.object.id for e in events.data] == [created.id]


def test_session_intent_is_not_confirmed_directly(client, control):
    old = {"stripe_version": "2020-08-27"}
    session = client.v1.checkout.sessions.create(params=session_params(), options=old)

    with pytest.raises(stripe.InvalidRequestError) as confirming:
        client.v1.payment_intents.confirm(session.payment_intent, params={"payment_method": "pm_card_visa"})
    with pytest.raises(stripe.InvalidRequestError) as resizing:
        client.v1.payment_intents.update(session.payment_intent, params={"amount": 99999})
    tagged = client.v1.payment_intents.update(session.payment_intent, params={"metadata": {"order_id": "o_1"}})
    intent = client.v1.payment_intents.retrieve(session.payment_intent)

    assert "created by Checkout" in confirming.value.user_message
    assert (resizing.value.http_status, resizing.value.param) == (400, "amount")
    assert tagged.metadata["order_id"] == "o_1"
    assert (intent.status, intent.amount) == ("requires_payment_method", session.amount_total)
    control.pay(session.id)
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
