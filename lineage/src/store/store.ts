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
  private activeWriters = 0;
  // One writer: two connections upserting the same hot rows (jobs, shared datasets) in different orders deadlock and
  // serialize on each other's row locks anyway (measured: 2 writers 244 events/s with deadlocks, 1 writer 300-580).
  private readonly writers = Number(process.env.BV_LINEAGE_WRITERS ?? 1);
  private readonly batch = 200;
  private fallbacks = 0;
  private readonly graphs = new Map<string, { version: string; adjacency: Adjacency }>();

  private constructor(
    readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  static async create(url: string, options: { schema?: string; max?: number } = {}): Promise<LineageStore> {
    const schema = options.schema ?? 'lineage';
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 8, options: `-c search_path=${schema}` });
    pool.on('error', () => undefined);
    await pool.query('SELECT 1');
    return new LineageStore(pool, schema);
  }

  /** How many group-commit batches had to be rolled back and written event by event. */
  get batchFallbacks(): number {
    return this.fallbacks;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  // ---------------------------------------------------------------- writes

  /**
   * Stores one event and everything derived from it in ONE statement (data-modifying CTEs): atomic without an
   * explicit transaction, and one round trip per event. Re-delivery (same event key) changes nothing.
   */
  async ingest(tenant: string, event: LineageEvent): Promise<IngestResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ tenant, event, resolve, reject });
      this.drain();
    });
  }

  /**
   * Group commit: concurrent events are written by at most `writers` connections, each taking up to `batch` waiting
   * events into one transaction, so one WAL flush covers many events. A batch that fails (a deadlock between two
   * writers, say) is rolled back and its events written one transaction each, so one event's error never fails
   * another's and nothing is half-stored.
   */
  private drain(): void {
    while (this.activeWriters < this.writers && this.pending.length) {
      const batch = this.pending.splice(0, this.batch);
      this.activeWriters += 1;
      void this.writeBatch(batch).finally(() => {
        this.activeWriters -= 1;
        this.drain();
      });
    }
  }

  private async writeBatch(batch: PendingEvent[]): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    try {
      if (batch.length === 1) {
        const [item] = batch as [PendingEvent];
        await this.writeOne(client, item.tenant, item.event).then(item.resolve, item.reject);
        return;
      }
      const results: IngestResult[] = [];
      try {
        results.push(...(await this.writeMany(client, batch)));
      } catch {
        this.fallbacks += 1;
        await client.query('ROLLBACK').catch(() => undefined);
        for (const item of batch) await this.writeOne(client, item.tenant, item.event).then(item.resolve, item.reject);
        return;
      }
      for (const [i, item] of batch.entries()) item.resolve(results[i] as IngestResult);
    } finally {
      client.release();
    }
  }

  private async writeOne(client: pg.PoolClient, tenant: string, event: LineageEvent): Promise<IngestResult> {
    // A named (prepared) statement: the big CTE is parsed and planned once per connection, not per event.
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await client.query<{ inserted: boolean }>({
          name: 'lineage-ingest',
          text: INGEST_SQL,
          values: ingestValues(tenant, event),
        });
        return { duplicate: !rows[0]?.inserted };
      } catch (error) {
        // A deadlock or serialization failure against another writer (another instance of the service) rolled the
        // statement back whole: it is safe to run again.
        const code = (error as { code?: string }).code;
        if (attempt >= 3 || (code !== '40P01' && code !== '40001')) throw error;
      }
    }
  }

  /**
   * A whole batch set-based, in one transaction: the stored rows of its datasets and runs locked (in key order), then
   * ONE statement that writes each table once for the whole batch (BATCH_SQL). Events inside the batch keep their
   * order: facets merge in it, each event makes the dataset versions it made one by one, and a run's state machine
   * is folded over its events from its stored state. A redelivered event (already stored, or twice in the batch) is
   * answered as a duplicate and changes nothing.
   */
  private async writeMany(client: pg.PoolClient, batch: PendingEvent[]): Promise<IngestResult[]> {
    const events: unknown[] = [];
    const namespaces: unknown[] = [];
    const jobs: unknown[] = [];
    const datasets: unknown[] = [];
    const edges: unknown[] = [];
    const columns: unknown[] = [];
    const runs: unknown[] = [];
    const first = new Map<string, number>();
    const seqOf: number[] = [];
    for (const [seq, { tenant, event }] of batch.entries()) {
      const d = derive(event);
      const id = `${tenant}\u001f${d.key}`;
      const earlier = first.get(id);
      seqOf.push(earlier ?? seq);
      if (earlier !== undefined) continue;
      first.set(id, seq);
      const time = event.eventTime;
      events.push({ tenant, key: d.key, kind: d.kind, time, body: event, seq });
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
    const keyed = (rows: unknown[], ...keys: string[]) =>
      keys.map((k) => rows.map((r) => (r as Record<string, unknown>)[k]));
    await client.query('BEGIN');
    try {
      await client.query({
        name: 'lineage-lock-batch',
        text: `SELECT 1 FROM datasets WHERE (tenant, namespace, name) IN
                 (SELECT * FROM unnest($1::text[], $2::text[], $3::text[])) ORDER BY tenant, namespace, name FOR UPDATE`,
        values: keyed(datasets, 'tenant', 'namespace', 'name'),
      });
      await client.query({
        name: 'lineage-lock-runs',
        text: `SELECT 1 FROM runs WHERE (tenant, run_id) IN (SELECT * FROM unnest($1::text[], $2::uuid[]))
                ORDER BY tenant, run_id FOR UPDATE`,
        values: keyed(runs, 'tenant', 'run_id'),
      });
      const { rows } = await client.query<{ fresh: number[] | null }>({
        name: 'lineage-ingest-batch',
        text: BATCH_SQL,
        values: [events, namespaces, jobs, datasets, edges, columns, runs].map((rows) => JSON.stringify(rows)),
      });
      await client.query('COMMIT');
      const fresh = new Set(rows[0]?.fresh ?? []);
      return seqOf.map((owner, seq) => ({ duplicate: owner !== seq || !fresh.has(seq) }));
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
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
   * The tenant's whole graph (every edge, both directions indexed), kept in memory per graph version. Edges are
   * insert-only (re-delivery is ON CONFLICT DO NOTHING, nothing deletes them) and every write that adds one bumps the
   * tenant's row in graph_versions in the same transaction, so one primary-key lookup per request tells whether the
   * cached graph is still the stored one, whichever process wrote to the store.
   */
  private async graphOf(tenant: string): Promise<Adjacency> {
    const { rows } = await this.pool.query<{ v: string }>({
      name: 'lineage-graph-version',
      text: 'SELECT version::text AS v FROM graph_versions WHERE tenant = $1',
      values: [tenant],
    });
    const version = rows[0]?.v ?? '0';
    const cached = this.graphs.get(tenant);
    if (cached && cached.version === version) return cached.adjacency;
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
    return adjacency;
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
    // Two round trips, each of independent queries in parallel: (1) the node resolved by its index, and the tenant's
    // graph (cached: see graphOf); the walk runs in memory, each node once, to the depth asked; (2) the jobs, their
    // latest runs and the datasets reached.
    type Edge = GraphEdge;
    // The walk starts from the id as given; the resolve, in parallel, answers 404 for an unknown node.
    const [, adjacency] = await Promise.all([this.resolveNode(tenant, nodeId), this.graphOf(tenant)]);
    const reached = new Set<string>([nodeId]);
    let frontier = [nodeId];
    for (let level = 0; level < depth && frontier.length; level++) {
      const next: string[] = [];
      for (const node of frontier) {
        const around = [
          ...(direction !== 'upstream' ? (adjacency.out.get(node) ?? []).map((e) => e.destination) : []),
          ...(direction !== 'downstream' ? (adjacency.in.get(node) ?? []).map((e) => e.origin) : []),
        ];
        for (const n of around)
          if (!reached.has(n)) {
            reached.add(n);
            next.push(n);
          }
      }
      frontier = next;
    }
    const touching: Edge[] = [];
    for (const node of reached) {
      touching.push(...(adjacency.out.get(node) ?? []));
      for (const e of adjacency.in.get(node) ?? []) if (!reached.has(e.origin)) touching.push(e);
    }
    const ids = [...reached];
    const seen = reached;
    // Named statements: parsed and planned once per connection.
    const [jobRows, runRows, datasetRows] = await Promise.all([
      this.pool.query({
        name: 'lineage-graph-jobs',
        text: `SELECT j.* FROM jobs j WHERE j.tenant = $1 AND ('job:' || j.namespace || ':' || j.name) = ANY($2) ORDER BY j.name`,
        values: [tenant, ids],
      }),
      this.pool.query({
        name: 'lineage-graph-runs',
        text: `SELECT r.* FROM jobs j JOIN runs r ON r.tenant = j.tenant AND r.run_id = j.latest_run_id
                WHERE j.tenant = $1 AND ('job:' || j.namespace || ':' || j.name) = ANY($2)`,
        values: [tenant, ids],
      }),
      this.pool.query({
        name: 'lineage-graph-datasets',
        text: `SELECT * FROM datasets WHERE tenant = $1 AND ('dataset:' || namespace || ':' || name) = ANY($2)`,
        values: [tenant, ids],
      }),
    ]);
    const runs = new Map(runRows.rows.map((r) => [r.run_id as string, runShape(r)]));
    const inEdges = new Map<string, { origin: string; destination: string }[]>();
    const outEdges = new Map<string, { origin: string; destination: string }[]>();
    const jobIo = new Map<string, Edge[]>();
    const push = <T>(map: Map<string, T[]>, key: string, value: T) => {
      const list = map.get(key);
      if (list) list.push(value);
      else map.set(key, [value]);
    };
    for (const e of touching) {
      if (e.origin.startsWith('job:')) push(jobIo, e.origin, e);
      if (e.destination.startsWith('job:')) push(jobIo, e.destination, e);
      if (!seen.has(e.origin) || !seen.has(e.destination)) continue;
      const edge = { origin: e.origin, destination: e.destination };
      push(outEdges, e.origin, edge);
      push(inEdges, e.destination, edge);
    }
    const graph: MarquezGraphNode[] = [];
    for (const r of jobRows.rows) {
      const id = jobNodeId(r.namespace, r.name);
      const latest = r.latest_run_id ? runs.get(r.latest_run_id) : undefined;
      const job = jobShape(r, jobIo.get(id) ?? [], latest ? [latest] : []);
      graph.push({ id, type: 'JOB', data: job, inEdges: inEdges.get(id) ?? [], outEdges: outEdges.get(id) ?? [] });
    }
    for (const r of datasetRows.rows) {
      const dataset = datasetShape(r, true);
      const id = datasetNodeId(dataset.namespace, dataset.name);
      graph.push({
        id,
        type: 'DATASET',
        data: dataset,
        inEdges: inEdges.get(id) ?? [],
        outEdges: outEdges.get(id) ?? [],
      });
    }
    return { graph };
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

const INGEST_SQL = `
WITH ev AS (
  INSERT INTO events (tenant, event_key, kind, event_time, body) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT DO NOTHING RETURNING 1
),
ns AS (
  INSERT INTO namespaces (tenant, name, created_at, updated_at)
  SELECT $1, n, $4, $4 FROM unnest($6::text[]) AS n WHERE EXISTS (SELECT 1 FROM ev)
  ON CONFLICT DO NOTHING
),
jb AS (
  INSERT INTO jobs (tenant, namespace, name, type, facets, created_at, updated_at, latest_run_id)
  SELECT $1, $7, $8, $9, $10, $4, $4, $11::uuid WHERE $7::text IS NOT NULL AND EXISTS (SELECT 1 FROM ev)
  ON CONFLICT (tenant, namespace, name) DO UPDATE SET
    facets = jobs.facets || EXCLUDED.facets,
    type = CASE WHEN $12::boolean THEN EXCLUDED.type ELSE jobs.type END,
    updated_at = greatest(jobs.updated_at, EXCLUDED.updated_at),
    latest_run_id = coalesce(EXCLUDED.latest_run_id, jobs.latest_run_id)
),
given AS (
  SELECT * FROM jsonb_to_recordset($13::jsonb) AS d(namespace text, name text, facets jsonb, output boolean)
   WHERE EXISTS (SELECT 1 FROM ev)
),
ds AS (
  INSERT INTO datasets AS cur (tenant, namespace, name, facets, created_at, updated_at, last_modified_at, current_version)
  SELECT $1, namespace, name, facets, $4, $4, CASE WHEN output THEN $4::timestamptz END,
         dataset_version(namespace, name, facets)
    FROM given ORDER BY namespace, name
  ON CONFLICT (tenant, namespace, name) DO UPDATE SET
    facets = cur.facets || EXCLUDED.facets,
    current_version = dataset_version(cur.namespace, cur.name, cur.facets || EXCLUDED.facets),
    updated_at = greatest(cur.updated_at, EXCLUDED.updated_at),
    last_modified_at = greatest(cur.last_modified_at, EXCLUDED.last_modified_at)
  RETURNING namespace, name, facets, current_version
),
ver AS (
  INSERT INTO dataset_versions (tenant, version, namespace, name, facets, run_id, created_at)
  SELECT $1, ds.current_version, ds.namespace, ds.name, stable_facets(ds.facets),
         CASE WHEN g.output THEN $11::uuid END, $4
    FROM ds JOIN given g ON g.namespace = ds.namespace AND g.name = ds.name
   WHERE ds.current_version IS NOT NULL
  ON CONFLICT DO NOTHING
),
ed AS (
  INSERT INTO edges (tenant, origin, destination, dataset_namespace, dataset_name)
  SELECT $1, origin, destination, namespace, name
    FROM jsonb_to_recordset($14::jsonb) AS e(origin text, destination text, namespace text, name text)
   WHERE EXISTS (SELECT 1 FROM ev)
  ON CONFLICT DO NOTHING RETURNING 1
),
gv AS (
  INSERT INTO graph_versions (tenant, version) SELECT $1, 1 WHERE EXISTS (SELECT 1 FROM ed)
  ON CONFLICT (tenant) DO UPDATE SET version = graph_versions.version + 1
),
ce AS (
  INSERT INTO column_edges (tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field, transformation)
  SELECT $1, out_namespace, out_name, out_field, in_namespace, in_name, in_field, transformation
    FROM jsonb_to_recordset($15::jsonb) AS c(out_namespace text, out_name text, out_field text, in_namespace text,
                                             in_name text, in_field text, transformation jsonb)
   WHERE EXISTS (SELECT 1 FROM ev)
  ON CONFLICT (tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field)
  DO UPDATE SET transformation = EXCLUDED.transformation
),
rn AS (
  INSERT INTO runs (tenant, run_id, namespace, job_name, state, state_time, started_at, ended_at, facets, job_facets,
                    inputs, outputs, created_at, updated_at)
  SELECT $1, $11::uuid, $7, $8, coalesce($16::text, 'NEW'), $4, $17::timestamptz, $18::timestamptz, $19, $10,
         (SELECT coalesce(jsonb_object_agg(s.key, s.value || jsonb_build_object('version', ds.current_version)), '{}')
            FROM jsonb_each($20::jsonb) AS s LEFT JOIN ds ON ds.namespace = s.value->>'namespace' AND ds.name = s.value->>'name'),
         (SELECT coalesce(jsonb_object_agg(s.key, s.value || jsonb_build_object('version', ds.current_version)), '{}')
            FROM jsonb_each($21::jsonb) AS s LEFT JOIN ds ON ds.namespace = s.value->>'namespace' AND ds.name = s.value->>'name'),
         $4, $4
   WHERE $23::boolean AND EXISTS (SELECT 1 FROM ev)
  ON CONFLICT (tenant, run_id) DO UPDATE SET
    state = CASE
      WHEN $16::text IS NULL THEN runs.state
      WHEN runs.state = ANY($22::text[]) AND NOT ($16::text = ANY($22::text[])) THEN runs.state
      WHEN NOT (runs.state = ANY($22::text[])) AND $16::text = ANY($22::text[]) THEN $16::text
      WHEN runs.state_time IS NULL OR EXCLUDED.state_time >= runs.state_time THEN $16::text
      ELSE runs.state END,
    state_time = CASE WHEN $16::text IS NULL THEN runs.state_time ELSE greatest(runs.state_time, EXCLUDED.state_time) END,
    started_at = least(runs.started_at, EXCLUDED.started_at),
    ended_at = greatest(runs.ended_at, EXCLUDED.ended_at),
    facets = runs.facets || EXCLUDED.facets,
    job_facets = runs.job_facets || EXCLUDED.job_facets,
    inputs = runs.inputs || EXCLUDED.inputs,
    outputs = runs.outputs || EXCLUDED.outputs,
    created_at = least(runs.created_at, EXCLUDED.created_at),
    updated_at = greatest(runs.updated_at, EXCLUDED.updated_at)
)
SELECT EXISTS (SELECT 1 FROM ev) AS inserted`;

/**
 * A batch of events in one statement (see writeMany). Each parameter is a JSON array of the rows one table gets,
 * each row with the position (`seq`) of its event in the batch; only events that were not stored before (`fresh`)
 * write anything. Rows of one job, dataset or run are aggregated in batch order, so every row is written once.
 */
const BATCH_SQL = `
WITH given AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS e(tenant text, key text, kind text, time timestamptz, body jsonb, seq int)
),
ev AS (
  INSERT INTO events (tenant, event_key, kind, event_time, body)
  SELECT tenant, key, kind, time, body FROM given ORDER BY seq
  ON CONFLICT DO NOTHING RETURNING tenant, event_key
),
fresh AS (SELECT g.seq FROM given g JOIN ev ON ev.tenant = g.tenant AND ev.event_key = g.key),
ns AS (
  INSERT INTO namespaces (tenant, name, created_at, updated_at)
  SELECT DISTINCT ON (tenant, name) tenant, name, time, time
    FROM jsonb_to_recordset($2::jsonb) AS n(tenant text, name text, time timestamptz, seq int)
   WHERE seq IN (SELECT seq FROM fresh) ORDER BY tenant, name, seq
  ON CONFLICT DO NOTHING
),
jrows AS (
  SELECT * FROM jsonb_to_recordset($3::jsonb)
      AS j(tenant text, namespace text, name text, type text, facets jsonb, time timestamptz, run_id uuid, seq int)
   WHERE seq IN (SELECT seq FROM fresh)
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
  SELECT * FROM jsonb_to_recordset($4::jsonb) AS d(tenant text, namespace text, name text, facets jsonb,
                                                   output boolean, time timestamptz, run_id uuid, seq int)
   WHERE seq IN (SELECT seq FROM fresh)
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
    FROM jsonb_to_recordset($5::jsonb) AS e(tenant text, origin text, destination text, namespace text, name text, seq int)
   WHERE seq IN (SELECT seq FROM fresh) ORDER BY tenant, origin, destination
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
    FROM jsonb_to_recordset($6::jsonb) AS c(tenant text, out_namespace text, out_name text, out_field text,
                                            in_namespace text, in_name text, in_field text, transformation jsonb, seq int)
   WHERE seq IN (SELECT seq FROM fresh)
   ORDER BY tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field, seq DESC
  ON CONFLICT (tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field)
  DO UPDATE SET transformation = EXCLUDED.transformation
),
rrows AS (
  SELECT * FROM jsonb_to_recordset($7::jsonb) AS r(tenant text, run_id uuid, namespace text, job_name text, state text,
              time timestamptz, started_at timestamptz, ended_at timestamptz, facets jsonb, job_facets jsonb,
              inputs jsonb, outputs jsonb, seq int)
   WHERE seq IN (SELECT seq FROM fresh)
),
rio AS (
  SELECT r.seq,
         (SELECT coalesce(jsonb_object_agg(s.key, s.value || jsonb_build_object('version', st.version)), '{}')
            FROM jsonb_each(r.inputs) AS s LEFT JOIN steps st ON st.seq = r.seq AND st.tenant = r.tenant
             AND st.namespace = s.value->>'namespace' AND st.name = s.value->>'name') AS inputs,
         (SELECT coalesce(jsonb_object_agg(s.key, s.value || jsonb_build_object('version', st.version)), '{}')
            FROM jsonb_each(r.outputs) AS s LEFT JOIN steps st ON st.seq = r.seq AND st.tenant = r.tenant
             AND st.namespace = s.value->>'namespace' AND st.name = s.value->>'name') AS outputs
    FROM rrows r
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
         jsonb_merge_agg(io.inputs ORDER BY r.seq), jsonb_merge_agg(io.outputs ORDER BY r.seq), min(r.time), max(r.time)
    FROM rrows r JOIN rio io ON io.seq = r.seq JOIN rfold f ON f.tenant = r.tenant AND f.run_id = r.run_id
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
SELECT array_agg(seq) AS fresh FROM fresh`;

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

/** The 23 parameters of INGEST_SQL for one event. */
function ingestValues(tenant: string, event: LineageEvent): unknown[] {
  const d = derive(event);
  const run = d.run;
  return [
    tenant,
    d.key,
    d.kind,
    event.eventTime,
    event,
    d.namespaces,
    d.job?.namespace ?? null,
    d.job?.name ?? null,
    d.processing === 'STREAMING' ? 'STREAM' : 'BATCH',
    d.jobFacets,
    run?.run.runId ?? null,
    d.processing !== undefined,
    JSON.stringify(d.datasets),
    JSON.stringify(d.edges),
    JSON.stringify(d.columnEdges),
    d.state,
    run?.eventType === 'START' ? run.eventTime : null,
    d.state && TERMINAL.includes(d.state) ? run?.eventTime : null,
    run?.run.facets ?? {},
    d.inputs,
    d.outputs,
    TERMINAL,
    !!run,
  ];
}
