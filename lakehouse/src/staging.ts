import { type DuckDBAppender, DuckDBDateValue, DuckDBTimestampTZValue } from '@duckdb/node-api';
import type { DuckDb } from './duckdb.js';
import { type LakeColumn, type LakeTable, qualifiedName } from './tables.js';

/** A row for a lake table: column name -> value (null or absent = NULL). Dates as Date, epoch ms or ISO text. */
export type LakeRow = Record<string, unknown>;

/**
 * In-memory staging tables for lake writes: rows are appended with DuckDB's appender (fast, no SQL per row), then
 * copied into the lake table inside the caller's transaction, so each table gets one Parquet file per commit.
 * Staging lives in DuckDB's temp catalog: a transaction may read it while it writes the lake.
 */
export class StagingTables {
  private readonly staging = new Map<string, string>();

  private constructor(private readonly lake: DuckDb) {}

  static async create(lake: DuckDb, tables: Iterable<LakeTable>): Promise<StagingTables> {
    const staging = new StagingTables(lake);
    for (const table of tables) await staging.add(table);
    return staging;
  }

  private async add(table: LakeTable): Promise<void> {
    const name = `bv_stage_${this.staging.size}`;
    const columns = table.columns.map((c) => `"${c.name}" ${stagingType(c)}`).join(', ');
    await this.lake.run(`CREATE OR REPLACE TEMP TABLE ${name} (${columns})`);
    this.staging.set(qualifiedName(table), name);
  }

  /** The staging table's name, to read it in SQL. */
  stagedName(table: LakeTable): string {
    return `temp.main.${this.nameOf(table)}`;
  }

  private nameOf(table: LakeTable): string {
    const name = this.staging.get(qualifiedName(table));
    if (!name) throw new Error(`no staging table for ${qualifiedName(table)}`);
    return name;
  }

  /** Appends rows to the table's staging (outside any lake transaction). */
  async stage(table: LakeTable, rows: Iterable<LakeRow>): Promise<void> {
    const appender = await this.lake.connection.createAppender(this.nameOf(table), 'main', 'temp');
    try {
      for (const row of rows) {
        for (const column of table.columns) append(appender, column, row[column.name]);
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  /**
   * The staged rows as a SELECT with each column cast to its lake type; `unlessExists` keeps only rows whose value of
   * that column the lake table does not have yet (an anti-join, e.g. on event_id).
   */
  selectSql(table: LakeTable, options: { unlessExists?: string } = {}): string {
    const casts = table.columns.map((c) => `CAST(s."${c.name}" AS ${c.type}) AS "${c.name}"`).join(', ');
    const where = options.unlessExists
      ? ` WHERE NOT EXISTS (SELECT 1 FROM ${qualifiedName(table)} t WHERE t."${options.unlessExists}" = s."${options.unlessExists}")`
      : '';
    return `SELECT ${casts} FROM temp.main.${this.nameOf(table)} s${where}`;
  }

  /** Inserts the staged rows into the lake table (inside the caller's transaction). */
  async insertInto(table: LakeTable, options: { unlessExists?: string } = {}): Promise<void> {
    const columns = table.columns.map((c) => `"${c.name}"`).join(', ');
    await this.lake.run(`INSERT INTO ${qualifiedName(table)} (${columns}) ${this.selectSql(table, options)}`);
  }

  async clear(): Promise<void> {
    for (const name of this.staging.values()) await this.lake.run(`DELETE FROM temp.main.${name}`);
  }
}

/** Decimal and JSON columns are staged as text and cast on the way into the lake. */
function stagingType(column: LakeColumn): string {
  return column.type.startsWith('DECIMAL') || column.type === 'JSON' ? 'VARCHAR' : column.type;
}

function append(appender: DuckDBAppender, column: LakeColumn, value: unknown): void {
  if (value === null || value === undefined) {
    appender.appendNull();
    return;
  }
  switch (column.type) {
    case 'VARCHAR':
      appender.appendVarchar(String(value));
      return;
    case 'JSON':
      appender.appendVarchar(typeof value === 'string' ? value : JSON.stringify(value));
      return;
    case 'BOOLEAN':
      appender.appendBoolean(Boolean(value));
      return;
    case 'INTEGER':
      appender.appendInteger(Number(value));
      return;
    case 'BIGINT':
      appender.appendBigInt(BigInt(value as bigint | number | string));
      return;
    case 'DOUBLE':
      appender.appendDouble(Number(value));
      return;
    case 'DATE': {
      const millis = epochMillis(value);
      if (millis === undefined) appender.appendNull();
      else appender.appendDate(new DuckDBDateValue(Math.floor(millis / 86_400_000)));
      return;
    }
    case 'TIMESTAMP WITH TIME ZONE': {
      const millis = epochMillis(value);
      if (millis === undefined) appender.appendNull();
      else appender.appendTimestampTZ(new DuckDBTimestampTZValue(BigInt(Math.round(millis)) * 1000n));
      return;
    }
    default:
      appender.appendVarchar(String(value)); // DECIMAL, staged as text
  }
}

/** A row's date as epoch ms; what is no date becomes NULL rather than failing the whole commit. */
export function epochMillis(value: unknown): number | undefined {
  const millis =
    value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(String(value));
  return Number.isFinite(millis) ? millis : undefined;
}
