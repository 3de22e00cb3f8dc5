import { BvError, diagnostics, MAX_TRACE_LINKS } from '@bitvelocity/core';
import type { PartitionOffset, StreamRecord, TransactionalCommit, TransactionalWriter } from '@bitvelocity/streams';
import { retryOnConflict } from '../conflicts.js';
import type { DuckDb } from '../duckdb.js';
import { type LakeRow, StagingTables } from '../staging.js';
import { describeTable, ensureTable, type LakeTable, qualifiedName } from '../tables.js';

export type { LakeRow };

export interface LakeCommitContext {
  /** When the commit began; Bronze's `_ingested_at`. */
  committedAt: Date;
}

/** What a lake sink writes: the table, and how a stream record becomes a row of it. */
export interface LakeTarget {
  table: LakeTable;
  row: (record: StreamRecord<unknown>, context: LakeCommitContext) => LakeRow;
}

/** The lake table holding a job's consumed offsets and the epoch of each partition's current owner. */
export function offsetsTableOf(job: string): LakeTable {
  return {
    schema: 'bv_meta',
    name: `offsets_${job.replaceAll('-', '_')}`,
    description: `Kafka offsets that job ${job} has landed in the lake; a row with partition -1 serialises claims`,
    columns: [
      { name: 'topic', type: 'VARCHAR' },
      { name: 'partition', type: 'INTEGER' },
      { name: 'epoch', type: 'BIGINT' },
      { name: 'owner', type: 'VARCHAR' },
      { name: 'next_offset', type: 'BIGINT' },
      { name: 'committed_at', type: 'TIMESTAMP WITH TIME ZONE' },
    ],
  };
}

const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * Commits stream output and the consumed offsets in one DuckLake transaction (the lake's two-phase-commit sink).
 *
 * Fencing, as Kafka's transactional ids do it: claiming a partition bumps its epoch in the offsets table, and every
 * commit first checks that the epochs of its partitions are still the ones this writer claimed. DuckLake's optimistic
 * concurrency makes the check sound: a claim and a commit both update the offsets table, so when they overlap one of
 * them fails to commit (and is retried, re-checking). Claims also update a sentinel row, so two first claims of the
 * same partition cannot both insert.
 *
 * Rows are appended to in-memory staging tables first (DuckDB's appender), then copied into the lake inside the
 * transaction: one Parquet file per table per commit, however many partitions contributed.
 */
export class LakeWriter implements TransactionalWriter {
  private readonly epochs = new Map<string, bigint>();

  private constructor(
    private readonly lake: DuckDb,
    private readonly job: string,
    private readonly owner: string,
    private readonly offsets: string,
    private readonly targets: ReadonlyMap<string, LakeTarget>,
    private readonly staging: StagingTables,
  ) {}

  static async create(
    lake: DuckDb,
    job: string,
    owner: string,
    targets: ReadonlyMap<string, LakeTarget>,
  ): Promise<LakeWriter> {
    const offsets = offsetsTableOf(job);
    await ensureTable(lake, offsets);
    await retryOnConflict(() =>
      lake.run(
        `INSERT INTO ${qualifiedName(offsets)} SELECT '', -1, 0, '', NULL, now()
          WHERE NOT EXISTS (SELECT 1 FROM ${qualifiedName(offsets)} WHERE partition = -1)`,
      ),
    );
    for (const target of targets.values()) {
      await ensureTable(lake, target.table);
      // The tables' and columns' descriptions, in the catalog for `\d` and duckdb_columns() (written when they differ).
      await retryOnConflict(() => describeTable(lake, target.table));
    }
    const staging = await StagingTables.create(
      lake,
      [...targets.values()].map((t) => t.table),
    );
    return new LakeWriter(lake, job, owner, qualifiedName(offsets), targets, staging);
  }

  async claim(topic: string, partition: number): Promise<bigint | undefined> {
    const claimed = await retryOnConflict(() =>
      this.lake.transaction(async () => {
        await this.lake.run(`UPDATE ${this.offsets} SET epoch = epoch + 1 WHERE partition = -1`);
        const [current] = await this.lake.rows<{ epoch: bigint; next_offset: bigint | null }>(
          `SELECT epoch, next_offset FROM ${this.offsets} WHERE topic = $1 AND partition = $2`,
          [topic, partition],
        );
        const epoch = (current?.epoch ?? 0n) + 1n;
        if (current) {
          await this.lake.run(`UPDATE ${this.offsets} SET epoch = $1, owner = $2 WHERE topic = $3 AND partition = $4`, [
            epoch,
            this.owner,
            topic,
            partition,
          ]);
        } else {
          await this.lake.run(`INSERT INTO ${this.offsets} VALUES ($1, $2, $3, $4, NULL, now())`, [
            topic,
            partition,
            epoch,
            this.owner,
          ]);
        }
        return { epoch, nextOffset: current?.next_offset ?? undefined };
      }),
    );
    // Only a committed claim counts: a retried one took a newer epoch.
    this.epochs.set(partitionKey(topic, partition), claimed.epoch);
    return claimed.nextOffset;
  }

  async commit(batch: TransactionalCommit): Promise<void> {
    const context: LakeCommitContext = { committedAt: new Date() };
    const started = performance.now();
    const staged: LakeTarget[] = [];
    const written: Record<string, number> = {};
    // Collected only for a subscriber (the tracer): the commit span links the traces of the rows it committed.
    const traceparents = diagnostics.lakeCommit.hasSubscribers ? new Set<string>() : undefined;
    try {
      for (const [name, records] of batch.records) {
        if (records.length === 0) continue;
        const target = this.targets.get(name);
        if (!target) throw new BvError('LAKE_COMMIT_FAILED', `no lake table is registered for sink target ${name}`);
        if (traceparents) collectTraceparents(traceparents, records);
        await this.staging.stage(
          target.table,
          records.map((record) => target.row(record, context)),
        );
        staged.push(target);
        const table = qualifiedName(target.table);
        written[table] = (written[table] ?? 0) + records.length;
      }
      await retryOnConflict(() =>
        this.lake.transaction(async () => {
          await this.checkEpochs(batch.offsets);
          for (const target of staged) await this.staging.insertInto(target.table);
          for (const offset of batch.offsets) {
            await this.lake.run(
              `UPDATE ${this.offsets} SET next_offset = $1, committed_at = $2::TIMESTAMPTZ WHERE topic = $3 AND partition = $4`,
              [offset.nextOffset, context.committedAt.toISOString(), offset.topic, offset.partition],
            );
          }
        }),
      );
      diagnostics.lakeCommit.publish({
        writer: this.job,
        written,
        offsets: [...batch.offsets],
        ...(traceparents?.size ? { traceparents: [...traceparents] } : {}),
        durationMs: performance.now() - started,
      });
    } finally {
      await this.staging.clear();
    }
  }

  async close(): Promise<void> {
    this.lake.close();
  }

  private async checkEpochs(offsets: readonly PartitionOffset[]): Promise<void> {
    const rows = await this.lake.rows<{ topic: string; partition: number; epoch: bigint }>(
      `SELECT topic, partition, epoch FROM ${this.offsets} WHERE partition >= 0`,
    );
    const current = new Map(rows.map((r) => [partitionKey(r.topic, r.partition), r.epoch]));
    for (const { topic, partition } of offsets) {
      const key = partitionKey(topic, partition);
      const mine = this.epochs.get(key);
      if (mine === undefined || current.get(key) !== mine) {
        throw new BvError(
          'LAKE_FENCED',
          `${topic}[${partition}] was claimed by another writer (epoch ${current.get(key)}, this writer's ${mine}); this writer's uncommitted output is dropped`,
          { details: { topic, partition } },
        );
      }
    }
  }
}

function collectTraceparents(into: Set<string>, records: readonly StreamRecord<unknown>[]): void {
  for (const record of records) {
    if (into.size >= MAX_TRACE_LINKS) return;
    if (record.origin.traceparent) into.add(record.origin.traceparent);
  }
}
