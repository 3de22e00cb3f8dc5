import { randomUUID } from 'node:crypto';
import { BV_JOB_NAMESPACE, loadPlatformConfig, OpenLineageValidator, postgresUrl } from '@bitvelocity/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLineageServer } from '../src/index.js';
import type { LineageServer } from '../src/server.js';
import { bronze, gold, ids, orderTopic, outbox, pipelineEvents, silver } from './fixtures.js';

const config = loadPlatformConfig();
const ownerUrl = postgresUrl(config.postgres);
const schema = `lineage_test_${randomUUID().slice(0, 8)}`;
const validator = OpenLineageValidator.load();
let server: LineageServer;
let token: string;
let readerToken: string;
let otherTenant: string;

const api = async (path: string, init: RequestInit & { as?: string } = {}) => {
  const response = await fetch(`${server.url}${path}`, {
    ...init,
    headers: {
      'content-type': 'application/json',
      ...(init.as === '' ? {} : { authorization: `Bearer ${init.as ?? token}` }),
    },
  });
  // biome-ignore lint/suspicious/noExplicitAny: the specs read Marquez's JSON by path; the assertions check the shapes.
  return { status: response.status, body: (await response.json()) as any };
};
const post = (event: unknown, as?: string) =>
  api('/api/v1/lineage', { method: 'POST', body: JSON.stringify(event), ...(as === undefined ? {} : { as }) });
const enc = encodeURIComponent;
const { events, runIds } = pipelineEvents();

beforeAll(async () => {
  server = await startLineageServer({ postgresUrl: ownerUrl, jwtSecret: 'x'.repeat(48), schema, port: 0 });
  token = server.app.jwt.sign({ sub: 'pipeline', tenant: 'acme', roles: ['writer'] });
  readerToken = server.app.jwt.sign({ sub: 'reviewer', tenant: 'acme', roles: ['reader'] });
  otherTenant = server.app.jwt.sign({ sub: 'other', tenant: 'globex', roles: ['admin'] });
  for (const event of events) {
    expect(validator.violations(event, { facets: true })).toEqual([]);
    expect((await post(event)).status).toBe(201);
  }
});

afterAll(async () => {
  await server?.close();
  const client = new pg.Client(ownerUrl);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

describe('POST /api/v1/lineage', () => {
  it('is idempotent on re-delivery: the same runId, eventType and eventTime is stored once', async () => {
    const again = await post(events[4]);
    expect(again).toEqual({ status: 200, body: { accepted: true, duplicate: true } });
    const runs = await api(`/api/v1/namespaces/${BV_JOB_NAMESPACE}/jobs/silver.orders/runs`);
    expect(runs.body.totalCount).toBe(2);
    const client = new pg.Client(ownerUrl);
    await client.connect();
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${schema}.events`);
    await client.end();
    expect(rows[0].n).toBe(events.length);
  });

  it('stores concurrent deliveries written as one batch exactly: a duplicate in the same batch once, quotes and backslashes in names as sent', async () => {
    const job = { namespace: 'batch', name: `it's a "quoted" \\ job` };
    const output = { namespace: 'postgres://db:5432', name: `shop.o'brien\\orders` };
    const sent = Array.from({ length: 5 }, (_, i) => {
      const runId = randomUUID();
      return (['START', 'COMPLETE'] as const).map((eventType, k) => ({
        eventType,
        eventTime: `2026-12-01T12:0${i}:0${k}.000Z`,
        producer: 'https://example.com/batch-spec',
        schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
        run: { runId },
        job,
        inputs: [],
        outputs: [output],
      }));
    }).flat();
    const answers = await Promise.all([...sent, ...sent].map((event) => post(event)));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(10);
    expect(server.store.batchFallbacks).toBe(0);
    expect(answers.filter((a) => a.status === 200 && a.body.duplicate)).toHaveLength(10);
    const runs = await api(`/api/v1/namespaces/batch/jobs/${enc(job.name)}/runs`);
    expect(runs.body.totalCount).toBe(5);
    expect(runs.body.runs.map((r: { state: string }) => r.state)).toEqual(Array(5).fill('COMPLETED'));
    const stored = await api(`/api/v1/namespaces/batch/jobs/${enc(job.name)}`);
    expect(stored.body.name).toBe(job.name);
    expect(stored.body.outputs).toEqual([output]);
  });

  it('stores a batch exactly as the same events one by one: run states, facets, dataset versions, edges', async () => {
    // The same pipeline, in order, under two tenants: one event per write (each awaited), and all at once (batched).
    const { events: sequence } = pipelineEvents(Date.parse('2026-11-30T08:00:00Z'));
    const extra = [...sequence, sequence[1], sequence[3]] as typeof sequence; // redeliveries inside the batch
    // Each accepted event is projected on its own (caughtUp before the next), the batched ones together.
    for (const event of sequence) {
      await server.store.ingest('one-by-one', event);
      await server.store.caughtUp();
    }
    const results = await Promise.all(extra.map((event) => server.store.ingest('batched', event)));
    await server.store.caughtUp();
    expect(results.filter((r) => r.duplicate)).toHaveLength(2);
    expect(server.store.batchFallbacks).toBe(0);
    const client = new pg.Client(ownerUrl);
    await client.connect();
    try {
      const tables: Record<string, string> = {
        events: 'event_key, kind, event_time, body',
        namespaces: 'name, created_at, updated_at',
        jobs: 'namespace, name, type, facets, created_at, updated_at, latest_run_id',
        datasets: 'namespace, name, facets, current_version, created_at, updated_at, last_modified_at',
        dataset_versions: 'version, namespace, name, facets, run_id, created_at',
        runs: 'run_id, namespace, job_name, state, state_time, started_at, ended_at, facets, job_facets, inputs, outputs, created_at, updated_at',
        edges: 'origin, destination, dataset_namespace, dataset_name',
        column_edges: 'out_namespace, out_name, out_field, in_namespace, in_name, in_field, transformation',
      };
      for (const [table, columns] of Object.entries(tables)) {
        const of = async (tenant: string) =>
          (
            await client.query(
              `SELECT ${columns} FROM ${schema}.${table} WHERE tenant = $1 ORDER BY ${columns.split(', ').slice(0, 2).join(', ')}`,
              [tenant],
            )
          ).rows;
        const [one, batched] = [await of('one-by-one'), await of('batched')];
        expect(one.length, table).toBeGreaterThan(0);
        expect(batched, table).toEqual(one);
      }
    } finally {
      await client.end();
    }
  });

  it('projects events the log holds that this instance did not accept (another instance, or before a restart)', async () => {
    const runId = randomUUID();
    const eventTime = '2026-12-01T13:00:00.000Z';
    const event = {
      eventType: 'COMPLETE',
      eventTime,
      producer: 'https://example.com/other-instance',
      schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
      run: { runId },
      job: { namespace: 'from-log', name: 'elsewhere' },
      inputs: [],
      outputs: [{ namespace: 'postgres://db:5432', name: 'shop.public.elsewhere' }],
    };
    const client = new pg.Client(ownerUrl);
    await client.connect();
    try {
      // Appended to the log as another instance's accept would, without passing through this one.
      await client.query(
        `INSERT INTO ${schema}.events (tenant, event_key, kind, event_time, body) VALUES ('acme', $1, 'RUN', $2, $3)`,
        [`${runId}|COMPLETE|${eventTime}`, eventTime, event],
      );
    } finally {
      await client.end();
    }
    await vi.waitFor(
      async () => {
        const job = await api('/api/v1/namespaces/from-log/jobs/elsewhere');
        expect(job.status).toBe(200);
        expect(job.body.latestRun.state).toBe('COMPLETED');
        expect(job.body.outputs).toEqual([{ namespace: 'postgres://db:5432', name: 'shop.public.elsewhere' }]);
      },
      { timeout: 15_000, interval: 250 },
    );
    // Re-delivered to this instance: already in the log, a duplicate.
    expect((await post(event)).body).toEqual({ accepted: true, duplicate: true });
  });

  it('refuses an event the store cannot hold with 400, and stores the ones accepted with it', async () => {
    const event = (eventTime: string) => ({
      eventType: 'COMPLETE',
      eventTime,
      producer: 'https://example.com/odd-times',
      schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
      run: { runId: randomUUID() },
      job: { namespace: 'odd-times', name: 'job' },
      inputs: [],
      outputs: [],
    });
    // Sent together, so the later ones share one accept statement; year 0 is no Postgres timestamp.
    const [first, bad, last] = await Promise.all(
      ['2026-12-01T14:00:00.000Z', '0000-01-01T00:00:00Z', '2026-12-01T14:00:01.000Z'].map((t) => post(event(t))),
    );
    expect(first?.status).toBe(201);
    expect(last?.status).toBe(201);
    expect(bad?.status).toBe(400);
    expect(bad?.body.error.code).toBe('LINEAGE_EVENT_INVALID');
    const runs = await api('/api/v1/namespaces/odd-times/jobs/job/runs');
    expect(runs.body.totalCount).toBe(2);
  });

  it('refuses a standard facet that breaks its own schema, with the path into the facet', async () => {
    const bad = {
      ...events[0],
      run: { runId: randomUUID() },
      outputs: [
        {
          namespace: 'postgres://db:5432',
          name: 'shop.bad_schema',
          facets: {
            schema: {
              _producer: 'https://example.com',
              _schemaURL: 'https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet',
              fields: [{ type: 'VARCHAR' }],
            },
          },
        },
      ],
    };
    const response = await post(bad);
    expect(response.status).toBe(400);
    const paths = response.body.error.details.errors.map((e: { path: string }) => e.path);
    expect(paths.some((p: string) => p.startsWith('/outputs/0/facets/schema'))).toBe(true);
    const search = await api('/api/v1/search?q=bad_schema');
    expect(search.body.totalCount).toBe(0);
  });

  it('accepts events of other producers with custom facets (an Airflow-style event)', async () => {
    const airflow = {
      eventType: 'COMPLETE',
      eventTime: '2026-12-01T11:00:00.000Z',
      producer: 'https://github.com/apache/airflow/tree/providers-openlineage/1.0.0',
      schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
      run: {
        runId: randomUUID(),
        facets: {
          airflow: {
            _producer: 'https://airflow.apache.org',
            _schemaURL: 'https://airflow.apache.org/f.json',
            dag: 'x',
          },
        },
      },
      job: { namespace: 'airflow', name: 'export.orders' },
      inputs: [{ namespace: gold.namespace, name: gold.name }],
      outputs: [{ namespace: 's3://exports', name: 'orders/daily.csv' }],
    };
    expect((await post(airflow)).status).toBe(201);
    const job = await api('/api/v1/namespaces/airflow/jobs/export.orders');
    expect(job.body.inputs).toEqual([{ namespace: gold.namespace, name: gold.name }]);
    expect(job.body.latestRun.facets.airflow.dag).toBe('x');
  });

  it('refuses an invalid event with 400 and the JSON path of each error, storing nothing of it', async () => {
    const bad = {
      ...events[0],
      eventTime: 'not a time',
      run: { runId: 'nope' },
      job: { namespace: 'never-stored' },
    };
    const response = await post(bad);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('LINEAGE_EVENT_INVALID');
    const paths = response.body.error.details.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/eventTime', '/run/runId', '/job/name']));
    const namespaces = await api('/api/v1/namespaces');
    expect(namespaces.body.namespaces.map((n: { name: string }) => n.name)).not.toContain('never-stored');
  });

  it('needs a token, the writer role to post, and shows each tenant only its own lineage', async () => {
    expect((await post(events[0], '')).status).toBe(401);
    expect((await post(events[0], 'garbage')).status).toBe(401);
    expect((await post(events[0], readerToken)).status).toBe(403);
    expect((await api('/api/v1/namespaces', { as: readerToken })).body.namespaces.length).toBeGreaterThan(0);
    expect((await api('/api/v1/namespaces', { as: otherTenant })).body).toEqual({ namespaces: [] });
    expect((await api(`/api/v1/namespaces/${BV_JOB_NAMESPACE}/jobs/silver.orders`, { as: otherTenant })).status).toBe(
      404,
    );
  });
});

describe('the Marquez-compatible read API', () => {
  it('lists namespaces: the job namespace and one per data source', async () => {
    const { body } = await api('/api/v1/namespaces');
    expect(body.namespaces.map((n: { name: string }) => n.name)).toEqual(
      expect.arrayContaining([BV_JOB_NAMESPACE, outbox.namespace, orderTopic.namespace, silver.namespace]),
    );
  });

  it('shows a job with its inputs, outputs, type and latest runs with status, duration and errors', async () => {
    const { body: job } = await api(`/api/v1/namespaces/${BV_JOB_NAMESPACE}/jobs/silver.orders`);
    expect(job.id).toEqual({ namespace: BV_JOB_NAMESPACE, name: 'silver.orders' });
    expect(job.type).toBe('BATCH');
    expect(job.inputs).toEqual([bronze]);
    expect(job.outputs).toEqual([silver]);
    expect(job.latestRun.id).toBe(runIds[3]);
    expect(job.latestRun.state).toBe('FAILED');
    const { body: runs } = await api(`/api/v1/namespaces/${BV_JOB_NAMESPACE}/jobs/silver.orders/runs`);
    const completed = runs.runs.find((r: { id: string }) => r.id === runIds[2]);
    expect(completed).toMatchObject({ state: 'COMPLETED', durationMs: 5000 });
    expect(completed.outputDatasetVersions[0].facets.outputStatistics.rowCount).toBe(1180);
    const { body: facets } = await api(`/api/v1/jobs/runs/${runIds[3]}/facets?type=run`);
    expect(facets.facets.errorMessage.message).toMatch(/catalog conflict/);
    const { body: stream } = await api(`/api/v1/namespaces/${BV_JOB_NAMESPACE}/jobs/bronze.orders`);
    expect(stream.type).toBe('STREAM');
    expect(stream.latestRun.state).toBe('RUNNING');
  });

  it('shows a dataset with schema, tags, quality result and a version per schema change', async () => {
    const { body: ds } = await api(`/api/v1/namespaces/${enc(silver.namespace)}/datasets/${silver.name}`);
    expect(ds.fields.map((f: { name: string }) => f.name)).toEqual([
      'order_id',
      'customer_email',
      'total_amount',
      'created_at',
    ]);
    expect(ds.fields[1].tags).toEqual(['pii:email']);
    expect(ds.tags).toEqual(['sensitivity:confidential']);
    expect(ds.facets.dataQualityAssertions.assertions).toHaveLength(3);
    const { body: versions } = await api(
      `/api/v1/namespaces/${enc(silver.namespace)}/datasets/${silver.name}/versions`,
    );
    expect(versions.versions.map((v: { fields: unknown[] }) => v.fields.length)).toEqual([4, 3]);
    expect(versions.versions[1].createdByRun.id).toBe(runIds[2]);
    const one = await api(
      `/api/v1/namespaces/${enc(silver.namespace)}/datasets/${silver.name}/versions/${versions.versions[0].version}`,
    );
    expect(one.body.version).toBe(versions.versions[0].version);
  });

  it('answers GET /lineage with the graph to the given depth, both directions or one', async () => {
    const node = ids(silver);
    const { body } = await api(`/api/v1/lineage?nodeId=${enc(node)}&depth=2`);
    const nodeIds = body.graph.map((n: { id: string }) => n.id).sort();
    expect(nodeIds).toEqual(
      [
        ids(bronze),
        node,
        ids(gold),
        `job:${BV_JOB_NAMESPACE}:silver.orders`,
        `job:${BV_JOB_NAMESPACE}:gold.daily_revenue`,
        `job:${BV_JOB_NAMESPACE}:quality.silver.orders`,
      ].sort(),
    );
    const silverNode = body.graph.find((n: { id: string }) => n.id === node);
    expect(silverNode.type).toBe('DATASET');
    expect(silverNode.inEdges).toEqual([{ origin: `job:${BV_JOB_NAMESPACE}:silver.orders`, destination: node }]);
    const up = await api(`/api/v1/lineage?nodeId=${enc(node)}&depth=8&direction=upstream`);
    expect(up.body.graph.map((n: { id: string }) => n.id)).toEqual(
      expect.arrayContaining([ids(outbox), ids(orderTopic)]),
    );
    expect(up.body.graph.map((n: { id: string }) => n.id)).not.toContain(ids(gold));
    const job = await api(`/api/v1/lineage?nodeId=${enc(`job:${BV_JOB_NAMESPACE}:debezium.orders`)}&depth=1`);
    expect(job.body.graph.map((n: { id: string }) => n.id).sort()).toEqual(
      [ids(outbox), ids(orderTopic), `job:${BV_JOB_NAMESPACE}:debezium.orders`].sort(),
    );
    expect((await api('/api/v1/lineage?nodeId=dataset:nowhere:x')).status).toBe(404);
  });

  it('answers GET /lineage with an edge posted after the graph was last read (the cached graph is never stale)', async () => {
    const node = ids(gold);
    const before = await api(`/api/v1/lineage?nodeId=${enc(node)}&depth=2&direction=downstream`);
    expect(before.body.graph.map((n: { id: string }) => n.id)).not.toContain('job:reports:weekly.revenue');
    const report = {
      eventType: 'COMPLETE',
      eventTime: '2026-12-01T13:00:00.000Z',
      producer: 'https://example.com/reports',
      schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
      run: { runId: randomUUID() },
      job: { namespace: 'reports', name: 'weekly.revenue' },
      inputs: [{ namespace: gold.namespace, name: gold.name }],
      outputs: [{ namespace: 's3://reports', name: 'weekly/revenue.pdf' }],
    };
    expect((await post(report)).status).toBe(201);
    const after = await api(`/api/v1/lineage?nodeId=${enc(node)}&depth=2&direction=downstream`);
    expect(after.body.graph.map((n: { id: string }) => n.id)).toEqual(
      expect.arrayContaining(['job:reports:weekly.revenue', 'dataset:s3://reports:weekly/revenue.pdf']),
    );
  });

  it('answers GET /column-lineage with field nodes and their input fields', async () => {
    const { body } = await api(
      `/api/v1/column-lineage?nodeId=${enc(`datasetField:${gold.namespace}:${gold.name}:revenue`)}&depth=5`,
    );
    const revenue = body.graph.find((n: { id: string }) => n.id.endsWith(':revenue'));
    expect(revenue.data).toMatchObject({
      field: 'revenue',
      fieldType: 'DECIMAL(14,2)',
      transformationDescription: 'sum(total_amount)',
    });
    expect(body.graph.map((n: { id: string }) => n.id)).toEqual(
      expect.arrayContaining([
        `datasetField:${silver.namespace}:${silver.name}:total_amount`,
        `datasetField:${bronze.namespace}:${bronze.name}:total_amount`,
      ]),
    );
  });

  it('searches jobs and datasets by name', async () => {
    const { body } = await api('/api/v1/search?q=orders');
    const found = body.results.map((r: { nodeId: string }) => r.nodeId);
    expect(found).toEqual(expect.arrayContaining([ids(silver), `job:${BV_JOB_NAMESPACE}:silver.orders`]));
    const jobsOnly = await api('/api/v1/search?q=ORDERS&filter=JOB');
    expect(jobsOnly.body.results.every((r: { type: string }) => r.type === 'JOB')).toBe(true);
  });
});
