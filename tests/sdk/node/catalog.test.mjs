// Customers, products and prices: create, retrieve, update, list and delete
// through stripe-node.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { freshAccount, rejection } from './helpers.mjs';

test('customer crud', async () => {
  const { stripe } = freshAccount();
  const created = await stripe.customers.create({ email: 'ada@example.com', name: 'Ada', metadata: { crm_id: '42' } });
  await stripe.customers.create({ email: 'bob@example.com' });

  const retrieved = await stripe.customers.retrieve(created.id);
  const updated = await stripe.customers.update(created.id, { name: 'Ada Lovelace', metadata: { tier: 'gold' } });
  const byEmail = await stripe.customers.list({ email: 'ada@example.com' });
  const deleted = await stripe.customers.del(created.id);
  const remaining = await stripe.customers.list();

  assert.match(created.id, /^cus_/);
  assert.equal(created.object, 'customer');
  assert.equal(retrieved.email, 'ada@example.com');
  assert.deepEqual(retrieved.metadata, { crm_id: '42' });
  assert.equal(updated.name, 'Ada Lovelace');
  assert.deepEqual(updated.metadata, { crm_id: '42', tier: 'gold' });
  assert.deepEqual(byEmail.data.map((c) => c.id), [created.id]);
  assert.equal(deleted.id, created.id);
  assert.equal(deleted.deleted, true);
  assert.deepEqual(remaining.data.map((c) => c.email), ['bob@example.com']);
});

test('deleted customer retrieves as deleted', async () => {
  // Stripe's reference for GET /v1/customers/{id}: a deleted customer comes
  // back as a subset of its fields with `deleted: true`, not a 404.
  const { stripe } = freshAccount();
  const created = await stripe.customers.create({ email: 'gone@example.com' });
  await stripe.customers.del(created.id);

  const retrieved = await stripe.customers.retrieve(created.id);

  assert.equal(retrieved.id, created.id);
  assert.equal(retrieved.deleted, true);
});

test('product crud', async () => {
  const { stripe } = freshAccount();
  const created = await stripe.products.create({ name: 'Mug', description: 'Blue', metadata: { sku: 'M-1' } });
  const archived = await stripe.products.create({ name: 'Old mug', active: false });

  const retrieved = await stripe.products.retrieve(created.id);
  const updated = await stripe.products.update(created.id, { name: 'Large mug', description: '' });
  const active = await stripe.products.list({ active: true });
  const inactive = await stripe.products.list({ active: false });
  const deleted = await stripe.products.del(created.id);
  const error = await rejection(stripe.products.retrieve(created.id));

  assert.match(created.id, /^prod_/);
  assert.equal(created.active, true);
  assert.equal(retrieved.name, 'Mug');
  assert.deepEqual(retrieved.metadata, { sku: 'M-1' });
  assert.equal(updated.name, 'Large mug');
  assert.equal(updated.description, null);
  assert.deepEqual(active.data.map((p) => p.id), [created.id]);
  assert.deepEqual(inactive.data.map((p) => p.id), [archived.id]);
  assert.equal(deleted.deleted, true);
  assert.equal(error.statusCode, 404);
  assert.equal(error.code, 'resource_missing');
});

test('price crud', async () => {
  const { stripe } = freshAccount();
  const product = await stripe.products.create({ name: 'Tea' });
  const other = await stripe.products.create({ name: 'Coffee' });

  const price = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 700, lookup_key: 'tea_small' });
  await stripe.prices.create({ product: other.id, currency: 'usd', unit_amount: 900 });
  const retrieved = await stripe.prices.retrieve(price.id);
  const updated = await stripe.prices.update(price.id, { nickname: 'Small tea', active: false });
  const byProduct = await stripe.prices.list({ product: product.id });
  const byLookupKey = await stripe.prices.list({ lookup_keys: ['tea_small'] });
  const active = await stripe.prices.list({ active: true });

  assert.match(price.id, /^price_/);
  assert.equal(price.unit_amount, 700);
  assert.equal(price.currency, 'usd');
  assert.equal(price.type, 'one_time');
  assert.equal(price.product, product.id);
  assert.equal(retrieved.lookup_key, 'tea_small');
  assert.equal(updated.nickname, 'Small tea');
  assert.equal(updated.active, false);
  assert.deepEqual(byProduct.data.map((p) => p.id), [price.id]);
  assert.deepEqual(byLookupKey.data.map((p) => p.id), [price.id]);
  assert.deepEqual(active.data.map((p) => p.unit_amount), [900]);
});

test('price in session line item', async () => {
  const { stripe } = freshAccount();
  const product = await stripe.products.create({ name: 'Tea' });
  const price = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 700 });

  const session = await stripe.checkout.sessions.create({
    mode: 'payment',
    success_url: 'https://shop.example/success',
    line_items: [{ price: price.id, quantity: 3 }],
  });
  const items = await stripe.checkout.sessions.listLineItems(session.id);

  assert.equal(session.amount_total, 2100);
  assert.deepEqual(items.data.map((i) => i.price.id), [price.id]);
  assert.deepEqual(items.data.map((i) => i.description), ['Tea']);
});

test('product with price cannot be deleted', async () => {
  const { stripe } = freshAccount();
  const product = await stripe.products.create({ name: 'Tea' });
  await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 700 });

  const error = await rejection(stripe.products.del(product.id));
  const stillThere = await stripe.products.retrieve(product.id);

  assert.equal(error.type, 'StripeInvalidRequestError');
  assert.equal(error.statusCode, 400);
  assert.equal(stillThere.id, product.id);
});
