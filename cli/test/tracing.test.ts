import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  JsonLinesSpanExporter,
  loadPlatformConfig,
  postgresUrl,
  readTraceFile,
  Tracing,
  traceDiagnostics,
} from '@bitvelocity/core';
import { applyOutboxConnector, defaultOutboxConnector } from '@bitvelocity/ingest';
import {
  BRONZE_ENVELOPES,
  bronzeRow,
  type DuckDb,
  type LakeTable,
  lakeSystem,
  openLake,
  qualifiedName,
  runUntilCaughtUp,
  SilverRefresher,
  silverTables,
} from '@bitvelocity/lakehouse';
import { createServiceDeps, createServicesApp, ensureAppRole, hashPassword, migrate } from '@bitvelocity/services';
import type { RawRecord, StreamRecord } from '@bitvelocity/streams';
import { rawStreamRecord } from '@bitvelocity/streams/testing';
import { Consumer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const config = loadPlatformConfig();
const id = randomUUID().replaceAll('-', '').slice(0, 10);
const tenant = `t-${id.slice(0, 8)}`;
const bronze: LakeTable = { ...BRONZE_ENVELOPES, schema: `test_e2etr_${id}_bronze` };
const tables = silverTables(`test_e2etr_${id}_silver`);
const job = `test-e2e-trace-${id}`;
const SERVER_KIND = 1; // OTel's SpanKind.SERVER, as the traces file writes it

/** The end offsets of a topic's partitions: where this spec's records will start. */
async function endOffsets(topic: string): Promise<bigint[]> {
  const consumer = new Consumer({
    clientId: 'bv-trace-test',
    groupId: `o-${randomUUID()}`,
    bootstrapBrokers: config.kafka.bootstrapServers,
  });
  try {
    return (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
  } finally {
    await consumer.close();
  }
}

/** The record keyed `key` that the connector published on `topic` after `from`, as the runtime reads it. */
async function publishedRecord(topic: string, from: bigint[], key: string): Promise<StreamRecord<RawRecord>> {
  const consumer = new Consumer({
    clientId: 'bv-trace-test',
    groupId: `r-${randomUUID()}`,
    bootstrapBrokers: config.kafka.bootstrapServers,
  });
  const stream = await consumer.consume({
    topics: [topic],
    mode: 'manual',
    offsets: from.map((offset, partition) => ({ topic, partition, offset })),
    autocommit: false,
    maxWaitTime: 100,
  });
  const timer = setTimeout(() => stream.close(), 30_000);
  try {
    for await (const message of stream) {
      if (message.key?.toString() !== key) continue;
      const headers = new Map([...message.headers].map(([name, value]) => [name.toString(), value as Buffer]));
      const record = rawStreamRecord({
        topic,
        partition: message.partition,
        offset: message.offset,
        timestamp: Number(message.timestamp),
        value: (message.value as Buffer).toString('utf8'),
        key: message.key as Buffer,
        headers,
      });
      // As the runtime does for every record it reads: the header becomes the record's origin.
      return { ...record, origin: { ...record.origin, traceparent: headers.get('traceparent')?.toString() } };
    }
    throw new Error(`no record keyed ${key} reached ${topic}`);
  } finally {
    clearTimeout(timer);
    await stream.close();
    await consumer.close(true);
  }
}

describe('one trace from the HTTP request to Silver', () => {
  let dir: string;
  let services: Tracing;
  let worker: Tracing;
  let untrace: () => void;
  let app: Awaited<ReturnType<typeof createServicesApp>>;
  let token: string;
  let lake: DuckDb;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bv-traces-'));
    services = Tracing.create({
      service: 'bv-services',
      exporter: new JsonLinesSpanExporter(join(dir, 'services.jsonl')),
    });
    worker = Tracing.create({
      service: `bv-stream-${job}`,
      exporter: new JsonLinesSpanExporter(join(dir, 'worker.jsonl')),
    });
    untrace = traceDiagnostics(worker.tracer);
    await applyOutboxConnector(config, defaultOutboxConnector());
    const ownerUrl = postgresUrl(config.postgres);
    await migrate(ownerUrl);
    await ensureAppRole(ownerUrl, config.postgres.appUser, config.postgres.appPassword);
    const password = randomUUID();
    const deps = createServiceDeps({
      databaseUrl: postgresUrl(config.postgres, { as: 'app', preferSocket: true }),
      redisUrl: config.redis.url,
      auth: {
        jwtSecret: `${randomUUID()}${randomUUID()}`,
        users: [{ username: 'tracer', passwordHash: await hashPassword(password), tenantId: tenant, roles: ['admin'] }],
        tokenTtlSeconds: 900,
      },
      tracer: services.tracer,
    });
    app = await createServicesApp(deps);
    await app.ready();
    token = (await app.inject({ method: 'POST', url: '/auth/token', payload: { username: 'tracer', password } })).json()
      .accessToken;
    lake = await openLake(config);
  });
  afterAll(async () => {
    untrace();
    await app?.close();
    await services.shutdown();
    await worker.shutdown();
    for (const schema of [bronze.schema, tables.orders.schema])
      await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    for (const table of [`offsets_${job.replaceAll('-', '_')}`, tables.progress.name])
      await lake.run(`DROP TABLE IF EXISTS bv_meta.${table}`).catch(() => {});
    lake.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (method: 'POST', url: string, payload: object, headers: Record<string, string> = {}) =>
    app.inject({ method, url, payload, headers: { authorization: `Bearer ${token}`, ...headers } });

  it('the request span, the outbox row, the Kafka header, the lake commit span and the Silver row share the trace id', async () => {
    const customer = (
      await call('POST', '/v1/customers', { email: 'tr@example.com', name: 'Tr', segment: 'consumer' })
    ).json();
    const product = (
      await call('POST', '/v1/products', { sku: 'TR-1', name: 'Tr', category: 'c', price: '4.00', currency: 'EUR' })
    ).json();
    const from = await endOffsets('ecommerce.order');
    const traceId = randomBytes(16).toString('hex');
    const response = await call(
      'POST',
      '/v1/orders',
      { customerId: customer.customerId, currency: 'EUR', lines: [{ productId: product.productId, quantity: 3 }] },
      { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    );
    expect(response.statusCode).toBe(201);
    const orderId = response.json().orderId as string;

    await services.forceFlush();
    const server = (await readTraceFile(join(dir, 'services.jsonl'))).find(
      (s) => s.traceId === traceId && s.kind === SERVER_KIND,
    );
    expect(server).toMatchObject({ name: 'POST /v1/orders' });

    // Debezium's EventRouter (the shared outbox connector) put the outbox row's traceparent in the record's headers.
    const record = await publishedRecord('ecommerce.order', from, orderId);
    expect(record.origin.traceparent).toBe(`00-${traceId}-${server?.spanId}-01`);

    const system = lakeSystem();
    const sink = system.sink<RawRecord>(bronze, (r, context) => bronzeRow(r.value, context));
    const writer = await system.connect(job, 'test');
    try {
      await writer.claim(record.origin.topic, record.origin.partition);
      await writer.commit({
        records: new Map([[sink.target, [record]]]),
        offsets: [
          { topic: record.origin.topic, partition: record.origin.partition, nextOffset: record.origin.offset + 1n },
        ],
      });
    } finally {
      await writer.close();
    }
    await worker.forceFlush();
    const commit = (await readTraceFile(join(dir, 'worker.jsonl'))).find((s) => s.name === `lake commit ${job}`);
    expect(commit?.links).toEqual([{ traceId, spanId: server?.spanId }]);

    await runUntilCaughtUp(await SilverRefresher.create(lake, { bronze, tables }));
    expect(
      await lake.rows(`SELECT order_id, tenant_id FROM ${qualifiedName(tables.orders)} WHERE trace_id = $1`, [traceId]),
    ).toEqual([{ order_id: orderId, tenant_id: tenant }]);
  });
});
