import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTransport, LineageClient, loadPlatformConfig, OpenLineageValidator } from '@bitvelocity/core';
import {
  DuckDb,
  type LakeColumn,
  openLake,
  qualifiedName,
  rebuildTransform,
  silverTables,
} from '@bitvelocity/lakehouse';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installWarehouseLineage, SqlColumnLineage, Warehouse, warehouseColumnLineage } from '../src/index.js';
import { warehouseInputs, warehouseTables } from '../src/tables.js';

const config = loadPlatformConfig();
const datasetOf = (qualified: string) => ({ namespace: 'ducklake://test/lake', name: qualified });
const fieldsOf = (
  facet: { fields: Record<string, { inputFields: { name: string; field: string }[] }> },
  column: string,
) => (facet.fields[column]?.inputFields ?? []).map((f) => `${f.name}.${f.field}`);

describe('warehouse column lineage, from DuckDB parsing the model SQL', () => {
  let db: DuckDb;
  beforeAll(async () => {
    db = await DuckDb.create(config);
  });
  afterAll(() => db.close());

  it('resolves CTEs, aliases, joins, USING, star expansion and earlier select aliases', async () => {
    const resolver = new SqlColumnLineage([
      {
        schema: 's',
        name: 't',
        columns: [
          { name: 'a', type: 'INTEGER' },
          { name: 'k', type: 'INTEGER' },
        ],
      },
      {
        schema: 'g',
        name: 'y',
        columns: [
          { name: 'z', type: 'VARCHAR' },
          { name: 'k', type: 'INTEGER' },
        ],
      },
    ]);
    const node = await SqlColumnLineage.parse(
      db,
      `WITH e AS (SELECT *, a + 1 AS b FROM s.t) SELECT e.a AS x, coalesce(y.z, 'u') AS q, sum(b) AS total, k, q || 'x' AS q2
         FROM e LEFT JOIN g.y y USING (k) WHERE y.z <> 'no' GROUP BY ALL`,
    );
    const out = resolver.columnsOf(node);
    const flat = (name: string) =>
      Object.fromEntries([...(out.columns.get(name) ?? [])].map(([k, v]) => [k.replace('\u0000', '.'), v]));
    expect(out.order).toEqual(['x', 'q', 'total', 'k', 'q2']);
    expect(flat('x')).toEqual({ 's.t.a': 'IDENTITY' });
    expect(flat('q')).toEqual({ 'g.y.z': 'TRANSFORMATION' });
    expect(flat('total')).toEqual({ 's.t.a': 'AGGREGATION' });
    expect(flat('k')).toEqual({ 's.t.k': 'IDENTITY', 'g.y.k': 'IDENTITY' });
    expect(flat('q2')).toEqual({ 'g.y.z': 'TRANSFORMATION' });
  });

  it("names a mart column's Silver columns through the facts and dimensions it reads", async () => {
    const silver = silverTables();
    const tables = warehouseTables();
    const lineage = await warehouseColumnLineage(db, { tables, inputs: warehouseInputs(silver), datasetOf });
    const daily = lineage['gold.mart_daily_sales'];
    expect(daily).toBeDefined();
    if (!daily) return;
    // category comes from the product versions, themselves from Silver products.
    expect(fieldsOf(daily, 'category')).toEqual(['silver.products.category']);
    expect(fieldsOf(daily, 'segment')).toEqual(['silver.customers.segment']);
    expect(fieldsOf(daily, 'units')).toEqual(['silver.order_lines.quantity']);
    expect(fieldsOf(daily, 'revenue')).toEqual(['silver.order_lines.line_amount']);
    expect(daily.fields.units?.inputFields[0]?.transformations?.[0]).toEqual({
      type: 'DIRECT',
      subtype: 'AGGREGATION',
    });
    expect(fieldsOf(daily, 'sale_date')).toEqual(['gold.dim_date.date']);
    const ltv = lineage['gold.mart_customer_ltv'];
    if (!ltv) throw new Error('no mart_customer_ltv lineage');
    expect(fieldsOf(ltv, 'revenue')).toEqual(['silver.orders.amount']);
    // Every column of every fact and mart has lineage, but the row counts (count(*) reads no column).
    const counts = new Set(['lines', 'orders', 'versions', 'cancelled', 'event_count']);
    for (const [table, facet] of Object.entries(lineage))
      if (/\.(fact|mart)_/.test(table)) {
        const target = Object.values(tables).find((t) => `${t.schema}.${t.name}` === table);
        const columns: readonly LakeColumn[] = target?.columns ?? [];
        const missing = columns.filter((c) => !facet.fields[c.name]).map((c) => c.name);
        expect(
          missing.filter((c) => !counts.has(c)),
          table,
        ).toEqual([]);
      }
    expect(fieldsOf(ltv, 'orders')).toEqual([]);
  });

  it('a warehouse build through the runner is a lineage run whose outputs carry their column lineage', async () => {
    const id = randomUUID().replaceAll('-', '').slice(0, 10);
    const silver = silverTables(`test_whl_${id}_silver`, `test_whl_${id}_meta`);
    const gold = `test_whl_${id}_gold`;
    const lake = await openLake(config);
    const file = join(mkdtempSync(join(tmpdir(), 'bv-warehouse-lineage-')), 'events.ndjson');
    const client = new LineageClient({ transport: new FileTransport(file), registry: new Registry() });
    try {
      const warehouse = await Warehouse.create({ lake, silver, schema: gold });
      const lineage = await installWarehouseLineage(warehouse, lake, { client, config });
      await rebuildTransform(warehouse);
      await lineage.close();
      await client.close(2_000);
    } finally {
      for (const schema of [silver.orders.schema, gold, `test_whl_${id}_meta`])
        await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      lake.close();
    }
    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const validator = OpenLineageValidator.load();
    for (const e of events) expect(validator.violations(e, { facets: true })).toEqual([]);
    expect(events.map((e) => e.eventType)).toEqual(['START', 'COMPLETE']);
    const complete = events[1];
    expect(complete.job).toMatchObject({ namespace: 'bitvelocity', name: 'lake.warehouse' });
    const mart = complete.outputs.find((d: { name: string }) => d.name === `${gold}.mart_daily_sales`);
    const category = mart.facets.columnLineage.fields.category.inputFields;
    expect(category).toEqual([
      expect.objectContaining({ namespace: mart.namespace, name: qualifiedName(silver.products), field: 'category' }),
    ]);
  }, 300_000); // creating the warehouse's twenty-odd tables commits to the shared lake: slow on a loaded machine
});
