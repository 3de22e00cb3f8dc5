import { randomUUID } from 'node:crypto';
import { createEnvelope, type Envelope, loadPlatformConfig } from '@bitvelocity/core';
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
  rebuildTransform,
  runUntilCaughtUp,
  SilverRefresher,
  silverTables,
} from '../src/index.js';
import { bronzeRow } from '../src/layers/bronze.js';

const config = loadPlatformConfig();
const id = randomUUID().replaceAll('-', '').slice(0, 10);
const bronze: LakeTable = { ...BRONZE_ENVELOPES, schema: `test_sv_${id}_bronze` };
const tables = silverTables(`test_sv_${id}_silver`);
const T0 = Date.parse('2026-11-20T10:00:00Z');
const traceId = '0af7651916cd43dd8448eb211c80319c';
const customerId = randomUUID();
const productId = randomUUID();

const order = (orderId: string, at: number, eventId = randomUUID()): Envelope =>
  createEnvelope({
    eventId,
    eventType: 'ecommerce.order.created.v1',
    producer: 'test',
    tenantId: 't1',
    partitionKey: orderId,
    traceId,
    occurredAt: new Date(at),
    payload: {
      orderId,
      customerId,
      status: 'created',
      currency: 'EUR',
      totalAmount: '30.30',
      lines: [
        { lineNo: 1, productId, quantity: 3, unitPrice: '10.10' },
        { lineNo: 2, productId: randomUUID(), quantity: 1, unitPrice: '0.00' },
      ],
      createdAt: new Date(at).toISOString(),
    },
  });
const product = (at: number): Envelope =>
  createEnvelope({
    eventType: 'ecommerce.product.price_changed.v1',
    producer: 'test',
    tenantId: 't1',
    partitionKey: productId,
    traceId,
    occurredAt: new Date(at),
    payload: { productId, oldPrice: '10.10', newPrice: '12.00', currency: 'EUR', version: 2 },
  });
const customer = (at: number): Envelope =>
  createEnvelope({
    eventType: 'ecommerce.customer.registered.v1',
    producer: 'test',
    tenantId: 't1',
    partitionKey: customerId,
    traceId,
    occurredAt: new Date(at),
    payload: {
      customerId,
      email: 'ada@example.com',
      name: 'Ada',
      segment: 'consumer',
      address: { line1: '1 Main St', city: 'Paris', postalCode: '75001', country: 'FR' },
      version: 1,
    },
  });

let offset = 0;
const raw = (topic: string, value: string | Envelope): StreamRecord<RawRecord> =>
  rawStreamRecord({
    topic,
    offset: BigInt(offset++),
    timestamp: T0,
    value,
    headers: new Map([['traceparent', Buffer.from(`00-${traceId}-b7ad6b7169203331-01`)]]),
  });

describe('Silver from Bronze', () => {
  let lake: DuckDb;
  let writer: TransactionalWriter;
  let refresher: SilverRefresher;
  const system = lakeSystem();
  const sink = system.sink<RawRecord>(bronze, (r, context) => bronzeRow(r.value, context));
  const job = `test-silver-${id}`;
  const committedAt: Date[] = [];

  const land = async (records: StreamRecord<RawRecord>[]) => {
    committedAt.push(new Date());
    await writer.commit({
      records: new Map([[sink.target, records]]),
      offsets: [{ topic: 'ecommerce.order', partition: 0, nextOffset: BigInt(offset) }],
    });
    await new Promise((r) => setTimeout(r, 20)); // distinct ingestion times per commit
  };
  const snapshot = async () => {
    const out: Record<string, unknown[]> = {};
    for (const table of [tables.orders, tables.orderLines, tables.products, tables.customers, tables.quarantine]) {
      out[table.name] = await lake.rows(
        `SELECT * FROM ${qualifiedName(table)} ORDER BY _bronze_rowid${table === tables.orderLines ? ', line_no' : ''}`,
      );
    }
    return out;
  };

  beforeAll(async () => {
    lake = await openLake(config);
    writer = await system.connect(job, 'test');
    await writer.claim('ecommerce.order', 0);
    // maxBatchRows 3: the incremental path runs in many small batches, the rebuild in the same code from a boundary.
    refresher = await SilverRefresher.create(lake, { bronze, tables, maxBatchRows: 3 });
  });
  afterAll(async () => {
    await writer.close();
    for (const schema of [bronze.schema, tables.orders.schema])
      await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    for (const table of [`offsets_${job.replaceAll('-', '_')}`, tables.progress.name])
      await lake.run(`DROP TABLE IF EXISTS bv_meta.${table}`).catch(() => {});
    lake.close();
  });

  const o1 = order(randomUUID(), T0 + 1_000);
  const o2 = order(randomUUID(), T0 + 60_000);
  const late = order(randomUUID(), T0 + 60_000 - 10 * 60_000); // 10 minutes behind the latest order
  const invalid = { ...order(randomUUID(), T0 + 61_000) } as Envelope;
  (invalid.payload as Record<string, unknown>).totalAmount = 'thirty';
  const unknown = createEnvelope({
    eventType: 'ecommerce.order.teleported.v1',
    producer: 'test',
    tenantId: 't1',
    partitionKey: 'x',
    traceId,
    payload: {},
  });

  it('lands each valid event once, typed; quarantines what is not valid with the reason and Bronze coordinates', async () => {
    await land([raw('ecommerce.order', o1), raw('ecommerce.order', o1), raw('ecommerce.order', 'not json at all')]);
    await runUntilCaughtUp(refresher);
    await land([raw('ecommerce.order', o2), raw('ecommerce.product', product(T0 + 2_000))]);
    await land([
      raw('ecommerce.order', o1), // a re-delivery in a later batch
      raw('ecommerce.order', late),
      raw('ecommerce.order', invalid),
      raw('ecommerce.customer', customer(T0 + 3_000)),
      raw('ecommerce.order', unknown),
    ]);
    const reports = await runUntilCaughtUp(refresher);
    expect(reports.reduce((n, r) => n + r.duplicates, 0)).toBe(1);

    const orders = await lake.rows<{
      event_id: string;
      amount: string;
      line_count: number;
      _is_late: boolean;
      _lateness_ms: bigint;
    }>(
      `SELECT event_id, amount::VARCHAR AS amount, line_count, _is_late, _lateness_ms FROM ${qualifiedName(tables.orders)} ORDER BY _bronze_rowid`,
    );
    expect(orders).toEqual([
      { event_id: o1.eventId, amount: '30.30', line_count: 2, _is_late: false, _lateness_ms: 0n },
      { event_id: o2.eventId, amount: '30.30', line_count: 2, _is_late: false, _lateness_ms: 0n },
      { event_id: late.eventId, amount: '30.30', line_count: 2, _is_late: true, _lateness_ms: 600_000n },
    ]);
    const lines = await lake.rows<{ line_amount: string }>(
      `SELECT line_amount::VARCHAR AS line_amount FROM ${qualifiedName(tables.orderLines)} WHERE event_id = $1 ORDER BY line_no`,
      [o1.eventId],
    );
    expect(lines.map((l) => l.line_amount)).toEqual(['30.30', '0.00']);
    expect(
      await lake.rows(
        `SELECT price::VARCHAR AS price, previous_price::VARCHAR AS previous_price FROM ${qualifiedName(tables.products)}`,
      ),
    ).toEqual([{ price: '12.00', previous_price: '10.10' }]);
    expect(await lake.rows(`SELECT segment, address->>'city' AS city FROM ${qualifiedName(tables.customers)}`)).toEqual(
      [{ segment: 'consumer', city: 'Paris' }],
    );
    const quarantine = await lake.rows<{
      reason_code: string;
      reason: string;
      _bronze_topic: string;
      _bronze_offset: bigint;
    }>(
      `SELECT reason_code, reason, _bronze_topic, _bronze_offset FROM ${qualifiedName(tables.quarantine)} ORDER BY _bronze_rowid`,
    );
    expect(quarantine.map((q) => q.reason_code)).toEqual(['UNDECODABLE', 'SCHEMA_VIOLATION', 'SCHEMA_VIOLATION']);
    expect(quarantine[0]?._bronze_offset).toBe(2n);
    expect(quarantine[1]?.reason).toContain('/payload/totalAmount');
    expect(quarantine[2]?.reason).toContain('unknown event type ecommerce.order.teleported.v1');
  });

  it('rebuilding from Bronze, from the start or from any day, gives exactly the rows of the incremental path', async () => {
    const incremental = await snapshot();
    expect(incremental.orders).toHaveLength(3);

    const full = { removed: (await rebuildTransform(refresher, new Date(0)))[0]?.removed ?? 0 };
    expect(full.removed).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(incremental);

    // From the second Bronze commit on: the first commit's rows stay, the rest is derived again.
    const partial = { removed: (await rebuildTransform(refresher, committedAt[1] as Date))[0]?.removed ?? 0 };
    expect(partial.removed).toBeLessThan(full.removed);
    expect(await snapshot()).toEqual(incremental);
  });
});
