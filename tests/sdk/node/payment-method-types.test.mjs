// payment_method_types and its replacements under the API version that
// stripe-node pins. From 2026-09-30.endive, Stripe rejects
// payment_method_types on Checkout Session create and on payment intent
// create, update and confirm; allowed_payment_method_types and
// excluded_payment_method_types choose the methods instead.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import Stripe from 'stripe';

import { freshAccount, rejection, sessionParams } from './helpers.mjs';

const EUR_ITEM = { price_data: { currency: 'eur', unit_amount: 2500, product_data: { name: 'Mug' } }, quantity: 1 };

test('pinned version is after the removal', () => {
  assert.ok(Stripe.API_VERSION >= '2026-09-30', Stripe.API_VERSION);
});

test('session rejects payment_method_types', async () => {
  const { stripe } = freshAccount();

  const error = await rejection(stripe.checkout.sessions.create(sessionParams({ payment_method_types: ['card'] })));

  assert.equal(error.statusCode, 400);
  assert.equal(error.code, 'payment_method_types_no_longer_supported');
  assert.equal(error.param, 'payment_method_types');
  assert.match(error.message, /allowed_payment_method_types/);
  assert.deepEqual((await stripe.checkout.sessions.list()).data, []);
});

test('intent calls reject payment_method_types', async () => {
  const { stripe } = freshAccount();
  const intent = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
  const calls = {
    create: () => stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method_types: ['card'] }),
    update: () => stripe.paymentIntents.update(intent.id, { payment_method_types: ['card'] }),
    confirm: () =>
      stripe.paymentIntents.confirm(intent.id, { payment_method: 'pm_card_visa', payment_method_types: ['card'] }),
  };

  for (const [name, call] of Object.entries(calls)) {
    const error = await rejection(call());
    assert.equal(error.code, 'payment_method_types_no_longer_supported', name);
    assert.equal(error.param, 'payment_method_types', name);
  }
  assert.equal((await stripe.paymentIntents.retrieve(intent.id)).status, 'requires_payment_method');
});

test('older version keeps payment_method_types', async () => {
  const { stripe } = freshAccount();
  const older = { apiVersion: '2026-03-25.dahlia' };

  const session = await stripe.checkout.sessions.create(sessionParams({ payment_method_types: ['card'] }), older);
  const error = await rejection(
    stripe.checkout.sessions.create(sessionParams({ allowed_payment_method_types: ['card'] }), older),
  );

  assert.deepEqual(session.payment_method_types, ['card']);
  assert.equal(error.code, 'parameter_unknown');
  assert.equal(error.param, 'allowed_payment_method_types');
});

test('session allowed sepa_debit pays by SEPA', async () => {
  const { stripe, control } = freshAccount();
  const session = await stripe.checkout.sessions.create(
    sessionParams({ line_items: [EUR_ITEM], allowed_payment_method_types: ['sepa_debit'] }),
  );

  const page = await (await fetch(session.url)).text();
  const paid = await control.request('POST', `/_fakestripe/checkout/sessions/${session.id}/pay`, {
    payment_method: 'sepa_debit',
    outcome: 'succeeded',
  });

  assert.deepEqual(session.allowed_payment_method_types, ['sepa_debit']);
  assert.deepEqual(session.payment_method_types, ['sepa_debit']);
  assert.ok(page.includes('id="method-sepa_debit"'));
  assert.ok(!page.includes('id="method-card"'));
  assert.equal(paid.result, 'processing');
  const completed = await stripe.checkout.sessions.retrieve(session.id);
  assert.equal(completed.status, 'complete');
  const intent = await stripe.paymentIntents.retrieve(completed.payment_intent);
  assert.deepEqual(intent.payment_method_types, ['sepa_debit']);
});

test('session excluded card leaves SEPA', async () => {
  const { stripe, control } = freshAccount();

  const session = await stripe.checkout.sessions.create(
    sessionParams({ line_items: [EUR_ITEM], excluded_payment_method_types: ['card'] }),
  );
  const byCard = await rejection(control.pay(session.id));

  assert.deepEqual(session.payment_method_types, ['sepa_debit']);
  assert.deepEqual(session.excluded_payment_method_types, ['card']);
  assert.equal(session.allowed_payment_method_types, null);
  assert.match(byCard.message, /HTTP 400/);
});

test('intent allowed filters by currency', async () => {
  const { stripe } = freshAccount();

  const intent = await stripe.paymentIntents.create({
    amount: 1000,
    currency: 'eur',
    allowed_payment_method_types: ['sepa_debit', 'us_bank_account'],
  });

  assert.deepEqual(intent.payment_method_types, ['sepa_debit']);
  assert.deepEqual(intent.allowed_payment_method_types, ['sepa_debit', 'us_bank_account']);
  assert.equal(intent.automatic_payment_methods, null);
});
