/**
 * The lineage service: OpenLineage events accepted per second over HTTP, and GET /api/v1/lineage latency at depth 5
 * on a graph of 1,000 jobs and 10,000 datasets.
 *   npx tsx bench/lineage.ts [--events 20000] [--concurrency 32] [--queries 200] [--quick]
 * (1) Ingest: `events` run events (START + COMPLETE per run; 2 inputs, 1 output with a schema facet) POSTed by
 *     `concurrency` keep-alive clients to an in-process service; events/s accepted = events / the clients' wall
 *     time; end to end = events / the time until the projector has folded them all into the model.
 * (2) Graph: 10 layers of 100 jobs, each job reading 3 datasets of the layer before and writing 10 of its own
 *     (1,000 jobs, 10,000 datasets, 13,000 edges); then `queries` lineage queries at depth 5 (both directions from
 *     a cold node cache, `queries` more, and upstream only) from random datasets of the middle layers, one at a
 *     time: p50/p95/p99 and the graph size.
 * The clients run in a child process (bench/lineage-clients.ts), so this process's CPU is the service's alone.
 * Needs the stack's Postgres (`bv stack up`). Writes into a schema of its own, dropped at the end.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  BV_JOB_NAMESPACE,
  datasetNames,
  facets,
  inputDataset,
  loadPlatformConfig,
  newRunId,
  outputDataset,
  postgresUrl,
  runEvent,
} from '@bitvelocity/core';
import { startLineageServer } from '@bitvelocity/lineage';
import * as hdr from 'hdr-histogram-js';
import pg from 'pg';
import { numberArg } from './load.js';

const quick = process.argv.includes('--quick');
const totalEvents = numberArg('events', quick ? 2_000 : 20_000);
const concurrency = numberArg('concurrency', 32);
const queries = numberArg('queries', quick ? 50 : 200);
const layers = 10;
const jobsPerLayer = quick ? 20 : 100;
const outputsPerJob = 10;

const ownerUrl = postgresUrl(loadPlatformConfig().postgres);
const schema = `lineage_bench_${randomUUID().slice(0, 8)}`;
// The service's connections carry the bench's name, so the CPU their Postgres backends spend can be read from /proc.
const serviceUrl = `${ownerUrl}${ownerUrl.includes('?') ? '&' : '?'}application_name=${schema}`;
const server = await startLineageServer({ postgresUrl: serviceUrl, jwtSecret: 'b'.repeat(48), schema, port: 0 });
const token = server.app.jwt.sign({ sub: 'bench', tenant: 'bench', roles: ['writer'] });
const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };

/**
 * POSTs the events from `concurrency` keep-alive clients in a child process (bench/lineage-clients.ts), so this
 * process's CPU is the service's alone. Answers the clients' wall time and CPU.
 */
async function postAll(events: unknown[]): Promise<{ startedAt: number; seconds: number; cpuMicros: number }> {
  const file = join(tmpdir(), `${schema}-${randomUUID().slice(0, 8)}.ndjson`);
  writeFileSync(file, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  try {
    const child = fork(new URL('./lineage-clients.ts', import.meta.url), [file, server.url, token, `${concurrency}`], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`the clients' process exited with ${code}`);
    return JSON.parse(out) as { startedAt: number; seconds: number; cpuMicros: number };
  } finally {
    rmSync(file, { force: true });
  }
}

/** CPU seconds (user + system) of the service's Postgres backends so far, by pid (the stack runs on this machine). */
async function backendCpu(): Promise<Map<number, number>> {
  const { rows } = await server.store.pool.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
    [schema],
  );
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      out.set(pid, (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // a backend that ended meanwhile
    }
  }
  return out;
}
const uptime = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const cpuSince = (before: Map<number, number>, after: Map<number, number>) =>
  [...after].reduce((sum, [pid, cpu]) => sum + cpu - (before.get(pid) ?? 0), 0);

const lake = { host: 'localhost', port: 5432, database: 'bench_lake' };
const fields = ['id', 'customer_id', 'amount', 'currency', 'created_at'].map((name) => ({ name, type: 'VARCHAR' }));

try {
  // ---------------------------------------------------------------- (1) ingest
  const events = [];
  for (let i = 0; events.length < totalEvents; i++) {
    const runId = newRunId();
    const job = {
      namespace: BV_JOB_NAMESPACE,
      name: `ingest.job_${i % 500}`,
      facets: { jobType: facets.jobType('BATCH', 'BENCH') },
    };
    const inputs = [
      inputDataset(datasetNames.kafka('localhost:9092', `topic_${i % 300}`)),
      inputDataset(datasetNames.ducklake(lake, 'bronze', `t_${i % 700}`)),
    ];
    const outputs = [
      outputDataset(
        datasetNames.ducklake(lake, 'silver', `t_${i % 900}`),
        { schema: facets.schema(fields) },
        { outputStatistics: facets.outputStatistics({ rowCount: i }) },
      ),
    ];
    const t = Date.now() + i;
    events.push(
      runEvent({
        eventType: 'START',
        runId,
        job,
        inputs,
        outputs: [outputDataset(outputs[0] as { namespace: string; name: string })],
        eventTime: new Date(t),
      }),
    );
    events.push(runEvent({ eventType: 'COMPLETE', runId, job, inputs, outputs, eventTime: new Date(t + 1) }));
  }
  await postAll(events.slice(0, 200)); // warm up connections and plans
  console.log(`load average before the ingest: ${uptime()}`);
  const pgBefore = await backendCpu();
  const nodeBefore = process.cpuUsage();
  const clients = await postAll(events.slice(200));
  const ingestSeconds = clients.seconds;
  const nodeCpu = process.cpuUsage(nodeBefore);
  const pgCpu = cpuSince(pgBefore, await backendCpu());
  // Accept, then project: the model holds every accepted event once the projector has caught up (what a read waits
  // for). The end-to-end rate counts from the first POST to that moment.
  await server.store.caughtUp(600_000);
  const projectedSeconds = (Date.now() - clients.startedAt) / 1000;
  const nodeCpuAll = process.cpuUsage(nodeBefore);
  const pgCpuAll = cpuSince(pgBefore, await backendCpu());
  const accepted = events.length - 200;
  const nodeSeconds = (nodeCpu.user + nodeCpu.system) / 1e6;
  const clientSeconds = clients.cpuMicros / 1e6;
  const perEvent = (seconds: number) => ((seconds / accepted) * 1e6).toFixed(0);
  console.log(`load average after the ingest: ${uptime()}`);
  console.log(
    `ingest: ${accepted} events in ${ingestSeconds.toFixed(1)} s = ${(accepted / ingestSeconds).toFixed(0)} events/s accepted (concurrency ${concurrency})`,
  );
  console.log(
    `ingest CPU per event while accepting: service ${perEvent(nodeSeconds)} us, its Postgres backends ${perEvent(pgCpu)} us, HTTP clients (own process) ${perEvent(clientSeconds)} us`,
  );
  const allSeconds = (nodeCpuAll.user + nodeCpuAll.system) / 1e6;
  console.log(
    `projected (model caught up) ${projectedSeconds.toFixed(1)} s after the first POST = ${(accepted / projectedSeconds).toFixed(0)} events/s end to end; CPU per event accept + projection: service ${perEvent(allSeconds)} us, Postgres ${perEvent(pgCpuAll)} us; ${(accepted / (allSeconds + pgCpuAll)).toFixed(0)} events per CPU-second of both`,
  );

  // ---------------------------------------------------------------- (2) graph
  const graphStarted = performance.now();
  const layerOutputs: { namespace: string; name: string }[][] = [];
  const graphEvents = [];
  for (let layer = 0; layer < layers; layer++) {
    const outputs: { namespace: string; name: string }[] = [];
    for (let j = 0; j < jobsPerLayer; j++) {
      const previous = layerOutputs[layer - 1] ?? [];
      const inputs = previous.length
        ? Array.from(
            { length: 3 },
            () => previous[Math.floor(Math.random() * previous.length)] as { namespace: string; name: string },
          )
        : [];
      const mine = Array.from({ length: outputsPerJob }, (_, k) =>
        datasetNames.ducklake(lake, `layer${layer}`, `job${j}_out${k}`),
      );
      outputs.push(...mine);
      graphEvents.push(
        runEvent({
          eventType: 'COMPLETE',
          runId: newRunId(),
          job: { namespace: 'graph', name: `layer${layer}.job${j}` },
          inputs: [...new Map(inputs.map((d) => [d.name, inputDataset(d)])).values()],
          outputs: mine.map((d) => outputDataset(d, { schema: facets.schema(fields) })),
        }),
      );
    }
    layerOutputs.push(outputs);
  }
  await postAll(graphEvents);
  const graphSeconds = (performance.now() - graphStarted) / 1000;

  // The first read waits for the projector to fold in the graph's events (a client reads its own writes).
  const caughtUpStarted = performance.now();
  await server.store.caughtUp(600_000);
  const caughtUpMs = performance.now() - caughtUpStarted;
  const measure = async (direction: 'both' | 'upstream') => {
    const histogram = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
    });
    let nodes = 0;
    for (let q = 0; q < queries; q++) {
      const layer = layerOutputs[4 + (q % 3)] as { namespace: string; name: string }[];
      const d = layer[Math.floor(Math.random() * layer.length)] as { namespace: string; name: string };
      const nodeId = encodeURIComponent(`dataset:${d.namespace}:${d.name}`);
      const t0 = performance.now();
      const response = await fetch(`${server.url}/api/v1/lineage?nodeId=${nodeId}&depth=5&direction=${direction}`, {
        headers,
      });
      const body = (await response.json()) as { graph: unknown[] };
      histogram.recordValue(Math.round((performance.now() - t0) * 1000));
      nodes += body.graph.length;
    }
    const ms = (p: number) => (histogram.getValueAtPercentile(p) / 1000).toFixed(1);
    return `p50 ${ms(50)} ms, p95 ${ms(95)} ms, p99 ${ms(99)} ms, max ${(histogram.maxValue / 1000).toFixed(1)} ms; ${(nodes / queries).toFixed(0)} nodes per answer`;
  };
  console.log(`load average before the queries: ${uptime()}`);
  // The service caches each node's payload per projection position: the first pass starts cold (every node fetched
  // once, the graph's edges loaded by the first query), the second finds most nodes cached.
  const both = await measure('both');
  const bothWarm = await measure('both');
  const upstream = await measure('upstream');
  console.log(`load average after the queries: ${uptime()}`);

  console.log(
    `machine: ${cpus().length} x ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  );
  console.log(
    `graph: ${layers * jobsPerLayer} jobs, ${layers * jobsPerLayer * outputsPerJob} datasets loaded in ${graphSeconds.toFixed(1)} s`,
  );
  console.log(`projection caught up with the graph's events ${caughtUpMs.toFixed(0)} ms after its last POST`);
  console.log(`lineage depth 5, both directions (${queries} queries, node cache cold at the start): ${both}`);
  console.log(`lineage depth 5, both directions (${queries} more queries): ${bothWarm}`);
  console.log(`lineage depth 5, upstream only (${queries} queries): ${upstream}`);
} finally {
  await server.close();
  const client = new pg.Client(ownerUrl);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}
