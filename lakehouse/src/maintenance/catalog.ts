import { BvError } from '@bitvelocity/core';
import { retryOnConflict } from '../conflicts.js';
import type { DuckDb, SqlParams } from '../duckdb.js';
import type { LakeSnapshot } from './inspect.js';

/**
 * What the lake's maintenance operations share: the attached catalog, its versioned tables read at one snapshot,
 * DuckLake's maintenance calls (retried after a commit conflict), and the error they raise.
 */

/** A lake operation that cannot be done as asked (bad option, unknown table) or that DuckLake refused. */
export class LakeError extends BvError {}

export const LAKE_LAYERS = ['bronze', 'silver', 'gold'] as const;
export type LakeLayer = (typeof LAKE_LAYERS)[number];

/**
 * How long a file that compaction or expiry unreferenced stays in the object store before it is deleted, so a query
 * that was already scanning it (a dashboard, an analyst's laptop) can finish.
 */
export const DEFAULT_FILE_GRACE_MS = 60 * 60 * 1000;

export interface AttachedLake {
  /** The DuckLake catalog's name in this connection (openLake's alias). */
  name: string;
  /** The quoted name of the catalog database DuckLake attaches for its metadata tables. */
  metadata: string;
}

export interface TableFiles {
  tableId: bigint;
  schema: string;
  table: string;
  dataFiles: number;
  dataFileBytes: number;
  deleteFiles: number;
  deleteFileBytes: number;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export const qualified = (lake: AttachedLake, schema: string, table: string) =>
  `${quoteIdentifier(lake.name)}.${quoteIdentifier(schema)}.${quoteIdentifier(table)}`;

/** Rows of the catalog's versioned tables (schemas, tables, columns, partitions) alive at snapshot $snapshot. */
export const alive = (alias: string) =>
  `${alias}.begin_snapshot <= $snapshot AND (${alias}.end_snapshot IS NULL OR ${alias}.end_snapshot > $snapshot)`;

export interface SnapshotRow extends Record<string, unknown> {
  snapshot_id: bigint;
  snapshot_time: Date;
  schema_version: bigint;
  changes: { key: string; value: string[] }[] | null;
  author: string | null;
  commit_message: string | null;
}

export interface MaintenanceRow extends Record<string, unknown> {
  schema_name?: string;
  table_name?: string;
  rows_flushed?: bigint;
  files_processed?: bigint;
}

export const tableKey = (schema: unknown, table: unknown) => `${String(schema)}.${String(table)}`;

/** Adds up a maintenance call's per-table figure: rows flushed, or input files rewritten or merged. */
export function tally(into: Map<string, number>, rows: MaintenanceRow[]): void {
  for (const row of rows) {
    const key = tableKey(row.schema_name, row.table_name);
    into.set(key, (into.get(key) ?? 0) + Number(row.rows_flushed ?? row.files_processed ?? 0));
  }
}

export function toSnapshot(row: Record<string, unknown>): LakeSnapshot {
  const r = row as SnapshotRow;
  return {
    id: Number(r.snapshot_id),
    time: r.snapshot_time,
    schemaVersion: Number(r.schema_version),
    changes: Object.fromEntries((r.changes ?? []).map(({ key, value }) => [key, value])),
    author: r.author,
    message: r.commit_message,
  };
}

export function fileGraceMs(value: number | undefined): number {
  const graceMs = value ?? DEFAULT_FILE_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new LakeError('LAKE_BAD_OPTION', `the file grace period must be zero or more milliseconds, got ${graceMs}`);
  }
  return graceMs;
}

export async function attachedLake(lake: DuckDb): Promise<AttachedLake> {
  const [row] = await lake.rows<{ name: string; type: string | null }>(
    `SELECT current_database() AS name,
            (SELECT type FROM duckdb_databases() WHERE database_name = current_database()) AS type`,
  );
  if (row?.type !== 'ducklake') {
    throw new LakeError(
      'LAKE_NOT_ATTACHED',
      `the connection's default catalog ${row?.name ?? ''} is not a DuckLake; open the connection with openLake()`,
    );
  }
  return { name: row.name, metadata: quoteIdentifier(`__ducklake_metadata_${row.name}`) };
}

/** Runs `read` in one transaction pinned to the lake's current snapshot, and leaves nothing behind. */
export async function inReadTransaction<T>(
  lake: DuckDb,
  catalog: AttachedLake,
  read: (snapshot: bigint) => Promise<T>,
): Promise<T> {
  return lake.transaction(
    async () => {
      const [current] = await lake.rows<{ id: bigint }>('SELECT id FROM ducklake_current_snapshot($catalog)', {
        catalog: catalog.name,
      });
      return read(current?.id ?? 0n);
    },
    { readOnly: true },
  );
}

/**
 * Runs a DuckLake maintenance call, again after a commit conflict with a concurrent writer (each call is its own
 * transaction and safe to redo), and names the step when it fails.
 */
export async function maintenance(
  lake: DuckDb,
  step: string,
  sql: string,
  params: SqlParams,
): Promise<MaintenanceRow[]> {
  try {
    return await retryOnConflict(() => lake.rows<MaintenanceRow>(sql, params));
  } catch (cause) {
    throw new LakeError('LAKE_OPERATION_FAILED', `${step} failed`, { cause, details: { step } });
  }
}

export async function cleanupOldFiles(lake: DuckDb, catalog: AttachedLake, graceMs: number): Promise<string[]> {
  const rows =
    graceMs === 0
      ? await maintenance(
          lake,
          'deleting unreferenced files',
          'FROM ducklake_cleanup_old_files($catalog, cleanup_all => true)',
          { catalog: catalog.name },
        )
      : await maintenance(
          lake,
          'deleting unreferenced files',
          'FROM ducklake_cleanup_old_files($catalog, older_than => $olderThan::TIMESTAMPTZ)',
          { catalog: catalog.name, olderThan: new Date(Date.now() - graceMs).toISOString() },
        );
  return rows.map((row) => String(row.path));
}

export async function currentTableFiles(lake: DuckDb, catalog: AttachedLake, schema?: string): Promise<TableFiles[]> {
  return inReadTransaction(lake, catalog, (snapshot) => tableFiles(lake, catalog, snapshot, schema));
}

/** Files and bytes per table from ducklake_table_info, named through the catalog's schema and table rows. */
export async function tableFiles(
  lake: DuckDb,
  catalog: AttachedLake,
  snapshot: bigint,
  schema: string | undefined,
): Promise<TableFiles[]> {
  const rows = await lake.rows<{
    table_id: bigint;
    schema_name: string;
    table_name: string;
    file_count: bigint;
    file_size_bytes: bigint;
    delete_file_count: bigint;
    delete_file_size_bytes: bigint;
  }>(
    `SELECT t.table_id, s.schema_name, t.table_name,
            i.file_count, i.file_size_bytes, i.delete_file_count, i.delete_file_size_bytes
       FROM ducklake_table_info($catalog) i
       JOIN ${catalog.metadata}.ducklake_table t ON t.table_id = i.table_id AND ${alive('t')}
       JOIN ${catalog.metadata}.ducklake_schema s ON s.schema_id = t.schema_id AND ${alive('s')}
      WHERE $schema::VARCHAR IS NULL OR s.schema_name = $schema::VARCHAR
      ORDER BY s.schema_name, t.table_name`,
    { catalog: catalog.name, snapshot, schema: schema ?? null },
  );
  return rows.map((r) => ({
    tableId: r.table_id,
    schema: r.schema_name,
    table: r.table_name,
    dataFiles: Number(r.file_count),
    dataFileBytes: Number(r.file_size_bytes),
    deleteFiles: Number(r.delete_file_count),
    deleteFileBytes: Number(r.delete_file_size_bytes),
  }));
}

/** Partition keys per table id, as `column` (identity) or `transform(column)`. */
export async function partitionKeys(
  lake: DuckDb,
  catalog: AttachedLake,
  snapshot: bigint,
): Promise<Map<bigint, string[]>> {
  const rows = await lake.rows<{ table_id: bigint; transform: string; column_name: string }>(
    `SELECT pc.table_id, pc.transform, c.column_name
       FROM ${catalog.metadata}.ducklake_partition_info p
       JOIN ${catalog.metadata}.ducklake_partition_column pc
         ON pc.partition_id = p.partition_id AND pc.table_id = p.table_id
       JOIN ${catalog.metadata}.ducklake_column c
         ON c.table_id = pc.table_id AND c.column_id = pc.column_id AND ${alive('c')}
      WHERE ${alive('p')}
      ORDER BY pc.table_id, pc.partition_key_index`,
    { snapshot },
  );
  const keys = new Map<bigint, string[]>();
  for (const { table_id, transform, column_name } of rows) {
    const key = transform === 'identity' ? column_name : `${transform}(${column_name})`;
    keys.set(table_id, [...(keys.get(table_id) ?? []), key]);
  }
  return keys;
}

/** Live inlined rows per table id: DuckLake keeps them in one catalog table per table and schema version. */
export async function inlinedRows(
  lake: DuckDb,
  catalog: AttachedLake,
  snapshot: bigint,
  tableIds: Set<bigint>,
): Promise<Map<bigint, number>> {
  const inlinedTables = (
    await lake.rows<{ table_id: bigint; table_name: string }>(
      `SELECT table_id, table_name FROM ${catalog.metadata}.ducklake_inlined_data_tables`,
    )
  ).filter((t) => tableIds.has(t.table_id));
  const counts = new Map<bigint, number>();
  for (const batch of chunks(inlinedTables, 100)) {
    const rows = await lake.rows<{ table_id: bigint; n: bigint }>(
      batch
        .map(
          (t) =>
            `SELECT ${t.table_id}::BIGINT AS table_id, count(*) AS n FROM ${catalog.metadata}.${quoteIdentifier(t.table_name)} i
              WHERE ${alive('i')}`,
        )
        .join(' UNION ALL '),
      { snapshot },
    );
    for (const { table_id, n } of rows) counts.set(table_id, (counts.get(table_id) ?? 0) + Number(n));
  }
  return counts;
}

export async function rowCounts(lake: DuckDb, catalog: AttachedLake, tables: TableFiles[]): Promise<number[]> {
  const counts: number[] = [];
  for (const [batchIndex, batch] of chunks(tables, 100).entries()) {
    const rows = await lake.rows<{ i: number; n: bigint }>(
      batch
        .map(
          (t, i) => `SELECT ${batchIndex * 100 + i} AS i, count(*) AS n FROM ${qualified(catalog, t.schema, t.table)}`,
        )
        .join(' UNION ALL '),
    );
    for (const { i, n } of rows) counts[i] = Number(n);
  }
  return counts;
}

/** Per table of a schema: its columns and their types. */
export async function tableColumns(
  lake: DuckDb,
  catalog: AttachedLake,
  schema: string,
): Promise<{ table: string; columns: Map<string, string> }[]> {
  const rows = await lake.rows<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT c.table_name, c.column_name, c.data_type
       FROM duckdb_tables() t
       JOIN duckdb_columns() c USING (database_name, schema_name, table_name)
      WHERE t.database_name = $catalog AND t.schema_name = $schema
      ORDER BY c.table_name, c.column_index`,
    { catalog: catalog.name, schema },
  );
  const tables = new Map<string, Map<string, string>>();
  for (const { table_name, column_name, data_type } of rows) {
    const columns = tables.get(table_name) ?? new Map<string, string>();
    columns.set(column_name, data_type);
    tables.set(table_name, columns);
  }
  return [...tables].map(([table, columns]) => ({ table, columns }));
}

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
