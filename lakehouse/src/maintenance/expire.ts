import type { DuckDb } from '../duckdb.js';
import {
  attachedLake,
  cleanupOldFiles,
  fileGraceMs,
  LakeError,
  maintenance,
  type SnapshotRow,
  toSnapshot,
} from './catalog.js';
import type { LakeSnapshot } from './inspect.js';

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
