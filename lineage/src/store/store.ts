import { createHash } from 'node:crypto';
import {
  BvError,
  type DatasetEvent,
  type InputDataset,
  type JobEvent,
  type LineageEvent,
  type OutputDataset,
  type RunEvent,
} from '@bitvelocity/core';
import pg from 'pg';
import {
  type MarquezColumnNode,
  type MarquezDataset,
  type MarquezDatasetVersion,
  type MarquezGraphNode,
  type MarquezJob,
  type MarquezRun,
  runState,
} from './shapes.js';

type Facets = Record<string, unknown>;

/** Marquez's run states that end a run: a late START or RUNNING never moves a run out of them. */
const TERMINAL = ['COMPLETED', 'FAILED', 'ABORTED'];

export interface IngestResult {
  duplicate: boolean;
}

interface PendingEvent {
  tenant: string;
  event: LineageEvent;
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
}

export type Direction = 'both' | 'upstream' | 'downstream';

interface GraphEdge {
  origin: string;
  destination: string;
  dataset_namespace: string;
  dataset_name: string;
}

interface Adjacency {
  out: Map<string, GraphEdge[]>;
  in: Map<string, GraphEdge[]>;
}

interface DatasetWrite {
  namespace: string;
  name: string;
  facets: Facets;
  output: boolean;
}

function hash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

export const datasetNodeId = (namespace: string, name: string) => `dataset:${namespace}:${name}`;
export const jobNodeId = (namespace: string, name: string) => `job:${namespace}:${name}`;

/**
 * The lineage store in Postgres (its own schema). Every write of one event is one transaction: an event is stored
 * with everything derived from it, or not at all. Every query is filtered on the caller's tenant.
 */
export class LineageStore {
  private readonly pending: PendingEvent[] = [];
  private accepting = false;
  /** Events taken into one accept statement (one group commit) at most. */
  private readonly batch = 500;
  /** Events folded into the model by one projection statement at most. */
  private readonly projectBatch = Number(process.env.BV_LINEAGE_PROJECT_BATCH ?? 1_000);
  private fallbacks = 0;
  /** The highest log position this process acknowledged, and the position the model has been projected to. */
  private acked = 0;
  private projected = 0;
  /** Events this process accepted and has not projected yet, by log position (saves reading their bodies back). */
  private readonly unprojected = new Map<number, { tenant: string; event: LineageEvent }>();
  private projecting: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly waiters: { target: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readonly poll: NodeJS.Timeout;
  private readonly graphs = new Map<string, { version: string; adjacency: Adjacency }>();
  private readonly payloads = new Map<string, { json: string; name: string }>();
  private payloadsAt = -1;

  private constructor(
    readonly pool: pg.Pool,
    private readonly schema: string,
  ) {
    // Catch up with what the log holds (events acknowledged before a restart, or by another instance), then look
    // again now and then.
    this.poll = setInterval(() => void this.catchUpIfBehind(), 1_000);
    this.poll.unref();
    void this.catchUpIfBehind();
  }

  static async create(url: string, options: { schema?: string; max?: number } = {}): Promise<LineageStore> {
    const schema = options.schema ?? 'lineage';
    // Its own sessions only: no JIT (the batch statements' estimated cost passes jit_above_cost, and compiling them
    // cost ~20 ms of Postgres CPU per event, measured), and room for a 1,000-event projection's hash aggregates.
    const pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 8,
      options: `-c search_path=${schema} -c jit=off -c work_mem=32MB`,
    });
    pool.on('error', () => undefined);
    await pool.query('SELECT 1');
    return new LineageStore(pool, schema);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    await this.projecting?.catch(() => undefined);
    for (const w of this.waiters.splice(0)) w.reject(new BvError('LINEAGE_UNAVAILABLE', 'the lineage store is closed'));
    await this.pool.end();
  }

  // ---------------------------------------------------------------- writes

  /**
   * Accepts one event: it is appended to the log (the `events` table) in one multi-row statement with the other
   * events waiting (group commit) and acknowledged once that commits; the projector then folds it into the model.
   * Re-delivery (same event key) is answered as a duplicate and changes nothing.
   */
  async ingest(tenant: string, event: LineageEvent): Promise<IngestResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ tenant, event, resolve, reject });
      this.drain();
    });
  }

  /** One accept statement at a time; what arrives meanwhile waits and goes into the next one. */
  private drain(): void {
    if (this.accepting || !this.pending.length) return;
    const batch = this.pending.splice(0, this.batch);
    this.accepting = true;
    void this.accept(batch).finally(() => {
      this.accepting = false;
      this.drain();
    });
  }

  /**
   * Appends a batch to the log in ONE statement (ACCEPT_SQL): the raw event, its key and its tenant, in arrival
   * order. A transaction-scoped advisory lock of the store makes log positions commit in order across instances,
   * so the projector never passes a position that commits later.
   */
  private async accept(batch: PendingEvent[]): Promise<void> {
    const rows: { tenant: string; key: string; kind: string; time: string; body: LineageEvent; ord: number }[] = [];
    const first = new Map<string, number>();
    const ownerOf: number[] = [];
    for (const [ord, { tenant, event }] of batch.entries()) {
      const { key, kind } = eventKey(event);
      const id = `${tenant}\u001f${key}`;
      const earlier = first.get(id);
      ownerOf.push(earlier ?? ord);
      if (earlier !== undefined) continue;
      first.set(id, ord);
      rows.push({ tenant, key, kind, time: event.eventTime, body: event, ord });
    }
    let stored: { tenant: string; event_key: string; seq: string }[];
    try {
      ({ rows: stored } = await this.pool.query<{ tenant: string; event_key: string; seq: string }>({
        name: 'lineage-accept',
        text: ACCEPT_SQL,
        values: [JSON.stringify(rows)],
      }));
    } catch (error) {
      // One event the store refuses (a time Postgres cannot hold, say) must not fail the others: a failed batch is
      // accepted again event by event (nothing of it was stored). An event refused on its own is the event's fault
      // when Postgres says its data is wrong (class 22): 400; anything else (Postgres unreachable) is 500.
      if (batch.length > 1) {
        for (const item of batch) await this.accept([item]);
        return;
      }
      const code = (error as { code?: string }).code ?? '';
      for (const item of batch)
        item.reject(
          code.startsWith('22')
            ? new BvError('LINEAGE_EVENT_INVALID', `the store refused the event: ${(error as Error).message}`)
            : error,
        );
      return;
    }
    const seqOf = new Map(stored.map((r) => [`${r.tenant}\u001f${r.event_key}`, Number(r.seq)]));
    const fresh = new Set<number>();
    for (const row of rows) {
      const seq = seqOf.get(`${row.tenant}\u001f${row.key}`);
      if (seq === undefined) continue;
      fresh.add(row.ord);
      this.unprojected.set(seq, { tenant: row.tenant, event: row.body });
      if (seq > this.acked) this.acked = seq;
    }
    for (const [ord, item] of batch.entries()) item.resolve({ duplicate: ownerOf[ord] !== ord || !fresh.has(ord) });
    this.project();
  }

  /** How many projection batches had to be rolled back and projected event by event. */
  get batchFallbacks(): number {
    return this.fallbacks;
  }

  /**
   * Resolves once the model holds everything this process acknowledged before the call: every read waits for it,
   * so a client reads its own writes. Fails (503) when the projector cannot catch up within `timeoutMs`.
   */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    const target = this.acked;
    if (this.projected >= target) return;
    this.project();
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        target,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new BvError('LINEAGE_UNAVAILABLE', 'the lineage model is behind the accepted events; try again'));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  private async catchUpIfBehind(): Promise<void> {
    if (this.projecting || this.closed) return;
    try {
      const { rows } = await this.pool.query<{ behind: boolean }>(
        'SELECT (SELECT position FROM projection) < coalesce((SELECT max(seq) FROM events), 0) AS behind',
      );
      if (rows[0]?.behind) this.project();
    } catch {
      // the next poll tries again
    }
  }

  /** Runs the projector unless it runs already (then it goes round once more when it is done). */
  private project(): void {
    if (this.closed) return;
    if (this.projecting) {
      this.again = true;
      return;
    }
    this.projecting = (async () => {
      let failures = 0;
      for (;;) {
        this.again = false;
        try {
          const projected = await this.projectOnce();
          failures = 0;
          if (projected === 0 && !this.again) break;
        } catch {
          // Postgres unreachable or the like: nothing was projected; try again shortly (the log keeps the events).
          failures += 1;
          if (this.closed) break;
          await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** failures)));
        }
        if (this.closed) break;
      }
    })().finally(() => {
      this.projecting = undefined;
      if (this.again && !this.closed) this.project();
    });
  }

  private settle(position: number): void {
    if (position > this.projected) this.projected = position;
    for (const seq of this.unprojected.keys()) if (seq <= position) this.unprojected.delete(seq);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i] as (typeof this.waiters)[number];
      if (w.target <= this.projected) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /**
   * Folds the next events of the log into the model, in log order, in ONE transaction that also moves the
   * projection's position (so an event is projected exactly once, whole, even across a crash). Projectors of
   * several instances take turns on the position's row. A batch that fails is rolled back and projected event by
   * event; an event that fails on its own is recorded in projection_failures (its raw event stays in the log) and
   * passed, so one bad event never stops the others. Answers how many events it projected.
   */
  private async projectOnce(): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows: at } = await client.query<{ position: string }>({
        name: 'lineage-projection-position',
        text: 'SELECT position FROM projection WHERE id = 1 FOR UPDATE',
      });
      const position = Number(at[0]?.position ?? 0);
      const { rows: next } = await client.query<{ seq: string; tenant: string }>({
        name: 'lineage-projection-next',
        text: 'SELECT seq, tenant FROM events WHERE seq > $1 ORDER BY seq LIMIT $2',
        values: [position, this.projectBatch],
      });
      if (!next.length) {
        await client.query('COMMIT');
        this.settle(position);
        return 0;
      }
      const items = next.map((r) => ({
        seq: Number(r.seq),
        tenant: r.tenant,
        event: this.unprojected.get(Number(r.seq))?.event,
      }));
      const missing = items.filter((i) => !i.event).map((i) => i.seq);
      if (missing.length) {
        const { rows } = await client.query<{ seq: string; body: LineageEvent }>(
          'SELECT seq, body FROM events WHERE seq = ANY($1::bigint[])',
          [missing],
        );
        const bodies = new Map(rows.map((r) => [Number(r.seq), r.body]));
        for (const item of items) item.event ??= bodies.get(item.seq);
      }
      const events = items as { seq: number; tenant: string; event: LineageEvent }[];
      const last = (events[events.length - 1] as { seq: number }).seq;
      const touched: string[] = [];
      await client.query('SAVEPOINT batch');
      try {
        touched.push(...(await this.projectEvents(client, events, last)));
      } catch {
        await client.query('ROLLBACK TO SAVEPOINT batch');
        this.fallbacks += 1;
        for (const item of events) {
          await client.query('SAVEPOINT one');
          try {
            touched.push(...(await this.projectEvents(client, [item], item.seq)));
          } catch (error) {
            await client.query('ROLLBACK TO SAVEPOINT one');
            await client.query(
              `INSERT INTO projection_failures (seq, error) VALUES ($1, $2) ON CONFLICT (seq) DO UPDATE SET error = EXCLUDED.error`,
              [item.seq, (error as Error).message],
            );
            await client.query('UPDATE projection SET position = $1 WHERE id = 1', [item.seq]);
          }
        }
      }
      await client.query('COMMIT');
      this.invalidatePayloads(position, last, touched);
      this.settle(last);
      return events.length;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Events of the log folded into the model set-based: ONE statement (PROJECT_SQL) writes each table once for the
   * whole batch, and moves the projection's position to `last`. Events inside the batch keep their order: facets
   * merge in it, each event makes the dataset versions it made one by one, and a run's state machine is folded over
   * its events from its stored state.
   */
  private async projectEvents(
    client: pg.PoolClient,
    batch: { tenant: string; event: LineageEvent }[],
    last: number,
  ): Promise<string[]> {
    const touched: string[] = [];
    const namespaces: unknown[] = [];
    const jobs: unknown[] = [];
    const datasets: unknown[] = [];
    const edges: unknown[] = [];
    const columns: unknown[] = [];
    const runs: unknown[] = [];
    for (const [seq, { tenant, event }] of batch.entries()) {
      const d = derive(event);
      const time = event.eventTime;
      if (d.job) touched.push(`${tenant}\u001f${jobNodeId(d.job.namespace, d.job.name)}`);
      for (const ds of d.datasets) touched.push(`${tenant}\u001f${datasetNodeId(ds.namespace, ds.name)}`);
      for (const name of d.namespaces) namespaces.push({ tenant, name, time, seq });
      const runId = d.run?.run.runId ?? null;
      if (d.job)
        jobs.push({
          tenant,
          namespace: d.job.namespace,
          name: d.job.name,
          type: d.processing === undefined ? null : d.processing === 'STREAMING' ? 'STREAM' : 'BATCH',
          facets: d.jobFacets,
          time,
          run_id: runId,
          seq,
        });
      for (const ds of d.datasets) datasets.push({ tenant, ...ds, time, run_id: runId, seq });
      for (const e of d.edges) edges.push({ tenant, ...e, seq });
      for (const c of d.columnEdges) columns.push({ tenant, ...c, seq });
      if (d.run && d.job)
        runs.push({
          tenant,
          run_id: runId,
          namespace: d.job.namespace,
          job_name: d.job.name,
          state: d.state,
          time,
          started_at: d.run.eventType === 'START' ? time : null,
          ended_at: d.state && TERMINAL.includes(d.state) ? time : null,
          facets: d.run.run.facets ?? {},
          job_facets: d.jobFacets,
          inputs: d.inputs,
          outputs: d.outputs,
          seq,
        });
    }
    await client.query({
      name: 'lineage-project',
      text: PROJECT_SQL,
      values: [...[namespaces, jobs, datasets, edges, columns, runs].map((rows) => JSON.stringify(rows)), last],
    });
    return touched;
  }

  // ---------------------------------------------------------------- reads

  async namespaces(tenant: string) {
    const { rows } = await this.pool.query(
      `SELECT n.name, n.created_at, greatest(n.created_at,
              (SELECT max(updated_at) FROM jobs j WHERE j.tenant = n.tenant AND j.namespace = n.name),
              (SELECT max(updated_at) FROM datasets d WHERE d.tenant = n.tenant AND d.namespace = n.name)) AS updated_at
         FROM namespaces n WHERE tenant = $1 ORDER BY name`,
      [tenant],
    );
    return rows.map((r) => namespaceShape(r));
  }

  async namespace(tenant: string, name: string) {
    const { rows } = await this.pool.query(
      'SELECT name, created_at, updated_at FROM namespaces WHERE tenant = $1 AND name = $2',
      [tenant, name],
    );
    if (!rows[0]) throw notFound(`namespace ${name}`);
    return namespaceShape(rows[0]);
  }

  async jobs(
    tenant: string,
    namespace: string,
    limit = 100,
    offset = 0,
  ): Promise<{ jobs: MarquezJob[]; totalCount: number }> {
    const { rows } = await this.pool.query<{ name: string; total: string }>(
      `SELECT name, count(*) OVER () AS total FROM jobs WHERE tenant = $1 AND namespace = $2 ORDER BY name LIMIT $3 OFFSET $4`,
      [tenant, namespace, limit, offset],
    );
    const jobs = await this.jobsById(
      tenant,
      rows.map((r) => ({ namespace, name: r.name })),
      { runs: 1 },
    );
    return { jobs, totalCount: Number(rows[0]?.total ?? 0) };
  }

  async job(tenant: string, namespace: string, name: string): Promise<MarquezJob> {
    const [job] = await this.jobsById(tenant, [{ namespace, name }], { runs: 10 });
    if (!job) throw notFound(`job ${namespace}/${name}`);
    return job;
  }

  async datasets(
    tenant: string,
    namespace: string,
    limit = 100,
    offset = 0,
  ): Promise<{ datasets: MarquezDataset[]; totalCount: number }> {
    const { rows } = await this.pool.query<{ name: string; total: string }>(
      `SELECT name, count(*) OVER () AS total FROM datasets WHERE tenant = $1 AND namespace = $2 ORDER BY name LIMIT $3 OFFSET $4`,
      [tenant, namespace, limit, offset],
    );
    const datasets = await this.datasetsById(
      tenant,
      rows.map((r) => ({ namespace, name: r.name })),
    );
    return { datasets, totalCount: Number(rows[0]?.total ?? 0) };
  }

  async dataset(tenant: string, namespace: string, name: string): Promise<MarquezDataset> {
    const [dataset] = await this.datasetsById(tenant, [{ namespace, name }]);
    if (!dataset) throw notFound(`dataset ${namespace}/${name}`);
    return dataset;
  }

  async datasetVersions(
    tenant: string,
    namespace: string,
    name: string,
    limit = 100,
    offset = 0,
  ): Promise<{ versions: MarquezDatasetVersion[]; totalCount: number }> {
    const { rows } = await this.pool.query(
      `SELECT v.*, count(*) OVER () AS total FROM dataset_versions v WHERE tenant = $1 AND namespace = $2 AND name = $3
        ORDER BY created_at DESC LIMIT $4 OFFSET $5`,
      [tenant, namespace, name, limit, offset],
    );
    const runIds = [...new Set(rows.map((r) => r.run_id).filter(Boolean))] as string[];
    const runs = new Map((await this.runsById(tenant, runIds)).map((r) => [r.id, r]));
    return {
      versions: rows.map((r) => datasetVersionShape(r, r.run_id ? runs.get(r.run_id) : undefined)),
      totalCount: Number(rows[0]?.total ?? 0),
    };
  }

  async datasetVersion(tenant: string, namespace: string, name: string, version: string) {
    const { rows } = await this.pool.query(
      'SELECT * FROM dataset_versions WHERE tenant = $1 AND namespace = $2 AND name = $3 AND version = $4',
      [tenant, namespace, name, version],
    );
    if (!rows[0]) throw notFound(`dataset version ${version}`);
    const [run] = rows[0].run_id ? await this.runsById(tenant, [rows[0].run_id]) : [];
    return datasetVersionShape(rows[0], run);
  }

  async runsOfJob(tenant: string, namespace: string, job: string, limit = 100, offset = 0) {
    const { rows } = await this.pool.query<{ run_id: string; total: string }>(
      `SELECT run_id, count(*) OVER () AS total FROM runs WHERE tenant = $1 AND namespace = $2 AND job_name = $3
        ORDER BY created_at DESC LIMIT $4 OFFSET $5`,
      [tenant, namespace, job, limit, offset],
    );
    const runs = await this.runsById(
      tenant,
      rows.map((r) => r.run_id),
    );
    return { runs, totalCount: Number(rows[0]?.total ?? 0) };
  }

  async run(tenant: string, runId: string): Promise<MarquezRun & { jobName: string; namespace: string }> {
    const [run] = await this.runsById(tenant, [runId]);
    if (!run) throw notFound(`run ${runId}`);
    return run;
  }

  async runFacets(tenant: string, runId: string, type: 'run' | 'job') {
    const { rows } = await this.pool.query('SELECT facets, job_facets FROM runs WHERE tenant = $1 AND run_id = $2', [
      tenant,
      runId,
    ]);
    if (!rows[0]) throw notFound(`run ${runId}`);
    return { runId, facets: type === 'job' ? rows[0].job_facets : rows[0].facets };
  }

  /**
   * The tenant's whole graph (every edge, both directions indexed), kept in memory per graph version, and the
   * projection's position (see nodePayloads). Edges are insert-only (re-delivery is ON CONFLICT DO NOTHING, nothing
   * deletes them) and every projection that adds one bumps the tenant's row in graph_versions in the same
   * transaction, so one lookup per request tells whether the cached graph is still the stored one, whichever
   * process wrote to the store.
   */
  private async graphOf(tenant: string): Promise<{ adjacency: Adjacency; position: number }> {
    const { rows } = await this.pool.query<{ v: string | null; p: string | null }>({
      name: 'lineage-graph-version',
      text: `SELECT (SELECT version::text FROM graph_versions WHERE tenant = $1) AS v,
                    (SELECT position::text FROM projection WHERE id = 1) AS p`,
      values: [tenant],
    });
    const version = rows[0]?.v ?? '0';
    const position = Number(rows[0]?.p ?? 0);
    if (position !== this.payloadsAt) {
      // Projected by another instance (or before this one started): which nodes changed is not known here.
      this.payloads.clear();
      this.payloadsAt = position;
    }
    const cached = this.graphs.get(tenant);
    if (cached && cached.version === version) return { adjacency: cached.adjacency, position };
    const { rows: edges } = await this.pool.query<GraphEdge>(
      `SELECT origin, destination, dataset_namespace, dataset_name FROM edges WHERE tenant = $1`,
      [tenant],
    );
    const adjacency: Adjacency = { out: new Map(), in: new Map() };
    for (const e of edges) {
      const out = adjacency.out.get(e.origin);
      if (out) out.push(e);
      else adjacency.out.set(e.origin, [e]);
      const into = adjacency.in.get(e.destination);
      if (into) into.push(e);
      else adjacency.in.set(e.destination, [e]);
    }
    // The version read before the load: a write in between only makes the next request reload.
    this.graphs.set(tenant, { version, adjacency });
    return { adjacency, position };
  }

  /**
   * The `data` of graph nodes (a job with its inputs, outputs and latest run; a dataset), serialized, for the
   * position `payloadsAt` of the projection. This process's projector drops the nodes each batch touched as it moves
   * the position; any other move of the position (another instance projected) drops them all.
   */
  private invalidatePayloads(from: number, to: number, touched: Iterable<string>): void {
    if (this.payloadsAt === from) for (const key of touched) this.payloads.delete(key);
    else this.payloads.clear();
    this.payloadsAt = to;
  }

  private async nodePayloads(tenant: string, ids: string[], adjacency: Adjacency, position: number) {
    const out = new Map<string, { json: string; name: string }>();
    const missing: string[] = [];
    for (const id of ids) {
      const hit = this.payloads.get(`${tenant}\u001f${id}`);
      if (hit !== undefined) out.set(id, hit);
      else missing.push(id);
    }
    if (!missing.length) return out;
    const jobIds = missing.filter((id) => id.startsWith('job:'));
    const datasetIds = missing.filter((id) => !id.startsWith('job:'));
    // Named statements: parsed and planned once per connection.
    const [jobRows, runRows, datasetRows] = await Promise.all([
      jobIds.length
        ? this.pool.query({
            name: 'lineage-graph-jobs',
            text: `SELECT j.* FROM jobs j WHERE j.tenant = $1 AND ('job:' || j.namespace || ':' || j.name) = ANY($2)`,
            values: [tenant, jobIds],
          })
        : { rows: [] },
      jobIds.length
        ? this.pool.query({
            name: 'lineage-graph-runs',
            text: `SELECT r.* FROM jobs j JOIN runs r ON r.tenant = j.tenant AND r.run_id = j.latest_run_id
                    WHERE j.tenant = $1 AND ('job:' || j.namespace || ':' || j.name) = ANY($2)`,
            values: [tenant, jobIds],
          })
        : { rows: [] },
      datasetIds.length
        ? this.pool.query({
            name: 'lineage-graph-datasets',
            text: `SELECT * FROM datasets WHERE tenant = $1 AND ('dataset:' || namespace || ':' || name) = ANY($2)`,
            values: [tenant, datasetIds],
          })
        : { rows: [] },
    ]);
    const runs = new Map(runRows.rows.map((r) => [r.run_id as string, runShape(r)]));
    // Only kept when no projection moved the position meanwhile (rows read before it may be older than it).
    const keep = this.payloadsAt === position;
    for (const r of jobRows.rows) {
      const id = jobNodeId(r.namespace, r.name);
      const io = [...(adjacency.in.get(id) ?? []), ...(adjacency.out.get(id) ?? [])];
      const latest = r.latest_run_id ? runs.get(r.latest_run_id) : undefined;
      const payload = { json: JSON.stringify(jobShape(r, io, latest ? [latest] : [])), name: r.name as string };
      out.set(id, payload);
      if (keep) this.payloads.set(`${tenant}\u001f${id}`, payload);
    }
    for (const r of datasetRows.rows) {
      const dataset = datasetShape(r, true);
      const id = datasetNodeId(dataset.namespace, dataset.name);
      const payload = { json: JSON.stringify(dataset), name: dataset.name };
      out.set(id, payload);
      if (keep) this.payloads.set(`${tenant}\u001f${id}`, payload);
    }
    return out;
  }

  /** Resolves a Marquez node id (its namespace may itself hold ':', as postgres://host:5432 does) by its index. */
  async resolveNode(
    tenant: string,
    nodeId: string,
  ): Promise<{ kind: 'dataset' | 'job'; namespace: string; name: string }> {
    const match = /^(dataset|job):(.+)$/.exec(nodeId);
    if (!match)
      throw new BvError('LINEAGE_EVENT_INVALID', 'nodeId must be dataset:<namespace>:<name> or job:<namespace>:<name>');
    const kind = match[1] as 'dataset' | 'job';
    const { rows } = await this.pool.query<{ namespace: string; name: string }>(
      kind === 'dataset'
        ? `SELECT namespace, name FROM datasets WHERE tenant = $1 AND ('dataset:' || namespace || ':' || name) = $2`
        : `SELECT namespace, name FROM jobs WHERE tenant = $1 AND ('job:' || namespace || ':' || name) = $2`,
      [tenant, nodeId],
    );
    if (!rows[0]) throw notFound(`node ${nodeId}`);
    return { kind, namespace: rows[0].namespace, name: rows[0].name };
  }

  /** Marquez's GET /lineage: the nodes within `depth` edges of the node, each with its in- and out-edges. */
  async lineage(tenant: string, nodeId: string, depth: number, direction: Direction = 'both') {
    return JSON.parse(await this.lineageJson(tenant, nodeId, depth, direction)) as { graph: MarquezGraphNode[] };
  }

  /**
   * GET /lineage as the JSON text of the answer. The tenant's graph is held in memory (graphOf) and walked
   * breadth-first, each node once, to the depth asked; the nodes' payloads come from the cache of this projection
   * position, and only those missing are fetched (one parallel round trip). A node the graph does not hold (no
   * edges) is resolved by its index, which answers 404 for an unknown one.
   */
  async lineageJson(tenant: string, nodeId: string, depth: number, direction: Direction = 'both'): Promise<string> {
    const { adjacency, position } = await this.graphOf(tenant);
    if (!adjacency.in.has(nodeId) && !adjacency.out.has(nodeId)) await this.resolveNode(tenant, nodeId);
    const reached = new Set<string>([nodeId]);
    let frontier = [nodeId];
    for (let level = 0; level < depth && frontier.length; level++) {
      const next: string[] = [];
      for (const node of frontier) {
        if (direction !== 'upstream')
          for (const e of adjacency.out.get(node) ?? [])
            if (!reached.has(e.destination)) {
              reached.add(e.destination);
              next.push(e.destination);
            }
        if (direction !== 'downstream')
          for (const e of adjacency.in.get(node) ?? [])
            if (!reached.has(e.origin)) {
              reached.add(e.origin);
              next.push(e.origin);
            }
      }
      frontier = next;
    }
    const ids = [...reached];
    const payloads = await this.nodePayloads(tenant, ids, adjacency, position);
    const edgesOf = (list: GraphEdge[] | undefined) =>
      JSON.stringify(
        (list ?? [])
          .filter((e) => reached.has(e.origin) && reached.has(e.destination))
          .map((e) => ({ origin: e.origin, destination: e.destination })),
      );
    // Jobs first, by name, then datasets (as before); each node's data is its cached JSON.
    const jobs = ids.filter((id) => id.startsWith('job:') && payloads.has(id));
    const nameOf = (id: string) => payloads.get(id)?.name as string;
    jobs.sort((x, y) => (nameOf(x) < nameOf(y) ? -1 : 1));
    const datasets = ids.filter((id) => !id.startsWith('job:') && payloads.has(id));
    const parts = [...jobs, ...datasets].map(
      (id) =>
        `{"id":${JSON.stringify(id)},"type":"${id.startsWith('job:') ? 'JOB' : 'DATASET'}","data":${payloads.get(id)?.json},"inEdges":${edgesOf(adjacency.in.get(id))},"outEdges":${edgesOf(adjacency.out.get(id))}}`,
    );
    return `{"graph":[${parts.join(',')}]}`;
  }

  /** Marquez's GET /column-lineage: field nodes upstream of a dataset or a field (and downstream on request). */
  async columnLineage(tenant: string, nodeId: string, depth: number, withDownstream: boolean) {
    let start: { namespace: string; name: string; field?: string };
    const field = /^datasetField:(.+)$/.exec(nodeId);
    if (field) {
      const rest = field[1] as string;
      const cut = rest.lastIndexOf(':');
      const ds = await this.resolveNode(tenant, `dataset:${rest.slice(0, cut)}`);
      start = { namespace: ds.namespace, name: ds.name, field: rest.slice(cut + 1) };
    } else {
      const ds = await this.resolveNode(tenant, nodeId);
      start = { namespace: ds.namespace, name: ds.name };
    }
    type Row = {
      out_namespace: string;
      out_name: string;
      out_field: string;
      in_namespace: string;
      in_name: string;
      in_field: string;
      transformation: { description: string | null; transformations: { type?: string }[] } | null;
    };
    const key = (ns: string, n: string, f: string) => `datasetField:${ns}:${n}:${f}`;
    const all = new Map<string, Row>();
    const seen = new Set<string>();
    const walk = async (up: boolean) => {
      let frontier: { ns: string; n: string; f: string | null }[] = [
        { ns: start.namespace, n: start.name, f: start.field ?? null },
      ];
      for (let level = 0; level < depth && frontier.length; level++) {
        const [ns, n, f] = [frontier.map((x) => x.ns), frontier.map((x) => x.n), frontier.map((x) => x.f)];
        const side = up ? 'out' : 'in';
        const { rows } = await this.pool.query<Row>(
          `SELECT c.* FROM column_edges c JOIN unnest($2::text[], $3::text[], $4::text[]) AS t(ns, n, f)
             ON c.${side}_namespace = t.ns AND c.${side}_name = t.n AND (t.f IS NULL OR c.${side}_field = t.f)
           WHERE c.tenant = $1`,
          [tenant, ns, n, f],
        );
        frontier = [];
        for (const r of rows) {
          all.set(`${key(r.out_namespace, r.out_name, r.out_field)}<${key(r.in_namespace, r.in_name, r.in_field)}`, r);
          const next = up
            ? { ns: r.in_namespace, n: r.in_name, f: r.in_field }
            : { ns: r.out_namespace, n: r.out_name, f: r.out_field };
          const id = key(next.ns, next.n, next.f);
          if (!seen.has(id)) {
            seen.add(id);
            frontier.push(next);
          }
        }
      }
    };
    await walk(true);
    if (withDownstream) await walk(false);
    const nodes = new Map<string, MarquezColumnNode>();
    const types = await this.fieldTypes(tenant, [...all.values()]);
    const node = (ns: string, n: string, f: string) => {
      const id = key(ns, n, f);
      let found = nodes.get(id);
      if (!found) {
        found = {
          id,
          type: 'DATASET_FIELD',
          data: {
            namespace: ns,
            dataset: n,
            datasetVersion: null,
            field: f,
            fieldType: types.get(id) ?? null,
            transformationDescription: null,
            transformationType: null,
            inputFields: [],
          },
          inEdges: [],
          outEdges: [],
        };
        nodes.set(id, found);
      }
      return found;
    };
    for (const r of all.values()) {
      const out = node(r.out_namespace, r.out_name, r.out_field);
      const input = node(r.in_namespace, r.in_name, r.in_field);
      const edge = { origin: input.id, destination: out.id };
      input.outEdges.push(edge);
      out.inEdges.push(edge);
      const transformationType = r.transformation?.transformations?.[0]?.type ?? null;
      out.data.transformationDescription = r.transformation?.description ?? null;
      out.data.transformationType = transformationType;
      out.data.inputFields.push({
        namespace: r.in_namespace,
        dataset: r.in_name,
        field: r.in_field,
        transformationDescription: r.transformation?.description ?? null,
        transformationType,
      });
    }
    return { graph: [...nodes.values()] };
  }

  private async fieldTypes(
    tenant: string,
    rows: { out_namespace: string; out_name: string; in_namespace: string; in_name: string }[],
  ) {
    const ids = new Set<string>();
    for (const r of rows) {
      ids.add(`${r.out_namespace}\u001f${r.out_name}`);
      ids.add(`${r.in_namespace}\u001f${r.in_name}`);
    }
    const list = [...ids].map((i) => i.split('\u001f') as [string, string]);
    const types = new Map<string, string>();
    if (!list.length) return types;
    const { rows: found } = await this.pool.query<{
      namespace: string;
      name: string;
      fields: { name: string; type?: string }[] | null;
    }>(
      `SELECT namespace, name, facets->'schema'->'fields' AS fields FROM datasets
        WHERE tenant = $1 AND (namespace, name) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
      [tenant, list.map((l) => l[0]), list.map((l) => l[1])],
    );
    for (const d of found)
      for (const f of d.fields ?? []) if (f.type) types.set(`datasetField:${d.namespace}:${d.name}:${f.name}`, f.type);
    return types;
  }

  /** Marquez's GET /search: jobs and datasets whose name contains `q` (case-insensitive). */
  async search(
    tenant: string,
    q: string,
    options: { filter?: 'DATASET' | 'JOB'; limit?: number; namespace?: string } = {},
  ) {
    const pattern = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const parts: string[] = [];
    if (options.filter !== 'DATASET')
      parts.push(`SELECT 'JOB' AS type, name, namespace, updated_at FROM jobs WHERE tenant = $1 AND lower(name) LIKE $2
                  AND ($4::text IS NULL OR namespace = $4)`);
    if (options.filter !== 'JOB')
      parts.push(`SELECT 'DATASET', name, namespace, updated_at FROM datasets WHERE tenant = $1 AND lower(name) LIKE $2
                  AND ($4::text IS NULL OR namespace = $4)`);
    const { rows } = await this.pool.query<{
      type: 'JOB' | 'DATASET';
      name: string;
      namespace: string;
      updated_at: Date;
    }>(`${parts.join(' UNION ALL ')} ORDER BY updated_at DESC, name LIMIT $3`, [
      tenant,
      pattern,
      options.limit ?? 10,
      options.namespace ?? null,
    ]);
    const results = rows.map((r) => ({
      type: r.type,
      name: r.name,
      updatedAt: r.updated_at.toISOString(),
      namespace: r.namespace,
      nodeId: r.type === 'JOB' ? jobNodeId(r.namespace, r.name) : datasetNodeId(r.namespace, r.name),
    }));
    return { totalCount: results.length, results };
  }

  private async jobsById(
    tenant: string,
    ids: { namespace: string; name: string }[],
    options: { runs: number },
  ): Promise<MarquezJob[]> {
    if (!ids.length) return [];
    return this.jobsWhere(
      tenant,
      `(j.namespace, j.name) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
      [ids.map((i) => i.namespace), ids.map((i) => i.name)],
      options,
    );
  }

  /** Jobs in Marquez's shape: inputs and outputs from the edges, the latest runs (one: from latest_run_id). */
  private async jobsWhere(
    tenant: string,
    where: string,
    params: unknown[],
    options: { runs: number },
  ): Promise<MarquezJob[]> {
    const { rows } = await this.pool.query(`SELECT j.* FROM jobs j WHERE j.tenant = $1 AND ${where} ORDER BY j.name`, [
      tenant,
      ...params,
    ]);
    if (!rows.length) return [];
    const nodes = rows.map((r) => jobNodeId(r.namespace, r.name));
    const [io, recent] = await Promise.all([
      this.pool.query<{ origin: string; destination: string; dataset_namespace: string; dataset_name: string }>(
        `SELECT origin, destination, dataset_namespace, dataset_name FROM edges
          WHERE tenant = $1 AND (origin = ANY($2) OR destination = ANY($2))`,
        [tenant, nodes],
      ),
      options.runs === 1
        ? Promise.resolve(
            rows
              .filter((r) => r.latest_run_id)
              .map((r) => ({ run_id: r.latest_run_id as string, namespace: r.namespace, job_name: r.name })),
          )
        : this.pool
            .query<{ run_id: string; namespace: string; job_name: string }>(
              `SELECT r.run_id, r.namespace, r.job_name FROM unnest($2::text[], $3::text[]) AS t(ns, n)
                 CROSS JOIN LATERAL (SELECT run_id, namespace, job_name FROM runs
                                      WHERE tenant = $1 AND namespace = t.ns AND job_name = t.n
                                      ORDER BY created_at DESC LIMIT $4) r`,
              [tenant, rows.map((r) => r.namespace), rows.map((r) => r.name), options.runs],
            )
            .then((r) => r.rows),
    ]);
    const runs = new Map(
      (
        await this.runsById(
          tenant,
          recent.map((r) => r.run_id),
        )
      ).map((r) => [r.id, r]),
    );
    return rows.map((r) => {
      const node = jobNodeId(r.namespace, r.name);
      const latestRuns = recent
        .filter((x) => x.namespace === r.namespace && x.job_name === r.name)
        .map((x) => runs.get(x.run_id))
        .filter((x): x is MarquezRun & { jobName: string; namespace: string } => !!x);
      return jobShape(
        r,
        io.rows.filter((e) => e.destination === node || e.origin === node),
        latestRuns,
      );
    });
  }

  private async datasetsById(
    tenant: string,
    ids: { namespace: string; name: string }[],
    options: { light?: boolean } = {},
  ): Promise<MarquezDataset[]> {
    if (!ids.length) return [];
    const { rows } = await this.pool.query(
      `SELECT d.* FROM datasets d JOIN unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(ns, n, o)
         ON d.namespace = t.ns AND d.name = t.n WHERE d.tenant = $1 ORDER BY t.o`,
      [tenant, ids.map((i) => i.namespace), ids.map((i) => i.name)],
    );
    return rows.map((r) => datasetShape(r, options.light));
  }

  private async runsById(
    tenant: string,
    ids: string[],
  ): Promise<(MarquezRun & { jobName: string; namespace: string })[]> {
    if (!ids.length) return [];
    const { rows } = await this.pool.query(
      `SELECT r.* FROM runs r JOIN unnest($2::uuid[]) WITH ORDINALITY AS t(id, o) ON r.run_id = t.id
        WHERE r.tenant = $1 ORDER BY t.o`,
      [tenant, ids],
    );
    return rows.map(runShape);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: a row of the runs table as the driver returns it.
function runShape(r: any): MarquezRun & { jobName: string; namespace: string } {
  const versions = (side: Record<string, { namespace: string; name: string; version?: string; facets: Facets }>) =>
    Object.values(side).map((d) => ({
      datasetVersionId: { namespace: d.namespace, name: d.name, version: d.version ?? null },
      facets: d.facets,
    }));
  const started = r.started_at as Date | null;
  const ended = r.ended_at as Date | null;
  return {
    id: r.run_id,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    nominalStartTime: null,
    nominalEndTime: null,
    state: r.state,
    startedAt: started?.toISOString() ?? null,
    endedAt: ended?.toISOString() ?? null,
    durationMs: started && ended ? ended.getTime() - started.getTime() : null,
    args: {},
    jobVersion: { namespace: r.namespace, name: r.job_name, version: null },
    inputDatasetVersions: versions(r.inputs),
    outputDatasetVersions: versions(r.outputs),
    context: {},
    facets: r.facets,
    jobName: r.job_name,
    namespace: r.namespace,
  };
}

/** A job in Marquez's shape: `io` holds (at least) the edges touching it, its inputs and outputs are taken from them. */
function jobShape(
  // biome-ignore lint/suspicious/noExplicitAny: a row of the jobs table as the driver returns it.
  r: any,
  io: { origin: string; destination: string; dataset_namespace: string; dataset_name: string }[],
  latestRuns: (MarquezRun & { jobName: string; namespace: string })[],
): MarquezJob {
  const node = jobNodeId(r.namespace, r.name);
  const facets = r.facets as Facets;
  const ref = (e: { dataset_namespace: string; dataset_name: string }) => ({
    namespace: e.dataset_namespace,
    name: e.dataset_name,
  });
  return {
    id: { namespace: r.namespace, name: r.name },
    type: r.type,
    name: r.name,
    simpleName: r.name.split('.').pop() ?? r.name,
    parentJobName: null,
    parentJobUuid: null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    namespace: r.namespace,
    inputs: io.filter((e) => e.destination === node).map(ref),
    outputs: io.filter((e) => e.origin === node).map(ref),
    location: null,
    description: (facets.documentation as { description?: string } | undefined)?.description ?? null,
    latestRun: latestRuns[0] ?? null,
    latestRuns,
    facets,
    currentVersion: null,
  };
}

function mergeDatasets(inputs: InputDataset[], outputs: OutputDataset[]): DatasetWrite[] {
  const byId = new Map<string, DatasetWrite>();
  const add = (d: InputDataset | OutputDataset, extra: Facets, output: boolean) => {
    const key = `${d.namespace}\u001f${d.name}`;
    const prior = byId.get(key);
    const facets = { ...(prior?.facets ?? {}), ...(d.facets ?? {}), ...extra };
    byId.set(key, { namespace: d.namespace, name: d.name, facets, output: output || !!prior?.output });
  };
  for (const d of inputs) {
    // Quality results arrive as input facets of the checked dataset; Marquez shows them on the dataset too.
    const extra: Facets = {};
    for (const k of ['dataQualityAssertions', 'dataQualityMetrics'])
      if (d.inputFacets?.[k]) extra[k] = d.inputFacets[k];
    add(d, extra, false);
  }
  for (const d of outputs) add(d, {}, true);
  return [...byId.values()];
}

function notFound(what: string): BvError {
  return new BvError('LINEAGE_NOT_FOUND', `${what} not found`);
}

function namespaceShape(r: { name: string; created_at: Date; updated_at: Date }) {
  return {
    name: r.name,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    ownerName: 'bitvelocity',
    description: null,
    isHidden: false,
  };
}

function fieldsOf(facets: Facets) {
  const schema = facets.schema as { fields?: { name: string; type?: string; description?: string }[] } | undefined;
  const tags = (facets.tags as { tags?: { key: string; value: string; field?: string }[] } | undefined)?.tags ?? [];
  return (schema?.fields ?? []).map((f) => ({
    name: f.name,
    type: f.type ?? 'UNKNOWN',
    tags: tags.filter((t) => t.field === f.name).map((t) => `${t.key}:${t.value}`),
    description: f.description ?? null,
  }));
}

function datasetShape(r: Record<string, unknown>, light = false): MarquezDataset {
  const facets = r.facets as Facets;
  const namespace = r.namespace as string;
  const tags = (facets.tags as { tags?: { key: string; value: string; field?: string }[] } | undefined)?.tags ?? [];
  return {
    id: { namespace, name: r.name as string },
    type: namespace.startsWith('kafka://') ? 'STREAM' : 'DB_TABLE',
    name: r.name as string,
    physicalName: r.name as string,
    createdAt: (r.created_at as Date).toISOString(),
    updatedAt: (r.updated_at as Date).toISOString(),
    namespace,
    sourceName: namespace,
    fields: fieldsOf(facets),
    tags: tags.filter((t) => !t.field).map((t) => `${t.key}:${t.value}`),
    lastModifiedAt: (r.last_modified_at as Date | null)?.toISOString() ?? null,
    lastLifecycleState: '',
    description: (facets.documentation as { description?: string } | undefined)?.description ?? null,
    facets: light ? {} : facets,
    currentVersion: (r.current_version as string | null) ?? null,
    columnLineage: null,
    deleted: false,
  };
}

function datasetVersionShape(r: Record<string, unknown>, run: MarquezRun | undefined): MarquezDatasetVersion {
  const facets = r.facets as Facets;
  const namespace = r.namespace as string;
  return {
    id: { namespace, name: r.name as string, version: r.version as string },
    type: namespace.startsWith('kafka://') ? 'STREAM' : 'DB_TABLE',
    name: r.name as string,
    physicalName: r.name as string,
    createdAt: (r.created_at as Date).toISOString(),
    version: r.version as string,
    namespace,
    sourceName: namespace,
    fields: fieldsOf(facets),
    tags: [],
    lifecycleState: null,
    description: (facets.documentation as { description?: string } | undefined)?.description ?? null,
    createdByRun: run ?? null,
    facets,
  };
}

function columnEdges(outputs: OutputDataset[]) {
  const byKey = new Map<string, Record<string, unknown>>();
  for (const out of outputs) {
    for (const [field, spec] of Object.entries(out.facets?.columnLineage?.fields ?? {})) {
      for (const input of spec.inputFields ?? []) {
        const row = {
          out_namespace: out.namespace,
          out_name: out.name,
          out_field: field,
          in_namespace: input.namespace,
          in_name: input.name,
          in_field: input.field,
          transformation: {
            description: spec.transformationDescription ?? null,
            transformations: input.transformations ?? [],
          },
        };
        byKey.set(JSON.stringify([out.namespace, out.name, field, input.namespace, input.name, input.field]), row);
      }
    }
  }
  return [...byKey.values()];
}

/**
 * A batch of events appended to the log (see accept): $1 a JSON array of {tenant, key, kind, time, body, ord}. The
 * store's advisory lock (held to the commit) makes log positions commit in position order.
 */
const ACCEPT_SQL = `
WITH turn AS (SELECT pg_advisory_xact_lock(7240016, hashtext(current_schema())))
INSERT INTO events (tenant, event_key, kind, event_time, body)
SELECT e.tenant, e.key, e.kind, e.time, e.body
  FROM jsonb_to_recordset($1::jsonb) AS e(tenant text, key text, kind text, time timestamptz, body jsonb, ord int)
       CROSS JOIN turn
 ORDER BY e.ord
ON CONFLICT DO NOTHING RETURNING tenant, event_key, seq`;

/**
 * A batch of the log's events folded into the model in one statement (see projectEvents). Each parameter is a JSON
 * array of the rows one table gets, each row with the position (`seq`) of its event in the batch; $7 is the log
 * position the projection moves to. Rows of one job, dataset or run are aggregated in batch order, so every row is
 * written once.
 */
const PROJECT_SQL = `
WITH pos AS (UPDATE projection SET position = $7::bigint WHERE id = 1),
ns AS (
  INSERT INTO namespaces (tenant, name, created_at, updated_at)
  SELECT DISTINCT ON (tenant, name) tenant, name, time, time
    FROM jsonb_to_recordset($1::jsonb) AS n(tenant text, name text, time timestamptz, seq int)
   ORDER BY tenant, name, seq
  ON CONFLICT DO NOTHING
),
jrows AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb)
      AS j(tenant text, namespace text, name text, type text, facets jsonb, time timestamptz, run_id uuid, seq int)
),
jb AS (
  INSERT INTO jobs (tenant, namespace, name, type, facets, created_at, updated_at, latest_run_id)
  SELECT tenant, namespace, name,
         coalesce((array_agg(type ORDER BY seq DESC) FILTER (WHERE type IS NOT NULL))[1], 'BATCH'),
         jsonb_merge_agg(facets ORDER BY seq), (array_agg(time ORDER BY seq))[1], max(time),
         (array_agg(run_id ORDER BY seq DESC) FILTER (WHERE run_id IS NOT NULL))[1]
    FROM jrows GROUP BY tenant, namespace, name ORDER BY tenant, namespace, name
  ON CONFLICT (tenant, namespace, name) DO UPDATE SET
    facets = jobs.facets || EXCLUDED.facets,
    type = CASE WHEN EXCLUDED.facets->'jobType' ? 'processingType' THEN EXCLUDED.type ELSE jobs.type END,
    updated_at = greatest(jobs.updated_at, EXCLUDED.updated_at),
    latest_run_id = coalesce(EXCLUDED.latest_run_id, jobs.latest_run_id)
),
drows AS (
  SELECT * FROM jsonb_to_recordset($3::jsonb) AS d(tenant text, namespace text, name text, facets jsonb,
                                                   output boolean, time timestamptz, run_id uuid, seq int)
),
prior AS (
  SELECT d.tenant, d.namespace, d.name, d.facets FROM datasets d
   WHERE (d.tenant, d.namespace, d.name) IN (SELECT tenant, namespace, name FROM drows)
),
steps AS (
  SELECT s.*, dataset_version(s.namespace, s.name, s.after) AS version FROM (
    SELECT r.*, coalesce(p.facets, '{}') ||
           jsonb_merge_agg(r.facets) OVER (PARTITION BY r.tenant, r.namespace, r.name ORDER BY r.seq) AS after
      FROM drows r LEFT JOIN prior p ON p.tenant = r.tenant AND p.namespace = r.namespace AND p.name = r.name
  ) s
),
ds AS (
  INSERT INTO datasets AS cur (tenant, namespace, name, facets, created_at, updated_at, last_modified_at, current_version)
  SELECT tenant, namespace, name, merged, created, updated, modified, dataset_version(namespace, name, merged) FROM (
    SELECT tenant, namespace, name, jsonb_merge_agg(facets ORDER BY seq) AS merged,
           (array_agg(time ORDER BY seq))[1] AS created, max(time) AS updated, max(time) FILTER (WHERE output) AS modified
      FROM drows GROUP BY tenant, namespace, name
  ) a ORDER BY tenant, namespace, name
  ON CONFLICT (tenant, namespace, name) DO UPDATE SET
    facets = cur.facets || EXCLUDED.facets,
    current_version = dataset_version(cur.namespace, cur.name, cur.facets || EXCLUDED.facets),
    updated_at = greatest(cur.updated_at, EXCLUDED.updated_at),
    last_modified_at = greatest(cur.last_modified_at, EXCLUDED.last_modified_at)
),
ver AS (
  INSERT INTO dataset_versions (tenant, version, namespace, name, facets, run_id, created_at)
  SELECT tenant, version, namespace, name, stable_facets(after), CASE WHEN output THEN run_id END, time
    FROM steps WHERE version IS NOT NULL ORDER BY seq
  ON CONFLICT DO NOTHING
),
ed AS (
  INSERT INTO edges (tenant, origin, destination, dataset_namespace, dataset_name)
  SELECT DISTINCT tenant, origin, destination, namespace, name
    FROM jsonb_to_recordset($4::jsonb) AS e(tenant text, origin text, destination text, namespace text, name text, seq int)
   ORDER BY tenant, origin, destination
  ON CONFLICT DO NOTHING RETURNING tenant
),
gv AS (
  INSERT INTO graph_versions (tenant, version) SELECT DISTINCT tenant, 1 FROM ed
  ON CONFLICT (tenant) DO UPDATE SET version = graph_versions.version + 1
),
ce AS (
  INSERT INTO column_edges (tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field, transformation)
  SELECT DISTINCT ON (tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field)
         tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field, transformation
    FROM jsonb_to_recordset($5::jsonb) AS c(tenant text, out_namespace text, out_name text, out_field text,
                                            in_namespace text, in_name text, in_field text, transformation jsonb, seq int)
   ORDER BY tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field, seq DESC
  ON CONFLICT (tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field)
  DO UPDATE SET transformation = EXCLUDED.transformation
),
rrows AS (
  SELECT * FROM jsonb_to_recordset($6::jsonb) AS r(tenant text, run_id uuid, namespace text, job_name text, state text,
              time timestamptz, started_at timestamptz, ended_at timestamptz, facets jsonb, job_facets jsonb,
              inputs jsonb, outputs jsonb, seq int)
),
-- Each run event's inputs and outputs with the dataset version that event made (from steps), joined set-based
-- (hash joins on the batch position; no subquery per event).
rside AS (
  SELECT r.seq, r.tenant, 'i' AS side, s.key, s.value FROM rrows r CROSS JOIN LATERAL jsonb_each(r.inputs) AS s
  UNION ALL
  SELECT r.seq, r.tenant, 'o', s.key, s.value FROM rrows r CROSS JOIN LATERAL jsonb_each(r.outputs) AS s
),
rio AS MATERIALIZED (
  SELECT x.seq,
         jsonb_object_agg(x.key, x.value || jsonb_build_object('version', st.version)) FILTER (WHERE x.side = 'i') AS inputs,
         jsonb_object_agg(x.key, x.value || jsonb_build_object('version', st.version)) FILTER (WHERE x.side = 'o') AS outputs
    FROM rside x LEFT JOIN steps st ON st.seq = x.seq AND st.tenant = x.tenant
         AND st.namespace = x.value->>'namespace' AND st.name = x.value->>'name'
   GROUP BY x.seq
),
rwith AS MATERIALIZED (
  SELECT r.*, coalesce(io.inputs, '{}') AS io_inputs, coalesce(io.outputs, '{}') AS io_outputs
    FROM rrows r LEFT JOIN rio io ON io.seq = r.seq
),
rfold AS (
  SELECT tenant, run_id, run_state_fold(state, time, is_prior ORDER BY seq) AS acc FROM (
    SELECT tenant, run_id, state, state_time AS time, true AS is_prior, -1 AS seq FROM runs
     WHERE (tenant, run_id) IN (SELECT tenant, run_id FROM rrows)
    UNION ALL
    SELECT tenant, run_id, state, time, false, seq FROM rrows
  ) x GROUP BY tenant, run_id
),
rn AS (
  INSERT INTO runs (tenant, run_id, namespace, job_name, state, state_time, started_at, ended_at, facets, job_facets,
                    inputs, outputs, created_at, updated_at)
  SELECT r.tenant, r.run_id, (array_agg(r.namespace ORDER BY r.seq))[1], (array_agg(r.job_name ORDER BY r.seq))[1],
         (f.acc).state, (f.acc).state_time, min(r.started_at), max(r.ended_at),
         jsonb_merge_agg(r.facets ORDER BY r.seq), jsonb_merge_agg(r.job_facets ORDER BY r.seq),
         jsonb_merge_agg(r.io_inputs ORDER BY r.seq), jsonb_merge_agg(r.io_outputs ORDER BY r.seq), min(r.time), max(r.time)
    FROM rwith r JOIN rfold f ON f.tenant = r.tenant AND f.run_id = r.run_id
   GROUP BY r.tenant, r.run_id, (f.acc).state, (f.acc).state_time ORDER BY r.tenant, r.run_id
  ON CONFLICT (tenant, run_id) DO UPDATE SET
    state = EXCLUDED.state,
    state_time = EXCLUDED.state_time,
    started_at = least(runs.started_at, EXCLUDED.started_at),
    ended_at = greatest(runs.ended_at, EXCLUDED.ended_at),
    facets = runs.facets || EXCLUDED.facets,
    job_facets = runs.job_facets || EXCLUDED.job_facets,
    inputs = runs.inputs || EXCLUDED.inputs,
    outputs = runs.outputs || EXCLUDED.outputs,
    created_at = least(runs.created_at, EXCLUDED.created_at),
    updated_at = greatest(runs.updated_at, EXCLUDED.updated_at)
)
SELECT 1`;

/** What one event writes: the rows of each table it touches, before they are written. */
interface Derived {
  key: string;
  kind: 'RUN' | 'DATASET' | 'JOB';
  job: { namespace: string; name: string; facets?: Facets } | undefined;
  jobFacets: Facets;
  /** `processingType` of the jobType facet: when present, it sets the job's type. */
  processing: string | undefined;
  run: RunEvent | undefined;
  state: string | null;
  namespaces: string[];
  datasets: DatasetWrite[];
  edges: { origin: string; destination: string; namespace: string; name: string }[];
  columnEdges: Record<string, unknown>[];
  inputs: Record<string, { namespace: string; name: string; facets: unknown }>;
  outputs: Record<string, { namespace: string; name: string; facets: unknown }>;
}

function derive(event: LineageEvent): Derived {
  const kind = 'run' in event ? 'RUN' : 'dataset' in event ? 'DATASET' : 'JOB';
  const run = kind === 'RUN' ? (event as RunEvent) : undefined;
  const key = run ? `${run.run.runId}|${run.eventType ?? 'OTHER'}|${run.eventTime}` : hash(event);
  let job: { namespace: string; name: string; facets?: Facets } | undefined;
  let inputs: InputDataset[] = [];
  let outputs: OutputDataset[] = [];
  let datasets: DatasetWrite[];
  if (kind === 'DATASET') {
    const { dataset } = event as DatasetEvent;
    datasets = [{ namespace: dataset.namespace, name: dataset.name, facets: dataset.facets ?? {}, output: false }];
  } else {
    const e = event as RunEvent | JobEvent;
    job = e.job as typeof job;
    inputs = e.inputs ?? [];
    outputs = e.outputs ?? [];
    datasets = mergeDatasets(inputs, outputs);
  }
  const jobFacets = (job?.facets ?? {}) as Facets;
  const processing = (jobFacets.jobType as { processingType?: string } | undefined)?.processingType;
  const edges: Derived['edges'] = [];
  if (job) {
    const jobNode = jobNodeId(job.namespace, job.name);
    for (const d of inputs)
      edges.push({
        origin: datasetNodeId(d.namespace, d.name),
        destination: jobNode,
        namespace: d.namespace,
        name: d.name,
      });
    for (const d of outputs)
      edges.push({
        origin: jobNode,
        destination: datasetNodeId(d.namespace, d.name),
        namespace: d.namespace,
        name: d.name,
      });
  }
  const side = (list: (InputDataset | OutputDataset)[], facetKey: 'inputFacets' | 'outputFacets') =>
    Object.fromEntries(
      list.map((d) => [
        `${d.namespace}\u001f${d.name}`,
        { namespace: d.namespace, name: d.name, facets: (d as unknown as Record<string, unknown>)[facetKey] ?? {} },
      ]),
    );
  return {
    key,
    kind,
    job,
    jobFacets,
    processing,
    run,
    state: run ? runState(run.eventType) : null,
    namespaces: [...new Set([...(job ? [job.namespace] : []), ...datasets.map((d) => d.namespace)])].sort(),
    datasets: datasets.sort((x, y) => (x.namespace + x.name < y.namespace + y.name ? -1 : 1)),
    edges,
    columnEdges: columnEdges(outputs),
    inputs: side(inputs, 'inputFacets'),
    outputs: side(outputs, 'outputFacets'),
  };
}

/** The identity of an event: runId|eventType|eventTime for a run event (re-delivery is a no-op), else its body. */
function eventKey(event: LineageEvent): { key: string; kind: 'RUN' | 'DATASET' | 'JOB' } {
  if ('run' in event) {
    const run = event as RunEvent;
    return { key: `${run.run.runId}|${run.eventType ?? 'OTHER'}|${run.eventTime}`, kind: 'RUN' };
  }
  return { key: hash(event), kind: 'dataset' in event ? 'DATASET' : 'JOB' };
}
