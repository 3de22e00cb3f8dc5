import { BvError } from '@bitvelocity/core';
import type { PartitionOffset, StreamRecord, TransactionalCommit, TransactionalWriter } from '@bitvelocity/streams';
import { type DuckDBAppender, DuckDBDateValue, DuckDBTimestampTZValue } from '@duckdb/node-api';
import { retryOnConflict } from '../conflicts.js';
import type { DuckDb } from '../duckdb.js';
import { ensureTable, type LakeColumn, type LakeTable, qualifiedName } from '../tables.js';

/** A row for a lake table: column name -> value (null or absent = NULL). Dates as Date or epoch ms. */
export type LakeRow = Record<string, unknown>;

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
    private readonly owner: string,
    private readonly offsets: string,
    private readonly targets: ReadonlyMap<string, LakeTarget & { staging: string }>,
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
    const staged = new Map<string, LakeTarget & { staging: string }>();
    let i = 0;
    for (const [name, target] of targets) {
      await ensureTable(lake, target.table);
      const staging = `bv_stage_${i++}`;
      const columns = target.table.columns.map((c) => `"${c.name}" ${stagingType(c)}`).join(', ');
      await lake.run(`CREATE OR REPLACE TEMP TABLE ${staging} (${columns})`);
      staged.set(name, { ...target, staging });
    }
    return new LakeWriter(lake, owner, qualifiedName(offsets), staged);
  }

  async claim(topic: string, partition: number): Promise<bigint | undefined> {
    return retryOnConflict(async () => {
      await this.lake.run('BEGIN');
      try {
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
        await this.lake.run('COMMIT');
        this.epochs.set(partitionKey(topic, partition), epoch);
        return current?.next_offset ?? undefined;
      } catch (error) {
        await this.lake.run('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  async commit(batch: TransactionalCommit): Promise<void> {
    const context: LakeCommitContext = { committedAt: new Date() };
    const staged: (LakeTarget & { staging: string })[] = [];
    try {
      for (const [name, records] of batch.records) {
        if (records.length === 0) continue;
        const target = this.targets.get(name);
        if (!target) throw new BvError('LAKE_COMMIT_FAILED', `no lake table is registered for sink target ${name}`);
        await this.stage(target, records, context);
        staged.push(target);
      }
      await retryOnConflict(async () => {
        await this.lake.run('BEGIN');
        try {
          await this.checkEpochs(batch.offsets);
          for (const target of staged) {
            const columns = target.table.columns.map((c) => `"${c.name}"`).join(', ');
            const casts = target.table.columns.map((c) => `CAST("${c.name}" AS ${c.type})`).join(', ');
            await this.lake.run(
              `INSERT INTO ${qualifiedName(target.table)} (${columns}) SELECT ${casts} FROM temp.main.${target.staging}`,
            );
          }
          for (const offset of batch.offsets) {
            await this.lake.run(
              `UPDATE ${this.offsets} SET next_offset = $1, committed_at = $2::TIMESTAMPTZ WHERE topic = $3 AND partition = $4`,
              [offset.nextOffset, context.committedAt.toISOString(), offset.topic, offset.partition],
            );
          }
          await this.lake.run('COMMIT');
        } catch (error) {
          await this.lake.run('ROLLBACK').catch(() => {});
          throw error;
        }
      });
    } finally {
      for (const target of staged) await this.lake.run(`DELETE FROM temp.main.${target.staging}`);
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

  private async stage(
    target: LakeTarget & { staging: string },
    records: readonly StreamRecord<unknown>[],
    context: LakeCommitContext,
  ): Promise<void> {
    const appender = await this.lake.connection.createAppender(target.staging, 'main', 'temp');
    try {
      const columns = target.table.columns;
      for (const record of records) {
        const row = target.row(record, context);
        for (const column of columns) append(appender, column, row[column.name]);
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
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

/** A row mapper's date as epoch ms; what is no date becomes NULL rather than failing the whole commit. */
function epochMillis(value: unknown): number | undefined {
  const millis =
    value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(String(value));
  return Number.isFinite(millis) ? millis : undefined;
}
