import { randomUUID } from 'node:crypto';
import { produce } from '@bitvelocity/infra/testing';
import { Admin } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotifyServer } from '../src/index.js';
import { TestClient } from './client.js';
import {
  anomalyEvent,
  brokers,
  createTopics,
  type Issuer,
  type OrderStatus,
  orderEvent,
  send,
  signToken,
  startIssuer,
  startServer,
  type Topics,
} from './harness.js';

let issuer: Issuer;
let topics: Topics;
/** A replay buffer of 6 notifications: a short disconnect resumes from memory, a long one from Kafka. */
let server: NotifyServer;
const clients: TestClient[] = [];
const endpoint = () => `${server.url}/v1/notifications`;

async function client(user: 'readerA' | 'readerB' | 'writerOnlyA' | null, token?: string): Promise<TestClient> {
  const c = new TestClient(endpoint(), token ?? (user ? await issuer.token(user) : undefined));
  clients.push(c);
  return c;
}

beforeAll(async () => {
  issuer = await startIssuer();
  topics = await createTopics();
  server = await startServer(topics, issuer.jwtSecret, 6);
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.terminate();
  await server?.close();
  await issuer?.close();
});

const statusesOf = (messages: Record<string, unknown>[]) => messages.map((m) => `${m.orderId}:${m.status}`);

describe('order status notifications', () => {
  it("reach the subscribed client of the order's tenant, in order per order, and never another tenant's client", async () => {
    const a = await client('readerA');
    const b = await client('readerB');
    const onlyOne = await client('readerA');
    const [first, second, foreign] = [`o-${randomUUID()}`, `o-${randomUUID()}`, `o-${randomUUID()}`];
    expect(await a.subscribe({ streams: ['orders'] })).toMatchObject({ type: 'subscribed', streams: ['orders'] });
    await b.subscribe({ streams: ['orders', 'devices'] });
    await onlyOne.subscribe({ streams: ['orders'], orderIds: [second] });

    const events: [string, string, OrderStatus][] = [
      [issuer.tenantA, first, 'created'],
      [issuer.tenantA, second, 'created'],
      [issuer.tenantB, foreign, 'created'],
      [issuer.tenantA, first, 'paid'],
      [issuer.tenantA, second, 'cancelled'],
      [issuer.tenantA, first, 'shipped'],
    ];
    await send(
      topics.orders,
      events.map(([tenant, order, status]) => orderEvent(tenant, order, status)),
    );

    const got = await a.waitForNotifications(5);
    expect(got.filter((m) => m.orderId === first).map((m) => m.status)).toEqual(['created', 'paid', 'shipped']);
    expect(got.filter((m) => m.orderId === second).map((m) => m.status)).toEqual(['created', 'cancelled']);
    expect(got.every((m) => m.tenantId === issuer.tenantA && m.kind === 'order.status')).toBe(true);
    expect(got[0]).toMatchObject({ eventType: expect.stringMatching(/^ecommerce\.order\.\w+\.v1$/) });
    expect(statusesOf(await onlyOne.waitForNotifications(2))).toEqual([`${second}:created`, `${second}:cancelled`]);
    expect(statusesOf(await b.waitForNotifications(1))).toEqual([`${foreign}:created`]);
    // Nothing more arrives: a's five and b's one were all there is.
    await new Promise((r) => setTimeout(r, 500));
    expect(a.notifications()).toHaveLength(5);
    expect(b.notifications()).toHaveLength(1);
    expect(onlyOne.notifications()).toHaveLength(2);
  });

  it('skips records that are not status changes or not decodable, and keeps delivering', async () => {
    const a = await client('readerA');
    await a.subscribe({ streams: ['orders'] });
    const order = `o-${randomUUID()}`;
    await send(topics.orders, [
      { key: order, value: 'not json {' },
      { key: order, value: JSON.stringify({ eventType: 'ecommerce.order.created.v1', payload: {} }) },
      { key: order, value: JSON.stringify({ eventType: 'ecommerce.product.created.v1', tenantId: issuer.tenantA }) },
      orderEvent(issuer.tenantA, order, 'created'),
    ]);
    expect(statusesOf(await a.waitForNotifications(1))).toEqual([`${order}:created`]);
    const metrics = await (await fetch(`${server.url.replace('ws', 'http')}/metrics`)).text();
    expect(metrics).toMatch(/bv_notify_records_skipped_total\{topic="[^"]+",reason="undecodable"\} [1-9]/);
    expect(metrics).toMatch(/reason="malformed"\} [1-9]/);
  });
});

describe('resume without gap or duplicate', () => {
  /**
   * A client reads part of a stream, loses its connection while orders keep coming, and resumes with the token of the
   * last notification it handled: what it holds in the end is exactly what was published for its tenant.
   */
  async function disconnectAndResume(missed: number) {
    const orders = Array.from({ length: 4 }, () => `o-${randomUUID()}`);
    const published: { eventId: string; order: string }[] = [];
    const statuses: OrderStatus[] = ['created', 'paid', 'shipped'];
    const batch = (from: number, count: number) => {
      const records = [];
      for (let i = from; i < from + count; i++) {
        const order = orders[i % orders.length] as string;
        const status = statuses[Math.floor(i / orders.length) % statuses.length] as OrderStatus;
        const event = orderEvent(issuer.tenantA, order, status);
        published.push({ eventId: event.eventId, order });
        records.push(event);
      }
      return records;
    };
    const first = await client('readerA');
    await first.subscribe({ streams: ['orders'] });
    await send(topics.orders, batch(0, 4));
    await first.waitForNotifications(4);
    first.terminate();
    await first.end();
    const token = first.lastToken();
    await send(topics.orders, batch(4, missed));

    const second = await client('readerA');
    await second.subscribe({ streams: ['orders'], resumeToken: token });
    const caughtUp = await second.next((m) => m.type === 'caught_up');
    await send(topics.orders, batch(4 + missed, 3));
    const resumed = await second.waitForNotifications(missed + 3);
    await new Promise((r) => setTimeout(r, 300));
    const all = [...first.notifications(), ...second.notifications()].map((m) => m.eventId as string);
    expect(new Set(all).size).toBe(all.length); // no duplicate
    expect([...all].sort()).toEqual(published.map((p) => p.eventId).sort()); // no gap
    // Per order (one partition each) the delivery order is exactly the publication order.
    const delivered = [...first.notifications(), ...resumed];
    for (const order of orders) {
      expect(delivered.filter((m) => m.orderId === order).map((m) => m.eventId)).toEqual(
        published.filter((p) => p.order === order).map((p) => p.eventId),
      );
    }
    return caughtUp.source;
  }

  it('resumes from the in-memory buffer after a short disconnect', async () => {
    expect(await disconnectAndResume(3)).toBe('buffer');
  });

  it('resumes from Kafka itself when the buffer no longer reaches back', async () => {
    expect(await disconnectAndResume(20)).toBe('kafka');
  });

  it('resumes from a token taken before any notification (the subscribed message carries one)', async () => {
    const first = await client('readerA');
    const subscribed = await first.subscribe({ streams: ['orders'] });
    first.terminate();
    const order = `o-${randomUUID()}`;
    await send(topics.orders, [
      orderEvent(issuer.tenantA, order, 'created'),
      orderEvent(issuer.tenantA, order, 'paid'),
    ]);
    const second = await client('readerA');
    await second.subscribe({ streams: ['orders'], resumeToken: subscribed.resumeToken });
    expect(statusesOf(await second.waitForNotifications(2))).toEqual([`${order}:created`, `${order}:paid`]);
  });

  it('closes with 4410 NOTIFY_RESUME_EXPIRED when Kafka no longer holds what the token points at', async () => {
    const own = await createTopics();
    const small = await startServer(own, issuer.jwtSecret, 2);
    try {
      const url = `${small.url}/v1/notifications`;
      const first = new TestClient(url, await issuer.token('readerA'));
      clients.push(first);
      const token = (await first.subscribe({ streams: ['orders'] })).resumeToken;
      const order = `o-${randomUUID()}`;
      const records = Array.from({ length: 6 }, () => ({ ...orderEvent(issuer.tenantA, order, 'paid'), partition: 0 }));
      await produce(brokers, own.orders, records);
      await first.waitForNotifications(6);
      first.terminate();
      const admin = new Admin({ clientId: 'bv-test', bootstrapBrokers: brokers });
      await admin.deleteRecords({ topics: [{ name: own.orders, partitions: [{ partition: 0, offset: 3n }] }] });
      await admin.close();
      const late = new TestClient(url, await issuer.token('readerA'));
      clients.push(late);
      await late.send({ type: 'subscribe', streams: ['orders'], resumeToken: token });
      expect(await late.end()).toEqual({ code: 4410, reason: 'NOTIFY_RESUME_EXPIRED' });
      expect(late.notifications()).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it('refuses a malformed token or one of another subscription with 4400 NOTIFY_RESUME_INVALID', async () => {
    const bad = await client('readerA');
    await bad.send({ type: 'subscribe', streams: ['orders'], resumeToken: 'ecommerce.order:x:1' });
    expect(await bad.end()).toEqual({ code: 4400, reason: 'NOTIFY_RESUME_INVALID' });
    const other = await client('readerA');
    const token = (await other.subscribe({ streams: ['devices'] })).resumeToken;
    const mismatched = await client('readerA');
    await mismatched.send({ type: 'subscribe', streams: ['orders'], resumeToken: token });
    expect(await mismatched.end()).toEqual({ code: 4400, reason: 'NOTIFY_RESUME_INVALID' });
  });
});

describe('device anomaly alerts', () => {
  it("deliver a tenant's episodes, optionally for chosen devices only", async () => {
    const all = await client('readerA');
    const one = await client('readerA');
    const other = await client('readerB');
    await all.subscribe({ streams: ['devices'] });
    await one.subscribe({ streams: ['devices'], deviceIds: ['boiler-2'] });
    await other.subscribe({ streams: ['devices'] });
    const start = new Date().toISOString();
    await send(topics.devices, [
      anomalyEvent(issuer.tenantA, 'boiler-1', 'open', start),
      anomalyEvent(issuer.tenantA, 'boiler-2', 'open', start),
      anomalyEvent(issuer.tenantA, 'boiler-1', 'closed', start),
      { key: 'x', value: JSON.stringify({ kind: 'anomaly_episode', status: 'open' }) }, // no tenant: skipped
    ]);
    const got = await all.waitForNotifications(3);
    expect(got.filter((m) => m.deviceId === 'boiler-1').map((m) => m.status)).toEqual(['open', 'closed']);
    expect(got[0]).toMatchObject({
      kind: 'device.anomaly',
      tenantId: issuer.tenantA,
      metric: 'temperature',
      episode: { peakValue: 91.5, device: { site: 'plant-1' } },
    });
    expect((await one.waitForNotifications(1)).map((m) => `${m.deviceId}:${m.status}`)).toEqual(['boiler-2:open']);
    await new Promise((r) => setTimeout(r, 300));
    expect(one.notifications()).toHaveLength(1);
    expect(other.notifications()).toHaveLength(0);
  });
});

describe('topics created after the start', () => {
  it('follows a topic that did not exist when the server started, from its first record', async () => {
    const late = { orders: topics.orders, devices: `test.notify-late.${randomUUID().slice(0, 8)}` };
    const lateServer = await startServer(late, issuer.jwtSecret);
    try {
      const c = new TestClient(`${lateServer.url}/v1/notifications`, await issuer.token('readerA'));
      clients.push(c);
      const subscribed = await c.subscribe({ streams: ['devices'] });
      expect(subscribed.resumeToken).toBe(`${late.devices}:0:0`);
      const admin = new Admin({ clientId: 'bv-test', bootstrapBrokers: brokers });
      await admin.createTopics({ topics: [late.devices], partitions: 2, replicas: 1 });
      await admin.close();
      await send(late.devices, [anomalyEvent(issuer.tenantA, 'pump-9', 'open', new Date().toISOString())]);
      expect((await c.waitForNotifications(1)).map((m) => m.deviceId)).toEqual(['pump-9']);
    } finally {
      await lateServer.close();
    }
  });
});

describe('authentication and bad messages', () => {
  it('refuses a connection without a valid services token with close code 4401 and the reason', async () => {
    expect(await (await client(null)).end()).toEqual({ code: 4401, reason: 'NOTIFY_TOKEN_MISSING' });
    expect(await (await client(null, 'not-a-jwt')).end()).toEqual({ code: 4401, reason: 'NOTIFY_TOKEN_INVALID' });
    const claims = { sub: 'x', tenant: issuer.tenantA, roles: ['reader'] };
    const now = Math.floor(Date.now() / 1000);
    const foreign = signToken(`${randomUUID()}${randomUUID()}`, { ...claims, exp: now + 60 });
    expect(await (await client(null, foreign)).end()).toEqual({ code: 4401, reason: 'NOTIFY_TOKEN_INVALID' });
    const expired = signToken(issuer.jwtSecret, { ...claims, iat: now - 120, exp: now - 60 });
    expect(await (await client(null, expired)).end()).toEqual({ code: 4401, reason: 'NOTIFY_TOKEN_EXPIRED' });
    const noTenant = signToken(issuer.jwtSecret, { sub: 'x', roles: ['reader'], exp: now + 60 });
    const refused = await client(null, noTenant);
    expect(await refused.end()).toEqual({ code: 4401, reason: 'NOTIFY_TOKEN_INVALID' });
    expect(refused.messages[0]).toMatchObject({ type: 'error', code: 'NOTIFY_TOKEN_INVALID' });
  });

  it('refuses a token without the reader role with 4403, and takes the token from ?access_token= too', async () => {
    expect(await (await client('writerOnlyA')).end()).toEqual({ code: 4403, reason: 'NOTIFY_FORBIDDEN' });
    const browser = new TestClient(endpoint(), await issuer.token('readerA'), 'query');
    clients.push(browser);
    expect(await browser.subscribe({ streams: ['orders'] })).toMatchObject({ type: 'subscribed' });
  });

  it('answers ping, and closes with 4400 NOTIFY_MESSAGE_INVALID on a message it cannot act on', async () => {
    const c = await client('readerA');
    await c.send({ type: 'ping' });
    await c.next((m) => m.type === 'pong');
    await c.send({ type: 'subscribe', streams: ['payments'] });
    expect(await c.end()).toEqual({ code: 4400, reason: 'NOTIFY_MESSAGE_INVALID' });
    expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: 'NOTIFY_MESSAGE_INVALID' });
  });

  it('answers /health, /ready and /metrics', async () => {
    const http = server.url.replace('ws', 'http');
    expect((await fetch(`${http}/health`)).status).toBe(200);
    expect(await (await fetch(`${http}/ready`)).json()).toMatchObject({ status: 'ready' });
    expect(await (await fetch(`${http}/metrics`)).text()).toContain('bv_notify_notifications_sent_total');
  });
});
