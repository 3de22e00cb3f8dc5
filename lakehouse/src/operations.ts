import { BvError } from '@bitvelocity/core';
import type { DuckDBValue } from '@duckdb/node-api';
import { retryOnConflict } from './conflicts.js';
import type { DuckDb, SqlParams } from './duckdb.js';

/**
 * Lake maintenance for data engineers: what is in the lake, its snapshots, compaction, snapshot expiry and per-layer
 * retention. Every function takes a connection from `openLake()` (the lake is its default catalog) and uses DuckLake's
 * own functions and catalog tables, so it works on any DuckLake, not only the platform's.
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

/** One table of the lake as its catalog describes it. */
export interface LakeTableInfo {
  schema: string;
  table: string;
  /** Rows visible at the current snapshot. */
  rows: number;
  /** Parquet data files the current snapshot references. */
  dataFiles: number;
  dataFileBytes: number;
  deleteFiles: number;
  deleteFileBytes: number;
  /** Partition keys in order, e.g. ["region", "month(occurred_at)"]; empty when the table is not partitioned. */
  partitionedBy: string[];
  /** Rows held in the catalog database (data inlining of small inserts) rather than in Parquet until a flush. */
  inlinedRows: number;
}

export interface LakeSnapshot {
  id: number;
  time: Date;
  schemaVersion: number;
  /** What the commit did, e.g. { tables_inserted_into: ["12"], tables_created: ["bronze.orders"] }. */
  changes: Record<string, string[]>;
  author: string | null;
  message: string | null;
}

export interface TableCompaction {
  schema: string;
  table: string;
  dataFilesBefore: number;
  dataFilesAfter: number;
  deleteFilesBefore: number;
  deleteFilesAfter: number;
  /** Inlined rows written out to Parquet. */
  rowsFlushed: number;
  /** Files with many deleted rows rewritten without them (ducklake_rewrite_data_files). */
  filesRewritten: number;
  /** Small adjacent files merged into larger ones (ducklake_merge_adjacent_files). */
  filesMerged: number;
}

export interface CompactionReport {
  tables: TableCompaction[];
  /** Object-store paths of unreferenced files deleted after the grace period. */
  filesDeleted: string[];
}

export interface ExpiryReport {
  dryRun: boolean;
  olderThan: Date;
  /** The snapshots expired (or, in a dry run, that would be): time travel to them no longer works. */
  expired: LakeSnapshot[];
  /**
   * The newest snapshot is the lake's current state and is never expired, even when it is older than `olderThan`
   * (DuckLake guarantees it too); `olderThanCutoff` says whether the cutoff would otherwise have taken it.
   */
  newestKept: { id: number; time: Date; olderThanCutoff: boolean };
  /** Object-store paths of files deleted because no remaining snapshot references them (none in a dry run). */
  filesDeleted: string[];
}

/** Days each layer keeps its rows; a layer without a value keeps them forever. */
export type RetentionPolicy = Partial<Record<LakeLayer, number>>;

export interface TableRetention {
  layer: LakeLayer;
  schema: string;
  table: string;
  timeColumn: string;
  /** Rows whose time column is before this were deleted. */
  cutoff: Date;
  /** Rows deleted (or, in a dry run, that would be). */
  rowsDeleted: number;
}

export interface RetentionSkip {
  layer: LakeLayer;
  schema: string;
  table: string;
  reason: string;
}

export interface LayerRetention {
  layer: LakeLayer;
  schema: string;
  days: number;
  cutoff: Date;
  /** Tables found in the layer's schema (0 when the schema does not exist). */
  tables: number;
}

export interface RetentionReport {
  dryRun: boolean;
  layers: LayerRetention[];
  tables: TableRetention[];
  skipped: RetentionSkip[];
}

/**
 * The column whose age decides retention, keyed "<layer>.<table>" for one table or "<layer>.*" for every table of a
 * layer that has the column (the layer, not the schema, so the map holds wherever the layers live). A table declared
 * by name without that column is skipped; other tables fall back to RETENTION_TIME_COLUMN_FALLBACK.
 *
 * Silver ages by event time: its tables are partitioned by `occurred_at`, so retention drops whole files, and
 * "keep N days" means N days of events. Its quarantine has no event time and falls back to `_ingested_at`.
 */
export const RETENTION_TIME_COLUMNS: Readonly<Record<string, string>> = Object.freeze({ 'silver.*': 'occurred_at' });

/** The first of these a table has is its retention clock when RETENTION_TIME_COLUMNS names none: Bronze's first. */
export const RETENTION_TIME_COLUMN_FALLBACK = ['_ingested_at', 'occurred_at', 'window_start'] as const;

const TEMPORAL_TYPE = /^(DATE|TIMESTAMP(_S|_MS|_NS)?|TIMESTAMP WITH TIME ZONE)$/;
const DAY_MS = 24 * 60 * 60 * 1000;

interface AttachedLake {
  /** The DuckLake catalog's name in this connection (openLake's alias). */
  name: string;
  /** The quoted name of the catalog database DuckLake attaches for its metadata tables. */
  metadata: string;
}

interface TableFiles {
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

const qualified = (lake: AttachedLake, schema: string, table: string) =>
  `${quoteIdentifier(lake.name)}.${quoteIdentifier(schema)}.${quoteIdentifier(table)}`;

/** Rows of the catalog's versioned tables (schemas, tables, columns, partitions) alive at snapshot $snapshot. */
const alive = (alias: string) =>
  `${alias}.begin_snapshot <= $snapshot AND (${alias}.end_snapshot IS NULL OR ${alias}.end_snapshot > $snapshot)`;

/** Every table of the lake (or of one schema): rows, files, bytes, partitioning and inlined rows. */
export async function listTables(lake: DuckDb, options: { schema?: string } = {}): Promise<LakeTableInfo[]> {
  const catalog = await attachedLake(lake);
  // One read transaction: the table list, the counts and the catalog rows all describe the same snapshot.
  return inReadTransaction(lake, catalog, async (snapshot) => {
    const tables = await tableFiles(lake, catalog, snapshot, options.schema);
    if (!tables.length) return [];
    const partitions = await partitionKeys(lake, catalog, snapshot);
    const inlined = await inlinedRows(lake, catalog, snapshot, new Set(tables.map((t) => t.tableId)));
    const rows = await rowCounts(lake, catalog, tables);
    return tables.map(({ tableId, ...files }, i) => ({
      schema: files.schema,
      table: files.table,
      rows: rows[i] ?? 0,
      dataFiles: files.dataFiles,
      dataFileBytes: files.dataFileBytes,
      deleteFiles: files.deleteFiles,
      deleteFileBytes: files.deleteFileBytes,
      partitionedBy: partitions.get(tableId) ?? [],
      inlinedRows: inlined.get(tableId) ?? 0,
    }));
  });
}

/** The newest snapshots first (ducklake_snapshots). */
export async function listSnapshots(lake: DuckDb, options: { limit?: number } = {}): Promise<LakeSnapshot[]> {
  const limit = options.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new LakeError('LAKE_BAD_OPTION', `the snapshot limit must be a positive whole number, got ${limit}`);
  }
  const catalog = await attachedLake(lake);
  const rows = await lake.rows<SnapshotRow>(
    `SELECT snapshot_id, snapshot_time, schema_version, changes, author, commit_message
       FROM ducklake_snapshots($catalog) ORDER BY snapshot_id DESC LIMIT $limit`,
    { catalog: catalog.name, limit },
  );
  return rows.map(toSnapshot);
}

/**
 * Compacts tables: writes inlined rows out to Parquet (ducklake_flush_inlined_data), rewrites files with many deleted
 * rows (ducklake_rewrite_data_files), merges small adjacent files (ducklake_merge_adjacent_files), and then deletes
 * files no snapshot references any more once they have been unreferenced for `fileGraceMs`
 * (ducklake_cleanup_old_files). Time travel keeps working: merged files carry the snapshot each row came from.
 *
 * Without `schema`/`table` it compacts the whole lake with DuckLake's catalog-wide calls, which skip tables whose
 * `auto_compact` option is false.
 */
export async function compact(
  lake: DuckDb,
  options: { schema?: string; table?: string; fileGraceMs?: number; deleteThreshold?: number } = {},
): Promise<CompactionReport> {
  const { schema, table } = options;
  if (table !== undefined && schema === undefined) {
    throw new LakeError('LAKE_BAD_OPTION', `say which schema table "${table}" is in`);
  }
  const graceMs = fileGraceMs(options.fileGraceMs);
  const deleteThreshold = options.deleteThreshold;
  if (deleteThreshold !== undefined && !(deleteThreshold >= 0 && deleteThreshold <= 1)) {
    throw new LakeError('LAKE_BAD_OPTION', `the delete threshold is a fraction from 0 to 1, got ${deleteThreshold}`);
  }
  const catalog = await attachedLake(lake);
  const before = await currentTableFiles(lake, catalog, schema);
  const targets = before.filter((t) => table === undefined || t.table === table);
  if (table !== undefined && !targets.length) {
    throw new LakeError('LAKE_TABLE_NOT_FOUND', `there is no table ${schema}.${table} in the lake`, {
      details: { schema, table },
    });
  }

  // The whole lake goes through DuckLake's catalog-wide calls; a schema or table, table by table.
  const calls: { label: string; params: Record<string, DuckDBValue>; tableArgs: string; flushArgs: string }[] =
    schema === undefined
      ? [{ label: 'the lake', params: { catalog: catalog.name }, tableArgs: '', flushArgs: '' }]
      : targets.map((t) => ({
          label: `${t.schema}.${t.table}`,
          params: { catalog: catalog.name, schema: t.schema, table: t.table },
          tableArgs: ', $table, schema => $schema',
          flushArgs: ', schema_name => $schema, table_name => $table',
        }));
  const thresholdArg = deleteThreshold === undefined ? '' : ', delete_threshold => $threshold';
  const flushed = new Map<string, number>();
  const rewritten = new Map<string, number>();
  const merged = new Map<string, number>();
  for (const call of calls) {
    const flush = `FROM ducklake_flush_inlined_data($catalog${call.flushArgs})`;
    tally(flushed, await maintenance(lake, `flushing inlined rows of ${call.label}`, flush, call.params));
    const rewrite = `FROM ducklake_rewrite_data_files($catalog${call.tableArgs}${thresholdArg})`;
    const rewriteParams = deleteThreshold === undefined ? call.params : { ...call.params, threshold: deleteThreshold };
    tally(rewritten, await maintenance(lake, `rewriting files of ${call.label}`, rewrite, rewriteParams));
    const merge = `FROM ducklake_merge_adjacent_files($catalog${call.tableArgs})`;
    tally(merged, await maintenance(lake, `merging files of ${call.label}`, merge, call.params));
  }
  const filesDeleted = await cleanupOldFiles(lake, catalog, graceMs);

  const after = new Map(
    (await currentTableFiles(lake, catalog, schema)).map((t) => [tableKey(t.schema, t.table), t] as const),
  );
  return {
    tables: targets.map((t) => {
      const key = tableKey(t.schema, t.table);
      const now = after.get(key);
      return {
        schema: t.schema,
        table: t.table,
        dataFilesBefore: t.dataFiles,
        dataFilesAfter: now?.dataFiles ?? 0,
        deleteFilesBefore: t.deleteFiles,
        deleteFilesAfter: now?.deleteFiles ?? 0,
        rowsFlushed: flushed.get(key) ?? 0,
        filesRewritten: rewritten.get(key) ?? 0,
        filesMerged: merged.get(key) ?? 0,
      };
    }),
    filesDeleted,
  };
}

/**
 * Expires the snapshots older than `olderThan` (ducklake_expire_snapshots), then deletes the files only they
 * referenced once those have been unreferenced for `fileGraceMs` (ducklake_cleanup_old_files). The newest snapshot is
 * never expired. Snapshot expiry is catalog-wide in DuckLake: it cannot be limited to a schema or table.
 */
export async function expireSnapshots(
  lake: DuckDb,
  options: { olderThan: Date; dryRun?: boolean; fileGraceMs?: number },
): Promise<ExpiryReport> {
  const { olderThan } = options;
  if (!(olderThan instanceof Date) || Number.isNaN(olderThan.getTime())) {
    throw new LakeError('LAKE_BAD_OPTION', 'olderThan must be a valid date');
  }
  const graceMs = fileGraceMs(options.fileGraceMs);
  const dryRun = options.dryRun ?? false;
  const catalog = await attachedLake(lake);
  const [newestRow] = await lake.rows<SnapshotRow>(
    `SELECT snapshot_id, snapshot_time, schema_version, changes, author, commit_message
       FROM ducklake_snapshots($catalog) ORDER BY snapshot_id DESC LIMIT 1`,
    { catalog: catalog.name },
  );
  if (!newestRow) throw new LakeError('LAKE_OPERATION_FAILED', `the lake ${catalog.name} has no snapshots`);
  const newest = toSnapshot(newestRow);
  const candidates = await maintenance(
    lake,
    'listing snapshots to expire',
    `FROM ducklake_expire_snapshots($catalog, dry_run => true, older_than => $olderThan::TIMESTAMPTZ)`,
    { catalog: catalog.name, olderThan: olderThan.toISOString() },
  );
  // Belt and braces: DuckLake keeps the newest snapshot anyway; expiring exactly the ids listed also means the report
  // names what was expired even if commits land meanwhile.
  let expired = candidates.map(toSnapshot).filter((snapshot) => snapshot.id < newest.id);
  let filesDeleted: string[] = [];
  if (!dryRun) {
    if (expired.length) {
      const ids = expired.map((snapshot) => snapshot.id).join(', ');
      const rows = await maintenance(
        lake,
        'expiring snapshots',
        `FROM ducklake_expire_snapshots($catalog, versions => [${ids}]::UBIGINT[])`,
        { catalog: catalog.name },
      );
      expired = rows.map(toSnapshot);
    }
    filesDeleted = await cleanupOldFiles(lake, catalog, graceMs);
  }
  return {
    dryRun,
    olderThan,
    expired: expired.sort((a, b) => a.id - b.id),
    newestKept: { id: newest.id, time: newest.time, olderThanCutoff: newest.time < olderThan },
    filesDeleted,
  };
}

/**
 * Deletes rows older than the policy's days from every table of each layer's schema, by the table's time column
 * (RETENTION_TIME_COLUMNS, overridable per call with `timeColumns`, else the first of RETENTION_TIME_COLUMN_FALLBACK
 * it has); tables without one are skipped and reported. One commit per table, so a sink appending to one table conflicts with at most that delete. Rows with
 * no time are kept. `schemas` maps a layer to the schema that holds it (default: the layer's name).
 */
export async function applyRetention(
  lake: DuckDb,
  policy: RetentionPolicy,
  options: {
    schemas?: Partial<Record<LakeLayer, string>>;
    timeColumns?: Readonly<Record<string, string>>;
    now?: Date;
    dryRun?: boolean;
  } = {},
): Promise<RetentionReport> {
  for (const [layer, days] of Object.entries(policy)) {
    if (!LAKE_LAYERS.includes(layer as LakeLayer)) {
      throw new LakeError('LAKE_BAD_OPTION', `"${layer}" is not a lake layer (${LAKE_LAYERS.join(', ')})`);
    }
    if (days !== undefined && (!Number.isInteger(days) || days < 1)) {
      throw new LakeError('LAKE_BAD_OPTION', `retention for ${layer} must be a positive whole number of days`);
    }
  }
  const now = options.now ?? new Date();
  const dryRun = options.dryRun ?? false;
  const timeColumns = { ...RETENTION_TIME_COLUMNS, ...options.timeColumns };
  const catalog = await attachedLake(lake);
  const report: RetentionReport = { dryRun, layers: [], tables: [], skipped: [] };

  for (const layer of LAKE_LAYERS) {
    const days = policy[layer];
    if (days === undefined) continue;
    const schema = options.schemas?.[layer] ?? layer;
    const cutoff = new Date(now.getTime() - days * DAY_MS);
    const tables = await tableColumns(lake, catalog, schema);
    report.layers.push({ layer, schema, days, cutoff, tables: tables.length });
    for (const { table, columns } of tables) {
      const declared = timeColumns[`${layer}.${table}`];
      const layerWide = timeColumns[`${layer}.*`];
      const timeColumn =
        declared ??
        (layerWide !== undefined && columns.has(layerWide) ? layerWide : undefined) ??
        RETENTION_TIME_COLUMN_FALLBACK.find((name) => columns.has(name));
      const type = timeColumn === undefined ? undefined : columns.get(timeColumn);
      if (timeColumn === undefined || type === undefined) {
        const wanted = declared ?? RETENTION_TIME_COLUMN_FALLBACK.join(', ');
        report.skipped.push({ layer, schema, table, reason: `no time column (looked for ${wanted})` });
        continue;
      }
      if (!TEMPORAL_TYPE.test(type)) {
        report.skipped.push({ layer, schema, table, reason: `time column ${timeColumn} is ${type}, not a date/time` });
        continue;
      }
      const target = `${qualified(catalog, schema, table)} WHERE ${quoteIdentifier(timeColumn)} < $cutoff::TIMESTAMPTZ`;
      const params = { cutoff: cutoff.toISOString() };
      const [result] = dryRun
        ? await lake.rows<{ Count: bigint }>(`SELECT count(*) AS Count FROM ${target}`, params)
        : await maintenance(lake, `retention on ${schema}.${table}`, `DELETE FROM ${target}`, params);
      const rowsDeleted = Number(result?.Count ?? 0);
      report.tables.push({ layer, schema, table, timeColumn, cutoff, rowsDeleted });
    }
  }
  return report;
}

interface SnapshotRow extends Record<string, unknown> {
  snapshot_id: bigint;
  snapshot_time: Date;
  schema_version: bigint;
  changes: { key: string; value: string[] }[] | null;
  author: string | null;
  commit_message: string | null;
}

interface MaintenanceRow extends Record<string, unknown> {
  schema_name?: string;
  table_name?: string;
  rows_flushed?: bigint;
  files_processed?: bigint;
}

const tableKey = (schema: unknown, table: unknown) => `${String(schema)}.${String(table)}`;

/** Adds up a maintenance call's per-table figure: rows flushed, or input files rewritten or merged. */
function tally(into: Map<string, number>, rows: MaintenanceRow[]): void {
  for (const row of rows) {
    const key = tableKey(row.schema_name, row.table_name);
    into.set(key, (into.get(key) ?? 0) + Number(row.rows_flushed ?? row.files_processed ?? 0));
  }
}

function toSnapshot(row: Record<string, unknown>): LakeSnapshot {
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

function fileGraceMs(value: number | undefined): number {
  const graceMs = value ?? DEFAULT_FILE_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new LakeError('LAKE_BAD_OPTION', `the file grace period must be zero or more milliseconds, got ${graceMs}`);
  }
  return graceMs;
}

async function attachedLake(lake: DuckDb): Promise<AttachedLake> {
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
async function inReadTransaction<T>(
  lake: DuckDb,
  catalog: AttachedLake,
  read: (snapshot: bigint) => Promise<T>,
): Promise<T> {
  await lake.run('BEGIN TRANSACTION');
  try {
    const [current] = await lake.rows<{ id: bigint }>('SELECT id FROM ducklake_current_snapshot($catalog)', {
      catalog: catalog.name,
    });
    return await read(current?.id ?? 0n);
  } finally {
    await lake.run('ROLLBACK');
  }
}

/**
 * Runs a DuckLake maintenance call, again after a commit conflict with a concurrent writer (each call is its own
 * transaction and safe to redo), and names the step when it fails.
 */
async function maintenance(lake: DuckDb, step: string, sql: string, params: SqlParams): Promise<MaintenanceRow[]> {
  try {
    return await retryOnConflict(() => lake.rows<MaintenanceRow>(sql, params));
  } catch (cause) {
    throw new LakeError('LAKE_OPERATION_FAILED', `${step} failed`, { cause, details: { step } });
  }
}

async function cleanupOldFiles(lake: DuckDb, catalog: AttachedLake, graceMs: number): Promise<string[]> {
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

async function currentTableFiles(lake: DuckDb, catalog: AttachedLake, schema?: string): Promise<TableFiles[]> {
  return inReadTransaction(lake, catalog, (snapshot) => tableFiles(lake, catalog, snapshot, schema));
}

/** Files and bytes per table from ducklake_table_info, named through the catalog's schema and table rows. */
async function tableFiles(
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
async function partitionKeys(lake: DuckDb, catalog: AttachedLake, snapshot: bigint): Promise<Map<bigint, string[]>> {
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
async function inlinedRows(
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

async function rowCounts(lake: DuckDb, catalog: AttachedLake, tables: TableFiles[]): Promise<number[]> {
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
async function tableColumns(
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

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
