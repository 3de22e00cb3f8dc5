import { AGGREGATE_TOPICS } from '@bitvelocity/core';
import { applyOutboxConnector, defaultOutboxConnector } from '@bitvelocity/ingest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotifyServer } from '../src/index.js';
import { TestClient } from './client.js';
import { config, createTopics, type Issuer, startIssuer, startServer } from './harness.js';

// End to end on the shared stack: the order service commits (Postgres, outbox), Debezium publishes to
// ecommerce.order, the notify server reads that topic and pushes to the subscribed client of the order's tenant.
let issuer: Issuer;
let server: NotifyServer;
const clients: TestClient[] = [];

beforeAll(async () => {
  await applyOutboxConnector(config, defaultOutboxConnector());
  issuer = await startIssuer();
  const { devices } = await createTopics();
  server = await startServer({ orders: AGGREGATE_TOPICS[2], devices }, issuer.jwtSecret);
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.terminate();
  await server?.close();
  await issuer?.close();
});

describe('orders placed and paid through the services', () => {
  it("reach the tenant's subscribed client through CDC as created then paid, and no other tenant's client", async () => {
    const a = new TestClient(`${server.url}/v1/notifications`, await issuer.token('readerA'));
    const b = new TestClient(`${server.url}/v1/notifications`, await issuer.token('readerB'));
    clients.push(a, b);
    await a.subscribe({ streams: ['orders'] });
    await b.subscribe({ streams: ['orders'] });

    const customer = await issuer.call('readerA', {
      method: 'POST',
      url: '/v1/customers',
      payload: { email: 'ada@example.com', name: 'Ada', segment: 'consumer' },
    });
    const product = await issuer.call('readerA', {
      method: 'POST',
      url: '/v1/products',
      payload: { sku: 'BOOK', name: 'Book', category: 'c', price: '12.50', currency: 'EUR' },
    });
    const order = await issuer.call('readerA', {
      method: 'POST',
      url: '/v1/orders',
      payload: {
        customerId: customer.json().customerId,
        currency: 'EUR',
        lines: [{ productId: product.json().productId, quantity: 2 }],
      },
    });
    expect(order.statusCode).toBe(201);
    const orderId = order.json().orderId as string;
    const paid = await issuer.call('readerA', {
      method: 'POST',
      url: `/v1/orders/${orderId}/pay`,
      payload: { paymentReference: 'PAY-1' },
    });
    expect(paid.statusCode).toBe(200);

    const got = await a.waitForNotifications(2, 90_000);
    expect(got.map((m) => [m.orderId, m.status, m.tenantId])).toEqual([
      [orderId, 'created', issuer.tenantA],
      [orderId, 'paid', issuer.tenantA],
    ]);
    expect(got[1]).toMatchObject({ eventType: 'ecommerce.order.paid.v1', payload: { orderId, status: 'paid' } });
    await new Promise((r) => setTimeout(r, 500));
    expect(b.notifications()).toEqual([]);
  }, 120_000);
});
