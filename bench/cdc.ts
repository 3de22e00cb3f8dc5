/**
 * CDC through the outbox: PostgreSQL commit -> Debezium (Kafka Connect) -> record readable on Kafka.
 *   npx tsx bench/cdc.ts [--rate 1000] [--seconds 20] [--burst 50000]
 * (1) Steady load: transactions of 5 events at rate/5 per second; latency = consumer receipt - COMMIT returned
 *     (same process, same clock), p50/p95/p99. (2) Burst: `burst` events committed in transactions of 1,000 as fast
 *     as Postgres takes them; events/s = events / (last record read - first commit).
 * Needs the stack up and the connector applied (`bv stack up`, `bv services migrate`, `bv connectors apply`).
 */
import { randomUUID } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import * as hdr from 'hdr-histogram-js';
import pg from 'pg';
import { numberArg } from './load.js';

const rate = numberArg('rate', 1000);
const seconds = numberArg('seconds', 20);
const burst = numberArg('burst', 50_000);
const config = loadPlatformConfig();
const TOPIC = 'ecommerce.order';

const db = new pg.Client(postgresUrl(config.postgres));
await db.connect();

/** Commits `count` outbox rows in one transaction (one multi-row INSERT); returns their event ids. */
async function commit(count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  const orderIds = ids.map(() => randomUUID());
  const now = new Date().toISOString();
  const payloads = ids.map((eventId, i) =>
    JSON.stringify({
      eventId,
      eventType: 'ecommerce.order.created.v1',
      occurredAt: now,
      producer: 'bench',
      traceId: 'b'.repeat(32),
      correlationId: eventId,
      schemaVersion: 1,
      tenantId: 'bench',
      partitionKey: orderIds[i],
      payload: {
        orderId: orderIds[i],
        customerId: orderIds[i],
        status: 'created',
        currency: 'EUR',
        totalAmount: '1.00',
        lines: [],
        createdAt: now,
      },
    }),
  );
  await db.query(
    `INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, occurred_at, trace_id, traceparent, partition_key, tenant_id)
     SELECT id, 'ecommerce.order', key, 'ecommerce.order.created.v1', payload::jsonb, now() AT TIME ZONE 'UTC', $4, $5, key, 'bench'
     FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, key, payload)`,
    [ids, orderIds, payloads, 'b'.repeat(32), `00-${'b'.repeat(32)}-${'c'.repeat(16)}-01`],
  );
  return ids;
}

const committedAt = new Map<string, number>();
const histogram = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 600_000_000,
  numberOfSignificantValueDigits: 3,
});
let received = 0;
let lastReceived = 0;

const consumer = new Consumer({
  clientId: 'bench-cdc',
  groupId: `bench-cdc-${randomUUID()}`,
  bootstrapBrokers: config.kafka.bootstrapServers,
  deserializers: stringDeserializers,
  maxWaitTime: 10,
});
const stream = await consumer.consume({ topics: [TOPIC], mode: 'latest', autocommit: false, maxWaitTime: 10 });
stream.on('data', (message: { headers: Map<string, string> }) => {
  const eventId = message.headers.get('id');
  const at = eventId === undefined ? undefined : committedAt.get(eventId);
  if (at === undefined) return;
  committedAt.delete(eventId as string);
  lastReceived = performance.now();
  histogram.recordValue(Math.max(1, Math.round((lastReceived - at) * 1000)));
  received++;
});
await sleep(3000); // the group joins and is assigned before anything is written

async function drain(expected: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (received < expected && performance.now() < deadline) await sleep(50);
}

// (1) Steady load.
const perTransaction = 5;
const interval = 1000 / (rate / perTransaction);
const started = performance.now();
let sent = 0;
for (let i = 0; performance.now() - started < seconds * 1000; i++) {
  const due = started + i * interval;
  const wait = due - performance.now();
  if (wait > 1) await sleep(wait);
  const ids = await commit(perTransaction);
  const at = performance.now();
  for (const id of ids) committedAt.set(id, at);
  sent += ids.length;
}
await drain(sent, 30_000);
const ms = (p: number) => (histogram.getValueAtPercentile(p) / 1000).toFixed(1);
const steady = {
  phase: `steady ${rate} events/s, ${seconds}s`,
  events: sent,
  received,
  'p50 ms': ms(50),
  'p95 ms': ms(95),
  'p99 ms': ms(99),
  'max ms': (histogram.maxValue / 1000).toFixed(1),
  'events/s': Math.round(sent / seconds),
};

// (2) Burst: maximum throughput of the pipeline.
histogram.reset();
received = 0;
const burstStarted = performance.now();
for (let done = 0; done < burst; done += 1000) {
  const ids = await commit(Math.min(1000, burst - done));
  const at = performance.now();
  for (const id of ids) committedAt.set(id, at);
}
const committedIn = (performance.now() - burstStarted) / 1000;
await drain(burst, 120_000);
const burstRow = {
  phase: `burst of ${burst} (commits took ${committedIn.toFixed(1)}s)`,
  events: burst,
  received,
  'p50 ms': ms(50),
  'p95 ms': ms(95),
  'p99 ms': ms(99),
  'max ms': (histogram.maxValue / 1000).toFixed(1),
  'events/s': Math.round(received / ((lastReceived - burstStarted) / 1000)),
};

await stream.close();
await consumer.close(true);
await db.end();
console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
console.table([steady, burstRow]);
