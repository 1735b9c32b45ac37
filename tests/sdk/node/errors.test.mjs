// Errors, idempotency and account isolation as stripe-node reports them.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';

import Stripe from 'stripe';

import { freshAccount, makeClient, rejection, sessionParams } from './helpers.mjs';

test('idempotent retry replays session', async () => {
  const { stripe } = freshAccount();
  const idempotencyKey = `checkout-${randomUUID()}`;

  const first = await stripe.checkout.sessions.create(sessionParams(), { idempotencyKey });
  const second = await stripe.checkout.sessions.create(sessionParams(), { idempotencyKey });
  const listed = await stripe.checkout.sessions.list();

  assert.match(first.id, /^cs_test_/);
  assert.equal(second.id, first.id);
  assert.equal(first.lastResponse.idempotencyKey, idempotencyKey);
  assert.equal(first.lastResponse.headers['idempotent-replayed'], undefined);
  assert.equal(second.lastResponse.idempotencyKey, idempotencyKey);
  assert.equal(second.lastResponse.headers['idempotent-replayed'], 'true');
  assert.notEqual(second.lastResponse.requestId, first.lastResponse.requestId);
  assert.deepEqual(listed.data.map((s) => s.id), [first.id]);
});

test('idempotency key reused with other params', async () => {
  const { stripe } = freshAccount();
  const idempotencyKey = `checkout-${randomUUID()}`;
  await stripe.checkout.sessions.create(sessionParams(), { idempotencyKey });

  const error = await rejection(
    stripe.checkout.sessions.create(sessionParams({ metadata: { order_id: 'order_2' } }), { idempotencyKey }),
  );
  const listed = await stripe.checkout.sessions.list();

  assert.ok(error instanceof Stripe.errors.StripeIdempotencyError, error.constructor.name);
  assert.equal(error.statusCode, 400);
  assert.equal(error.rawType, 'idempotency_error');
  assert.equal(listed.data.length, 1);
});

test('bad api key raises authentication error', async () => {
  const stripe = makeClient('sk_test_not-a-valid-key!');

  const error = await rejection(stripe.checkout.sessions.list());

  assert.ok(error instanceof Stripe.errors.StripeAuthenticationError, error.constructor.name);
  assert.equal(error.type, 'StripeAuthenticationError');
  assert.equal(error.statusCode, 401);
  assert.match(error.message, /Invalid API Key/);
  // The key is masked in the message.
  assert.doesNotMatch(error.message, /not-a-valid-key/);
});

test('missing session raises resource missing', async () => {
  const { stripe } = freshAccount();

  const error = await rejection(stripe.checkout.sessions.retrieve('cs_test_does_not_exist'));

  assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError, error.constructor.name);
  assert.equal(error.statusCode, 404);
  assert.equal(error.code, 'resource_missing');
  assert.equal(error.param, 'session');
  assert.match(error.message, /cs_test_does_not_exist/);
  assert.match(error.requestId, /^req_/);
});

test('missing customer in session names param', async () => {
  const { stripe } = freshAccount();

  const error = await rejection(stripe.checkout.sessions.create(sessionParams({ customer: 'cus_does_not_exist' })));

  // A missing object named in a parameter is a 400; in the path, a 404.
  assert.equal(error.type, 'StripeInvalidRequestError');
  assert.equal(error.statusCode, 400);
  assert.equal(error.code, 'resource_missing');
  assert.equal(error.param, 'customer');
});

test('unknown parameter is named', async () => {
  const { stripe } = freshAccount();

  const error = await rejection(stripe.checkout.sessions.create(sessionParams({ colour: 'red' })));

  assert.equal(error.type, 'StripeInvalidRequestError');
  assert.equal(error.statusCode, 400);
  assert.equal(error.code, 'parameter_unknown');
  assert.equal(error.param, 'colour');
  assert.match(error.message, /colour/);
});

test('unknown nested parameter names full path', async () => {
  const { stripe } = freshAccount();
  const params = sessionParams();
  params.line_items[1].colour = 'red';

  const error = await rejection(stripe.checkout.sessions.create(params));

  assert.equal(error.statusCode, 400);
  assert.equal(error.code, 'parameter_unknown');
  assert.equal(error.param, 'line_items[1][colour]');
});

test('second key cannot see first key session', async () => {
  const first = freshAccount();
  const second = freshAccount();
  const created = await first.stripe.checkout.sessions.create(sessionParams());

  const error = await rejection(second.stripe.checkout.sessions.retrieve(created.id));
  const secondList = await second.stripe.checkout.sessions.list();
  const firstRetrieve = await first.stripe.checkout.sessions.retrieve(created.id);

  assert.equal(error.type, 'StripeInvalidRequestError');
  assert.equal(error.statusCode, 404);
  assert.equal(error.code, 'resource_missing');
  assert.deepEqual(secondList.data, []);
  assert.equal(firstRetrieve.id, created.id);
});

test('idempotent retry replays card decline', async () => {
  const { stripe } = freshAccount();
  const intent = await stripe.paymentIntents.create({ amount: 2500, currency: 'usd', allowed_payment_method_types: ['card'] });
  const idempotencyKey = `confirm-${randomUUID()}`;

  const errors = [];
  for (let i = 0; i < 2; i++) {
    errors.push(
      await rejection(stripe.paymentIntents.confirm(intent.id, { payment_method: 'pm_card_chargeDeclined' }, { idempotencyKey })),
    );
  }
  const charges = await stripe.charges.list({ payment_intent: intent.id });

  // Stripe saves a response once the endpoint began executing, and a card
  // decline is such a response.
  assert.equal(errors[0].headers['idempotent-replayed'], undefined);
  assert.equal(errors[1].headers['idempotent-replayed'], 'true');
  assert.equal(errors[1].type, 'StripeCardError');
  assert.equal(errors[1].statusCode, 402);
  assert.equal(errors[1].decline_code, 'generic_decline');
  assert.equal(errors[1].charge, errors[0].charge);
  assert.equal(charges.data.length, 1);
});

test('idempotency key reusable after validation error', async () => {
  const { stripe } = freshAccount();
  const idempotencyKey = `checkout-${randomUUID()}`;
  const error = await rejection(stripe.checkout.sessions.create(sessionParams({ colour: 'red' }), { idempotencyKey }));

  // A request that failed validation saved nothing under its key.
  const session = await stripe.checkout.sessions.create(sessionParams(), { idempotencyKey });

  assert.equal(error.code, 'parameter_unknown');
  assert.match(session.id, /^cs_test_/);
  assert.equal(session.lastResponse.headers['idempotent-replayed'], undefined);
});
