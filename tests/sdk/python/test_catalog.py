"""Customers, products and prices: create, retrieve, update, list and
delete through stripe-python."""

import pytest
import stripe


def test_customer_crud(client):
    created = client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"crm_id": "42"}}
    )
    client.v1.customers.create(params={"email": "bob@example.com"})

    retrieved = client.v1.customers.retrieve(created.id)
    updated = client.v1.customers.update(created.id, params={"name": "Ada Lovelace", "metadata": {"tier": "gold"}})
    by_email = client.v1.customers.list(params={"email": "ada@example.com"})
    deleted = client.v1.customers.delete(created.id)

    assert created.id.startswith("cus_")
    assert created.object == "customer"
    assert retrieved.email == "ada@example.com"
    assert retrieved.metadata.to_dict() == {"crm_id": "42"}
    assert updated.name == "Ada Lovelace"
    assert updated.metadata.to_dict() == {"crm_id": "42", "tier": "gold"}
    assert [c.id for c in by_email.data] == [created.id]
    assert deleted.id == created.id
    assert deleted.deleted is True
    assert [c.email for c in client.v1.customers.list().data] == ["bob@example.com"]


def test_customer_address_set_changed_and_unset(client):
    address = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
    customer = client.v1.customers.create(params={"name": "Addressed", "address": address})

    assert customer.address.line1 == "1 Main St"
    assert customer.address.line2 is None
    created = client.v1.events.list(params={"type": "customer.created", "limit": 1}).data[0]
    assert created.data.object.address.city == "Springfield"

    moved = client.v1.customers.update(customer.id, params={"address": {"line1": "2 Side St"}})
    assert (moved.address.line1, moved.address.city) == ("2 Side St", None)
    updated = client.v1.events.list(params={"type": "customer.updated", "limit": 1}).data[0]
    assert updated.data.previous_attributes.address.line1 == "1 Main St"

    cleared = client.v1.customers.update(customer.id, params={"address": ""})
    assert cleared.address is None
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params={"address": {"street": "x"}})
    assert raised.value.param == "address[street]"


@pytest.mark.parametrize(
    "email",
    ["notanemail", "ada@localhost", "@example.com", "ada @example.com", "a@@b.com", "a@example.com,b@example.com", "a@example..com"],
)
def test_customer_malformed_email_rejected(client, email):
    customer = client.v1.customers.create(params={"email": "ada@example.com"})

    for call in (
        lambda: client.v1.customers.create(params={"email": email}),
        lambda: client.v1.customers.update(customer.id, params={"email": email}),
    ):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            call()
        assert raised.value.error.code == "email_invalid"
        assert raised.value.error.param == "email"
        assert raised.value.error.message == f"Invalid email address: {email}"
    assert client.v1.customers.retrieve(customer.id).email == "ada@example.com"
    assert [c.id for c in client.v1.customers.list().data] == [customer.id]


def test_deleted_customer_retrieves_as_deleted(client):
    # Stripe's reference for GET /v1/customers/{id}: a deleted customer
    # comes back as a subset of its fields with `deleted: true`, not a 404.
    created = client.v1.customers.create(params={"email": "gone@example.com"})
    client.v1.customers.delete(created.id)

    retrieved = client.v1.customers.retrieve(created.id)

    assert retrieved.id == created.id
    assert retrieved.deleted is True


def test_product_crud(client):
    created = client.v1.products.create(params={"name": "Mug", "description": "Blue", "metadata": {"sku": "M-1"}})
    archived = client.v1.products.create(params={"name": "Old mug", "active": False})

    retrieved = client.v1.products.retrieve(created.id)
    updated = client.v1.products.update(created.id, params={"name": "Large mug", "description": ""})
    active = client.v1.products.list(params={"active": True})
    inactive = client.v1.products.list(params={"active": False})
    deleted = client.v1.products.delete(created.id)

    assert created.id.startswith("prod_")
    assert created.active is True
    assert retrieved.name == "Mug"
    assert retrieved.metadata.to_dict() == {"sku": "M-1"}
    assert updated.name == "Large mug"
    assert updated.description is None
    assert [p.id for p in active.data] == [created.id]
    assert [p.id for p in inactive.data] == [archived.id]
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.products.retrieve(created.id)
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"


def test_product_update_unit_label(client):
    product = client.v1.products.create(params={"name": "Rope", "unit_label": "metre"})

    labelled = client.v1.products.update(product.id, params={"unit_label": "coil", "tax_code": "txcd_99999999"})
    events = client.v1.events.list(params={"type": "product.updated"})
    cleared = client.v1.products.update(product.id, params={"unit_label": "", "tax_code": ""})

    assert labelled.unit_label == "coil"
    assert labelled.tax_code == "txcd_99999999"
    assert events.data[0].data.previous_attributes.to_dict() == {
        "tax_code": None,
        "unit_label": "metre",
    }
    assert cleared.unit_label is None
    assert cleared.tax_code is None
    assert client.v1.products.retrieve(product.id).unit_label is None
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.products.update(product.id, params={"unit_label": "a label too long"})
    assert raised.value.param == "unit_label"


def test_product_with_default_price_data(client):
    product = client.v1.products.create(
        params={
            "name": "Mug",
            "shippable": True,
            "default_price_data": {"currency": "eur", "unit_amount": 1200, "metadata": {"size": "large"}},
        }
    )
    price = client.v1.prices.retrieve(product.default_price)
    expanded = client.v1.products.retrieve(product.id, params={"expand": ["default_price"]})

    assert product.default_price.startswith("price_")
    assert product.shippable is True
    assert price.product == product.id
    assert price.unit_amount == 1200
    assert price.currency == "eur"
    assert price.metadata.to_dict() == {"size": "large"}
    assert expanded.default_price.id == price.id
    types = [e.type for e in reversed(client.v1.events.list().data)]
    assert types == ["product.created", "price.created"]

    # A rejected default price stores neither object.
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.products.create(params={"name": "Tea", "default_price_data": {"currency": "eur"}})
    assert raised.value.error.param == "default_price_data[unit_amount]"
    assert [p.id for p in client.v1.products.list().data] == [product.id]


def test_product_default_price_and_filters(client):
    mug = client.v1.products.create(params={"name": "Mug", "shippable": True})
    ebook = client.v1.products.create(params={"name": "E-book", "shippable": False})
    tea = client.v1.products.create(params={"name": "Tea"})
    mug_price = client.v1.prices.create(params={"product": mug.id, "currency": "usd", "unit_amount": 900})

    updated = client.v1.products.update(mug.id, params={"default_price": mug_price.id})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.products.update(ebook.id, params={"default_price": mug_price.id})
    by_ids = client.v1.products.list(params={"ids": [mug.id, tea.id]})
    shippable = client.v1.products.list(params={"shippable": True})
    not_shippable = client.v1.products.list(params={"shippable": False})

    assert updated.default_price == mug_price.id
    # Stripe does not archive a product's default price.
    with pytest.raises(stripe.InvalidRequestError) as archived:
        client.v1.prices.update(mug_price.id, params={"active": False})
    assert "default price of its product" in archived.value.error.message
    assert client.v1.prices.retrieve(mug_price.id).active is True
    assert raised.value.error.param == "default_price"
    assert client.v1.products.retrieve(ebook.id).default_price is None
    assert [p.id for p in by_ids.data] == [tea.id, mug.id]
    assert [p.id for p in shippable.data] == [mug.id]
    assert [p.id for p in not_shippable.data] == [ebook.id]
    # An update that changes nothing keeps `updated` and sends no event.
    unchanged = client.v1.products.update(tea.id, params={"name": "Tea"})
    assert unchanged.updated == tea.updated
    product_events = client.v1.events.list(params={"type": "product.updated"}).data
    assert [e.data.object.id for e in product_events] == [mug.id]


def test_price_crud(client):
    product = client.v1.products.create(params={"name": "Tea"})
    other = client.v1.products.create(params={"name": "Coffee"})

    price = client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 700, "lookup_key": "tea_small"}
    )
    client.v1.prices.create(params={"product": other.id, "currency": "usd", "unit_amount": 900})
    retrieved = client.v1.prices.retrieve(price.id)
    updated = client.v1.prices.update(price.id, params={"nickname": "Small tea", "active": False})
    by_product = client.v1.prices.list(params={"product": product.id})
    by_lookup_key = client.v1.prices.list(params={"lookup_keys": ["tea_small"]})
    active = client.v1.prices.list(params={"active": True})

    assert price.id.startswith("price_")
    assert price.unit_amount == 700
    assert price.currency == "usd"
    assert price.type == "one_time"
    assert price.product == product.id
    assert retrieved.lookup_key == "tea_small"
    assert updated.nickname == "Small tea"
    assert updated.active is False
    assert [p.id for p in by_product.data] == [price.id]
    assert [p.id for p in by_lookup_key.data] == [price.id]
    assert [p.unit_amount for p in active.data] == [900]


def test_price_lookup_key_unique_until_transferred(client):
    product = client.v1.products.create(params={"name": "Tea"})
    base = {"product": product.id, "currency": "usd", "lookup_key": "tea_standard"}
    first = client.v1.prices.create(params={**base, "unit_amount": 700})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.prices.create(params={**base, "unit_amount": 800})
    assert raised.value.http_status == 400
    assert raised.value.error.param == "lookup_key"
    assert f"A price (`{first.id}`) already uses that lookup key." in raised.value.error.message

    second = client.v1.prices.create(params={**base, "unit_amount": 800, "transfer_lookup_key": True})
    by_key = client.v1.prices.list(params={"lookup_keys": ["tea_standard"]})
    assert second.lookup_key == "tea_standard"
    assert client.v1.prices.retrieve(first.id).lookup_key is None
    assert [p.id for p in by_key.data] == [second.id]

    # Updating a price to a taken key follows the same rule.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.prices.update(first.id, params={"lookup_key": "tea_standard"})
    moved = client.v1.prices.update(first.id, params={"lookup_key": "tea_standard", "transfer_lookup_key": True})
    assert moved.lookup_key == "tea_standard"
    assert client.v1.prices.retrieve(second.id).lookup_key is None
    with pytest.raises(stripe.InvalidRequestError) as too_long:
        client.v1.prices.update(first.id, params={"lookup_key": "k" * 201})
    assert too_long.value.error.param == "lookup_key"
    assert client.v1.prices.update(first.id, params={"lookup_key": "k" * 200}).lookup_key == "k" * 200
    client.v1.prices.update(first.id, params={"lookup_key": "tea_standard"})
    # A price may keep its own key, and that changes nothing.
    updated_before = len(client.v1.events.list(params={"type": "price.updated"}).data)
    assert client.v1.prices.update(first.id, params={"lookup_key": "tea_standard"}).lookup_key == "tea_standard"
    assert len(client.v1.events.list(params={"type": "price.updated"}).data) == updated_before
    events = client.v1.events.list(params={"type": "price.updated"})
    cleared = [e for e in events.data if e.data.object.id == second.id]
    assert cleared and cleared[0].data.previous_attributes.lookup_key == "tea_standard"


def test_fractional_unit_amount_decimal(client):
    product = client.v1.products.create(params={"name": "Sticker"})
    price = client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount_decimal": "0.0050"}
    )
    whole = client.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount_decimal": "250"})

    # stripe-python reads the decimal string as a Decimal.
    assert str(price.unit_amount_decimal) == "0.005"
    assert price.unit_amount is None
    assert whole.unit_amount == 250
    assert str(whole.unit_amount_decimal) == "250"

    # The line's total is rounded, not each unit: 10,000 stickers at half a
    # cent cost 50 cents.
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://shop.example/success",
            "line_items": [
                {"price": price.id, "quantity": 10000},
                {
                    "price_data": {"currency": "usd", "unit_amount_decimal": "16.6666", "product_data": {"name": "Third"}},
                    "quantity": 3,
                },
            ],
        }
    )
    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert [item.amount_total for item in items.data] == [50, 50]
    assert session.amount_total == 100
    assert items.data[1].price.unit_amount is None
    assert str(items.data[1].price.unit_amount_decimal) == "16.6666"


def test_price_in_session_line_item(client):
    product = client.v1.products.create(params={"name": "Tea"})
    price = client.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 700})

    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://shop.example/success",
            "line_items": [{"price": price.id, "quantity": 3}],
        }
    )
    items = client.v1.checkout.sessions.line_items.list(session.id)

    assert session.amount_total == 2100
    assert [item.price.id for item in items.data] == [price.id]
    assert [item.description for item in items.data] == ["Tea"]


def test_product_with_price_cannot_be_deleted(client):
    product = client.v1.products.create(params={"name": "Tea"})
    client.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 700})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.products.delete(product.id)

    assert raised.value.http_status == 400
    assert client.v1.products.retrieve(product.id).id == product.id
