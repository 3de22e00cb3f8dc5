import type { TransformRunSummary } from '@bitvelocity/core';
import type { DuckDb } from '../duckdb.js';
import type { LakeTable } from '../tables.js';

/**
 * A batch step over the lake (Silver from Bronze, the warehouse's dimensions, facts and marts from Silver): it reads
 * what its inputs committed after the position it recorded, writes its outputs, and records its new position in the
 * same DuckLake transaction, so a reader sees all of an increment or none of it and a crash at any point repeats
 * nothing and loses nothing. A rebuild from a point is the same code started from an earlier position.
 *
 * One runner drives every transform (`runTransform`, and `bv jobs deploy` for supervised runs); the runner publishes
 * the `bv:transform:*` diagnostics events, so a transform itself knows nothing of lineage, metrics or quality.
 */
export interface LakeTransform<Report extends TransformReport = TransformReport> {
  /** Stable name: the job's name in the registry, in lineage and in metrics (e.g. `silver`, `warehouse`). */
  readonly name: string;
  /** The lake tables it reads (for lineage and lag). */
  readonly inputs: readonly LakeTable[];
  /** The lake tables it writes. */
  readonly outputs: readonly LakeTable[];

  /**
   * Runs one increment: at most one batch of what the inputs committed after the recorded position. Rows and the new
   * position are committed in one lake transaction; `beforePublish` (when given) is awaited inside it, after the rows
   * are written and before COMMIT, and a `hold` verdict rolls the increment back (see PublishHook).
   * Returns a report with `read: 0` when there was nothing new.
   */
  runOnce(context?: TransformContext): Promise<Report>;

  /**
   * Removes what the transform derived from input committed at or after `from` (everything when omitted), moves its
   * position back, and runs increments until caught up. Gives the same rows as the incremental path did.
   */
  rebuild(from?: Date, context?: TransformContext): Promise<Report[]>;

  /** Where it stands against its inputs (for `status`, metrics and the platform's freshness). */
  lag(): Promise<TransformLag>;
}

export interface TransformContext {
  beforePublish?: PublishHook;
  signal?: AbortSignal;
}

/** What every run reports (defined once in core, where the diagnostics events carry it); a transform adds its own counters. */
export type TransformReport = TransformRunSummary;

export interface TransformLag {
  /** The position recorded by the last committed increment. */
  position: string;
  /** Input rows committed after that position (0: caught up). */
  pendingRows: number;
  /** Event or ingest time of the newest input row already consumed, if known. */
  consumedUpTo?: Date;
  /** Event or ingest time of the newest input row, if known. */
  inputUpTo?: Date;
}

/**
 * The increment a transform is about to publish, inside its open lake transaction: `lake` reads the transaction's own
 * view (the new rows are visible to it, not yet to anyone else). For each output, `increment` is a SQL relation (a
 * subquery or table name) holding exactly the rows this increment adds to that table.
 */
export interface PendingIncrement {
  transform: string;
  lake: DuckDb;
  outputs: readonly { table: LakeTable; increment: string; rows: number }[];
}

export type PublishVerdict =
  | { action: 'publish' }
  | {
      action: 'hold';
      reason: string;
      /**
       * Runs after the rollback, outside the transaction: where a gate records the held batch and its failing rows
       * (read them into memory in the hook; anything written inside the transaction is rolled back with it).
       */
      afterRollback?: () => Promise<void>;
    };

/**
 * Called before an increment is committed. `hold` rolls the lake transaction back: readers keep the previous
 * snapshot and the position does not move, so the same input is offered again on the next run (a gate decides
 * how a held batch is released).
 */
export type PublishHook = (increment: PendingIncrement) => Promise<PublishVerdict>;
