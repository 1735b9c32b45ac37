// Search of payment intents, customers and charges through stripe-node,
// with Stripe's search query language.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { freshAccount, rejection } from './helpers.mjs';

function createIntent(stripe, { amount = 1000, currency = 'usd', metadata = {} } = {}) {
  return stripe.paymentIntents.create({ amount, currency, allowed_payment_method_types: ['card'], metadata });
}

const ids = (result) => result.data.map((item) => item.id);

test('metadata search finds one order', async () => {
  const { stripe } = freshAccount();
  const order = await createIntent(stripe, { metadata: { order_id: '1234' } });
  for (const near of ['12345', '123', 'order-1234']) {
    await createIntent(stripe, { metadata: { order_id: near } });
  }
  await createIntent(stripe, { metadata: { other_id: '1234' } });

  const found = await stripe.paymentIntents.search({ query: "metadata['order_id']:'1234'" });

  assert.equal(found.object, 'search_result');
  assert.equal(found.url, '/v1/payment_intents/search');
  assert.deepEqual(ids(found), [order.id]);
  assert.equal(found.has_more, false);
  assert.equal(found.next_page, null);
  assert.equal('total_count' in found, false);
});

test('negation, OR and numeric comparison', async () => {
  const { stripe } = freshAccount();
  const usd = await createIntent(stripe, { amount: 1000, currency: 'usd' });
  const eur = await createIntent(stripe, { amount: 2000, currency: 'eur' });
  const gbp = await createIntent(stripe, { amount: 3000, currency: 'gbp' });
  const search = async (query) => ids(await stripe.paymentIntents.search({ query }));

  assert.deepEqual(await search("-currency:'usd'"), [gbp.id, eur.id]);
  assert.deepEqual(await search("currency:'usd' OR currency:'gbp'"), [gbp.id, usd.id]);
  assert.deepEqual(await search('amount>1000 AND amount<=2000'), [eur.id]);
  assert.deepEqual(await search('-amount>=2000'), [usd.id]);
});

test('pagination follows next_page', async () => {
  const { stripe } = freshAccount();
  const batch = [];
  for (let n = 0; n < 5; n += 1) {
    batch.push(await stripe.customers.create({ email: `buyer${n}@example.com`, metadata: { batch: 'b1' } }));
  }
  await stripe.customers.create({ email: 'other@example.com', metadata: { batch: 'b2' } });
  const newestFirst = batch.map((customer) => customer.id).reverse();
  const query = 'metadata["batch"]:"b1"';

  const first = await stripe.customers.search({ query, limit: 2 });
  const second = await stripe.customers.search({ query, limit: 2, page: first.next_page });
  const third = await stripe.customers.search({ query, limit: 2, page: second.next_page });
  const walked = [];
  for await (const customer of stripe.customers.search({ query, limit: 2 })) {
    walked.push(customer.id);
  }

  assert.deepEqual(ids(first), newestFirst.slice(0, 2));
  assert.equal(first.has_more, true);
  assert.deepEqual(ids(second), newestFirst.slice(2, 4));
  assert.equal(second.has_more, true);
  assert.deepEqual(ids(third), newestFirst.slice(4));
  assert.equal(third.has_more, false);
  assert.equal(third.next_page, null);
  assert.deepEqual(walked, newestFirst);

  // A cursor belongs to its resource's search with its query.
  await assert.rejects(
    stripe.paymentIntents.search({ query: "status:'succeeded'", page: first.next_page }),
    (err) => err.statusCode === 400 && err.param === 'page',
  );
  await assert.rejects(
    stripe.customers.search({ query: 'metadata["batch"]:"b2"', page: first.next_page }),
    (err) => err.statusCode === 400 && err.param === 'page',
  );
});

test('total_count when expanded', async () => {
  const { stripe } = freshAccount();
  for (const amount of [1000, 2000, 3000]) {
    await createIntent(stripe, { amount });
  }

  const counted = await stripe.paymentIntents.search({ query: 'amount<3000', limit: 1, expand: ['total_count'] });

  assert.equal(counted.total_count, 2);
  assert.equal(counted.data.length, 1);
  assert.equal(counted.data[0].amount, 2000);
});

test('charge search by card brand', async () => {
  const { stripe } = freshAccount();
  const params = { amount: 4200, currency: 'usd', allowed_payment_method_types: ['card'], confirm: true };
  await stripe.paymentIntents.create({ ...params, payment_method: 'pm_card_visa' });
  const mastercard = await stripe.paymentIntents.create({ ...params, payment_method: 'pm_card_mastercard' });

  const found = await stripe.charges.search({ query: 'payment_method_details.card.brand:"mastercard"' });

  assert.deepEqual(ids(found), [mastercard.latest_charge]);
});

test('invalid query is a 400 naming query', async () => {
  const { stripe } = freshAccount();

  const unquoted = await rejection(stripe.paymentIntents.search({ query: 'status:succeeded' }));
  const mixed = await rejection(stripe.customers.search({ query: "email:'a@b.io' AND name:'a' OR name:'b'" }));
  const unknownField = await rejection(stripe.customers.search({ query: "amount>5" }));

  for (const error of [unquoted, mixed, unknownField]) {
    assert.equal(error.type, 'StripeInvalidRequestError');
    assert.equal(error.statusCode, 400);
    assert.equal(error.param, 'query');
    assert.equal(error.code, 'parameter_invalid');
  }
  assert.match(unquoted.raw.message, /^Invalid search query: Put string values in quotes/);
  assert.match(mixed.raw.message, /^Invalid search query: A query cannot combine AND and OR/);
  assert.match(unknownField.raw.message, /^Invalid search query: `amount` is not a search field of customers/);
});
