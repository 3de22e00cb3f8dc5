/**
 * Live notifications: order status change -> notification received by a subscribed WebSocket client.
 *   npx tsx bench/notify.ts [--rate 1000] [--seconds 20] [--tenants 20] [--cdc-rate 100] [--cdc-seconds 20]
 * (1) Kafka-driven: order status envelopes produced straight to a bench topic of 6 partitions at `rate`/s (batches
 *     every 10 ms, acks=1), `tenants` clients (one per tenant) subscribed; latency = client receipt - the moment the
 *     batch was handed to the producer (same process, same clock; includes the produce round trip). The server, the
 *     producer and the clients share this process: the CPU figure is its CPU time per notification, all included.
 * (2) Through CDC: outbox rows committed to Postgres as the order service commits them (transactions of 5), Debezium
 *     (Kafka Connect) to `ecommerce.order`, the notify server reading that topic; latency = client receipt - the start
 *     of the INSERT+COMMIT (an upper bound of commit -> client). Needs the stack up and migrated; the bench applies
 *     the outbox connector itself.
 * Run it under the shared lock: `flock /work/coord/bench.lock npx tsx bench/notify.ts`.
 */
import { execSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createEnvelope, loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import { createTopic } from '@bitvelocity/infra/testing';
import { applyOutboxConnector, defaultOutboxConnector } from '@bitvelocity/ingest';
import { type NotifyServer, startNotifyServer } from '@bitvelocity/notify';
import { Producer } from '@platformatic/kafka';
import * as hdr from 'hdr-histogram-js';
import pg from 'pg';
import WebSocket from 'ws';
import { numberArg } from './load.js';

const rate = numberArg('rate', 1000);
const seconds = numberArg('seconds', 20);
const tenantCount = numberArg('tenants', 20);
const cdcRate = numberArg('cdc-rate', 100);
const cdcSeconds = numberArg('cdc-seconds', 20);
const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const jwtSecret = `${randomUUID()}${randomUUID()}`;
const load = () =>
  execSync('uptime')
    .toString()
    .trim()
    .replace(/.*load average: /, '');

/** An HS256 token with the services' claims, signed with the secret the bench's server verifies with. */
function token(tenant: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: `bench@${tenant}`, tenant, roles: ['reader'], exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${createHmac('sha256', jwtSecret).update(body).digest('base64url')}`;
}

interface Run {
  sentAt: Map<string, number>;
  histogram: hdr.Histogram;
  received: number;
  duplicates: number;
}

const newRun = (): Run => ({
  sentAt: new Map(),
  histogram: hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  }),
  received: 0,
  duplicates: 0,
});

/** One subscribed client per tenant; every notification's latency goes into the run's histogram. */
async function subscribeClients(server: NotifyServer, tenants: string[], run: () => Run): Promise<WebSocket[]> {
  return Promise.all(
    tenants.map(
      (tenant) =>
        new Promise<WebSocket>((resolve, reject) => {
          const socket = new WebSocket(`${server.url}/v1/notifications`, {
            headers: { authorization: `Bearer ${token(tenant)}` },
          });
          socket.on('message', (data) => {
            const message = JSON.parse(data.toString()) as { type: string; eventId?: string };
            if (message.type === 'subscribed') resolve(socket);
            if (message.type !== 'notification' || !message.eventId) return;
            const now = performance.now();
            const current = run();
            const at = current.sentAt.get(message.eventId);
            if (at === undefined) {
              current.duplicates++;
              return;
            }
            current.sentAt.delete(message.eventId);
            current.histogram.recordValue(Math.max(1, Math.round((now - at) * 1000)));
            current.received++;
          });
          socket.once('open', () => socket.send(JSON.stringify({ type: 'subscribe', streams: ['orders'] })));
          socket.once('error', reject);
        }),
    ),
  );
}

async function drain(current: Run, expected: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (current.received < expected && performance.now() < deadline) await sleep(50);
}

function row(phase: string, current: Run, sent: number, cpuMicros: number, loadBefore: string) {
  const ms = (p: number) => (current.histogram.getValueAtPercentile(p) / 1000).toFixed(1);
  return {
    phase,
    sent,
    received: current.received,
    duplicates: current.duplicates,
    'p50 ms': ms(50),
    'p95 ms': ms(95),
    'p99 ms': ms(99),
    'max ms': (current.histogram.maxValue / 1000).toFixed(1),
    'CPU ms/notification': (cpuMicros / 1000 / Math.max(1, current.received)).toFixed(3),
    load: `${loadBefore} -> ${load()}`,
  };
}

const rows: object[] = [];
const statuses = ['created', 'paid', 'shipped'] as const;

// (1) Kafka-driven, at `rate` order changes per second.
{
  const tenants = Array.from({ length: tenantCount }, (_, i) => `bench-notify-${i}-${randomUUID().slice(0, 6)}`);
  const topic = await createTopic(brokers, 'bench-notify-orders', 6);
  const devices = await createTopic(brokers, 'bench-notify-devices', 1);
  const server = await startNotifyServer({
    config,
    jwtSecret,
    host: '127.0.0.1',
    port: 0,
    topics: { orders: topic, devices },
  });
  let current = newRun();
  const sockets = await subscribeClients(server, tenants, () => current);
  const producer = new Producer({ clientId: 'bench-notify', bootstrapBrokers: brokers, acks: 1 });
  const orders = Array.from({ length: 2000 }, () => randomUUID());
  const phase = async (label: string, perSecond: number, duration: number) => {
    current = newRun();
    const loadBefore = load();
    const cpu = process.cpuUsage();
    const perBatch = Math.max(1, Math.round(perSecond / 100));
    const interval = (1000 * perBatch) / perSecond;
    const started = performance.now();
    let sent = 0;
    const inFlight: Promise<void>[] = [];
    for (let i = 0; performance.now() - started < duration * 1000; i++) {
      const wait = started + i * interval - performance.now();
      if (wait > 1) await sleep(wait);
      const batch = Array.from({ length: perBatch }, (_, j) => {
        const n = sent + j;
        const order = orders[n % orders.length] as string;
        const tenant = tenants[n % tenants.length] as string;
        const status = statuses[Math.floor(n / orders.length) % statuses.length] as string;
        return createEnvelope({
          eventType: `ecommerce.order.${status}.v1`,
          producer: 'bench',
          tenantId: tenant,
          partitionKey: order,
          traceId: 'b'.repeat(32),
          payload: { orderId: order, customerId: order, status, currency: 'EUR', totalAmount: '1.00' },
        });
      });
      sent += batch.length;
      const at = performance.now();
      for (const e of batch) current.sentAt.set(e.eventId, at);
      inFlight.push(
        producer
          .send({
            messages: batch.map((e) => ({
              topic,
              key: Buffer.from(e.partitionKey),
              value: Buffer.from(JSON.stringify(e)),
            })),
          })
          .then(() => undefined),
      );
    }
    await Promise.all(inFlight);
    await drain(current, sent, 30_000);
    const used = process.cpuUsage(cpu);
    rows.push(row(label, current, sent, used.user + used.system, loadBefore));
  };
  await phase('warm-up 200/s, 3 s', 200, 3);
  rows.pop();
  await phase(`Kafka-driven ${rate}/s, ${seconds} s, ${tenantCount} clients`, rate, seconds);
  await producer.close();
  for (const socket of sockets) socket.terminate();
  await server.close();
}

// (2) Through Postgres and Debezium, at `cdc-rate` order changes per second.
{
  const tenant = `bench-notify-cdc-${randomUUID().slice(0, 6)}`;
  await applyOutboxConnector(config, defaultOutboxConnector());
  const db = new pg.Client(postgresUrl(config.postgres));
  await db.connect();
  const devices = await createTopic(brokers, 'bench-notify-devices', 1);
  const server = await startNotifyServer({
    config,
    jwtSecret,
    host: '127.0.0.1',
    port: 0,
    topics: { orders: 'ecommerce.order', devices },
  });
  const current = newRun();
  const sockets = await subscribeClients(server, [tenant], () => current);
  const commit = async (ids: string[]): Promise<void> => {
    const orderIds = ids.map(() => randomUUID());
    const now = new Date().toISOString();
    const payloads = ids.map((eventId, i) =>
      JSON.stringify({
        eventId,
        eventType: 'ecommerce.order.paid.v1',
        occurredAt: now,
        producer: 'bench',
        traceId: 'b'.repeat(32),
        correlationId: eventId,
        schemaVersion: 1,
        tenantId: tenant,
        partitionKey: orderIds[i],
        payload: { orderId: orderIds[i], customerId: orderIds[i], status: 'paid', paidAt: now, amount: '1.00' },
      }),
    );
    await db.query(
      `INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, occurred_at, trace_id, traceparent, partition_key, tenant_id)
       SELECT id, 'ecommerce.order', key, 'ecommerce.order.paid.v1', payload::jsonb, now() AT TIME ZONE 'UTC', $4, $5, key, $6
       FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, key, payload)`,
      [ids, orderIds, payloads, 'b'.repeat(32), `00-${'b'.repeat(32)}-${'c'.repeat(16)}-01`, tenant],
    );
  };
  const loadBefore = load();
  const cpu = process.cpuUsage();
  const interval = 1000 / (cdcRate / 5);
  const started = performance.now();
  let sent = 0;
  for (let i = 0; performance.now() - started < cdcSeconds * 1000; i++) {
    const wait = started + i * interval - performance.now();
    if (wait > 1) await sleep(wait);
    // Timed from before the INSERT and COMMIT (an upper bound): Debezium may read the WAL before COMMIT's answer is in.
    const ids = Array.from({ length: 5 }, () => randomUUID());
    const at = performance.now();
    for (const id of ids) current.sentAt.set(id, at);
    await commit(ids);
    sent += ids.length;
  }
  await drain(current, sent, 60_000);
  const used = process.cpuUsage(cpu);
  rows.push(
    row(
      `through CDC ${cdcRate}/s, ${cdcSeconds} s (commit -> client)`,
      current,
      sent,
      used.user + used.system,
      loadBefore,
    ),
  );
  for (const socket of sockets) socket.terminate();
  await server.close();
  await db.end();
}

console.table(rows);
console.log(JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
process.exit(0);
