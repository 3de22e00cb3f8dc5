import type { DuckDBValue } from '@duckdb/node-api';
import type { DuckDb } from '../duckdb.js';
import {
  attachedLake,
  cleanupOldFiles,
  currentTableFiles,
  fileGraceMs,
  LakeError,
  maintenance,
  tableKey,
  tally,
} from './catalog.js';

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
