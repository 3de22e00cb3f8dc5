import {
  BIGINT,
  BOOLEAN,
  DATE,
  DOUBLE,
  DuckDBDataChunk,
  DuckDBDateValue,
  DuckDBTimestampTZValue,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  TIMESTAMPTZ,
  VARCHAR,
} from '@duckdb/node-api';
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
    const columns = written(table)
      .map((c) => `"${c.name}" ${stagingType(c)}`)
      .join(', ');
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

  /** Appends rows to the table's staging (outside any lake transaction), a column-major chunk of 2,048 at a time. */
  async stage(table: LakeTable, rows: readonly LakeRow[]): Promise<void> {
    const columns = written(table);
    const types = columns.map(duckDbType);
    const appender = await this.lake.connection.createAppender(this.nameOf(table), 'main', 'temp');
    try {
      for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
        const count = Math.min(CHUNK_ROWS, rows.length - start);
        const chunk = DuckDBDataChunk.create(types, count);
        chunk.setColumns(
          columns.map((column) => {
            const values = new Array<DuckDBValue>(count);
            for (let i = 0; i < count; i++) values[i] = toDuckDb(column, (rows[start + i] as LakeRow)[column.name]);
            return values;
          }),
        );
        appender.appendDataChunk(chunk);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  /** Inserts the staged rows, each column cast to its lake type, into the lake table (inside the caller's transaction). */
  async insertInto(table: LakeTable): Promise<void> {
    const columns = table.columns.map((c) => `"${c.name}"`).join(', ');
    const casts = table.columns
      .map((c) => `CAST(${c.derivedFrom ?? `s."${c.name}"`} AS ${c.type}) AS "${c.name}"`)
      .join(', ');
    await this.lake.run(
      `INSERT INTO ${qualifiedName(table)} (${columns}) SELECT ${casts} FROM temp.main.${this.nameOf(table)} s`,
    );
  }

  async clear(): Promise<void> {
    for (const name of this.staging.values()) await this.lake.run(`DELETE FROM temp.main.${name}`);
  }
}

/** The columns a row mapper provides: all but the derived ones. */
function written(table: LakeTable): LakeColumn[] {
  return table.columns.filter((c) => c.derivedFrom === undefined);
}

/** Decimal and JSON columns are staged as text and cast on the way into the lake. */
function stagingType(column: LakeColumn): string {
  return column.type.startsWith('DECIMAL') || column.type === 'JSON' ? 'VARCHAR' : column.type;
}

/** DuckDB's vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2048;

function duckDbType(column: LakeColumn): DuckDBType {
  switch (column.type) {
    case 'BOOLEAN':
      return BOOLEAN;
    case 'INTEGER':
      return INTEGER;
    case 'BIGINT':
      return BIGINT;
    case 'DOUBLE':
      return DOUBLE;
    case 'DATE':
      return DATE;
    case 'TIMESTAMP WITH TIME ZONE':
      return TIMESTAMPTZ;
    default:
      return VARCHAR; // VARCHAR, and JSON and DECIMAL staged as text
  }
}

function toDuckDb(column: LakeColumn, value: unknown): DuckDBValue {
  if (value === null || value === undefined) return null;
  switch (column.type) {
    case 'VARCHAR':
      return typeof value === 'string' ? value : String(value);
    case 'JSON':
      return typeof value === 'string' ? value : JSON.stringify(value);
    case 'BOOLEAN':
      return Boolean(value);
    case 'INTEGER':
    case 'DOUBLE':
      return Number(value);
    case 'BIGINT':
      return typeof value === 'bigint' ? value : BigInt(value as number | string);
    case 'DATE': {
      const millis = epochMillis(value);
      return millis === undefined ? null : new DuckDBDateValue(Math.floor(millis / 86_400_000));
    }
    case 'TIMESTAMP WITH TIME ZONE': {
      const millis = epochMillis(value);
      return millis === undefined ? null : new DuckDBTimestampTZValue(BigInt(Math.round(millis)) * 1000n);
    }
    default:
      return String(value); // DECIMAL, staged as text
  }
}

/** A row's date as epoch ms; what is no date becomes NULL rather than failing the whole commit. */
export function epochMillis(value: unknown): number | undefined {
  const millis =
    value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(String(value));
  return Number.isFinite(millis) ? millis : undefined;
}
