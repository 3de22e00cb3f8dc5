import { randomUUID } from 'node:crypto';
import type { Envelope, PlatformConfig } from '@bitvelocity/core';
import {
  type DuckDb,
  ensureTable,
  ensureView,
  GOLD_TABLES,
  GOLD_VIEWS,
  type LakeRow,
  type LakeTable,
  openLake,
  silverRowsOf,
  silverTables,
} from '@bitvelocity/lakehouse';
import type { LakeSchemas } from '../src/http/aggregates.js';

/**
 * A Silver and a Gold of the spec's own in the shared lake (schemas named after the run), with the platform's table
 * definitions and views, and a way to land rows in them through a writable lake connection.
 */
export class LakeFixture {
  private constructor(
    readonly schemas: LakeSchemas,
    readonly lake: DuckDb,
    private readonly silver: ReturnType<typeof silverTables>,
  ) {}

  static async create(config: PlatformConfig): Promise<LakeFixture> {
    const run = `dash${randomUUID().slice(0, 8)}`;
    const schemas = { bronze: `${run}_bronze`, silver: `${run}_silver`, gold: `${run}_gold` };
    const lake = await openLake(config);
    const silver = silverTables(schemas.silver, `${run}_meta`);
    for (const table of [silver.orders, silver.orderLines, silver.products, silver.customers])
      await ensureTable(lake, table);
    for (const table of Object.values(GOLD_TABLES)) await ensureTable(lake, { ...table, schema: schemas.gold });
    for (const view of GOLD_VIEWS)
      await ensureView(lake, { ...view, schema: schemas.gold, sql: view.sql.replaceAll('gold.', `${schemas.gold}.`) });
    return new LakeFixture(schemas, lake, silver);
  }

  gold(name: keyof typeof GOLD_TABLES): LakeTable {
    return { ...GOLD_TABLES[name], schema: this.schemas.gold };
  }

  /** Inserts rows in one lake transaction (one snapshot). */
  async insert(batches: [LakeTable, LakeRow[]][]): Promise<void> {
    await this.lake.transaction(async () => {
      for (const [table, rows] of batches) {
        for (const row of rows) {
          const columns = Object.keys(row);
          await this.lake.run(
            `INSERT INTO ${table.schema}.${table.name} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
            columns.map((c) => (row[c] ?? null) as string | number | boolean | null),
          );
        }
      }
    });
  }

  /** Lands envelopes in Silver with Silver's own row mapping (the lineage columns filled as Silver would). */
  async landInSilver(envelopes: Envelope[]): Promise<void> {
    const batches = new Map<LakeTable, LakeRow[]>();
    let offset = 0;
    for (const envelope of envelopes) {
      for (const [table, row] of silverRowsOf(envelope, this.silver)) {
        const rows = batches.get(table) ?? [];
        rows.push({
          ...row,
          _bronze_topic: `ecommerce.${envelope.eventType.split('.')[1]}`,
          _bronze_partition: 0,
          _bronze_offset: offset,
          _bronze_rowid: offset++,
          _ingested_at: new Date().toISOString(),
          _lateness_ms: 0,
          _is_late: false,
        });
        batches.set(table, rows);
      }
    }
    await this.insert([...batches]);
  }

  async drop(): Promise<void> {
    for (const schema of Object.values(this.schemas))
      await this.lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    this.lake.close();
  }
}

/** The Gold source columns of a row landed by the spec. */
export const landed = (offset: number) => ({
  _source_topic: 'spec',
  _source_partition: 0,
  _source_offset: offset,
  _landed_at: new Date().toISOString(),
});
