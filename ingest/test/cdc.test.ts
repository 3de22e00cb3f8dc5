import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { EventSchemaRegistry, loadPlatformConfig } from '@bitvelocity/core';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxConnectorConfig } from '../src/connector.js';
import { applyOutboxConnector, defaultOutboxConnector, outboxConnectorStatus } from '../src/index.js';

const exec = promisify(execFile);
const config = loadPlatformConfig();
const connector = defaultOutboxConnector();
const port = 18097;
const base = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), 'bv-cdc-'));
const env = {
  ...process.env,
  BV_SERVICES_AUTH_FILE: join(dir, 'auth.json'),
  BV_NEW_USER_PASSWORD: `pw-${randomUUID()}`,
};
const tenant = `cdc-${randomUUID().slice(0, 8)}`;
let service: ChildProcess;
let token: string;

async function call(method: string, path: string, body?: object, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

beforeAll(async () => {
  await applyOutboxConnector(config, connector);
  await exec('node', ['cli/bin/bv.js', 'services', 'user', 'add', 'cdc', '--tenant', tenant, '--roles', 'admin'], {
    env,
  });
  service = spawn('node', ['cli/bin/bv.js', 'services', 'start', '--port', String(port)], { env, stdio: 'ignore' });
  for (
    let i = 0;
    !(await fetch(`${base}/ready`).then(
      (r) => r.ok,
      () => false,
    ));
    i++
  ) {
    if (i > 150) throw new Error('the services did not become ready');
    await sleep(200);
  }
  const login = await fetch(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'cdc', password: env.BV_NEW_USER_PASSWORD }),
  });
  token = ((await login.json()) as { accessToken: string }).accessToken;
});
afterAll(() => {
  service?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

/** Reads a topic from the given offsets until `found` says stop (or the time is up). */
async function readFrom(topic: string, from: bigint[], found: (key: string) => boolean, timeoutMs = 20_000) {
  const consumer = new Consumer({
    clientId: 'bv-cdc-test',
    groupId: `bv-cdc-test-${randomUUID()}`,
    bootstrapBrokers: config.kafka.bootstrapServers,
    deserializers: stringDeserializers,
  });
  const offsets = from.map((offset, partition) => ({ topic, partition, offset }));
  const stream = await consumer.consume({
    topics: [topic],
    mode: 'manual',
    offsets,
    autocommit: false,
    maxWaitTime: 100,
  });
  const records: { key: string; value: string; partition: number; headers: Map<string, string> }[] = [];
  const timer = setTimeout(() => stream.close(), timeoutMs);
  for await (const message of stream) {
    records.push({ key: message.key, value: message.value, partition: message.partition, headers: message.headers });
    if (found(message.key)) break;
  }
  clearTimeout(timer);
  await stream.close();
  await consumer.close(true);
  return records;
}

async function endOffsets(topic: string): Promise<bigint[]> {
  const consumer = new Consumer({
    clientId: 'bv-cdc-test',
    groupId: `o-${randomUUID()}`,
    bootstrapBrokers: config.kafka.bootstrapServers,
  });
  try {
    return (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
  } finally {
    await consumer.close();
  }
}

describe('the outbox connector', () => {
  it('is applied idempotently and keeps the database password out of its stored config', async () => {
    const again = await applyOutboxConnector(config, connector);
    expect(again.publicationCreated).toBe(false);
    expect(again.topics.created).toEqual([]);
    expect(again.status).toMatchObject({ connector: 'RUNNING', tasks: [{ state: 'RUNNING' }], slot: { active: true } });
    const stored = (await (await fetch(`${config.connect.url}/connectors/${connector.name}/config`)).json()) as Record<
      string,
      string
    >;
    expect(stored['database.password']).toBe(outboxConnectorConfig(config, connector)['database.password']);
    expect(stored['database.password']).not.toContain(config.postgres.password);
  });

  it('publishes an order created over HTTP as a valid envelope keyed by the order, with its trace', async () => {
    const customer = await call('POST', '/v1/customers', {
      email: 'cdc@example.com',
      name: 'CDC',
      segment: 'consumer',
    });
    const product = await call('POST', '/v1/products', {
      sku: 'CDC-1',
      name: 'CDC',
      category: 'c',
      price: '9.99',
      currency: 'EUR',
    });
    const from = await endOffsets('ecommerce.order');
    const traceId = randomUUID().replaceAll('-', '');
    const order = await call(
      'POST',
      '/v1/orders',
      {
        customerId: customer.body.customerId,
        currency: 'EUR',
        lines: [{ productId: product.body.productId, quantity: 2 }],
      },
      { traceparent: `00-${traceId}-${'1'.repeat(16)}-01` },
    );
    expect(order.status).toBe(201);
    const orderId = order.body.orderId ?? '';

    const records = await readFrom('ecommerce.order', from, (key) => key === orderId);
    const record = records.find((r) => r.key === orderId);
    expect(record, 'the order event reached ecommerce.order').toBeDefined();
    const envelope = JSON.parse(record?.value ?? '{}');
    expect(EventSchemaRegistry.load().validate(envelope)).toEqual({ valid: true });
    expect(envelope).toMatchObject({
      eventType: 'ecommerce.order.created.v1',
      tenantId: tenant,
      traceId,
      partitionKey: orderId,
      payload: { orderId, totalAmount: '19.98' },
    });
    expect(record?.headers.get('eventType')).toBe('ecommerce.order.created.v1');
    expect(record?.headers.get('traceparent')).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(record?.headers.get('tenantId')).toBe(tenant);
  });

  it('keeps null fields: a customer registered without an address arrives with "address": null, valid (regression)', async () => {
    const from = await endOffsets('ecommerce.customer');
    const customer = await call('POST', '/v1/customers', {
      email: `null-${randomUUID().slice(0, 8)}@example.com`,
      name: 'No Address',
      segment: 'consumer',
    });
    const customerId = customer.body.customerId ?? '';
    const records = await readFrom('ecommerce.customer', from, (key) => key === customerId);
    const envelope = JSON.parse(records.find((r) => r.key === customerId)?.value ?? '{}');
    expect(envelope.payload).toMatchObject({ customerId, address: null });
    expect(EventSchemaRegistry.load().validate(envelope)).toEqual({ valid: true });
  });

  it('keeps one aggregate’s events in order on one partition', async () => {
    const customer = await call('POST', '/v1/customers', {
      email: 'seq@example.com',
      name: 'Seq',
      segment: 'consumer',
    });
    const product = await call('POST', '/v1/products', {
      sku: 'SEQ-1',
      name: 'Seq',
      category: 'c',
      price: '1.00',
      currency: 'EUR',
    });
    const from = await endOffsets('ecommerce.order');
    const order = await call('POST', '/v1/orders', {
      customerId: customer.body.customerId,
      currency: 'EUR',
      lines: [{ productId: product.body.productId, quantity: 1 }],
    });
    const orderId = order.body.orderId ?? '';
    await call('POST', `/v1/orders/${orderId}/pay`, { paymentReference: 'P-1' });
    await call('POST', `/v1/orders/${orderId}/ship`, { carrier: 'DHL', trackingNumber: 'T-1' });
    let seen = 0;
    const records = (await readFrom('ecommerce.order', from, (key) => key === orderId && ++seen === 3)).filter(
      (r) => r.key === orderId,
    );
    expect(records.map((r) => JSON.parse(r.value).eventType)).toEqual([
      'ecommerce.order.created.v1',
      'ecommerce.order.paid.v1',
      'ecommerce.order.shipped.v1',
    ]);
    expect(new Set(records.map((r) => r.partition)).size).toBe(1);
  });

  it('lets the replication slot catch up while Connect runs, so retained WAL does not grow', async () => {
    // Heartbeats (5 s) advance the slot's confirmed position even when only other tables change.
    let status = await outboxConnectorStatus(config, connector);
    const deadline = Date.now() + 30_000;
    while ((status.slot?.lagBytes ?? Number.MAX_SAFE_INTEGER) > 1024 * 1024 && Date.now() < deadline) {
      await sleep(1000);
      status = await outboxConnectorStatus(config, connector);
    }
    expect(status.slot?.active).toBe(true);
    expect(status.slot?.lagBytes).toBeLessThan(1024 * 1024);
  });
});
