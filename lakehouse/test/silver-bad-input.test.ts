import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
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
  SilverRefresher,
  silverTables,
} from '../src/index.js';
import { bronzeRow } from '../src/layers/bronze.js';
import { runUntilCaughtUp } from '../src/transform/runner.js';

const config = loadPlatformConfig();
const id = randomUUID().replaceAll('-', '').slice(0, 10);
const bronze: LakeTable = { ...BRONZE_ENVELOPES, schema: `test_svbad_${id}_bronze` };
const tables = silverTables(`test_svbad_${id}_silver`);
const traceId = '0af7651916cd43dd8448eb211c80319c';
const NOW = Date.now();

const order = (at: number, eventId: string = randomUUID(), orderId: string = randomUUID()): Envelope =>
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
      customerId: randomUUID(),
      status: 'created',
      currency: 'EUR',
      totalAmount: '1.00',
      lines: [{ lineNo: 1, productId: randomUUID(), quantity: 1, unitPrice: '1.00' }],
      createdAt: new Date(at).toISOString(),
    },
  });

let offset = 0;
const raw = (envelope: Envelope, partition = 0, topic = 'ecommerce.order'): StreamRecord<RawRecord> =>
  rawStreamRecord({
    topic,
    partition,
    offset: BigInt(offset++),
    timestamp: NOW,
    key: Buffer.from(envelope.partitionKey),
    value: envelope,
  });

describe('Silver and bad event times or ids', () => {
  let lake: DuckDb;
  let writer: TransactionalWriter;
  let refresher: SilverRefresher;
  const system = lakeSystem();
  const sink = system.sink<RawRecord>(bronze, (r, context) => bronzeRow(r.value, context));
  const job = `test-silver-bad-${id}`;

  const land = async (records: StreamRecord<RawRecord>[]) => {
    await writer.commit({
      records: new Map([[sink.target, records]]),
      offsets: [{ topic: 'ecommerce.order', partition: 0, nextOffset: BigInt(offset) }],
    });
  };
  const orders = () =>
    lake.rows<{ event_id: string; order_id: string; _is_late: boolean; _lateness_ms: bigint }>(
      `SELECT event_id, order_id, _is_late, _lateness_ms FROM ${qualifiedName(tables.orders)} ORDER BY _bronze_rowid`,
    );
  const quarantine = () =>
    lake.rows<{
      event_id: string;
      reason_code: string;
      reason: string;
      _bronze_partition: number;
      _bronze_offset: bigint;
    }>(
      `SELECT event_id, reason_code, reason, _bronze_partition, _bronze_offset FROM ${qualifiedName(tables.quarantine)} ORDER BY _bronze_rowid`,
    );

  beforeAll(async () => {
    lake = await openLake(config);
    writer = await system.connect(job, 'test');
    await writer.claim('ecommerce.order', 0);
    refresher = await SilverRefresher.create(lake, { bronze, tables, maxBatchRows: 2 });
  });
  afterAll(async () => {
    await writer.close();
    for (const schema of [bronze.schema, tables.orders.schema])
      await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    for (const table of [`offsets_${job.replaceAll('-', '_')}`, tables.progress.name])
      await lake.run(`DROP TABLE IF EXISTS bv_meta.${table}`).catch(() => {});
    lake.close();
  });

  const before = order(NOW - 60_000);
  const in2099 = order(Date.parse('2099-01-01T00:00:00Z'));
  const in1970 = order(5_000);
  const after = [order(NOW - 50_000), order(NOW - 40_000)];
  const reused = order(NOW - 30_000); // its eventId is reused below
  const conflicting = order(NOW - 20_000, reused.eventId); // same id, another order (key, partition)
  const sameIdOtherTopic = createEnvelope({
    eventId: reused.eventId,
    eventType: 'ecommerce.product.price_changed.v1',
    producer: 'test',
    tenantId: 't1',
    partitionKey: randomUUID(),
    traceId,
    payload: { productId: randomUUID(), oldPrice: '1.00', newPrice: '2.00', currency: 'EUR', version: 2 },
  });

  it('regression: one 2099 order made every later order late; it is quarantined and never moves the lateness reference', async () => {
    await land([raw(before), raw(in2099), raw(in1970)]);
    await land([raw(after[0] as Envelope), raw(after[1] as Envelope)]);
    await runUntilCaughtUp(refresher);
    expect((await orders()).map((o) => [o.event_id, o._is_late, o._lateness_ms])).toEqual([
      [before.eventId, false, 0n],
      [after[0]?.eventId, false, 0n],
      [after[1]?.eventId, false, 0n],
    ]);
    const q = await quarantine();
    expect(q.map((r) => [r.event_id, r.reason_code])).toEqual([
      [in2099.eventId, 'EVENT_TIME_OUT_OF_RANGE'],
      [in1970.eventId, 'EVENT_TIME_OUT_OF_RANGE'],
    ]);
    expect(q[0]?.reason).toMatch(
      /occurredAt 2099-01-01T00:00:00.000Z is \d+ ms after its ingestion .*at most 3600000 ms/,
    );
    expect(q[1]?.reason).toMatch(/before 2000-01-01/);
  });

  it('regression: the same eventId on another key was dropped silently; it is quarantined as CONFLICTING_DUPLICATE', async () => {
    await land([raw(reused, 0), raw(reused, 0), raw(conflicting, 3), raw(sameIdOtherTopic, 0, 'ecommerce.product')]);
    const reports = await runUntilCaughtUp(refresher);
    expect(reports.reduce((n, r) => n + r.duplicates, 0)).toBe(1); // the identical re-delivery
    expect((await orders()).filter((o) => o.event_id === reused.eventId).map((o) => o.order_id)).toEqual([
      reused.payload.orderId,
    ]);
    const conflict = (await quarantine()).filter((r) => r.reason_code === 'CONFLICTING_DUPLICATE');
    expect(conflict.map((r) => [r.event_id, r._bronze_partition])).toEqual([[reused.eventId, 3]]);
    expect(conflict[0]?.reason).toMatch(/first seen at ecommerce\.order\[0\]@\d+ .*with different content/);
    // An eventId is unique on its topic: the same id on another topic is another event.
    expect(await lake.rows(`SELECT event_id FROM ${qualifiedName(tables.products)}`)).toEqual([
      { event_id: reused.eventId },
    ]);
  });

  it('a rebuild decides the same: same rows, same quarantine', async () => {
    const rows = { orders: await orders(), quarantine: await quarantine() };
    await refresher.rebuild(new Date(0));
    expect({ orders: await orders(), quarantine: await quarantine() }).toEqual(rows);
  });

  it("`bv dlq list` counts the quarantine per reason; `bv dlq show quarantine` gives each row's coordinates", () => {
    const bv = (...args: string[]) => {
      const result = spawnSync(
        process.execPath,
        [fileURLToPath(new URL('../../cli/bin/bv.js', import.meta.url)), ...args],
        {
          encoding: 'utf8',
        },
      );
      expect(result.status, result.stderr).toBe(0);
      return result.stdout;
    };
    const schema = tables.quarantine.schema;
    const listed = JSON.parse(bv('dlq', 'list', '--prefix', `none-${id}`, '--quarantine-schema', schema, '--json'));
    expect(listed.topics).toEqual([]);
    expect(listed.quarantine.map((q: { reason_code: string; n: string }) => [q.reason_code, q.n])).toEqual([
      ['EVENT_TIME_OUT_OF_RANGE', '2'],
      ['CONFLICTING_DUPLICATE', '1'],
    ]);
    const shown = JSON.parse(
      bv('dlq', 'show', 'quarantine', '--quarantine-schema', schema, '--code', 'CONFLICTING_DUPLICATE', '--json'),
    );
    expect(shown).toMatchObject([{ reason_code: 'CONFLICTING_DUPLICATE', topic: 'ecommerce.order', partition: 3 }]);
  }, 60_000);
});
