"""Search of payment intents, customers, charges, prices and products
through stripe-python, with Stripe's search query language."""

import pytest
import stripe


def create_intent(client, amount=1000, currency="usd", metadata=None, confirm=False):
    params = {"amount": amount, "currency": currency, "allowed_payment_method_types": ["card"], "metadata": metadata or {}}
    if confirm:
        params.update({"payment_method": "pm_card_visa", "confirm": True})
    return client.v1.payment_intents.create(params=params)


def ids(result):
    return [item.id for item in result.data]


def test_class_search_finds_one_order(api_key, api_base, monkeypatch):
    # The call an app makes to reconcile an order, through the resource
    # class and the module's global settings.
    monkeypatch.setattr(stripe, "api_base", api_base)
    client = stripe.StripeClient(api_key, base_addresses={"api": api_base})
    order = create_intent(client, metadata={"order_id": "1234"})
    for near in ("12345", "123", " 1234", "order-1234"):
        create_intent(client, metadata={"order_id": near})
    create_intent(client, metadata={"other_id": "1234"})

    found = stripe.PaymentIntent.search(query="metadata['order_id']:'1234'", api_key=api_key)

    assert found.object == "search_result"
    assert found.url == "/v1/payment_intents/search"
    assert ids(found) == [order.id]
    assert found.data[0].metadata.to_dict() == {"order_id": "1234"}
    assert found.has_more is False
    assert found.next_page is None


def test_negation_or_and_and(client):
    usd = create_intent(client, amount=1000, currency="usd")
    eur = create_intent(client, amount=2000, currency="eur")
    gbp = create_intent(client, amount=3000, currency="gbp")

    not_usd = client.v1.payment_intents.search(params={"query": "-currency:'usd'"})
    usd_or_gbp = client.v1.payment_intents.search(params={"query": 'currency:"USD" OR currency:"gbp"'})
    eur_and_amount = client.v1.payment_intents.search(params={"query": "currency:'eur' AND amount:2000"})
    eur_wrong_amount = client.v1.payment_intents.search(params={"query": "currency:'eur' amount:1000"})

    assert ids(not_usd) == [gbp.id, eur.id]
    assert ids(usd_or_gbp) == [gbp.id, usd.id]
    assert ids(eur_and_amount) == [eur.id]
    assert ids(eur_wrong_amount) == []


def test_numeric_comparisons(client):
    small = create_intent(client, amount=1000)
    middle = create_intent(client, amount=2000)
    large = create_intent(client, amount=3000)

    def search(query):
        return ids(client.v1.payment_intents.search(params={"query": query}))

    assert search("amount>1000") == [large.id, middle.id]
    assert search("amount>=2000 AND amount<3000") == [middle.id]
    assert search("amount<='2000'") == [middle.id, small.id]
    assert search("amount:3000") == [large.id]
    assert search(f"created>={small.created} amount<1500") == [small.id]
    assert search(f"created>{large.created}") == []


def test_status_and_customer_fields(client):
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    paid = client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "allowed_payment_method_types": ["card"],
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    create_intent(client, amount=1500)

    succeeded = client.v1.payment_intents.search(params={"query": "status:'succeeded'"})
    of_customer = client.v1.payment_intents.search(params={"query": f"customer:'{customer.id}'"})

    assert ids(succeeded) == [paid.id]
    assert ids(of_customer) == [paid.id]


def test_pagination_with_next_page(client):
    batch = [client.v1.customers.create(params={"name": f"Batch {n}", "metadata": {"batch": "b1"}}) for n in range(5)]
    client.v1.customers.create(params={"name": "Other", "metadata": {"batch": "b2"}})
    newest_first = [customer.id for customer in reversed(batch)]
    query = 'metadata["batch"]:"b1"'

    first = client.v1.customers.search(params={"query": query, "limit": 2})
    second = client.v1.customers.search(params={"query": query, "limit": 2, "page": first.next_page})
    third = client.v1.customers.search(params={"query": query, "limit": 2, "page": second.next_page})
    walked = [customer.id for customer in client.v1.customers.search(params={"query": query, "limit": 2}).auto_paging_iter()]

    assert ids(first) == newest_first[:2]
    assert first.has_more is True
    assert first.next_page
    assert ids(second) == newest_first[2:4]
    assert second.has_more is True
    assert second.next_page != first.next_page
    assert ids(third) == newest_first[4:]
    assert third.has_more is False
    assert third.next_page is None
    assert walked == newest_first


def test_deleting_while_paging_keeps_the_cursor(client):
    # A cleanup loop deletes each customer it finds, the last one on each
    # page included, and the next page must still come.
    created = [client.v1.customers.create(params={"name": f"Temp {n}"}).id for n in range(7)]
    client.v1.customers.create(params={"name": "Keep"})

    deleted = []
    for customer in client.v1.customers.search(params={"query": 'name~"temp"', "limit": 3}).auto_paging_iter():
        client.v1.customers.delete(customer.id)
        deleted.append(customer.id)

    assert deleted == list(reversed(created))
    assert [c.name for c in client.v1.customers.list().data] == ["Keep"]


def test_total_count_only_when_expanded(client):
    for amount in (1000, 2000, 3000):
        create_intent(client, amount=amount)

    plain = client.v1.payment_intents.search(params={"query": "amount>1000", "limit": 1})
    counted = client.v1.payment_intents.search(params={"query": "amount>1000", "limit": 1, "expand": ["total_count"]})

    assert "total_count" not in plain
    assert counted.total_count == 2
    assert len(counted.data) == 1


def test_customer_email_exact_and_substring(client):
    amy = client.v1.customers.create(params={"email": "amy@rocketrides.io", "name": "Amy Pond"})
    xamy = client.v1.customers.create(params={"email": "xamy@example.com", "name": "Rory Williams"})
    client.v1.customers.create(params={"email": "bob@example.com", "name": "Bob", "phone": "+15550100"})

    def search(query):
        return ids(client.v1.customers.search(params={"query": query}))

    assert search('email:"AMY@rocketrides.io"') == [amy.id]
    assert search('email~"amy"') == [xamy.id, amy.id]
    assert search('name:"amy"') == [amy.id]
    assert search('name:"pond amy"') == []
    assert search("name~'illi'") == [xamy.id]
    assert search("phone:null") == [xamy.id, amy.id]


def test_charge_fields(client):
    visa = client.v1.payment_intents.create(
        params={"amount": 4200, "currency": "usd", "allowed_payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": True}
    )
    mastercard = client.v1.payment_intents.create(
        params={"amount": 4200, "currency": "usd", "allowed_payment_method_types": ["card"], "payment_method": "pm_card_mastercard", "confirm": True}
    )
    client.v1.refunds.create(params={"payment_intent": visa.id, "amount": 1000})

    def search(query):
        return ids(client.v1.charges.search(params={"query": query}))

    assert search('payment_method_details.card.brand:"mastercard"') == [mastercard.latest_charge]
    assert search("payment_method_details.card.last4:4242") == [visa.latest_charge]
    assert search('refunded:"false"') == [visa.latest_charge]
    assert search("refunded:null") == [mastercard.latest_charge]
    assert search('refunded:"true"') == []
    assert search('disputed:"false" AND status:"succeeded"') == [mastercard.latest_charge, visa.latest_charge]


def test_product_and_price_fields(client):
    mug = client.v1.products.create(params={"name": "Blue Mug", "description": "Holds tea", "metadata": {"sku": "M-1"}})
    old = client.v1.products.create(params={"name": "Old Mug", "active": False})
    monthly = client.v1.prices.create(
        params={"product": mug.id, "currency": "usd", "unit_amount": 900, "lookup_key": "mug_monthly", "recurring": {"interval": "month"}}
    )
    once = client.v1.prices.create(params={"product": mug.id, "currency": "eur", "unit_amount": 1200})
    client.v1.prices.create(params={"product": old.id, "currency": "usd", "unit_amount": 500})

    assert ids(client.v1.products.search(params={"query": 'active:"false"'})) == [old.id]
    assert ids(client.v1.products.search(params={"query": "name~'mug' -metadata['sku']:null"})) == [mug.id]
    assert ids(client.v1.products.search(params={"query": "description:'tea'"})) == [mug.id]
    assert ids(client.v1.prices.search(params={"query": f"product:'{mug.id}'"})) == [once.id, monthly.id]
    assert ids(client.v1.prices.search(params={"query": 'type:"recurring"'})) == [monthly.id]
    assert ids(client.v1.prices.search(params={"query": "lookup_key:'mug_monthly' OR currency:'eur'"})) == [once.id, monthly.id]


@pytest.mark.parametrize(
    ("query", "start"),
    [
        ("status:succeeded", "Invalid search query: Put string values in quotes"),
        ("amount~'100'", "Invalid search query: `amount` is a number, so it takes"),
        ("currency:'usd' AND amount:1 OR amount:2", "Invalid search query: A query cannot combine AND and OR"),
        ("colour:'red'", "Invalid search query: `colour` is not a search field of payment intents"),
        ("(status:'succeeded')", "Invalid search query: Parentheses are not supported"),
        (" ".join(["amount:1"] * 11), "Invalid search query: The query has more than 10 clauses"),
    ],
)
def test_invalid_query_is_400(client, query, start):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.search(params={"query": query})

    assert raised.value.http_status == 400
    assert raised.value.error.param == "query"
    assert raised.value.error.code == "parameter_invalid"
    assert raised.value.error.message.startswith(start), raised.value.error.message


def test_missing_query_and_bad_page(client):
    create_intent(client)

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.search(params={})
    with pytest.raises(stripe.InvalidRequestError) as bad_page:
        client.v1.payment_intents.search(params={"query": "amount>0", "page": "not-a-page"})

    assert missing.value.error.param == "query"
    assert missing.value.error.code == "parameter_missing"
    assert bad_page.value.error.param == "page"
    assert bad_page.value.http_status == 400


def test_search_needs_api_version_2020_08_27(client):
    create_intent(client, amount=1000)
    query = {"query": "amount:1000"}

    with pytest.raises(stripe.InvalidRequestError) as old:
        client.v1.payment_intents.search(params=query, options={"stripe_version": "2020-03-02"})
    oldest = client.v1.payment_intents.search(params=query, options={"stripe_version": "2020-08-27"})

    assert old.value.http_status == 400
    assert old.value.error.message.startswith("Search needs API version 2020-08-27 or later")
    assert len(oldest.data) == 1


def test_search_lag_hides_writes_of_the_last_minute(client, control):
    # Looking a customer up by email right after creating it, which Stripe's
    # search guide warns against: the index is up to a minute behind.
    control.use_manual_clock()
    control.request("PUT", "/_fakestripe/faults", {"faults": [{"kind": "search_lag", "seconds": 60}]})
    customer = client.v1.customers.create(params={"email": "ada@example.com", "name": "Ada"})
    by_email = {"query": "email:'ada@example.com'"}
    by_new_name = {"query": "name:'Ada Lovelace'"}

    assert ids(client.v1.customers.search(params=by_email)) == []
    assert client.v1.customers.retrieve(customer.id).email == "ada@example.com"
    trace = control.request("GET", "/_fakestripe/trace")["data"]
    decisions = [entry["detail"] for entry in trace if entry["kind"] == "fault"]
    assert decisions[0]["decision"] == "plan_set"
    assert decisions[1:] == [{"decision": "search_lag", "seconds": 60, "not_indexed": 1, "earlier_versions": 0}]

    control.advance(30)
    client.v1.customers.update(customer.id, params={"name": "Ada Lovelace"})
    control.advance(30)
    found = client.v1.customers.search(params=by_email)
    assert ids(found) == [customer.id]
    assert found.data[0].name == "Ada"
    assert ids(client.v1.customers.search(params=by_new_name)) == []

    control.advance(30)
    assert ids(client.v1.customers.search(params=by_new_name)) == [customer.id]
