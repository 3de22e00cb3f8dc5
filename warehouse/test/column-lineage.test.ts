import { loadPlatformConfig } from '@bitvelocity/core';
import { DuckDb, type LakeColumn, silverTables } from '@bitvelocity/lakehouse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlColumnLineage, warehouseColumnLineage } from '../src/lineage.js';
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
});
