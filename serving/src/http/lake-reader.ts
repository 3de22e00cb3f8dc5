import type { PlatformConfig } from '@bitvelocity/core';
import { type DuckDb, openLake, type SqlParams, sqlLiteral } from '@bitvelocity/lakehouse';
import type { Json } from '@duckdb/node-api';
import { ServingError } from './errors.js';
import type { CatalogName, SnapshotChanges } from './lake-versions.js';

/** The DuckLake metadata catalog of the lake attached as `lake` (openLake's alias). */
const METADATA = '__ducklake_metadata_lake';

/**
 * The lake, read-only by DuckDB's own settings: the catalog is attached READ_ONLY, no file or network access beyond
 * the attached lake (enable_external_access=false after the attach), and the configuration locked so a query cannot
 * undo either. Until the analyst session factory of warehouse/src/sql lands this module is the one place that opens
 * the lake for serving; swapping it means replacing `openReadOnlyLake`.
 */
export async function openReadOnlyLake(config: PlatformConfig, threads = 1): Promise<DuckDb> {
  const lake = await openLake(config, { readOnly: true, threads });
  try {
    // The lake's own data files stay readable; every other path and URL is refused once external access is off.
    await lake.run(`SET allowed_directories = [${sqlLiteral(config.lake.dataPath)}]`);
    await lake.run('SET enable_external_access = false');
    await lake.run('SET lock_configuration = true');
  } catch (error) {
    lake.close();
    throw error;
  }
  return lake;
}

export interface ReadResult {
  /** The lake snapshot the rows were read at (one transaction: the rows and the id agree). */
  snapshotId: number;
  columns: string[];
  rows: Record<string, Json>[];
  /** More rows than `maxRows` existed; `rows` holds the first `maxRows`. */
  truncated: boolean;
}

export interface ReadOptions {
  timeoutMs: number;
  maxRows: number;
  /** Aborted when nobody waits for the answer any more: a read still queued for a connection is then dropped. */
  signal?: AbortSignal;
}

/**
 * A small pool of read-only lake connections (one DuckDB each: the lakehouse's DuckDb wraps one connection) plus one
 * for the catalog reads the snapshot watcher polls (new commits), so a slow query never delays the probe.
 */
export class LakeReader {
  private readonly idle: DuckDb[];
  private readonly waiting: ((lake: DuckDb) => void)[] = [];
  /** The snapshot of each connection's open read transaction. */
  private readonly pinned = new Map<DuckDb, number>();

  private constructor(
    private readonly probe: DuckDb,
    private readonly all: DuckDb[],
  ) {
    this.idle = [...all];
  }

  static async create(config: PlatformConfig, options: { connections?: number } = {}): Promise<LakeReader> {
    const count = options.connections ?? 2;
    const opened: DuckDb[] = [];
    try {
      for (let i = 0; i <= count; i++) opened.push(await openReadOnlyLake(config));
    } catch (error) {
      for (const lake of opened) lake.close();
      throw new ServingError('SERVING_LAKE_UNAVAILABLE', 'cannot open the lake read-only; is the stack up?', {
        cause: error,
        retriable: true,
      });
    }
    const [probe, ...pool] = opened as [DuckDb, ...DuckDb[]];
    return new LakeReader(probe, pool);
  }

  /** How many query connections the pool holds. */
  get connections(): number {
    return this.all.length;
  }

  /** The catalog's change list of every commit after `snapshotId`, oldest first (a catalog read of a few ms). */
  async changesSince(snapshotId: number): Promise<SnapshotChanges[]> {
    const rows = await this.probe.rows<{ snapshot_id: bigint; changes_made: string | null }>(
      `SELECT snapshot_id, changes_made FROM ${METADATA}.ducklake_snapshot_changes
        WHERE snapshot_id > ${Math.trunc(snapshotId)} ORDER BY snapshot_id`,
    );
    return rows.map((r) => ({ snapshotId: Number(r.snapshot_id), changesMade: r.changes_made ?? '' }));
  }

  /** The names of catalog ids (schemas, tables, views; dropped ones too), oldest definition first. */
  async catalogNames(ids: readonly number[]): Promise<CatalogName[]> {
    if (ids.length === 0) return [];
    const list = ids.map((id) => Math.trunc(id)).join(', ');
    const rows = await this.probe.rows<{ id: bigint; name: string }>(
      `SELECT id, name FROM (
         SELECT schema_id AS id, schema_name AS name, begin_snapshot FROM ${METADATA}.ducklake_schema
          WHERE schema_id IN (${list})
         UNION ALL
         SELECT t.table_id, s.schema_name || '.' || t.table_name, t.begin_snapshot
           FROM ${METADATA}.ducklake_table t JOIN ${METADATA}.ducklake_schema s USING (schema_id)
          WHERE t.table_id IN (${list})
         UNION ALL
         SELECT v.view_id, s.schema_name || '.' || v.view_name, v.begin_snapshot
           FROM ${METADATA}.ducklake_view v JOIN ${METADATA}.ducklake_schema s USING (schema_id)
          WHERE v.view_id IN (${list}))
        ORDER BY begin_snapshot`,
    );
    return rows.map((r) => ({ id: Number(r.id), name: r.name }));
  }

  /** DuckDB's own parse tree of a statement, as JSON (json_serialize_sql): what POST /v1/query checks. */
  async serialize(sql: string): Promise<string> {
    const [row] = await this.probe.rows<{ tree: string }>('SELECT json_serialize_sql($sql::VARCHAR) AS tree', { sql });
    return row?.tree ?? '{"error":true,"error_message":"no parse tree"}';
  }

  /**
   * Runs one SELECT at one snapshot, interrupted after `timeoutMs`, reading at most `maxRows` (+1 to detect more).
   *
   * Starting a DuckLake transaction costs catalog round trips to Postgres (30-40 ms here) while a read inside an open
   * one costs a few ms, so each connection keeps one read transaction open and starts a new one only when the lake has
   * moved past its snapshot (`atLeast`, the latest id the caller knows of) or a statement failed in it.
   */
  async read(sql: string, params: SqlParams, options: ReadOptions & { atLeast?: number }): Promise<ReadResult> {
    const lake = await this.acquire();
    if (options.signal?.aborted) {
      this.release(lake);
      throw new ServingError('SERVING_READ_ABANDONED', 'every client waiting for this read has gone', {
        cause: options.signal.reason,
      });
    }
    const timer = setTimeout(() => lake.connection.interrupt(), options.timeoutMs);
    try {
      let snapshotId = this.pinned.get(lake);
      if (snapshotId === undefined || snapshotId < (options.atLeast ?? Number.POSITIVE_INFINITY)) {
        if (snapshotId !== undefined) await lake.run('ROLLBACK').catch(() => {});
        this.pinned.delete(lake);
        await lake.run('BEGIN TRANSACTION');
        const [snapshot] = await lake.rows<{ id: bigint }>('SELECT id FROM current_snapshot()');
        snapshotId = Number(snapshot?.id ?? 0);
        this.pinned.set(lake, snapshotId);
      }
      try {
        const reader = await lake.connection.streamAndReadUntil(sql, options.maxRows + 1, params);
        const rows = reader.getRowObjectsJson();
        const truncated = rows.length > options.maxRows;
        return {
          snapshotId,
          columns: reader.columnNames(),
          rows: truncated ? rows.slice(0, options.maxRows) : rows,
          truncated,
        };
      } catch (error) {
        // A failed statement aborts DuckDB's transaction: the next read starts a new one.
        await lake.run('ROLLBACK').catch(() => {});
        this.pinned.delete(lake);
        throw error;
      }
    } catch (error) {
      if (/interrupt/i.test(String(error)))
        throw new ServingError(
          'SERVING_QUERY_TIMEOUT',
          `the query ran longer than ${options.timeoutMs} ms and was stopped`,
          {
            cause: error,
          },
        );
      throw error;
    } finally {
      clearTimeout(timer);
      this.release(lake);
    }
  }

  close(): void {
    this.probe.close();
    for (const lake of this.all) lake.close();
  }

  private acquire(): Promise<DuckDb> {
    const lake = this.idle.pop();
    if (lake) return Promise.resolve(lake);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(lake: DuckDb): void {
    const next = this.waiting.shift();
    if (next) next(lake);
    else this.idle.push(lake);
  }
}
