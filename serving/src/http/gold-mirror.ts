import type { PlatformConfig } from '@bitvelocity/core';
import type { DuckDb } from '@bitvelocity/lakehouse';
import type { JS } from '@duckdb/node-api';
import { ServingError } from './errors.js';
import { openReadOnlyLake } from './lake-reader.js';
import type { RowReader } from './mirror-indexes.js';

/** One in-memory table of a dataset: `CREATE OR REPLACE TABLE memory.main.<name> AS <sql>` (sql reads the lake). */
export interface MirrorTable {
  name: string;
  sql: string;
}

/**
 * What a group of named aggregates reads, copied out of the lake at one snapshot: the lake relations it depends on
 * (its version), the tables built from them (latest revisions, the tenants' key sets, pre-aggregations) and the index
 * requests are answered from, read out of those tables.
 */
export interface MirrorDataset<Index> {
  reads: string[];
  tables: MirrorTable[];
  index(rows: RowReader): Promise<Index>;
}

interface Built<Index> {
  /** The lake snapshot the tables were copied at. */
  snapshotId: number;
  index: Index;
}

type Datasets<Indexes> = { [K in keyof Indexes]: MirrorDataset<Indexes[K]> };

/**
 * Per-snapshot copies of the small Gold/Silver relations the named aggregates read: DuckDB (one instance with the
 * lake attached read-only) copies each dataset into in-memory tables in one lake transaction, and the dataset's index
 * is read out of them into JS (sorted per tenant, each row's answer JSON ready). An uncached aggregate then
 * binary-searches and joins text in this process (~0.1 ms) instead of opening a DuckLake snapshot (catalog round trips
 * to Postgres, the inlined-data tables, the file list) and computing the latest revision of every window over all
 * revisions (~30 ms of CPU), or running a query over the copies (3-10 ms of CPU, most of it per-query overhead).
 *
 * A dataset is copied the first time it is asked for (or when `warm` is called), and again, in the background,
 * whenever a commit changes one of the relations it reads; a read at version V waits only when the copy is older than
 * V. Copies are built one at a time on one connection; the previous index answers until the new one is complete.
 */
export class GoldMirror<Indexes> {
  private readonly built = new Map<keyof Indexes, Built<Indexes[keyof Indexes]>>();
  private readonly building = new Map<keyof Indexes, Promise<Built<Indexes[keyof Indexes]>>>();
  private builds = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly lake: DuckDb,
    private readonly datasets: Datasets<Indexes>,
  ) {}

  static async create<Indexes>(
    config: PlatformConfig,
    datasets: Datasets<Indexes>,
    options: { threads?: number } = {},
  ): Promise<GoldMirror<Indexes>> {
    let lake: DuckDb;
    try {
      lake = await openReadOnlyLake(config, options.threads ?? 1);
    } catch (error) {
      throw new ServingError('SERVING_LAKE_UNAVAILABLE', 'cannot open the lake read-only; is the stack up?', {
        cause: error,
        retriable: true,
      });
    }
    return new GoldMirror(lake, datasets);
  }

  /** The snapshot a dataset was last copied at (undefined before its first copy). */
  snapshotOf(dataset: keyof Indexes): number | undefined {
    return this.built.get(dataset)?.snapshotId;
  }

  /**
   * Called when the lake moved: datasets already in use whose relations changed after their copy are copied again,
   * so the next uncached answers do not wait for it.
   */
  refresh(versionOf: (relations: readonly string[]) => number): void {
    for (const [name, built] of this.built) {
      const version = versionOf(this.datasets[name].reads);
      if (version > built.snapshotId) this.ensure(name, version).catch(() => {});
    }
  }

  /** Copies every dataset not copied yet, in the background (so the first requests do not wait for it). */
  warm(versionOf: (relations: readonly string[]) => number): void {
    for (const name of Object.keys(this.datasets) as (keyof Indexes)[])
      if (!this.built.has(name)) this.ensure(name, versionOf(this.datasets[name].reads)).catch(() => {});
  }

  /** The dataset's index as copied at `version` or later (waiting for a copy only when the last one is older). */
  async indexOf<K extends keyof Indexes>(dataset: K, version: number): Promise<Indexes[K]> {
    return (await this.ensure(dataset, version)).index as Indexes[K];
  }

  async close(): Promise<void> {
    this.closed = true;
    // A copy under way finishes (or fails) before its connection closes.
    await this.builds;
    this.lake.close();
  }

  /** Resolves once the dataset's copy is at `version` or later (starting or joining a build). */
  private async ensure(name: keyof Indexes, version: number): Promise<Built<Indexes[keyof Indexes]>> {
    const built = this.built.get(name);
    if (built && built.snapshotId >= version) return built;
    const running = this.building.get(name);
    if (running) {
      const done = await running;
      if (done.snapshotId >= version) return done;
      return this.ensure(name, version);
    }
    const build = this.copy(name).finally(() => this.building.delete(name));
    this.building.set(name, build);
    const done = await build;
    const current = this.built.get(name);
    if (!current || current.snapshotId < done.snapshotId) this.built.set(name, done);
    return done.snapshotId >= version ? done : this.ensure(name, version);
  }

  /** Copies every table of the dataset in one lake transaction (one snapshot) and reads its index out of them. */
  private copy(name: keyof Indexes): Promise<Built<Indexes[keyof Indexes]>> {
    const dataset = this.datasets[name];
    const run = this.builds.then(async () => {
      if (this.closed) throw new ServingError('SERVING_LAKE_UNAVAILABLE', 'the mirror is closed');
      return this.lake.transaction(async () => {
        const [snapshot] = await this.lake.rows<{ id: bigint }>('SELECT id FROM current_snapshot()');
        for (const table of dataset.tables)
          await this.lake.run(`CREATE OR REPLACE TABLE memory.main.${table.name} AS ${table.sql}`);
        const index = await dataset.index((sql) => this.lake.rows<Record<string, JS>>(sql));
        // The index holds what requests need; the tables are only its source.
        for (const table of dataset.tables) await this.lake.run(`DROP TABLE memory.main.${table.name}`);
        return { snapshotId: Number(snapshot?.id ?? 0), index };
      });
    });
    this.builds = run.then(
      () => {},
      () => {},
    );
    return run;
  }
}
