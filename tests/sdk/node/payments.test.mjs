// Payment intents, card declines, charges and refunds through stripe-node.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import Stripe from 'stripe';

import { freshAccount, rejection, sessionParams } from './helpers.mjs';

test('confirm with visa succeeds', async () => {
  const { stripe } = freshAccount();
  const intent = await stripe.paymentIntents.create({ amount: 4200, currency: 'usd', allowed_payment_method_types: ['card'], metadata: { order_id: 'order_7' } });

  const confirmed = await stripe.paymentIntents.confirm(intent.id, { payment_method: 'pm_card_visa' });
  const charge = await stripe.charges.retrieve(confirmed.latest_charge);

  assert.match(intent.id, /^pi_/);
  assert.equal(intent.status, 'requires_payment_method');
  assert.ok(intent.client_secret.startsWith(`${intent.id}_secret_`), intent.client_secret);
  assert.equal(confirmed.id, intent.id);
  assert.equal(confirmed.status, 'succeeded');
  assert.equal(confirmed.amount_received, 4200);
  assert.match(confirmed.payment_method, /^pm_/);
  assert.deepEqual(confirmed.metadata, { order_id: 'order_7' });
  assert.match(charge.id, /^ch_/);
  assert.equal(charge.amount, 4200);
  assert.equal(charge.amount_captured, 4200);
  assert.equal(charge.paid, true);
  assert.equal(charge.status, 'succeeded');
  assert.equal(charge.payment_intent, intent.id);
  assert.equal(charge.payment_method_details.card.brand, 'visa');
  assert.equal(charge.payment_method_details.card.last4, '4242');
});

test('create and confirm in one call', async () => {
  const { stripe } = freshAccount();

  const intent = await stripe.paymentIntents.create({
    amount: 1999,
    currency: 'eur', allowed_payment_method_types: ['card'],
    payment_method: 'pm_card_visa',
    confirm: true,
  });

  assert.equal(intent.status, 'succeeded');
  assert.equal(intent.currency, 'eur');
  assert.equal(intent.amount_received, 1999);
  assert.match(intent.latest_charge, /^ch_/);
});

test('declined card raises card error', async () => {
  const { stripe } = freshAccount();
  const intent = await stripe.paymentIntents.create({ amount: 2500, currency: 'usd', allowed_payment_method_types: ['card'] });

  const error = await rejection(stripe.paymentIntents.confirm(intent.id, { payment_method: 'pm_card_chargeDeclined' }));
  const retrieved = await stripe.paymentIntents.retrieve(intent.id);
  const failedCharge = await stripe.charges.retrieve(retrieved.latest_charge);

  assert.ok(error instanceof Stripe.errors.StripeCardError, error.constructor.name);
  assert.equal(error.type, 'StripeCardError');
  assert.equal(error.statusCode, 402);
  assert.equal(error.code, 'card_declined');
  assert.equal(error.decline_code, 'generic_decline');
  assert.equal(error.payment_intent.id, intent.id);
  assert.equal(error.payment_intent.status, 'requires_payment_method');
  assert.equal(retrieved.status, 'requires_payment_method');
  assert.equal(retrieved.last_payment_error.decline_code, 'generic_decline');
  assert.equal(failedCharge.status, 'failed');
  assert.equal(failedCharge.failure_code, 'card_declined');
});

test('insufficient funds decline code', async () => {
  const { stripe } = freshAccount();

  const error = await rejection(
    stripe.paymentIntents.create({
      amount: 2500,
      currency: 'usd', allowed_payment_method_types: ['card'],
      payment_method: 'pm_card_chargeDeclinedInsufficientFunds',
      confirm: true,
    }),
  );

  assert.equal(error.type, 'StripeCardError');
  assert.equal(error.code, 'card_declined');
  assert.equal(error.decline_code, 'insufficient_funds');
});

test('partial then full refund', async () => {
  const { stripe } = freshAccount();
  const intent = await stripe.paymentIntents.create({
    amount: 4200,
    currency: 'usd', allowed_payment_method_types: ['card'],
    payment_method: 'pm_card_visa',
    confirm: true,
  });

  const partial = await stripe.refunds.create({ payment_intent: intent.id, amount: 1000, reason: 'requested_by_customer' });
  const afterPartial = await stripe.charges.retrieve(intent.latest_charge);
  const rest = await stripe.refunds.create({ charge: intent.latest_charge });
  const afterFull = await stripe.charges.retrieve(intent.latest_charge);
  const listed = await stripe.refunds.list({ payment_intent: intent.id });
  const retrieved = await stripe.refunds.retrieve(partial.id);

  assert.match(partial.id, /^re_/);
  assert.equal(partial.status, 'succeeded');
  assert.equal(partial.amount, 1000);
  assert.equal(partial.reason, 'requested_by_customer');
  assert.equal(partial.charge, intent.latest_charge);
  assert.equal(partial.payment_intent, intent.id);
  assert.equal(afterPartial.amount_refunded, 1000);
  assert.equal(afterPartial.refunded, false);
  assert.equal(rest.amount, 3200);
  assert.equal(afterFull.amount_refunded, 4200);
  assert.equal(afterFull.refunded, true);
  assert.deepEqual(listed.data.map((r) => r.id), [rest.id, partial.id]);
  assert.equal(retrieved.amount, 1000);
});

test('refund above remaining amount fails', async () => {
  const { stripe } = freshAccount();
  const intent = await stripe.paymentIntents.create({
    amount: 4200,
    currency: 'usd', allowed_payment_method_types: ['card'],
    payment_method: 'pm_card_visa',
    confirm: true,
  });
  await stripe.refunds.create({ payment_intent: intent.id, amount: 4000 });

  const error = await rejection(stripe.refunds.create({ payment_intent: intent.id, amount: 201 }));
  const charge = await stripe.charges.retrieve(intent.latest_charge);

  assert.equal(error.type, 'StripeInvalidRequestError');
  assert.equal(error.statusCode, 400);
  assert.equal(error.param, 'amount');
  assert.equal(charge.amount_refunded, 4000);
});

test('refund of refunded charge fails', async () => {
  const { stripe } = freshAccount();
  const intent = await stripe.paymentIntents.create({
    amount: 800,
    currency: 'usd', allowed_payment_method_types: ['card'],
    payment_method: 'pm_card_visa',
    confirm: true,
  });
  await stripe.refunds.create({ payment_intent: intent.id });

  const error = await rejection(stripe.refunds.create({ payment_intent: intent.id }));

  assert.equal(error.type, 'StripeInvalidRequestError');
  assert.equal(error.statusCode, 400);
  assert.equal(error.code, 'charge_already_refunded');
});

test('session payment is refundable', async () => {
  const { stripe, control } = freshAccount();
  const session = await stripe.checkout.sessions.create(sessionParams());
  await control.pay(session.id);
  const intentId = (await stripe.checkout.sessions.retrieve(session.id)).payment_intent;

  const refund = await stripe.refunds.create({ payment_intent: intentId });

  assert.equal(refund.amount, 3700);
  assert.equal(refund.payment_intent, intentId);
});

test('confirming succeeded intent fails', async () => {
  const { stripe } = freshAccount();
  const intent = await stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd', allowed_payment_method_types: ['card'],
    payment_method: 'pm_card_visa',
    confirm: true,
  });

  const error = await rejection(stripe.paymentIntents.confirm(intent.id, { payment_method: 'pm_card_visa' }));
  const charges = await stripe.charges.list({ payment_intent: intent.id });

  assert.equal(error.type, 'StripeInvalidRequestError');
  assert.equal(error.statusCode, 400);
  assert.equal(error.code, 'payment_intent_unexpected_state');
  assert.equal(charges.data.length, 1);
});

test('card needing authentication requires action', async () => {
  // Stripe's guide "Migrate your basic card integration": without
  // error_on_requires_action, a payment that needs 3-D Secure leaves
  // server-side confirmation in status requires_action, with next_action
  // telling the client what to do. The test card behind
  // pm_card_authenticationRequired needs authentication on every payment.
  const { stripe } = freshAccount();

  const intent = await stripe.paymentIntents.create({
    amount: 2000,
    currency: 'usd', allowed_payment_method_types: ['card'],
    payment_method: 'pm_card_authenticationRequired',
    confirm: true,
    return_url: 'https://shop.example/return',
  });

  assert.equal(intent.status, 'requires_action');
  assert.notEqual(intent.next_action, null);
  assert.equal(intent.amount_received, 0);
});
