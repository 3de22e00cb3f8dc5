import { randomUUID } from 'node:crypto';
import { createEnvelope, type Envelope, loadPlatformConfig } from '@bitvelocity/core';
import { bv } from '@bitvelocity/infra/testing';
import {
  BRONZE_ENVELOPES,
  bronzeRow,
  type DuckDb,
  type LakeRow,
  type LakeTable,
  lakeSystem,
  offsetsTableOf,
  openLake,
  qualifiedName,
  runUntilCaughtUp,
  SilverRefresher,
  silverTables,
} from '@bitvelocity/lakehouse';
import { SilverTestFeed } from '@bitvelocity/lakehouse/testing';
import type { RawRecord, TransactionalWriter } from '@bitvelocity/streams';
import { rawStreamRecord } from '@bitvelocity/streams/testing';
import { Warehouse } from '@bitvelocity/warehouse';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readAll } from '../../streams/test/kafka.js';
import { gateSuites, gatesEnabled } from '../src/gates.js';
import { layerGate, qualityReport } from '../src/index.js';

// Silver's refresh and the warehouse build with their real gates (the repository's suite files), on the real lake.
vi.setConfig({ testTimeout: 90_000 });

const config = loadPlatformConfig();
const id = randomUUID().replaceAll('-', '').slice(0, 10);
const env = {
  BV_QUALITY_SCHEMA: `test_gt_${id}_meta`,
  BV_QUALITY_ALERTS_TOPIC: `test.gates.${id}.alerts`,
};
const bronze: LakeTable = { ...BRONZE_ENVELOPES, schema: `test_gt_${id}_bronze` };
const silver = silverTables(`test_gt_${id}_silver`, `test_gt_${id}_smeta`);
const gold = `test_gt_${id}_gold`;
const T0 = Date.parse('2026-11-20T10:00:00Z');

let lake: DuckDb;
let reader: DuckDb;
const count = async (table: string) =>
  Number((await reader.rows<{ n: bigint }>(`SELECT count(*) AS n FROM ${table}`))[0]?.n ?? -1n);
const held = () =>
  reader.rows<{ batch_id: string; status: string; transform: string; table_name: string; alert: string }>(
    `SELECT batch_id, status, transform, table_name, alert FROM ${env.BV_QUALITY_SCHEMA}.quality_held ORDER BY held_at`,
  );
const alerts = async () =>
  (await readAll(config.kafka.bootstrapServers, env.BV_QUALITY_ALERTS_TOPIC)).map((r) => JSON.parse(String(r.value)));

beforeAll(async () => {
  lake = await openLake(config);
  reader = await openLake(config);
});
afterAll(async () => {
  const schemas = ['bronze', 'silver', 'smeta', 'wsilver', 'wmeta', 'gold', 'meta'].map((s) => `test_gt_${id}_${s}`);
  for (const schema of schemas) await lake?.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  lake?.close();
  reader?.close();
});

describe('the gates switch', () => {
  it('is on by default, off with BV_QUALITY_GATES=off, and refuses anything else', async () => {
    expect(gatesEnabled({})).toBe(true);
    expect(gatesEnabled({ BV_QUALITY_GATES: 'off' })).toBe(false);
    expect(() => gatesEnabled({ BV_QUALITY_GATES: 'maybe' })).toThrow(/on or off/);
    expect(await layerGate(lake, 'silver', { env: { BV_QUALITY_GATES: 'off' } })).toBeUndefined();
  });

  it("gates Silver's typed tables but not its quarantine, and every warehouse table with a suite", () => {
    expect(
      gateSuites('silver')
        .map((s) => s.meta.table)
        .sort(),
    ).toEqual(['silver.customers', 'silver.order_lines', 'silver.orders', 'silver.products']);
    const gold = gateSuites('gold').map((s) => s.meta.table);
    expect(gold).toEqual(
      expect.arrayContaining(['gold.fact_order', 'gold.fact_order_line', 'gold.dim_product', 'gold.mart_daily_sales']),
    );
  });
});

describe("Silver's refresh behind its gate", () => {
  const system = lakeSystem();
  const sink = system.sink<RawRecord>(bronze, (r, context) => bronzeRow(r.value, context));
  const writerJob = `test-gt-writer-${id}`;
  let writer: TransactionalWriter;
  let offset = 0;
  let batchId = '';

  const order = (n: number, totalAmount: string): Envelope =>
    createEnvelope({
      eventId: randomUUID(),
      eventType: 'ecommerce.order.created.v1',
      producer: 'test',
      tenantId: 't1',
      partitionKey: `o${n}`,
      traceId: '0af7651916cd43dd8448eb211c80319c',
      occurredAt: new Date(T0 + n),
      payload: {
        orderId: randomUUID(),
        customerId: randomUUID(),
        status: 'created',
        currency: 'EUR',
        totalAmount,
        lines: [{ lineNo: 1, productId: randomUUID(), quantity: 1, unitPrice: '10.10' }],
        createdAt: new Date(T0 + n).toISOString(),
      },
    });
  const land = async (values: (string | Envelope)[]) => {
    const records = values.map((value) =>
      rawStreamRecord({ topic: 'ecommerce.order', offset: BigInt(offset++), timestamp: T0, value }),
    );
    await writer.commit({
      records: new Map([[sink.target, records]]),
      offsets: [{ topic: 'ecommerce.order', partition: 0, nextOffset: BigInt(offset) }],
    });
  };
  const refresher = () => SilverRefresher.create(lake, { name: `test-gt-silver-${id}`, bronze, tables: silver });

  beforeAll(async () => {
    writer = await system.connect(writerJob, 'test');
    await writer.claim('ecommerce.order', 0);
  });
  afterAll(async () => {
    await writer?.close();
    await lake.run(`DROP TABLE IF EXISTS ${qualifiedName(offsetsTableOf(writerJob))}`).catch(() => {});
  });

  it('publishes a clean increment, its quarantined row included, without holding', async () => {
    const gate = await layerGate(lake, 'silver', { env });
    await land([order(1, '10.10'), order(2, '10.10'), 'not json']);
    const reports = await runUntilCaughtUp(await refresher(), { beforePublish: gate });
    expect(reports).toMatchObject([{ read: 3, published: true, quarantined: 1, landed: { orders: 2 } }]);
    expect(await count(qualifiedName(silver.orders))).toBe(2);
    expect(await held()).toEqual([]);
  });

  it('holds an increment with a negative order amount: readers keep the previous snapshot, the rows are kept, an alert goes out', async () => {
    const silverRun = await refresher();
    const before = await silverRun.lag();
    await land([order(3, '10.10'), order(4, '-5.00')]);
    const reports = await runUntilCaughtUp(silverRun, { beforePublish: await layerGate(lake, 'silver', { env }) });
    expect(reports).toMatchObject([{ read: 2, published: false }]);
    expect(reports[0]?.heldReason).toMatch(/orders: expect_column_values_to_be_between\(amount\): 1/);
    expect(await count(qualifiedName(silver.orders))).toBe(2);
    expect(await silverRun.lag()).toMatchObject({ position: before.position, pendingRows: 2 });

    const [batch, ...others] = await held();
    expect(others).toEqual([]);
    expect(batch).toMatchObject({ status: 'held', transform: `test-gt-silver-${id}`, alert: 'sent' });
    batchId = String(batch?.batch_id);
    const failing = await reader.rows(
      `SELECT expectation, row_data->>'amount' AS amount FROM ${env.BV_QUALITY_SCHEMA}.quality_failures WHERE batch_id = $1`,
      [batchId],
    );
    expect(failing.map((f) => [f.expectation, Number(f.amount)])).toEqual([['expect_column_values_to_be_between', -5]]);
    expect(await alerts()).toEqual([
      expect.objectContaining({
        eventType: 'quality.gate.failed.v1',
        payload: expect.objectContaining({ batchId, release: `npx bv quality release ${batchId}` }),
      }),
    ]);
    const report = JSON.parse(bv(['quality', 'report', '--json'], env));
    expect(report.held).toEqual([expect.objectContaining({ batchId, status: 'held', failingRows: 1 })]);
  });

  it('publishes the held increment once `bv quality release <batch>` lets it through', async () => {
    expect(bv(['quality', 'release', batchId, '--by', 'reviewer'], env)).toMatch(`released ${batchId}`);
    const silverRun = await refresher();
    const reports = await runUntilCaughtUp(silverRun, { beforePublish: await layerGate(lake, 'silver', { env }) });
    expect(reports).toMatchObject([{ read: 2, published: true }]);
    expect(await count(qualifiedName(silver.orders))).toBe(4);
    expect((await silverRun.lag()).pendingRows).toBe(0);
    expect((await held()).map((h) => h.status)).toEqual(['replayed']);
  });
});

describe('the warehouse build behind its gate', () => {
  // Silver tables of its own: the released negative amount above would (rightly) hold Gold too.
  const silver = silverTables(`test_gt_${id}_wsilver`, `test_gt_${id}_wmeta`);
  let feed: SilverTestFeed;
  let warehouse: Warehouse;
  let batchId = '';
  const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString();

  /** Lands rows in the test's Silver tables in one commit. */
  const landSilver = (rows: [LakeTable, LakeRow][]) => feed.land(rows);
  const product = randomUUID();
  const customer = randomUUID();
  const orderOf = (minute: number, lineAmount: string): [LakeTable, LakeRow][] => {
    const event = {
      event_id: randomUUID(),
      event_type: 'ecommerce.order.created.v1',
      occurred_at: at(minute),
      order_id: randomUUID(),
    };
    return [
      [
        silver.orders,
        {
          ...event,
          customer_id: customer,
          status: 'created',
          currency: 'EUR',
          amount: '20.00',
          line_count: 1,
          status_at: at(minute),
        },
      ],
      [
        silver.orderLines,
        {
          ...event,
          line_no: 1,
          product_id: product,
          quantity: 2,
          unit_price: '10.00',
          line_amount: lineAmount,
          currency: 'EUR',
        },
      ],
    ];
  };
  const build = async () => warehouse.runOnce({ beforePublish: await layerGate(lake, 'gold', { env }) });

  beforeAll(async () => {
    warehouse = await Warehouse.create({ lake, silver, schema: gold });
    feed = await SilverTestFeed.create(lake, silver, 1_000_000);
  });

  it('publishes a clean build: every Gold suite passes on real warehouse rows', async () => {
    await landSilver([
      [
        silver.products,
        {
          event_type: 'ecommerce.product.created.v1',
          product_id: product,
          occurred_at: at(0),
          sku: 'sku-1',
          name: 'Dune',
          category: 'books',
          price: '10.00',
          currency: 'EUR',
        },
      ],
      [
        silver.customers,
        {
          event_type: 'ecommerce.customer.updated.v1',
          customer_id: customer,
          occurred_at: at(0),
          email: 'ada@example.com',
          name: 'Ada',
          segment: 'consumer',
          address: { line1: '1 Main St', city: 'Paris', postalCode: '75001', country: 'FR' },
        },
      ],
      ...orderOf(5, '20.00'),
    ]);
    const report = await build();
    expect(report.heldReason).toBeUndefined();
    expect(report.published).toBe(true);
    expect(await count(`${gold}.fact_order_line`)).toBe(1);
  });

  it('holds a build whose order line amount is not quantity x unit price, and publishes it once released', async () => {
    const before = await warehouse.lag();
    await landSilver(orderOf(6, '25.00'));
    const report = await build();
    expect(report).toMatchObject({ published: false, position: before.position });
    expect(report.heldReason).toMatch(/fact_order_line: bv_expect_custom_sql_to_return_no_rows: 1/);
    expect(await count(`${gold}.fact_order_line`)).toBe(1);
    expect(await count(`${gold}.fact_order`)).toBe(1);
    expect((await warehouse.lag()).pendingRows).toBeGreaterThan(0);

    const batch = (await held()).find((h) => h.table_name === `${gold}.fact_order_line`);
    expect(batch).toMatchObject({ status: 'held', transform: warehouse.name, alert: 'sent' });
    batchId = String(batch?.batch_id);
    const failing = await reader.rows(
      `SELECT row_data->>'line_amount' AS line_amount FROM ${env.BV_QUALITY_SCHEMA}.quality_failures WHERE batch_id = $1`,
      [batchId],
    );
    expect(failing.map((f) => Number(f.line_amount))).toEqual([25]);
    expect((await alerts()).map((a) => a.payload.batchId)).toContain(batchId);
    const shown = await qualityReport(reader, { metaSchema: env.BV_QUALITY_SCHEMA });
    expect(shown.held).toEqual(expect.arrayContaining([expect.objectContaining({ batchId, status: 'held' })]));

    bv(['quality', 'release', batchId], env);
    const released = await build();
    expect(released.published).toBe(true);
    expect(await count(`${gold}.fact_order_line`)).toBe(2);
    expect((await warehouse.lag()).pendingRows).toBe(0);
  });
});
