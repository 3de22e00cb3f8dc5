import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createEnvelope,
  JsonLinesSpanExporter,
  loadPlatformConfig,
  readTraceFile,
  Tracing,
  traceDiagnostics,
} from '@bitvelocity/core';
import type { RawRecord, StreamRecord, TransactionalWriter } from '@bitvelocity/streams';
import { rawStreamRecord } from '@bitvelocity/streams/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BRONZE_ENVELOPES,
  type DuckDb,
  type LakeTable,
  lakeSystem,
  openLake,
  qualifiedName,
  runUntilCaughtUp,
  SilverRefresher,
  silverTables,
} from '../src/index.js';
import { bronzeRow } from '../src/layers/bronze.js';

const config = loadPlatformConfig();
const id = randomUUID().replaceAll('-', '').slice(0, 10);
const bronze: LakeTable = { ...BRONZE_ENVELOPES, schema: `test_tr_${id}_bronze` };
const tables = silverTables(`test_tr_${id}_silver`);
const job = `test-trace-${id}`;

/** An order event as the outbox row reaches the lake sink: the envelope, the request's traceparent in the headers. */
const delivered = (traceId: string, offset: number) => {
  const orderId = randomUUID();
  const traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
  const envelope = createEnvelope({
    eventType: 'ecommerce.order.created.v1',
    producer: 'bv-services',
    tenantId: 't1',
    partitionKey: orderId,
    traceId,
    payload: {
      orderId,
      customerId: randomUUID(),
      status: 'created',
      currency: 'EUR',
      totalAmount: '10.00',
      lines: [{ lineNo: 1, productId: randomUUID(), quantity: 1, unitPrice: '10.00' }],
      createdAt: new Date().toISOString(),
    },
  });
  const record = rawStreamRecord({
    topic: 'ecommerce.order',
    offset: BigInt(offset),
    timestamp: Date.now(),
    value: envelope,
    headers: new Map([['traceparent', Buffer.from(traceparent)]]),
  });
  // The runtime reads the header into the record's origin, as it does for every record it reads.
  const traced: StreamRecord<RawRecord> = { ...record, origin: { ...record.origin, traceparent } };
  return { orderId, traceparent, record: traced };
};

describe('tracing into the lake', () => {
  let dir: string;
  let tracing: Tracing;
  let untrace: () => void;
  let lake: DuckDb;
  let writer: TransactionalWriter;
  const system = lakeSystem();
  const sink = system.sink<RawRecord>(bronze, (r, context) => bronzeRow(r.value, context));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bv-traces-'));
    tracing = Tracing.create({
      service: `bv-stream-${job}`,
      exporter: new JsonLinesSpanExporter(join(dir, 'lake.jsonl')),
    });
    untrace = traceDiagnostics(tracing.tracer);
    lake = await openLake(config);
    writer = await system.connect(job, 'test');
    await writer.claim('ecommerce.order', 0);
  });
  afterAll(async () => {
    untrace();
    await tracing.shutdown();
    await writer.close();
    for (const schema of [bronze.schema, tables.orders.schema])
      await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    for (const table of [`offsets_${job.replaceAll('-', '_')}`, tables.progress.name])
      await lake.run(`DROP TABLE IF EXISTS bv_meta.${table}`).catch(() => {});
    lake.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("links the lake commit span to each request's trace, and the trace id finds the rows in Bronze and Silver", async () => {
    const traceA = randomBytes(16).toString('hex');
    const traceB = randomBytes(16).toString('hex');
    const a = delivered(traceA, 0);
    const b = delivered(traceB, 1);
    await writer.commit({
      records: new Map([[sink.target, [a.record, b.record]]]),
      offsets: [{ topic: 'ecommerce.order', partition: 0, nextOffset: 2n }],
    });

    await tracing.forceFlush();
    const spans = await readTraceFile(join(dir, 'lake.jsonl'));
    const commit = spans.find((s) => s.name === `lake commit ${job}`);
    expect(commit).toMatchObject({
      service: `bv-stream-${job}`,
      attributes: { 'bv.writer': job, 'bv.lake.rows': 2, 'bv.lake.tables': [qualifiedName(bronze)] },
    });
    expect(commit?.links.map((l) => `00-${l.traceId}-${l.spanId}-01`).sort()).toEqual(
      [a.traceparent, b.traceparent].sort(),
    );

    const bronzeRows = await lake.rows<{ event_type: string }>(
      `SELECT event_type FROM ${qualifiedName(bronze)} WHERE trace_id = $1`,
      [traceA],
    );
    expect(bronzeRows).toEqual([{ event_type: 'ecommerce.order.created.v1' }]);
    const refresher = await SilverRefresher.create(lake, { bronze, tables });
    await runUntilCaughtUp(refresher);
    const orders = await lake.rows<{ order_id: string }>(
      `SELECT order_id FROM ${qualifiedName(tables.orders)} WHERE trace_id = $1`,
      [traceB],
    );
    expect(orders).toEqual([{ order_id: b.orderId }]);
  });
});
