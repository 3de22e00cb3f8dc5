import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Envelope,
  EventSchemaRegistry,
  FileTransport,
  LineageClient,
  loadPlatformConfig,
  OpenLineageValidator,
} from '@bitvelocity/core';
import {
  type DuckDb,
  type LakeRow,
  type LakeTable,
  openLake,
  qualifiedName,
  runIncrement,
  silverTables,
} from '@bitvelocity/lakehouse';
import { SilverTestFeed } from '@bitvelocity/lakehouse/testing';
import { Consumer, MessagesStreamModes, stringDeserializers } from '@platformatic/kafka';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { OrderFactCorrected } from '../src/corrections.js';
import { CorrectionPublisher, installWarehouseLineage, Warehouse } from '../src/index.js';
import { memberKeySql } from '../src/models.js';
import { OPEN_VALID_TO } from '../src/tables.js';

// builds commit to the shared lake; a loaded machine makes a build take seconds
vi.setConfig({ testTimeout: 60_000 });

const config = loadPlatformConfig();
const id = randomUUID().replaceAll('-', '').slice(0, 10);
const silver = silverTables(`test_wh_${id}_silver`, `test_wh_${id}_meta`);
const gold = `test_wh_${id}_gold`;
const topic = `test.warehouse.${id}.corrections`;
const T0 = Date.parse('2026-11-20T10:00:00Z');
const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString();

const P1 = randomUUID();
const P2 = randomUUID();
const P3 = randomUUID();
const C1 = randomUUID();
const C2 = randomUUID();
const order = { O1: randomUUID(), O2: randomUUID(), O3: randomUUID(), O4: randomUUID(), O5: randomUUID() };

let lake: DuckDb;
let feed: SilverTestFeed;
let warehouse: Warehouse;
let publisher: CorrectionPublisher;

/** Lands rows in the test's Silver tables in one commit, each with the next Bronze coordinates. */
const land = (rows: [LakeTable, LakeRow][]) => feed.land(rows);

const product = (productId: string, minute: number, fields: LakeRow): [LakeTable, LakeRow] => [
  silver.products,
  { event_type: 'ecommerce.product.updated.v1', product_id: productId, occurred_at: at(minute), ...fields },
];
const created = (productId: string, minute: number, price: string, category = 'books'): [LakeTable, LakeRow] =>
  product(productId, minute, {
    event_type: 'ecommerce.product.created.v1',
    sku: `sku-${productId.slice(0, 4)}`,
    name: 'Dune',
    category,
    price,
    currency: 'EUR',
  });
const customer = (customerId: string, minute: number, segment: string): [LakeTable, LakeRow] => [
  silver.customers,
  {
    event_type: 'ecommerce.customer.updated.v1',
    customer_id: customerId,
    occurred_at: at(minute),
    email: 'ada@example.com',
    name: 'Ada',
    segment,
    address: { line1: '1 Main St', city: 'Paris', postalCode: '75001', country: 'FR' },
  },
];
const orderCreated = (
  orderId: string,
  minute: number,
  customerId: string,
  lines: [productId: string, quantity: number, unitPrice: string][],
): [LakeTable, LakeRow][] => {
  const eventId = randomUUID();
  const total = lines.reduce((sum, [, q, p]) => sum + q * Math.round(Number(p) * 100), 0);
  const event = {
    event_id: eventId,
    event_type: 'ecommerce.order.created.v1',
    occurred_at: at(minute),
    order_id: orderId,
  };
  return [
    [
      silver.orders,
      {
        ...event,
        customer_id: customerId,
        status: 'created',
        currency: 'EUR',
        amount: (total / 100).toFixed(2),
        line_count: lines.length,
        status_at: at(minute),
      },
    ],
    ...lines.map(([productId, quantity, unitPrice], i): [LakeTable, LakeRow] => [
      silver.orderLines,
      {
        ...event,
        line_no: i + 1,
        product_id: productId,
        quantity,
        unit_price: unitPrice,
        line_amount: ((quantity * Math.round(Number(unitPrice) * 100)) / 100).toFixed(2),
        currency: 'EUR',
      },
    ]),
  ];
};

const q = (name: string) => `${gold}.${name}`;
const versions = (productId: string) =>
  lake.rows<{ price: string; category: string; valid_from: Date; valid_to: Date; is_current: boolean }>(
    `SELECT CAST(price AS VARCHAR) AS price, category, valid_from, valid_to, is_current FROM ${q('dim_product')}
      WHERE product_id = $1 ORDER BY version_no`,
    [productId],
  );
const iso = (d: Date) => new Date(d).toISOString();
const keyOf = async (sql: string) => (await lake.rows<{ k: bigint }>(`SELECT ${sql} AS k`))[0]?.k;
const lineKey = async (orderId: string) =>
  (
    await lake.rows<{ product_key: bigint }>(`SELECT product_key FROM ${q('fact_order_line')} WHERE order_id = $1`, [
      orderId,
    ])
  )[0]?.product_key;
const priceAt = async (orderId: string) =>
  (
    await lake.rows<{ price: string }>(
      `SELECT CAST(d.price AS VARCHAR) AS price FROM ${q('fact_order_line')} f JOIN ${q('dim_product')} d USING (product_key)
        WHERE f.order_id = $1`,
      [orderId],
    )
  )[0]?.price;

/** Every row of the warehouse's rebuildable tables, sorted, as text. */
async function snapshotRows(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of warehouse.outputs) {
    if (['warehouse_builds', 'fact_corrections', 'mart_pipeline_freshness', 'mart_anomalies'].includes(table.name))
      continue;
    const rows = await lake.rows(`SELECT * FROM ${qualifiedName(table)}`);
    out[table.name] = rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).sort();
  }
  return out;
}

beforeAll(async () => {
  lake = await openLake(config);
  publisher = await CorrectionPublisher.create(config.kafka.bootstrapServers, topic);
  warehouse = await Warehouse.create({ lake, silver, schema: gold, corrections: publisher });
  feed = await SilverTestFeed.create(lake, silver);
}, 120_000);

afterAll(async () => {
  await publisher?.close();
  for (const schema of [silver.orders.schema, gold])
    await lake?.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  lake?.close();
});

describe('the warehouse build', () => {
  let afterIncrements: Record<string, string[]>;

  it('describes every table and column in the catalog (COMMENT ON), as \\d shows them', async () => {
    const undescribed = await lake.rows(
      `SELECT table_name, column_name FROM duckdb_columns()
        WHERE database_name = current_database() AND schema_name = $1 AND (comment IS NULL OR comment = '')`,
      [gold],
    );
    expect(undescribed).toEqual([]);
    const tables = await lake.rows<{ table_name: string; comment: string | null }>(
      `SELECT table_name, comment FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = $1`,
      [gold],
    );
    expect(tables.length).toBe(warehouse.outputs.length);
    expect(tables.filter((t) => !t.comment)).toEqual([]);
  });

  it('chains SCD2 versions by event time: no-op and re-delivered changes make none, a delete closes', async () => {
    await land([
      customer(C1, 5, 'consumer'),
      created(P1, 10, '10.00'),
      product(P1, 30, { event_type: 'ecommerce.product.price_changed.v1', price: '12.00', currency: 'EUR' }),
      // a no-op update (same attributes) and the same change delivered again under a new event id
      created(P1, 40, '12.00'),
      product(P1, 41, { event_type: 'ecommerce.product.price_changed.v1', price: '12.00', currency: 'EUR' }),
      created(P2, 10, '5.00', 'games'),
      product(P2, 60, { event_type: 'ecommerce.product.deleted.v1', is_deleted: true }),
      ...orderCreated(order.O1, 15, C1, [[P1, 2, '10.00']]),
      ...orderCreated(order.O3, 22, C1, [[P1, 1, '10.00']]),
      ...orderCreated(order.O2, 35, C1, [
        [P1, 3, '12.00'],
        [P2, 1, '5.00'],
      ]),
    ]);
    const report = await warehouse.runOnce();
    expect(report).toMatchObject({ published: true, mode: 'incremental', lateFacts: 0 });
    expect(report.read).toBe(14);

    expect((await versions(P1)).map((v) => [v.price, iso(v.valid_from), iso(v.valid_to), v.is_current])).toEqual([
      ['10.00', at(10), at(30), false],
      ['12.00', at(30), new Date(OPEN_VALID_TO).toISOString(), true],
    ]);
    expect((await versions(P2)).map((v) => [v.price, iso(v.valid_from), iso(v.valid_to), v.is_current])).toEqual([
      ['5.00', at(10), at(60), false],
    ]);
    const [unknown] = await lake.rows(`SELECT product_key, is_current FROM ${q('dim_product')} WHERE product_key = -1`);
    expect(unknown).toEqual({ product_key: -1n, is_current: true });
    expect(await priceAt(order.O1)).toBe('10.00');
    expect(await priceAt(order.O3)).toBe('10.00');
  });

  it('puts an older change that arrives late into its place and orders same-time changes by offset', async () => {
    const keyBefore = await lineKey(order.O1);
    await land([
      product(P1, 20, { event_type: 'ecommerce.product.price_changed.v1', price: '11.00', currency: 'EUR' }),
      product(P1, 50, { category: 'sci-fi' }),
      product(P1, 50, { event_type: 'ecommerce.product.price_changed.v1', price: '13.00', currency: 'EUR' }),
    ]);
    await warehouse.runOnce();
    expect((await versions(P1)).map((v) => [v.price, v.category, iso(v.valid_from), iso(v.valid_to)])).toEqual([
      ['10.00', 'books', at(10), at(20)],
      ['11.00', 'books', at(20), at(30)],
      ['12.00', 'books', at(30), at(50)],
      ['12.00', 'sci-fi', at(50), at(50)],
      ['13.00', 'sci-fi', at(50), new Date(OPEN_VALID_TO).toISOString()],
    ]);
    // facts carry the version valid at their event time, re-resolved when the chain is re-cut
    expect(await priceAt(order.O1)).toBe('10.00');
    expect(await priceAt(order.O3)).toBe('11.00');
    expect(await lineKey(order.O1)).toBe(keyBefore);
    const [c] = await lake.rows<{ segment: string }>(
      `SELECT d.segment FROM ${q('fact_order')} f JOIN ${q('dim_customer')} d USING (customer_key) WHERE f.order_id = $1`,
      [order.O2],
    );
    expect(c?.segment).toBe('consumer');
  });

  it('points a fact at an inferred member and completes that member in place when its first version arrives', async () => {
    await land([...orderCreated(order.O4, 45, C2, [[P3, 4, '7.50']])]);
    await warehouse.runOnce();
    const inferred = await lake.rows<{ product_key: bigint; is_inferred: boolean; name: string | null }>(
      `SELECT product_key, is_inferred, name FROM ${q('dim_product')} WHERE product_id = $1`,
      [P3],
    );
    const memberKey = await keyOf(memberKeySql(`'${P3}'`));
    expect(inferred).toEqual([{ product_key: memberKey, is_inferred: true, name: null }]);
    expect(await lineKey(order.O4)).toBe(memberKey);

    await land([created(P3, 44, '7.50', 'toys'), customer(C2, 30, 'enterprise')]);
    await warehouse.runOnce();
    const completed = await lake.rows(
      `SELECT product_key, is_inferred, category FROM ${q('dim_product')} WHERE product_id = $1`,
      [P3],
    );
    expect(completed).toEqual([{ product_key: memberKey, is_inferred: false, category: 'toys' }]);
    expect(await lineKey(order.O4)).toBe(memberKey);
    const [sales] = await lake.rows(
      `SELECT category, segment, units, CAST(revenue AS VARCHAR) AS revenue FROM ${q('mart_daily_sales')} WHERE category = 'toys'`,
    );
    expect(sales).toEqual({ category: 'toys', segment: 'enterprise', units: 4n, revenue: '30.00' });
  });

  it('lands a late fact in its own day, recomputes the marts it touches and emits the correction event', async () => {
    const day = Number(at(0).slice(0, 10).replaceAll('-', ''));
    const total = async () =>
      (
        await lake.rows<{ orders: bigint; revenue: string }>(
          `SELECT sum(orders) AS orders, CAST(sum(revenue) AS VARCHAR) AS revenue FROM ${q('mart_daily_sales')} WHERE date_key = ${day}`,
        )
      )[0];
    const before = await total();
    const [published] = await lake.rows<{ id: bigint }>(`SELECT id FROM ducklake_current_snapshot(current_database())`);
    await land([...orderCreated(order.O5, 12, C1, [[P1, 1, '10.00']])]);
    const report = await warehouse.runOnce();
    expect(report).toMatchObject({ lateFacts: 1, correctionsSent: 1 });
    const after = await total();
    expect(Number(after?.orders)).toBe(Number(before?.orders) + 1);
    expect(Number(after?.revenue)).toBeCloseTo(Number(before?.revenue) + 10, 2);

    const consumer = new Consumer({
      clientId: 'warehouse-test',
      groupId: `warehouse-test-${id}`,
      bootstrapBrokers: config.kafka.bootstrapServers,
      deserializers: stringDeserializers,
    });
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST });
    let envelope: Envelope<OrderFactCorrected> | undefined;
    for await (const message of stream) {
      envelope = JSON.parse(message.value) as Envelope<OrderFactCorrected>;
      break;
    }
    await stream.close();
    await consumer.close();
    expect(EventSchemaRegistry.load().validate(envelope)).toEqual({ valid: true });
    expect(envelope?.payload).toMatchObject({
      orderId: order.O5,
      orderAt: at(12),
      periods: [
        {
          mart: `${gold}.mart_daily_sales`,
          period: at(0).slice(0, 10),
          before: { orders: Number(before?.orders), revenue: before?.revenue },
          after: { orders: Number(after?.orders), revenue: after?.revenue },
        },
        expect.objectContaining({ mart: `${gold}.mart_hourly_orders_by_status`, period: '2026-11-20T10:00:00Z' }),
      ],
    });
    // the state the marts had before the correction stays readable through the lake's time travel
    const [then] = await lake.rows<{ orders: bigint }>(
      `SELECT sum(orders) AS orders FROM ${q('mart_daily_sales')} AT (VERSION => ${published?.id}) WHERE date_key = ${day}`,
    );
    expect(then?.orders).toBe(before?.orders);
    const [correction] = await lake.rows(`SELECT order_id, sent FROM ${q('fact_corrections')}`);
    expect(correction).toEqual({ order_id: order.O5, sent: true });
    afterIncrements = await snapshotRows();
  }, 60_000);

  it('gives the same rows from a full rebuild as from the incremental builds', async () => {
    const [report] = await warehouse.rebuild();
    expect(report).toMatchObject({ mode: 'full', published: true, lateFacts: 0 });
    expect(await snapshotRows()).toEqual(afterIncrements);
    expect((await warehouse.lag()).pendingRows).toBe(0);
  }, 60_000);

  it('rolls an increment back when the publish hook holds it', async () => {
    await land([customer(C1, 70, 'small_business')]);
    let seen = 0;
    const report = await warehouse.runOnce({
      beforePublish: async (increment) => {
        seen = increment.outputs.find((o) => o.table.name === 'dim_customer')?.rows ?? 0;
        return { action: 'hold', reason: 'test gate' };
      },
    });
    expect(report).toMatchObject({ published: false, heldReason: 'test gate' });
    expect(seen).toBeGreaterThan(0);
    expect((await warehouse.lag()).pendingRows).toBe(1);
    const segments = await lake.rows(`SELECT segment FROM ${q('dim_customer')} WHERE customer_id = $1`, [C1]);
    expect(segments).toEqual([{ segment: 'consumer' }]);
  });

  it('reports a build through the runner as a lineage run, its outputs with rows and column lineage', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bv-warehouse-lineage-')), 'events.ndjson');
    const client = new LineageClient({ transport: new FileTransport(file), registry: new Registry() });
    const lineage = await installWarehouseLineage(warehouse, lake, { client, config });
    const report = await runIncrement(warehouse); // the increment held above, published this time
    await lineage.close();
    await client.close(2_000);
    expect(report).toMatchObject({ read: 1, published: true });
    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const validator = OpenLineageValidator.load();
    for (const e of events) expect(validator.violations(e, { facets: true })).toEqual([]);
    expect(events.map((e) => e.eventType)).toEqual(['START', 'COMPLETE']);
    const [, complete] = events;
    expect(complete.job).toMatchObject({ namespace: 'bitvelocity', name: 'lake.warehouse' });
    const dim = complete.outputs.find((d: { name: string }) => d.name === `${gold}.dim_customer`);
    expect(dim.outputFacets.outputStatistics.rowCount).toBeGreaterThan(0);
    const mart = complete.outputs.find((d: { name: string }) => d.name === `${gold}.mart_daily_sales`);
    expect(mart.facets.columnLineage.fields.category.inputFields).toEqual([
      expect.objectContaining({ namespace: mart.namespace, name: qualifiedName(silver.products), field: 'category' }),
    ]);
  });
});
