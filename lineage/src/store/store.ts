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

/** Facets that describe a dataset's content at one moment, not its definition: they never make a new version. */
const VOLATILE_FACETS = new Set(['dataQualityMetrics', 'dataQualityAssertions', 'outputStatistics', 'inputStatistics']);
const TERMINAL = ['COMPLETED', 'FAILED', 'ABORTED'];

export interface IngestResult {
  duplicate: boolean;
}

export type Direction = 'both' | 'upstream' | 'downstream';

interface DatasetWrite {
  namespace: string;
  name: string;
  facets: Facets;
  output: boolean;
}

function hash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** A stable UUID from a hash (the version of a dataset is a function of what it is). */
function uuidFrom(hex: string): string {
  const h = hex.slice(0, 32).split('');
  h[12] = '5';
  h[16] = ((Number.parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

function stableFacets(facets: Facets): Facets {
  const out: Facets = {};
  for (const key of Object.keys(facets).sort()) if (!VOLATILE_FACETS.has(key)) out[key] = facets[key];
  return out;
}

export const datasetNodeId = (namespace: string, name: string) => `dataset:${namespace}:${name}`;
export const jobNodeId = (namespace: string, name: string) => `job:${namespace}:${name}`;

/**
 * The lineage store in Postgres (its own schema). Every write of one event is one transaction: an event is stored
 * with everything derived from it, or not at all. Every query is filtered on the caller's tenant.
 */
export class LineageStore {
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

  async close(): Promise<void> {
    await this.pool.end();
  }

  // ---------------------------------------------------------------- writes

  async ingest(tenant: string, event: LineageEvent): Promise<IngestResult> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await this.ingestIn(client, tenant, event);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private async ingestIn(client: pg.PoolClient, tenant: string, event: LineageEvent): Promise<IngestResult> {
    const kind = 'run' in event ? 'RUN' : 'dataset' in event ? 'DATASET' : 'JOB';
    const run = kind === 'RUN' ? (event as RunEvent) : undefined;
    const key = run ? `${run.run.runId}|${run.eventType ?? 'OTHER'}|${run.eventTime}` : hash(event);
    const inserted = await client.query(
      'INSERT INTO events (tenant, event_key, kind, event_time, body) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
      [tenant, key, kind, event.eventTime, event],
    );
    if (inserted.rowCount === 0) return { duplicate: true };
    const at = event.eventTime;

    if (kind === 'DATASET') {
      const { dataset } = event as DatasetEvent;
      await this.upsertNamespaces(client, tenant, [dataset.namespace], at);
      await this.upsertDatasets(
        client,
        tenant,
        [{ namespace: dataset.namespace, name: dataset.name, facets: dataset.facets ?? {}, output: false }],
        at,
        undefined,
      );
      return { duplicate: false };
    }

    const { job, inputs = [], outputs = [] } = event as RunEvent | JobEvent;
    const datasets = mergeDatasets(inputs, outputs);
    await this.upsertNamespaces(client, tenant, [job.namespace, ...datasets.map((d) => d.namespace)], at);
    const jobFacets = (job.facets ?? {}) as Facets;
    const processing = (jobFacets.jobType as { processingType?: string } | undefined)?.processingType;
    await client.query(
      `INSERT INTO jobs (tenant, namespace, name, type, facets, created_at, updated_at, latest_run_id)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
       ON CONFLICT (tenant, namespace, name) DO UPDATE SET
         facets = jobs.facets || EXCLUDED.facets,
         type = CASE WHEN $8 THEN EXCLUDED.type ELSE jobs.type END,
         updated_at = greatest(jobs.updated_at, EXCLUDED.updated_at),
         latest_run_id = coalesce(EXCLUDED.latest_run_id, jobs.latest_run_id)`,
      [
        tenant,
        job.namespace,
        job.name,
        processing === 'STREAMING' ? 'STREAM' : 'BATCH',
        jobFacets,
        at,
        run?.run.runId ?? null,
        processing !== undefined,
      ],
    );
    const versions = await this.upsertDatasets(client, tenant, datasets, at, run?.run.runId);
    const jobNode = jobNodeId(job.namespace, job.name);
    const origins: string[] = [];
    const destinations: string[] = [];
    for (const d of inputs) {
      origins.push(datasetNodeId(d.namespace, d.name));
      destinations.push(jobNode);
    }
    for (const d of outputs) {
      origins.push(jobNode);
      destinations.push(datasetNodeId(d.namespace, d.name));
    }
    if (origins.length) {
      await client.query(
        `INSERT INTO edges (tenant, origin, destination) SELECT $1, o, d FROM unnest($2::text[], $3::text[]) AS t(o, d)
         ON CONFLICT DO NOTHING`,
        [tenant, origins, destinations],
      );
    }
    await this.writeColumnLineage(client, tenant, outputs);

    if (run) {
      const state = runState(run.eventType);
      const side = (list: (InputDataset | OutputDataset)[], facetKey: 'inputFacets' | 'outputFacets') =>
        Object.fromEntries(
          list.map((d) => [
            `${d.namespace}\u001f${d.name}`,
            {
              namespace: d.namespace,
              name: d.name,
              version: versions.get(`${d.namespace}\u001f${d.name}`),
              facets: (d as unknown as Record<string, unknown>)[facetKey] ?? {},
            },
          ]),
        );
      await client.query(
        `INSERT INTO runs (tenant, run_id, namespace, job_name, state, state_time, started_at, ended_at, facets,
                           job_facets, inputs, outputs, created_at, updated_at)
         VALUES ($1, $2, $3, $4, coalesce($5, 'NEW'), $6, $7, $8, $9, $10, $11, $12, $6, $6)
         ON CONFLICT (tenant, run_id) DO UPDATE SET
           state = CASE
             WHEN $5::text IS NULL THEN runs.state
             WHEN runs.state = ANY($13) AND NOT ($5 = ANY($13)) THEN runs.state
             WHEN NOT (runs.state = ANY($13)) AND $5 = ANY($13) THEN $5
             WHEN runs.state_time IS NULL OR EXCLUDED.state_time >= runs.state_time THEN $5
             ELSE runs.state END,
           state_time = CASE WHEN $5::text IS NULL THEN runs.state_time
                             ELSE greatest(runs.state_time, EXCLUDED.state_time) END,
           started_at = least(runs.started_at, EXCLUDED.started_at),
           ended_at = greatest(runs.ended_at, EXCLUDED.ended_at),
           facets = runs.facets || EXCLUDED.facets,
           job_facets = runs.job_facets || EXCLUDED.job_facets,
           inputs = runs.inputs || EXCLUDED.inputs,
           outputs = runs.outputs || EXCLUDED.outputs,
           created_at = least(runs.created_at, EXCLUDED.created_at),
           updated_at = greatest(runs.updated_at, EXCLUDED.updated_at)`,
        [
          tenant,
          run.run.runId,
          job.namespace,
          job.name,
          state,
          at,
          run.eventType === 'START' ? at : null,
          state && TERMINAL.includes(state) ? at : null,
          run.run.facets ?? {},
          jobFacets,
          side(inputs, 'inputFacets'),
          side(outputs, 'outputFacets'),
          TERMINAL,
        ],
      );
    }
    return { duplicate: false };
  }

  private async upsertNamespaces(client: pg.PoolClient, tenant: string, names: string[], at: string): Promise<void> {
    await client.query(
      `INSERT INTO namespaces (tenant, name, created_at, updated_at) SELECT $1, n, $3, $3 FROM unnest($2::text[]) AS n
       ON CONFLICT (tenant, name) DO UPDATE SET updated_at = greatest(namespaces.updated_at, EXCLUDED.updated_at)`,
      [tenant, [...new Set(names)].sort(), at],
    );
  }

  /** Upserts the datasets (facets merged); a change to their stable facets makes a new version. */
  private async upsertDatasets(
    client: pg.PoolClient,
    tenant: string,
    datasets: DatasetWrite[],
    at: string,
    runId: string | undefined,
  ): Promise<Map<string, string>> {
    const versions = new Map<string, string>();
    if (!datasets.length) return versions;
    datasets.sort((a, b) => (a.namespace + a.name < b.namespace + b.name ? -1 : 1));
    const { rows } = await client.query<{
      namespace: string;
      name: string;
      facets: Facets;
      version_hash: string | null;
      current_version: string | null;
    }>(
      `INSERT INTO datasets (tenant, namespace, name, facets, created_at, updated_at, last_modified_at)
       SELECT $1, ns, n, f, $5, $5, CASE WHEN o THEN $5::timestamptz END
         FROM unnest($2::text[], $3::text[], $4::jsonb[], $6::boolean[]) AS t(ns, n, f, o)
       ON CONFLICT (tenant, namespace, name) DO UPDATE SET
         facets = datasets.facets || EXCLUDED.facets,
         updated_at = greatest(datasets.updated_at, EXCLUDED.updated_at),
         last_modified_at = greatest(datasets.last_modified_at, EXCLUDED.last_modified_at)
       RETURNING namespace, name, facets, version_hash, current_version`,
      [
        tenant,
        datasets.map((d) => d.namespace),
        datasets.map((d) => d.name),
        datasets.map((d) => JSON.stringify(d.facets)),
        at,
        datasets.map((d) => d.output),
      ],
    );
    const changed: { namespace: string; name: string; version: string; hash: string; facets: Facets; run: boolean }[] =
      [];
    for (const row of rows) {
      const key = `${row.namespace}\u001f${row.name}`;
      const stable = stableFacets(row.facets);
      const h = hash(stable);
      if (h === row.version_hash && row.current_version) {
        versions.set(key, row.current_version);
        continue;
      }
      // A dataset known only by name (no schema or other facets yet) has no version to show.
      if (Object.keys(stable).length === 0) continue;
      const version = uuidFrom(hash([row.namespace, row.name, h]));
      versions.set(key, version);
      const write = datasets.find((d) => d.namespace === row.namespace && d.name === row.name);
      changed.push({
        namespace: row.namespace,
        name: row.name,
        version,
        hash: h,
        facets: stable,
        run: !!write?.output,
      });
    }
    if (changed.length) {
      await client.query(
        `INSERT INTO dataset_versions (tenant, version, namespace, name, facets, run_id, created_at)
         SELECT $1, v::uuid, ns, n, f, CASE WHEN r THEN $7::uuid END, $6
           FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $8::boolean[]) AS t(v, ns, n, f, r)
         ON CONFLICT DO NOTHING`,
        [
          tenant,
          changed.map((c) => c.version),
          changed.map((c) => c.namespace),
          changed.map((c) => c.name),
          changed.map((c) => JSON.stringify(c.facets)),
          at,
          runId ?? null,
          changed.map((c) => c.run),
        ],
      );
      await client.query(
        `UPDATE datasets d SET current_version = t.v::uuid, version_hash = t.h
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS t(ns, n, v, h)
          WHERE d.tenant = $1 AND d.namespace = t.ns AND d.name = t.n`,
        [
          tenant,
          changed.map((c) => c.namespace),
          changed.map((c) => c.name),
          changed.map((c) => c.version),
          changed.map((c) => c.hash),
        ],
      );
    }
    return versions;
  }

  private async writeColumnLineage(client: pg.PoolClient, tenant: string, outputs: OutputDataset[]): Promise<void> {
    const rows: string[][] = [[], [], [], [], [], [], []];
    for (const out of outputs) {
      const lineage = out.facets?.columnLineage?.fields;
      if (!lineage) continue;
      for (const [field, spec] of Object.entries(lineage)) {
        for (const input of spec.inputFields ?? []) {
          rows[0]?.push(out.namespace);
          rows[1]?.push(out.name);
          rows[2]?.push(field);
          rows[3]?.push(input.namespace);
          rows[4]?.push(input.name);
          rows[5]?.push(input.field);
          rows[6]?.push(
            JSON.stringify({
              description: spec.transformationDescription ?? null,
              transformations: input.transformations ?? [],
            }),
          );
        }
      }
    }
    if (!rows[0]?.length) return;
    await client.query(
      `INSERT INTO column_edges (tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field, transformation)
       SELECT $1, a, b, c, d, e, f, g FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[])
         AS t(a, b, c, d, e, f, g)
       ON CONFLICT (tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field)
       DO UPDATE SET transformation = EXCLUDED.transformation`,
      [tenant, ...rows],
    );
  }

  // ---------------------------------------------------------------- reads

  async namespaces(tenant: string) {
    const { rows } = await this.pool.query(
      'SELECT name, created_at, updated_at FROM namespaces WHERE tenant = $1 ORDER BY name',
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

  /** Resolves a Marquez node id whose namespace may itself contain ':' (postgres://host:5432). */
  async resolveNode(
    tenant: string,
    nodeId: string,
  ): Promise<{ kind: 'dataset' | 'job'; namespace: string; name: string }> {
    const match = /^(dataset|job):(.+)$/.exec(nodeId);
    if (!match)
      throw new BvError('LINEAGE_EVENT_INVALID', `nodeId must be dataset:<namespace>:<name> or job:<namespace>:<name>`);
    const kind = match[1] as 'dataset' | 'job';
    const rest = match[2] as string;
    const namespaces: string[] = [];
    const names: string[] = [];
    for (let i = rest.indexOf(':'); i > 0; i = rest.indexOf(':', i + 1)) {
      namespaces.push(rest.slice(0, i));
      names.push(rest.slice(i + 1));
    }
    const table = kind === 'dataset' ? 'datasets' : 'jobs';
    const { rows } = await this.pool.query<{ namespace: string; name: string }>(
      `SELECT namespace, name FROM ${table} WHERE tenant = $1 AND (namespace, name) IN (SELECT * FROM unnest($2::text[], $3::text[]))
       LIMIT 1`,
      [tenant, namespaces, names],
    );
    if (!rows[0]) throw notFound(`node ${nodeId}`);
    return { kind, namespace: rows[0].namespace, name: rows[0].name };
  }

  /** Marquez's GET /lineage: the nodes within `depth` edges of the node, each with its in- and out-edges. */
  async lineage(tenant: string, nodeId: string, depth: number, direction: Direction = 'both') {
    const root = await this.resolveNode(tenant, nodeId);
    const start =
      root.kind === 'dataset' ? datasetNodeId(root.namespace, root.name) : jobNodeId(root.namespace, root.name);
    const seen = new Set([start]);
    const edges = new Map<string, { origin: string; destination: string }>();
    let frontier = [start];
    for (let level = 0; level < depth && frontier.length; level++) {
      const { rows } = await this.pool.query<{ origin: string; destination: string }>(
        direction === 'upstream'
          ? 'SELECT origin, destination FROM edges WHERE tenant = $1 AND destination = ANY($2)'
          : direction === 'downstream'
            ? 'SELECT origin, destination FROM edges WHERE tenant = $1 AND origin = ANY($2)'
            : `SELECT origin, destination FROM edges WHERE tenant = $1 AND origin = ANY($2)
               UNION SELECT origin, destination FROM edges WHERE tenant = $1 AND destination = ANY($2)`,
        [tenant, frontier],
      );
      const next: string[] = [];
      for (const e of rows) {
        edges.set(`${e.origin}\u001f${e.destination}`, e);
        for (const node of [e.origin, e.destination]) {
          if (!seen.has(node)) {
            seen.add(node);
            next.push(node);
          }
        }
      }
      frontier = next;
    }
    const ids = [...seen];
    const jobIds: { namespace: string; name: string }[] = [];
    const datasetIds: { namespace: string; name: string }[] = [];
    const idOf = new Map<string, string>();
    const refs = await this.pool.query<{ kind: string; namespace: string; name: string; id: string }>(
      `SELECT 'job' AS kind, namespace, name, 'job:' || namespace || ':' || name AS id FROM jobs
        WHERE tenant = $1 AND 'job:' || namespace || ':' || name = ANY($2)
       UNION ALL
       SELECT 'dataset', namespace, name, 'dataset:' || namespace || ':' || name FROM datasets
        WHERE tenant = $1 AND 'dataset:' || namespace || ':' || name = ANY($2)`,
      [tenant, ids],
    );
    for (const r of refs.rows) {
      (r.kind === 'job' ? jobIds : datasetIds).push({ namespace: r.namespace, name: r.name });
      idOf.set(`${r.kind}\u001f${r.namespace}\u001f${r.name}`, r.id);
    }
    const [jobs, datasets] = await Promise.all([
      this.jobsById(tenant, jobIds, { runs: 1 }),
      this.datasetsById(tenant, datasetIds, { light: true }),
    ]);
    const graph: MarquezGraphNode[] = [];
    const inEdges = new Map<string, { origin: string; destination: string }[]>();
    const outEdges = new Map<string, { origin: string; destination: string }[]>();
    for (const e of edges.values()) {
      if (!seen.has(e.origin) || !seen.has(e.destination)) continue;
      outEdges.set(e.origin, [...(outEdges.get(e.origin) ?? []), e]);
      inEdges.set(e.destination, [...(inEdges.get(e.destination) ?? []), e]);
    }
    for (const job of jobs) {
      const id = jobNodeId(job.namespace, job.name);
      graph.push({ id, type: 'JOB', data: job, inEdges: inEdges.get(id) ?? [], outEdges: outEdges.get(id) ?? [] });
    }
    for (const dataset of datasets) {
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
    const { rows } = await this.pool.query(
      `SELECT j.* FROM jobs j JOIN unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(ns, n, o)
         ON j.namespace = t.ns AND j.name = t.n WHERE j.tenant = $1 ORDER BY t.o`,
      [tenant, ids.map((i) => i.namespace), ids.map((i) => i.name)],
    );
    const nodes = rows.map((r) => jobNodeId(r.namespace, r.name));
    const { rows: io } = await this.pool.query<{ origin: string; destination: string }>(
      `SELECT origin, destination FROM edges WHERE tenant = $1 AND (origin = ANY($2) OR destination = ANY($2))`,
      [tenant, nodes],
    );
    const { rows: recent } = await this.pool.query<{ run_id: string; namespace: string; job_name: string }>(
      `SELECT r.run_id, r.namespace, r.job_name FROM unnest($2::text[], $3::text[]) AS t(ns, n)
         CROSS JOIN LATERAL (SELECT run_id, namespace, job_name FROM runs
                              WHERE tenant = $1 AND namespace = t.ns AND job_name = t.n
                              ORDER BY created_at DESC LIMIT $4) r`,
      [tenant, rows.map((r) => r.namespace), rows.map((r) => r.name), options.runs],
    );
    const runs = new Map(
      (
        await this.runsById(
          tenant,
          recent.map((r) => r.run_id),
        )
      ).map((r) => [r.id, r]),
    );
    const datasetNodes = [
      ...new Set(io.flatMap((e) => [e.origin, e.destination]).filter((n) => n.startsWith('dataset:'))),
    ];
    const { rows: refs } = await this.pool.query<{ id: string; namespace: string; name: string }>(
      `SELECT 'dataset:' || namespace || ':' || name AS id, namespace, name FROM datasets
        WHERE tenant = $1 AND 'dataset:' || namespace || ':' || name = ANY($2)`,
      [tenant, datasetNodes],
    );
    const refOf = new Map(refs.map((r) => [r.id, { namespace: r.namespace, name: r.name }]));
    return rows.map((r) => {
      const node = jobNodeId(r.namespace, r.name);
      const datasetRef = (id: string) => refOf.get(id) ?? { namespace: '', name: id };
      const latestRuns = recent
        .filter((x) => x.namespace === r.namespace && x.job_name === r.name)
        .map((x) => runs.get(x.run_id))
        .filter((x): x is MarquezRun & { jobName: string; namespace: string } => !!x);
      const facets = r.facets as Facets;
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
        inputs: io.filter((e) => e.destination === node).map((e) => datasetRef(e.origin)),
        outputs: io.filter((e) => e.origin === node).map((e) => datasetRef(e.destination)),
        location: null,
        description: (facets.documentation as { description?: string } | undefined)?.description ?? null,
        latestRun: latestRuns[0] ?? null,
        latestRuns,
        facets,
        currentVersion: null,
      };
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
    return rows.map((r) => {
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
    });
  }
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
