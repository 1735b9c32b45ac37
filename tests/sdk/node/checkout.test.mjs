// Checkout Sessions through stripe-node.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CUSTOMER_EMAIL, SUCCESS_URL, apiBase, freshAccount, rejection, sessionParams } from './helpers.mjs';

test('create session with two line items', async () => {
  const { stripe } = freshAccount();

  const session = await stripe.checkout.sessions.create(sessionParams());

  assert.match(session.id, /^cs_test_/);
  assert.equal(session.object, 'checkout.session');
  assert.equal(session.mode, 'payment');
  assert.equal(session.status, 'open');
  assert.equal(session.payment_status, 'unpaid');
  assert.equal(session.amount_subtotal, 3700);
  assert.equal(session.amount_total, 3700);
  assert.equal(session.currency, 'usd');
  assert.deepEqual(session.metadata, { order_id: 'order_1' });
  // The placeholder stays in the stored URL and is filled in on redirect.
  assert.equal(session.success_url, SUCCESS_URL);
  assert.ok(session.url.startsWith(`${apiBase}/`), session.url);
  assert.equal(session.livemode, false);
  // Since API version 2022-08-01 the payment intent is created on payment.
  assert.equal(session.payment_intent, null);
});

test('retrieve session', async () => {
  const { stripe } = freshAccount();
  const created = await stripe.checkout.sessions.create(sessionParams());

  const session = await stripe.checkout.sessions.retrieve(created.id);

  assert.equal(session.id, created.id);
  assert.equal(session.amount_total, 3700);
  assert.deepEqual(session.metadata, { order_id: 'order_1' });
  assert.equal(session.expires_at - session.created, 24 * 3600);
});

test('update session metadata', async () => {
  const { stripe } = freshAccount();
  const created = await stripe.checkout.sessions.create(
    sessionParams({ metadata: { order_id: 'order_1', note: 'gift' } }),
  );

  const updated = await stripe.checkout.sessions.update(created.id, { metadata: { note: '', channel: 'web' } });
  const retrieved = await stripe.checkout.sessions.retrieve(created.id);

  // An empty value removes a key, and other keys are kept.
  assert.deepEqual(updated.metadata, { order_id: 'order_1', channel: 'web' });
  assert.deepEqual(retrieved.metadata, { order_id: 'order_1', channel: 'web' });
});

test('list sessions auto-paginates with limit 2', async () => {
  const { stripe } = freshAccount();
  const created = [];
  for (let i = 0; i < 5; i++) {
    created.push((await stripe.checkout.sessions.create(sessionParams({ metadata: { index: String(i) } }))).id);
  }

  const firstPage = await stripe.checkout.sessions.list({ limit: 2 });
  const walked = [];
  for await (const session of stripe.checkout.sessions.list({ limit: 2 })) {
    walked.push(session.id);
  }
  const asArray = await stripe.checkout.sessions.list({ limit: 2 }).autoPagingToArray({ limit: 10 });

  assert.deepEqual(firstPage.data.map((s) => s.id), [created[4], created[3]]);
  assert.equal(firstPage.has_more, true);
  assert.deepEqual(walked, [...created].reverse());
  assert.deepEqual(asArray.map((s) => s.id), [...created].reverse());
});

test('list sessions filters by status', async () => {
  const { stripe } = freshAccount();
  const created = [];
  for (let i = 0; i < 5; i++) {
    created.push((await stripe.checkout.sessions.create(sessionParams())).id);
  }
  await stripe.checkout.sessions.expire(created[1]);

  const open = await stripe.checkout.sessions.list({ status: 'open', limit: 2 }).autoPagingToArray({ limit: 10 });
  const expired = await stripe.checkout.sessions.list({ status: 'expired' });

  assert.deepEqual(open.map((s) => s.id), [created[4], created[3], created[2], created[0]]);
  assert.deepEqual(expired.data.map((s) => s.id), [created[1]]);
  assert.equal(expired.has_more, false);
});

test('list sessions filters by payment intent and email', async () => {
  const { stripe, control } = freshAccount();
  const paid = await stripe.checkout.sessions.create(sessionParams());
  await stripe.checkout.sessions.create(sessionParams());
  await control.pay(paid.id);
  const paymentIntent = (await stripe.checkout.sessions.retrieve(paid.id)).payment_intent;

  const byIntent = await stripe.checkout.sessions.list({ payment_intent: paymentIntent });
  const byEmail = await stripe.checkout.sessions.list({ customer_details: { email: CUSTOMER_EMAIL } });
  const byOtherEmail = await stripe.checkout.sessions.list({ customer_details: { email: 'y@example.com' } });

  assert.match(paymentIntent, /^pi_/);
  assert.deepEqual(byIntent.data.map((s) => s.id), [paid.id]);
  assert.deepEqual(byEmail.data.map((s) => s.id), [paid.id]);
  assert.deepEqual(byOtherEmail.data, []);
});

test('expire session twice', async () => {
  const { stripe } = freshAccount();
  const created = await stripe.checkout.sessions.create(sessionParams());

  const expired = await stripe.checkout.sessions.expire(created.id);
  const error = await rejection(stripe.checkout.sessions.expire(created.id));

  assert.equal(expired.id, created.id);
  assert.equal(expired.status, 'expired');
  assert.equal(expired.url, null);
  assert.equal(error.type, 'StripeInvalidRequestError');
  assert.equal(error.rawType, 'invalid_request_error');
  assert.equal(error.statusCode, 400);
  assert.match(error.message, /expired/);
});

test('list line items', async () => {
  const { stripe } = freshAccount();
  const created = await stripe.checkout.sessions.create(sessionParams());

  const items = await stripe.checkout.sessions.listLineItems(created.id);
  const onePerPage = await stripe.checkout.sessions.listLineItems(created.id, { limit: 1 }).autoPagingToArray({ limit: 10 });

  // Line items keep the order they were sent in.
  assert.deepEqual(items.data.map((i) => i.description), ['Mug', 'Tea']);
  assert.deepEqual(items.data.map((i) => i.quantity), [2, 1]);
  assert.deepEqual(items.data.map((i) => i.amount_total), [3000, 700]);
  assert.deepEqual(items.data.map((i) => i.price.unit_amount), [1500, 700]);
  for (const item of items.data) {
    assert.match(item.id, /^li_/);
    assert.match(item.price.id, /^price_/);
    assert.match(item.price.product, /^prod_/);
  }
  assert.deepEqual(onePerPage.map((i) => i.id), items.data.map((i) => i.id));
});

test('line item metadata and unit label', async () => {
  const { stripe } = freshAccount();
  const params = sessionParams();
  params.line_items[0].metadata = { sku: 'MUG-1' };
  params.line_items[0].price_data.product_data.unit_label = 'pcs';
  const created = await stripe.checkout.sessions.create(params);

  const items = await stripe.checkout.sessions.listLineItems(created.id);
  const product = await stripe.products.retrieve(items.data[0].price.product);

  assert.deepEqual(items.data.map((i) => i.metadata), [{ sku: 'MUG-1' }, {}]);
  assert.deepEqual(items.data.map((i) => i.adjustable_quantity), [null, null]);
  assert.equal(product.unit_label, 'pcs');
});

test('line item tax rates are not modelled', async () => {
  const { stripe } = freshAccount();
  const params = sessionParams();
  params.line_items[0].tax_rates = ['txr_nope'];

  const error = await rejection(stripe.checkout.sessions.create(params));

  assert.equal(error.statusCode, 400);
  assert.equal(error.param, 'line_items[0][tax_rates]');
  assert.match(error.message, /does not model/);
});

test('session shows the fields of its API version', async () => {
  const { stripe } = freshAccount();
  const customer = await stripe.customers.create({ email: CUSTOMER_EMAIL });

  const session = await stripe.checkout.sessions.create(sessionParams({ customer: customer.id }));

  assert.deepEqual(session.managed_payments, { enabled: false });
  assert.deepEqual(session.saved_payment_method_options, {
    allow_redisplay_filters: ['always'],
    payment_method_remove: 'disabled',
    payment_method_save: null,
  });
  for (const field of ['currency_conversion', 'customer_account', 'integration_identifier', 'origin_context', 'permissions', 'wallet_options']) {
    assert.equal(session[field], null, field);
  }
});

test('paid session fills redirect and payment intent', async () => {
  const { stripe, control } = freshAccount();
  const created = await stripe.checkout.sessions.create(sessionParams());

  const result = await control.pay(created.id);
  const session = await stripe.checkout.sessions.retrieve(created.id, { expand: ['payment_intent'] });

  assert.equal(result.result, 'succeeded');
  assert.equal(result.redirect_url, `https://shop.example/success?session_id=${created.id}`);
  assert.equal(session.status, 'complete');
  assert.equal(session.payment_status, 'paid');
  assert.equal(session.customer_details.email, CUSTOMER_EMAIL);
  const intent = session.payment_intent;
  assert.match(intent.id, /^pi_/);
  assert.equal(intent.status, 'succeeded');
  assert.equal(intent.amount, 3700);
  assert.equal(intent.amount_received, 3700);
  // Only payment_intent_data.metadata reaches the payment intent.
  assert.deepEqual(intent.metadata, { order_id: 'order_1', source: 'payment_intent_data' });
  assert.deepEqual(session.metadata, { order_id: 'order_1' });
});

test('session expires after 24 hours', async () => {
  const { stripe, control } = freshAccount();
  await control.useManualClock();
  const created = await stripe.checkout.sessions.create(sessionParams());

  await control.advance(24 * 3600 - 1);
  const stillOpen = await stripe.checkout.sessions.retrieve(created.id);
  await control.advance(1);
  const expired = await stripe.checkout.sessions.retrieve(created.id);
  const events = await stripe.events.list({ type: 'checkout.session.expired' });

  assert.equal(stillOpen.status, 'open');
  assert.equal(expired.status, 'expired');
  assert.equal(expired.url, null);
  assert.deepEqual(events.data.map((e) => e.data.object.id), [created.id]);
});
