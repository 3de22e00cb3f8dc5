import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createEnvelope, postgresUrl } from '@bitvelocity/core';
import { type IsolatedStack, startIsolatedStack } from '@bitvelocity/infra/testing';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOutboxConnector, defaultOutboxConnector, outboxConnectorStatus } from '../src/index.js';

const exec = promisify(execFile);
let stack: IsolatedStack;
let owner: pg.Client;

beforeAll(async () => {
  stack = await startIsolatedStack(['postgres', 'kafka', 'connect'], 60_000);
  await exec('node', ['cli/bin/bv.js', 'services', 'migrate'], { env: stack.env });
  await applyOutboxConnector(stack.config, defaultOutboxConnector(stack.env));
  owner = new pg.Client(postgresUrl(stack.config.postgres));
  await owner.connect();
}, 240_000);
afterAll(async () => {
  await owner?.end().catch(() => undefined);
  await stack?.destroy();
});

/** Commits `count` order events in one transaction, as the services would; returns their event ids. */
async function commitEvents(client: pg.Client, count: number): Promise<string[]> {
  const ids: string[] = [];
  await client.query('BEGIN');
  for (let i = 0; i < count; i++) {
    const orderId = randomUUID();
    const envelope = createEnvelope({
      eventType: 'ecommerce.order.created.v1',
      producer: 'crash-test',
      tenantId: 'crash',
      partitionKey: orderId,
      traceId: randomUUID().replaceAll('-', ''),
      payload: {
        orderId,
        customerId: randomUUID(),
        status: 'created',
        currency: 'EUR',
        totalAmount: '1.00',
        lines: [{ lineNo: 1, productId: randomUUID(), quantity: 1, unitPrice: '1.00' }],
        createdAt: new Date().toISOString(),
      },
    });
    await client.query(
      `INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, occurred_at, trace_id, traceparent, partition_key, tenant_id)
       VALUES ($1, 'ecommerce.order', $2, $3, $4, now() AT TIME ZONE 'UTC', $5, $6, $2, 'crash')`,
      [
        envelope.eventId,
        orderId,
        envelope.eventType,
        JSON.stringify(envelope),
        envelope.traceId,
        `00-${envelope.traceId}-${'2'.repeat(16)}-01`,
      ],
    );
    ids.push(envelope.eventId);
  }
  await client.query('COMMIT');
  return ids;
}

/** Reads ecommerce.order from the start until every expected event id was seen; counts re-deliveries. */
async function collect(
  expected: Set<string>,
  timeoutMs = 120_000,
): Promise<{ seen: Map<string, number>; missing: string[] }> {
  const consumer = new Consumer({
    clientId: 'crash-test',
    groupId: `crash-${randomUUID()}`,
    bootstrapBrokers: stack.config.kafka.bootstrapServers,
    deserializers: stringDeserializers,
  });
  const seen = new Map<string, number>();
  const stream = await consumer.consume({
    topics: ['ecommerce.order'],
    mode: 'earliest',
    autocommit: false,
    maxWaitTime: 200,
  });
  const timer = setTimeout(() => stream.close(), timeoutMs);
  let found = 0;
  for await (const message of stream) {
    const eventId = message.headers.get('id') ?? (JSON.parse(message.value) as { eventId: string }).eventId;
    if (!expected.has(eventId)) continue;
    const times = (seen.get(eventId) ?? 0) + 1;
    seen.set(eventId, times);
    if (times === 1 && ++found === expected.size) break;
  }
  clearTimeout(timer);
  await stream.close();
  await consumer.close(true);
  return { seen, missing: [...expected].filter((id) => !seen.has(id)) };
}

describe('CDC under crashes', () => {
  it('loses no outbox event when Kafka Connect is killed -9 in the middle of a burst', async () => {
    const produced = new Set<string>();
    const connectPid = stack.pidOf('connect');
    expect(connectPid).toBeDefined();
    for (let batch = 0; batch < 30; batch++) {
      for (const id of await commitEvents(owner, 50)) produced.add(id);
      if (batch === 10) process.kill(connectPid ?? 0, 'SIGKILL');
      await sleep(20);
    }
    await stack.start(['connect']);
    const { seen, missing } = await collect(produced);
    const redelivered = [...seen.values()].filter((n) => n > 1).length;
    console.info(
      `kill -9 Connect: ${produced.size} events, ${missing.length} missing, ${redelivered} re-delivered (same eventId)`,
    );
    expect(missing).toEqual([]);
    expect(seen.size).toBe(produced.size);
    const status = await outboxConnectorStatus(stack.config, defaultOutboxConnector(stack.env));
    expect(status).toMatchObject({ connector: 'RUNNING', tasks: [{ state: 'RUNNING' }] });
  });

  it('survives a PostgreSQL restart and publishes what is written after it', async () => {
    const before = new Set(await commitEvents(owner, 100));
    await owner.end();
    await stack.stop('postgres');
    await stack.start(['postgres']);
    owner = new pg.Client(postgresUrl(stack.config.postgres));
    await owner.connect();
    const after = new Set(await commitEvents(owner, 100));
    const { missing } = await collect(new Set([...before, ...after]));
    expect(missing).toEqual([]);
  });
});
