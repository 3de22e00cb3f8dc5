import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BvError, bvHome, type Env } from '@bitvelocity/core';

/**
 * The whole platform as `bv up` starts it, in start order (`down` goes in reverse). One table, so adding, removing or
 * re-pointing a component is one line here:
 * - `stack`: the local servers (`bv stack up`); only the components it actually started are recorded.
 * - `step`: idempotent set-up (migrations, the connector); run on every `up`, nothing to stop.
 * - `process`: a long-running `bv <args>` kept alive by `bv supervise` (restarted with backoff on a crash), with a pid
 *   file and a log under the platform state directory; `probe` is the health round trip `status` makes.
 * - `job`: a stream job or lake transform module deployed with `bv jobs deploy` (its own supervisor restarts workers).
 */
export type PlatformComponent =
  | { name: 'stack'; kind: 'stack' }
  | { name: string; kind: 'step'; command: string }
  | {
      name: string;
      kind: 'process';
      args: string[];
      url: string;
      /** A real round trip; `lag` where the component has one (the warehouse: Silver rows not yet built). */
      probe: () => Promise<string | { detail: string; lag: number }>;
      /** False when the command is not part of this build (e.g. before `bv serve` lands). */
      available?: () => boolean;
      /** The probe reads shared state rather than the process's own endpoint: health also needs the process alive. */
      needsProcess?: boolean;
    }
  | { name: string; kind: 'job'; job: string; module: string };

export type ProcessComponent = Extract<PlatformComponent, { kind: 'process' }>;

const here = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

/** Where `bv up` keeps its record of what it started, pid files and logs (BV_UP_STATE_DIR overrides, for specs). */
export function platformStateDir(env: Env = process.env): string {
  return env.BV_UP_STATE_DIR ?? join(bvHome(env), 'platform');
}

function portOf(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 1 || port > 65535)
    throw new BvError('PLATFORM_BAD_OPTION', `${name} must be a TCP port (1-65535), got "${raw}"`);
  return port;
}

/** An HTTP GET that must answer 2xx within 5 s; returns a short detail. */
async function httpProbe(url: string): Promise<string> {
  const started = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return `GET ${new URL(url).pathname} ${response.status} in ${Math.round(performance.now() - started)} ms`;
}

/**
 * The query API's health and the pipeline's freshness end to end, from its /metrics (the gauges the dashboard's
 * freshness panel shows): how old the newest Bronze, Silver and Gold rows are, and how far Silver and Gold are behind.
 * `lag` is the Gold freshness in seconds (absent when Gold has no rows).
 */
export async function pipelineFreshnessProbe(base: string): Promise<string | { detail: string; lag: number }> {
  const started = performance.now();
  const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const body = await response.text();
  if (!response.ok) throw new Error(`GET ${base}/metrics answered ${response.status}`);
  const gauge = (name: string, label: string, value: string) =>
    new RegExp(`^${name}\\{${label}="${value}"\\} (\\S+)$`, 'm').exec(body)?.[1];
  const seconds = (raw: string | undefined) => (raw === undefined ? 'n/a' : `${Math.round(Number(raw) * 10) / 10} s`);
  const fresh = ['bronze', 'silver', 'gold'].map(
    (layer) => `${layer} ${seconds(gauge('bv_pipeline_freshness_seconds', 'layer', layer))}`,
  );
  const behind = ['silver', 'gold'].map(
    (stage) => `${stage} ${seconds(gauge('bv_pipeline_lag_seconds', 'stage', stage))}`,
  );
  const gold = gauge('bv_pipeline_freshness_seconds', 'layer', 'gold');
  const detail = `newest rows: ${fresh.join(', ')} old; behind: ${behind.join(', ')} (GET /metrics in ${Math.round(performance.now() - started)} ms)`;
  return gold === undefined ? detail : { detail, lag: Math.round(Number(gold)) };
}

/**
 * A Postgres wire-protocol round trip without credentials: an SSLRequest, which every server must answer with one
 * byte, 'S' or 'N'.
 */
function pgWireProbe(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ host, port });
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer from ${host}:${port} in 5 s`)));
    socket.once('error', reject);
    socket.once('connect', () => {
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(80877103, 4);
      socket.write(request);
    });
    socket.once('data', (data) => {
      socket.destroy();
      const answer = String.fromCharCode(data[0] ?? 0);
      if (answer !== 'S' && answer !== 'N')
        reject(new Error(`unexpected answer to SSLRequest: ${data.toString('hex')}`));
      else
        resolve(
          `SSLRequest answered '${answer}' (TLS ${answer === 'S' ? 'on' : 'off'}) in ${Math.round(performance.now() - started)} ms`,
        );
    });
  });
}

/** The platform's stream jobs then its lake jobs, as `name=module`; BV_UP_JOBS (comma-separated) replaces the list. */
function platformJobs(env: Env): { job: string; module: string }[] {
  if (env.BV_UP_JOBS !== undefined) {
    return env.BV_UP_JOBS.split(',')
      .filter(Boolean)
      .map((pair) => {
        const [job, module] = pair.split('=');
        if (!job || !module)
          throw new BvError('PLATFORM_BAD_OPTION', `BV_UP_JOBS takes name=module pairs, got "${pair}"`);
        return { job, module };
      });
  }
  const streams = [
    'dedupe-envelopes',
    'order-streams',
    'product-metrics',
    'revenue',
    'customer-sessions',
    'device-telemetry',
  ];
  return [
    ...streams.map((job) => ({ job, module: here(`../../../streams/src/jobs/${job}.ts`) })),
    { job: 'lake-bronze', module: here('../../../lakehouse/src/jobs/bronze.ts') },
    { job: 'silver', module: here('../../../lakehouse/src/jobs/silver.ts') },
    { job: 'lake-gold', module: here('../../../lakehouse/src/jobs/gold.ts') },
    { job: 'lake-gold-telemetry', module: here('../../../lakehouse/src/jobs/gold-telemetry.ts') },
  ];
}

/**
 * The platform, in start order. Ports come from BV_SERVICES_PORT, BV_LINEAGE_PORT, BV_PG_SERVE_PORT, BV_SERVE_PORT,
 * BV_NOTIFY_PORT, BV_TELEMETRY_PORT; the telemetry bridge's Kafka topic and MQTT session from BV_TELEMETRY_TOPIC and
 * BV_TELEMETRY_CLIENT_ID (defaults iot.device, bv-telemetry-bridge).
 */
export function platformComponents(env: Env = process.env): PlatformComponent[] {
  const host = '127.0.0.1';
  const services = portOf(env, 'BV_SERVICES_PORT', 18080);
  const lineage = portOf(env, 'BV_LINEAGE_PORT', 5000);
  const pg = portOf(env, 'BV_PG_SERVE_PORT', 15432);
  const serve = portOf(env, 'BV_SERVE_PORT', 18090);
  const notify = portOf(env, 'BV_NOTIFY_PORT', 18095);
  const telemetry = portOf(env, 'BV_TELEMETRY_PORT', 18096);
  const jobs = platformJobs(env);
  return [
    { name: 'stack', kind: 'stack' },
    { name: 'migrations', kind: 'step', command: 'bv services migrate' },
    { name: 'connector', kind: 'step', command: 'bv connectors apply' },
    {
      name: 'services',
      kind: 'process',
      args: ['services', 'start', '--host', host, '--port', String(services)],
      url: `http://${host}:${services}`,
      probe: () => httpProbe(`http://${host}:${services}/ready`),
    },
    ...jobs.map(({ job, module }): PlatformComponent => ({ name: `job:${job}`, kind: 'job', job, module })),
    {
      name: 'warehouse',
      kind: 'process',
      args: ['warehouse', 'build', '--follow'],
      url: 'ducklake:gold (warehouse tables)',
      probe: warehouseProbe,
      needsProcess: true,
    },
    {
      name: 'lineage',
      kind: 'process',
      args: ['lineage', 'serve', '--host', host, '--port', String(lineage)],
      url: `http://${host}:${lineage}`,
      probe: () => httpProbe(`http://${host}:${lineage}/healthz`),
    },
    {
      // The dashboard and query API; started once `bv serve` exists in this build.
      name: 'serve',
      kind: 'process',
      args: ['serve', '--host', host, '--port', String(serve), '--no-pg'],
      url: `http://${host}:${serve}`,
      probe: () => pipelineFreshnessProbe(`http://${host}:${serve}`),
      available: () => existsSync(here('../commands/serve.ts')),
    },
    {
      // Live notifications (WebSocket) for the services' clients, fed from Kafka.
      name: 'notify',
      kind: 'process',
      args: ['notify', 'serve', '--host', host, '--port', String(notify)],
      url: `ws://${host}:${notify}/v1/notifications`,
      probe: () => httpProbe(`http://${host}:${notify}/ready`),
    },
    {
      // Device readings from MQTT (and HTTP) into Kafka; ready while it holds its MQTT session.
      name: 'telemetry',
      kind: 'process',
      args: [
        'telemetry',
        'bridge',
        '--host',
        host,
        '--http-port',
        String(telemetry),
        '--topic',
        env.BV_TELEMETRY_TOPIC || 'iot.device',
        '--client-id',
        env.BV_TELEMETRY_CLIENT_ID || 'bv-telemetry-bridge',
      ],
      url: `mqtt -> kafka; http://${host}:${telemetry}/v1/devices/:deviceId/readings`,
      probe: () => httpProbe(`http://${host}:${telemetry}/ready`),
    },
    {
      name: 'pg-serve',
      kind: 'process',
      args: ['pg-serve', '--host', host, '--port', String(pg)],
      url: `postgresql://${host}:${pg}`,
      probe: () => pgWireProbe(host, pg),
    },
  ];
}

/** The warehouse's health: a query of its build log and lag in the lake. */
async function warehouseProbe(): Promise<{ detail: string; lag: number }> {
  const [{ openLake }, { Warehouse }, { loadPlatformConfig }] = await Promise.all([
    import('@bitvelocity/lakehouse'),
    import('@bitvelocity/warehouse'),
    import('@bitvelocity/core'),
  ]);
  const lake = await openLake(loadPlatformConfig());
  try {
    const status = await (await Warehouse.create({ lake })).status();
    const last = status.lastBuild;
    return {
      detail: `${last ? `build ${last.buildSeq} at ${last.finishedAt}` : 'no build yet'}; ${status.lag.pendingRows} Silver rows pending`,
      lag: status.lag.pendingRows,
    };
  } finally {
    lake.close();
  }
}

/** Resolves `--only` names (a component's name, or `jobs` for every job) against the table. */
export function selectComponents(all: PlatformComponent[], only: string[] | undefined): PlatformComponent[] {
  if (!only) return all;
  const known = new Set([...all.map((c) => c.name), 'jobs']);
  const unknown = only.filter((name) => !known.has(name));
  if (unknown.length)
    throw new BvError(
      'PLATFORM_BAD_OPTION',
      `unknown component(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`,
    );
  return all.filter((c) => only.includes(c.name) || (c.kind === 'job' && only.includes('jobs')));
}
