import { randomUUID } from 'node:crypto';
import { EventSchemaRegistry, loadPlatformConfig } from '@bitvelocity/core';
import {
  type DuckDb,
  ensureTable,
  type LakeTable,
  type LakeTransform,
  openLake,
  qualifiedName,
  type TransformContext,
  type TransformReport,
} from '@bitvelocity/lakehouse';
import { readAll } from '@bitvelocity/streams/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaAlerts } from '../src/alerts.js';
import {
  ensureQualityStore,
  parseSuite,
  QualityPrometheus,
  qualityGate,
  qualityReport,
  releaseBatch,
} from '../src/index.js';

const config = loadPlatformConfig();
const id = randomUUID().replaceAll('-', '').slice(0, 10);
const schema = `test_q_${id}`;
const metaSchema = `test_q_${id}_meta`;
const topic = `test.quality.${id}`;
const columns: LakeTable['columns'] = [
  { name: 'id', type: 'BIGINT' },
  { name: 'order_id', type: 'VARCHAR' },
  { name: 'status', type: 'VARCHAR' },
  { name: 'amount', type: 'DECIMAL(18,2)' },
  { name: 'occurred_at', type: 'TIMESTAMP WITH TIME ZONE' },
];
const source: LakeTable = { schema, name: 'source', columns };
const orders: LakeTable = { schema, name: 'orders', columns };
const progress: LakeTable = { schema, name: 'progress', columns: [{ name: 'last_id', type: 'BIGINT' }] };
const suite = parseSuite({
  name: 'test.orders',
  meta: { table: `${schema}.orders`, keys: ['id'], time_column: 'occurred_at' },
  expectations: [
    { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'order_id' }, meta: { severity: 'critical' } },
    { type: 'expect_column_values_to_be_unique', kwargs: { column: 'id' }, meta: { severity: 'critical' } },
    {
      type: 'expect_column_values_to_be_in_set',
      kwargs: { column: 'status', value_set: ['created', 'paid'] },
      meta: { severity: 'critical' },
    },
    {
      type: 'expect_column_values_to_be_between',
      kwargs: { column: 'amount', min_value: 0, max_value: 1000 },
      meta: { severity: 'warning' },
    },
  ],
});

let lake: DuckDb;
let reader: DuckDb;

/** The smallest LakeTransform: copies new source rows to orders, its position in the same lake transaction. */
function copyTransform(): LakeTransform {
  const name = `test-quality-${id}`;
  return {
    name,
    inputs: [source],
    outputs: [orders],
    async runOnce(context: TransformContext = {}): Promise<TransformReport> {
      const started = Date.now();
      const [{ p } = { p: 0n }] = await lake.rows<{ p: bigint }>(
        `SELECT coalesce(max(last_id), 0) AS p FROM ${qualifiedName(progress)}`,
      );
      const report = (read: number, published: boolean, heldReason?: string): TransformReport => ({
        transform: name,
        read,
        written: { [qualifiedName(orders)]: published ? read : 0 },
        position: String(p),
        published,
        ...(heldReason ? { heldReason } : {}),
        durationMs: Date.now() - started,
      });
      await lake.run('BEGIN TRANSACTION');
      try {
        const [{ n, hi } = { n: 0n, hi: null }] = await lake.rows<{ n: bigint; hi: bigint | null }>(
          `SELECT count(*) AS n, max(id) AS hi FROM ${qualifiedName(source)} WHERE id > ${p}`,
        );
        if (Number(n) === 0) {
          await lake.run('ROLLBACK');
          return report(0, true);
        }
        await lake.run(`INSERT INTO ${qualifiedName(orders)} SELECT * FROM ${qualifiedName(source)} WHERE id > ${p}`);
        await lake.run(`INSERT INTO ${qualifiedName(progress)} VALUES (${hi})`);
        const verdict = context.beforePublish
          ? await context.beforePublish({
              transform: name,
              lake,
              outputs: [
                {
                  table: orders,
                  increment: `(SELECT * FROM ${qualifiedName(orders)} WHERE id > ${p})`,
                  rows: Number(n),
                },
              ],
            })
          : ({ action: 'publish' } as const);
        if (verdict.action === 'hold') {
          await lake.run('ROLLBACK');
          await verdict.afterRollback?.();
          return report(Number(n), false, verdict.reason);
        }
        await lake.run('COMMIT');
        return report(Number(n), true);
      } catch (error) {
        await lake.run('ROLLBACK').catch(() => {});
        throw error;
      }
    },
    async rebuild() {
      return [];
    },
    async lag() {
      return { position: '0', pendingRows: 0 };
    },
  };
}

const add = (rows: [number, string | null, string, string][]) =>
  lake.run(
    `INSERT INTO ${qualifiedName(source)} VALUES ${rows
      .map(([i, o, s, a]) => `(${i}, ${o === null ? 'NULL' : `'${o}'`}, '${s}', ${a}, now())`)
      .join(', ')}`,
  );
const visible = async () =>
  Number((await reader.rows(`SELECT count(*) AS n FROM ${qualifiedName(orders)}`))[0]?.n ?? -1);

describe('a quality gate on a lake transform', () => {
  const prometheus = new QualityPrometheus();
  const gate = qualityGate({
    suites: [suite],
    metaSchema,
    alerts: kafkaAlerts({ brokers: config.kafka.bootstrapServers, topic }),
    prometheus,
  });
  const transform = copyTransform();
  let heldBatch = '';

  beforeAll(async () => {
    lake = await openLake(config);
    reader = await openLake(config);
    for (const table of [source, orders, progress]) await ensureTable(lake, table);
    await ensureQualityStore(lake, metaSchema);
  }, 60_000);
  afterAll(async () => {
    for (const s of [schema, metaSchema]) await lake.run(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => {});
    lake.close();
    reader.close();
  });

  it('publishes a batch that meets its critical expectations, recording a warning with it', async () => {
    await add([
      [1, 'o1', 'created', '10.00'],
      [2, 'o2', 'paid', '20.00'],
      [3, 'o3', 'created', '5000.00'], // over the warning bound
    ]);
    const report = await transform.runOnce({ beforePublish: gate });
    expect(report).toMatchObject({ read: 3, published: true });
    expect(await visible()).toBe(3);
    const results = await reader.rows(
      `SELECT expectation, severity, success, unexpected_count, outcome FROM ${metaSchema}.quality_results ORDER BY expectation`,
    );
    expect(results.map((r) => [r.expectation, r.success, Number(r.unexpected_count), r.outcome])).toEqual([
      ['expect_column_values_to_be_between', false, 1, 'published'],
      ['expect_column_values_to_be_in_set', true, 0, 'published'],
      ['expect_column_values_to_be_unique', true, 0, 'published'],
      ['expect_column_values_to_not_be_null', true, 0, 'published'],
    ]);
    const [metrics] = await reader.rows(
      `SELECT row_count, valid_rows_pct, duplicate_key_rate FROM ${metaSchema}.quality_metrics`,
    );
    expect([Number(metrics?.row_count), metrics?.valid_rows_pct, metrics?.duplicate_key_rate]).toEqual([
      3,
      (2 / 3) * 100,
      0,
    ]);
  }, 60_000);

  it('holds a batch whose critical expectation fails: readers keep the previous snapshot, the rows are kept', async () => {
    await add([
      [4, null, 'created', '1.00'],
      [5, 'o5', 'lost', '2.00'],
      [6, 'o6', 'paid', '3.00'],
    ]);
    const report = await transform.runOnce({ beforePublish: gate });
    expect(report.published).toBe(false);
    expect(report.heldReason).toMatch(
      /expect_column_values_to_not_be_null\(order_id\): 1; expect_column_values_to_be_in_set\(status\): 1/,
    );
    expect(await visible()).toBe(3);
    expect(Number((await reader.rows(`SELECT max(last_id) AS p FROM ${qualifiedName(progress)}`))[0]?.p)).toBe(3);

    const held = await reader.rows(`SELECT batch_id, status, row_count, alert FROM ${metaSchema}.quality_held`);
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ status: 'held', alert: 'sent' });
    heldBatch = String(held[0]?.batch_id);
    const failing = await reader.rows(
      `SELECT expectation, severity, row_data->>'id' AS id FROM ${metaSchema}.quality_failures ORDER BY id`,
    );
    expect(failing.map((f) => [f.expectation, f.id])).toEqual([
      ['expect_column_values_to_not_be_null', '4'],
      ['expect_column_values_to_be_in_set', '5'],
    ]);

    const alerts = await readAll(config.kafka.bootstrapServers, topic);
    expect(alerts).toHaveLength(1);
    const envelope = JSON.parse(String(alerts[0]?.value));
    expect(EventSchemaRegistry.load().validate(envelope)).toEqual({ valid: true });
    expect(envelope).toMatchObject({
      eventType: 'quality.gate.failed.v1',
      payload: {
        batchId: heldBatch,
        table: `${schema}.orders`,
        rowCount: 3,
        release: `npx bv quality release ${heldBatch}`,
      },
    });

    const shown = await qualityReport(reader, { metaSchema });
    expect(shown.held).toEqual([expect.objectContaining({ batchId: heldBatch, status: 'held', failingRows: 2 })]);
    expect(shown.tables[0]).toMatchObject({ outcome: 'held', rowCount: 3 });
    expect(await prometheus.metrics()).toMatch(
      new RegExp(
        `bv_quality_failed_expectations\\{table="${schema}.orders",scope="increment",severity="critical"\\} 2`,
      ),
    );
  }, 60_000);

  it('holds the same batch again on the next run without a second held record or alert', async () => {
    const report = await transform.runOnce({ beforePublish: gate });
    expect(report.published).toBe(false);
    expect(await reader.rows(`SELECT batch_id FROM ${metaSchema}.quality_held`)).toEqual([{ batch_id: heldBatch }]);
    expect(await readAll(config.kafka.bootstrapServers, topic)).toHaveLength(1);
  }, 60_000);

  it('lets a released batch through once; a new defect is held again', async () => {
    await expect(releaseBatch(lake, 'orders-nope', { metaSchema })).rejects.toMatchObject({
      code: 'QUALITY_BATCH_NOT_FOUND',
    });
    expect((await releaseBatch(lake, heldBatch, { metaSchema, by: 'reviewer' })).status).toBe('released');
    const report = await transform.runOnce({ beforePublish: gate });
    expect(report.published).toBe(true);
    expect(await visible()).toBe(6);
    expect(await reader.rows(`SELECT status, released_by FROM ${metaSchema}.quality_held`)).toEqual([
      { status: 'replayed', released_by: 'reviewer' },
    ]);

    await add([[7, null, 'paid', '1.00']]);
    expect((await transform.runOnce({ beforePublish: gate })).published).toBe(false);
    expect(await visible()).toBe(6);
    await expect(releaseBatch(lake, heldBatch, { metaSchema })).rejects.toMatchObject({ code: 'QUALITY_BAD_OPTION' });
  }, 60_000);
});
