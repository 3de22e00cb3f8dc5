import { BvError, loadPlatformConfig, type PlatformConfig } from '@bitvelocity/core';
import type {
  PartitionOffset,
  StreamRecord,
  TransactionalSinkSpec,
  TransactionalSystem,
  TransactionalWriter,
} from '@bitvelocity/streams';
import { openLake } from '../lake.js';
import { ensureView, type LakeTable, type LakeView, qualifiedName } from '../tables.js';
import { type LakeCommitContext, type LakeRow, type LakeTarget, LakeWriter } from './lake-writer.js';

export interface LakeSystemOptions {
  /** Read when a worker connects, by default from the platform config. */
  config?: () => PlatformConfig;
  /** DuckDB threads of the writer (the worker's one DuckDB instance). */
  threads?: number;
  /** Views over the sinks' tables, created (or replaced) when a worker connects. */
  views?: readonly LakeView[];
}

/**
 * The lake as the transactional system of a stream job: every lake sink of the job commits into one DuckLake
 * transaction per checkpoint, together with the consumed offsets.
 */
export class LakeSystem implements TransactionalSystem {
  readonly name = 'lake';
  private readonly targets = new Map<string, LakeTarget>();

  constructor(private readonly options: LakeSystemOptions = {}) {}

  /** A sink into `table`; `row` maps each record (with the commit's time) to the table's columns. */
  sink<T>(
    table: LakeTable,
    row: (record: StreamRecord<T>, context: LakeCommitContext) => LakeRow,
  ): TransactionalSinkSpec<T> {
    const target = qualifiedName(table);
    const known = this.targets.get(target);
    if (known && known.table !== table)
      throw new BvError('JOB_INVALID', `lake table ${target} is defined twice in one job`);
    this.targets.set(target, { table, row: row as LakeTarget['row'] });
    return { kind: 'transactional', system: this, target };
  }

  /** The tables this system's sinks write. */
  tables(): LakeTable[] {
    return [...this.targets.values()].map((t) => t.table);
  }

  async resetOffsets(job: string, offsets: readonly PartitionOffset[]): Promise<void> {
    const writer = await this.connect(job, `reset-${process.pid}`);
    try {
      for (const { topic, partition } of offsets) await writer.claim(topic, partition);
      await writer.commit({ records: new Map(), offsets });
    } finally {
      await writer.close();
    }
  }

  async connect(job: string, workerId: string): Promise<TransactionalWriter> {
    const config = (this.options.config ?? loadPlatformConfig)();
    const lake = await openLake(config, this.options.threads ? { threads: this.options.threads } : {});
    try {
      const writer = await LakeWriter.create(lake, job, workerId, this.targets);
      for (const view of this.options.views ?? []) await ensureView(lake, view);
      return writer;
    } catch (error) {
      lake.close();
      throw error;
    }
  }
}

export function lakeSystem(options: LakeSystemOptions = {}): LakeSystem {
  return new LakeSystem(options);
}
