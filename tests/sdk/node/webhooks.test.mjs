// Webhook endpoints, events, and deliveries that stripe-node's
// `stripe.webhooks.constructEvent` must accept, or reject once tampered with.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import Stripe from 'stripe';

import { WebhookReceiver, freshAccount, sessionParams } from './helpers.mjs';

// Events that paying a session by card produces, in order.
const CARD_PAYMENT_EVENTS = [
  'payment_intent.created',
  'charge.succeeded',
  'payment_intent.succeeded',
  'checkout.session.completed',
  'charge.updated',
];

async function register(stripe, url, enabledEvents = ['*']) {
  const endpoint = await stripe.webhookEndpoints.create({ url, enabled_events: enabledEvents });
  return { endpoint, secret: endpoint.secret };
}

function typesOf(deliveries) {
  return deliveries.map((d) => JSON.parse(d.body.toString('utf8')).type);
}

function hasAllCardEvents(deliveries) {
  const types = new Set(typesOf(deliveries));
  return CARD_PAYMENT_EVENTS.every((type) => types.has(type));
}

async function withReceiver(options, body) {
  const receiver = await new WebhookReceiver(options).start();
  try {
    return await body(receiver);
  } finally {
    await receiver.close();
  }
}

test('webhook endpoint secret only on create', async () => {
  const { stripe } = freshAccount();
  const { endpoint, secret } = await register(stripe, 'http://127.0.0.1:9/webhooks', ['checkout.session.completed']);

  const retrieved = await stripe.webhookEndpoints.retrieve(endpoint.id);
  const listed = await stripe.webhookEndpoints.list();

  assert.match(endpoint.id, /^we_/);
  assert.match(secret, /^whsec_./);
  assert.equal(endpoint.status, 'enabled');
  assert.deepEqual(endpoint.enabled_events, ['checkout.session.completed']);
  assert.equal(retrieved.url, 'http://127.0.0.1:9/webhooks');
  assert.equal(retrieved.secret, undefined);
  assert.deepEqual(listed.data.map((e) => e.id), [endpoint.id]);
});

test('events list type filter', async () => {
  const { stripe, control } = freshAccount();
  const session = await stripe.checkout.sessions.create(sessionParams());
  await control.pay(session.id);

  const completed = await stripe.events.list({ type: 'checkout.session.completed' });
  const intentEvents = await stripe.events.list({ type: 'payment_intent.*' });
  const everyType = await stripe.events.list({ limit: 2 }).autoPagingToArray({ limit: 100 });

  assert.equal(completed.data.length, 1);
  const event = completed.data[0];
  assert.match(event.id, /^evt_/);
  assert.equal(event.type, 'checkout.session.completed');
  assert.equal(event.data.object.id, session.id);
  assert.equal(event.data.object.payment_status, 'paid');
  assert.deepEqual(intentEvents.data.map((e) => e.type), ['payment_intent.succeeded', 'payment_intent.created']);
  // Events are listed newest first.
  assert.deepEqual(everyType.map((e) => e.type), [...CARD_PAYMENT_EVENTS].reverse());
  assert.equal((await stripe.events.retrieve(event.id)).type, 'checkout.session.completed');
});

test('real-time deliveries verify', async () => {
  const { stripe, control } = freshAccount();
  await control.useRealTimeClock();
  await withReceiver({}, async (receiver) => {
    const { secret } = await register(stripe, receiver.url);
    const session = await stripe.checkout.sessions.create(sessionParams());

    await control.pay(session.id);
    const deliveries = await receiver.waitFor(hasAllCardEvents, 10_000);
    const events = deliveries.map((d) => stripe.webhooks.constructEvent(d.body, d.signature, secret));
    const listed = new Set((await stripe.events.list({ limit: 100 })).data.map((e) => e.id));

    assert.deepEqual(events.map((e) => e.type), CARD_PAYMENT_EVENTS);
    const completed = events.find((e) => e.type === 'checkout.session.completed');
    assert.equal(completed.data.object.id, session.id);
    assert.deepEqual(completed.data.object.metadata, { order_id: 'order_1' });
    for (const event of events) {
      assert.ok(listed.has(event.id), `${event.id} is missing from GET /v1/events`);
    }
    // Signatures carry the wall-clock time, so they pass the SDK's default
    // tolerance of 300 s.
    const timestamp = Number(deliveries[0].signature.split(',')[0].replace('t=', ''));
    assert.ok(Math.abs(timestamp - Date.now() / 1000) < 60, `signature timestamp ${timestamp}`);
  });
});

test('tampered delivery fails verification', async () => {
  const { stripe, control } = freshAccount();
  await control.useRealTimeClock();
  await withReceiver({}, async (receiver) => {
    const { secret } = await register(stripe, receiver.url);
    const session = await stripe.checkout.sessions.create(sessionParams());
    await control.pay(session.id);
    const [delivery] = await receiver.waitFor(hasAllCardEvents, 10_000);
    stripe.webhooks.constructEvent(delivery.body, delivery.signature, secret);

    const text = delivery.body.toString('utf8');
    const tampered = text.replace('"livemode": false', '"livemode": true');

    assert.notEqual(tampered, text);
    assert.throws(
      () => stripe.webhooks.constructEvent(tampered, delivery.signature, secret),
      Stripe.errors.StripeSignatureVerificationError,
    );
    assert.throws(
      () => stripe.webhooks.constructEvent(delivery.body, delivery.signature, 'whsec_not_the_endpoint_secret'),
      Stripe.errors.StripeSignatureVerificationError,
    );
  });
});

test('manual clock delivers on advance', async () => {
  const { stripe, control } = freshAccount();
  await control.useManualClock();
  await withReceiver({}, async (receiver) => {
    const { secret } = await register(stripe, receiver.url);
    const session = await stripe.checkout.sessions.create(sessionParams());

    await control.pay(session.id);
    await sleep(500);
    const beforeAdvance = receiver.deliveries.length;
    const advanced = await control.advance(0);
    const events = receiver.deliveries.map((d) => stripe.webhooks.constructEvent(d.body, d.signature, secret));

    assert.equal(beforeAdvance, 0);
    assert.equal(advanced.mode, 'manual');
    assert.equal(advanced.ran, CARD_PAYMENT_EVENTS.length);
    assert.deepEqual(events.map((e) => e.type), CARD_PAYMENT_EVENTS);
  });
});

test('failed delivery is retried', async () => {
  const { stripe, control } = freshAccount();
  await control.useManualClock();
  await withReceiver({ failuresPerEvent: 2 }, async (receiver) => {
    const { endpoint, secret } = await register(stripe, receiver.url, ['checkout.session.completed']);
    const session = await stripe.checkout.sessions.create(sessionParams());
    await control.pay(session.id);
    const eventId = (await stripe.events.list({ type: 'checkout.session.completed' })).data[0].id;

    const counts = [];
    for (const seconds of [0, 59, 1, 299, 1]) {
      await control.advance(seconds);
      counts.push(receiver.deliveries.length);
    }
    const deliveries = receiver.deliveries;
    const attempts = await control.deliveries(eventId);
    const event = await stripe.events.retrieve(eventId);

    assert.deepEqual(counts, [1, 1, 2, 2, 3]);
    assert.deepEqual(deliveries.map((d) => d.answered), [500, 500, 200]);
    assert.deepEqual(new Set(deliveries.map((d) => JSON.parse(d.body.toString('utf8')).id)), new Set([eventId]));
    // The third attempt is sent 360 virtual seconds later and still verifies.
    assert.equal(stripe.webhooks.constructEvent(deliveries[2].body, deliveries[2].signature, secret).id, eventId);
    assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3]);
    assert.deepEqual(attempts.map((a) => a.status), [500, 500, 200]);
    assert.ok(attempts.every((a) => a.endpoint === endpoint.id));
    assert.equal(attempts[1].sent_at - attempts[0].sent_at, 60);
    assert.equal(attempts[2].sent_at - attempts[1].sent_at, 300);
    assert.equal(event.pending_webhooks, 0);
  });
});
