// The lakehouse's test kit for every package's specs (`@bitvelocity/lakehouse/testing`).
import { randomUUID } from 'node:crypto';
import type { DuckDb } from './duckdb.js';
import type { SilverTables } from './layers/silver-tables.js';
import { type LakeRow, StagingTables } from './staging.js';
import type { LakeTable } from './tables.js';

/**
 * Lands rows straight in Silver's typed tables, for specs of what is built on Silver (the warehouse, its gates): one
 * lake commit per `land`, each row with the next Bronze coordinates and defaults for the event columns it omits.
 */
export class SilverTestFeed {
  private constructor(
    private readonly lake: DuckDb,
    private readonly staging: StagingTables,
    private rowid: number,
  ) {}

  /** `afterRowid`: where the Bronze coordinates start (distinct ranges keep several feeds of one spec apart). */
  static async create(lake: DuckDb, silver: SilverTables, afterRowid = 0): Promise<SilverTestFeed> {
    const staging = await StagingTables.create(lake, [
      silver.orders,
      silver.orderLines,
      silver.products,
      silver.customers,
      silver.devices,
      silver.deviceReadings,
    ]);
    return new SilverTestFeed(lake, staging, afterRowid);
  }

  async land(rows: readonly [LakeTable, LakeRow][]): Promise<void> {
    const byTable = new Map<LakeTable, LakeRow[]>();
    for (const [table, row] of rows) {
      this.rowid += 1;
      const full = {
        event_id: randomUUID(),
        tenant_id: 't1',
        _bronze_topic: `ecommerce.${table.name}`,
        _bronze_partition: 0,
        _bronze_offset: this.rowid,
        _bronze_rowid: this.rowid,
        _ingested_at: new Date(),
        ...row,
      };
      byTable.set(table, [...(byTable.get(table) ?? []), full]);
    }
    for (const [table, tableRows] of byTable) await this.staging.stage(table, tableRows);
    await this.lake.transaction(async () => {
      for (const table of byTable.keys()) await this.staging.insertInto(table);
    });
    await this.staging.clear();
  }
}
