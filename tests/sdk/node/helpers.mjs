// Helpers for running stripe-node against fakestripe.
//
// STRIPE_API_BASE is the fake's base URL and STRIPE_SECRET_KEY a test-mode
// key. Each test derives its own key from that key, and each key is a
// separate account in the fake, so no test reads another test's objects.

import { randomUUID } from 'node:crypto';
import http from 'node:http';

import Stripe from 'stripe';

export const VISA = '4242424242424242';
export const CUSTOMER_EMAIL = 'x@example.com';
export const SUCCESS_URL = 'https://shop.example/success?session_id={CHECKOUT_SESSION_ID}';

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run this suite through tests/tests/sdk.rs or set it by hand`);
  }
  return value;
}

export const apiBase = requiredEnv('STRIPE_API_BASE').replace(/\/+$/, '');

export function freshKey() {
  return `${requiredEnv('STRIPE_SECRET_KEY')}_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
}

export function makeClient(key) {
  const url = new URL(apiBase);
  return new Stripe(key, { host: url.hostname, port: Number(url.port), protocol: 'http' });
}

/** Creates a fresh account and returns its key, a stripe-node client and a control API client. */
export function freshAccount() {
  const key = freshKey();
  return { key, stripe: makeClient(key), control: new Control(key) };
}

/**
 * Parameters of a payment-mode session with two line items worth 3700 cents
 * in total: two mugs at 1500 and one tea at 700.
 */
export function sessionParams(overrides = {}) {
  return {
    mode: 'payment',
    success_url: SUCCESS_URL,
    cancel_url: 'https://shop.example/cart',
    line_items: [
      { price_data: { currency: 'usd', unit_amount: 1500, product_data: { name: 'Mug' } }, quantity: 2 },
      { price_data: { currency: 'usd', unit_amount: 700, product_data: { name: 'Tea' } }, quantity: 1 },
    ],
    metadata: { order_id: 'order_1' },
    payment_intent_data: { metadata: { order_id: 'order_1', source: 'payment_intent_data' } },
    ...overrides,
  };
}

/** Client for the fake's control API under /_fakestripe, for one account. */
export class Control {
  constructor(key) {
    this.key = key;
  }

  async request(method, path, body) {
    const response = await fetch(apiBase + path, {
      method,
      headers: { Authorization: `Bearer ${this.key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`${method} ${path} failed with HTTP ${response.status}: ${text}`);
    }
    return JSON.parse(text);
  }

  pay(sessionId, cardNumber = VISA, email = CUSTOMER_EMAIL) {
    return this.request('POST', `/_fakestripe/checkout/sessions/${sessionId}/pay`, {
      payment_method: 'card',
      card_number: cardNumber,
      email,
    });
  }

  useManualClock() {
    return this.request('POST', '/_fakestripe/clock', { mode: 'manual' });
  }

  useRealTimeClock() {
    return this.request('POST', '/_fakestripe/clock', { mode: 'real_time', speed: 1 });
  }

  /** Moves the clock forward. The promise resolves after every due delivery has finished. */
  advance(seconds) {
    return this.request('POST', '/_fakestripe/clock/advance', { seconds });
  }

  async deliveries(eventId) {
    const query = eventId === undefined ? '' : `?event_id=${encodeURIComponent(eventId)}`;
    return (await this.request('GET', `/_fakestripe/deliveries${query}`)).data;
  }
}

/**
 * An HTTP server on 127.0.0.1 that records each webhook delivery. It responds
 * with 500 to the first `failuresPerEvent` attempts of each event and with 200
 * to the rest.
 */
export class WebhookReceiver {
  constructor({ failuresPerEvent = 0 } = {}) {
    this.failuresPerEvent = failuresPerEvent;
    this.deliveries = [];
    this.attempts = new Map();
    this.waiters = new Set();
    this.server = http.createServer((request, response) => {
      const chunks = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        const status = this.record(body, request.headers['stripe-signature']);
        response.writeHead(status, { 'Content-Length': '0' });
        response.end();
      });
    });
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.server.address().port}/webhooks/stripe`;
  }

  record(body, signature) {
    let eventId = null;
    try {
      eventId = JSON.parse(body.toString('utf8')).id ?? null;
    } catch {
      // A body that is not JSON still counts as an attempt.
    }
    const attempt = (this.attempts.get(eventId) ?? 0) + 1;
    this.attempts.set(eventId, attempt);
    const status = attempt <= this.failuresPerEvent ? 500 : 200;
    this.deliveries.push({ body, signature, answered: status });
    for (const wake of this.waiters) wake();
    return status;
  }

  /** Resolves with the deliveries once `predicate(deliveries)` is true. */
  waitFor(predicate, timeoutMs) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this.deliveries)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve([...this.deliveries]);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        const types = this.deliveries.map((d) => JSON.parse(d.body.toString('utf8')).type);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for deliveries; received: ${types.join(', ')}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close() {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(resolve));
  }
}

/** Awaits `promise` and returns the error it rejects with. Throws if it resolves. */
export async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the request to fail, but it succeeded');
}
