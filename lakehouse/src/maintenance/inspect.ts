import type { DuckDb } from '../duckdb.js';
import {
  attachedLake,
  inlinedRows,
  inReadTransaction,
  LakeError,
  partitionKeys,
  rowCounts,
  type SnapshotRow,
  tableFiles,
  toSnapshot,
} from './catalog.js';

/** What is in the lake: its tables as the catalog describes them, and its snapshots. */

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
