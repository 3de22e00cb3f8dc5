import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type PlatformConfig, postgresUrl, waitFor as waitForOutcome } from '@bitvelocity/core';
import { applyOutboxConnector, defaultOutboxConnector } from '@bitvelocity/ingest';
import {
  bronzeJob,
  type DuckDb,
  followTransform,
  GOLD_VIEWS,
  goldJob,
  lakeSystem,
  openLake,
  SilverRefresher,
  sqlLiteral,
} from '@bitvelocity/lakehouse';
import { layerGate } from '@bitvelocity/quality';
import { createServiceDeps, createServicesApp, ensureAppRole, hashPassword, migrate } from '@bitvelocity/services';
import { ensureJobTopics, type JobDefinition, jobStatus, runWorker, type WorkerStatus } from '@bitvelocity/streams';
import customerSessions from '@bitvelocity/streams/jobs/customer-sessions';
import orderStreams from '@bitvelocity/streams/jobs/order-streams';
import productMetrics from '@bitvelocity/streams/jobs/product-metrics';
import revenue from '@bitvelocity/streams/jobs/revenue';
import { Admin } from '@platformatic/kafka';
import pg from 'pg';
import { type Activity, placeOrders } from './activity.js';
import { type ApiCall, apiClient } from './api-client.js';
import { bronzeLanded, goldMatchesSilver, type LayerCheck, lakeAgreesWithPostgres, silverTyped } from './checks.js';
import { checkSilverOrders } from './quality.js';

export interface DemoStep {
  name: string;
  seconds: number;
  outcome: string;
}

export interface DemoReport {
  runId: string;
  tenant: string;
  orders: number;
  steps: DemoStep[];
  ok: boolean;
}

interface DemoOptions {
  orders: number;
  onStep?: (step: DemoStep) => void;
  /** Longest wait for a layer to show the run's events. */
  timeoutMs?: number;
  /** Longest wait for the jobs to work through what their topics held before the run. */
  catchUpTimeoutMs?: number;
}

/**
 * `bv demo`: the platform's main job end to end on the local stack. Orders go in through the HTTP API (JWT, a tenant of
 * the run's own); the outbox -> Debezium -> Kafka; the platform's stream jobs (re-keying, per-product minute counts,
 * revenue, sessions, anomalies) and the lake jobs (Bronze, Gold) run, in this process unless they are deployed; Silver
 * is refreshed from Bronze. Then every layer is checked against what the API was asked to do: Bronze holds every
 * event, Silver every order with its lines and no quarantined event, the lake's totals equal Postgres's, each closed
 * Gold window equals the same count computed from Silver, and a Great Expectations suite passes on the Silver batch.
 */
export async function runPipelineDemo(config: PlatformConfig, options: DemoOptions): Promise<DemoReport> {
  const runId = `${new Date()
    .toISOString()
    .replaceAll(/[-:.TZ]/g, '')
    .slice(0, 14)}-${randomUUID().slice(0, 8)}`;
  const tenant = `demo-${runId.slice(-8)}`;
  const timeoutMs = options.timeoutMs ?? 180_000;
  const steps: DemoStep[] = [];
  let ok = true;
  const step = async (name: string, work: () => Promise<string>): Promise<boolean> => {
    if (!ok) return false; // each step builds on the ones before
    const started = performance.now();
    let outcome: string;
    try {
      outcome = await work();
    } catch (error) {
      ok = false;
      outcome = `FAILED: ${error instanceof Error ? error.message : String(error)}`;
    }
    const done = { name, seconds: Math.round(performance.now() - started) / 1000, outcome };
    steps.push(done);
    options.onStep?.(done);
    return ok;
  };
  const catchUpTimeoutMs = options.catchUpTimeoutMs ?? 600_000;
  const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, within = timeoutMs): Promise<T> =>
    waitForOutcome(what, probe, within);

  const log = createLogger('demo', 'error');
  const scratch = mkdtempSync(join(tmpdir(), 'bv-demo-'));
  const postgres = new pg.Client(postgresUrl(config.postgres));
  const workers: { name: string; stop: AbortController; done: Promise<void>; status?: WorkerStatus }[] = [];
  let silverLoop: Promise<void> | undefined;
  const stopSilver = new AbortController();
  let lake: DuckDb | undefined;
  let silverLake: DuckDb | undefined;
  let silverGate: Awaited<ReturnType<typeof layerGate>>;
  let closeServices: (() => Promise<void>) | undefined;
  let api: ApiCall | undefined;
  const activity: Activity = {
    productIds: [],
    customers: 0,
    orders: [],
    paid: 0,
    shipped: 0,
    cancelled: 0,
    priceChanges: 0,
  };

  try {
    await postgres.connect();
    await step('services: migrate and serve the APIs', async () => {
      const ownerUrl = postgresUrl(config.postgres);
      await migrate(ownerUrl);
      await ensureAppRole(ownerUrl, config.postgres.appUser, config.postgres.appPassword);
      const password = randomUUID();
      const deps = createServiceDeps({
        databaseUrl: postgresUrl(config.postgres, { as: 'app', preferSocket: true }),
        redisUrl: config.redis.url,
        auth: {
          jwtSecret: `${randomUUID()}${randomUUID()}`,
          users: [{ username: 'demo', passwordHash: await hashPassword(password), tenantId: tenant, roles: ['admin'] }],
          tokenTtlSeconds: 900,
        },
      });
      const app = await createServicesApp(deps);
      await app.listen({ host: '127.0.0.1', port: 0 });
      closeServices = () => app.close();
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      api = await apiClient(base, { username: 'demo', password });
      return `product, customer and order APIs on ${base}, tenant ${tenant}`;
    });

    await step('cdc: the Debezium outbox connector runs', async () => {
      const report = await applyOutboxConnector(config, defaultOutboxConnector());
      return `connector ${report.status.name}: ${report.status.connector}, tasks ${report.status.tasks.map((t) => t.state).join(', ')}`;
    });

    await step('jobs: the stream jobs and the lake jobs run', async () => {
      const admin = new Admin({ clientId: 'bv-demo', bootstrapBrokers: config.kafka.bootstrapServers });
      const jobs: JobDefinition[] = [
        bronzeJob({ lake: lakeSystem() }),
        orderStreams,
        productMetrics,
        revenue,
        customerSessions,
        goldJob({ lake: lakeSystem({ views: GOLD_VIEWS }) }),
      ];
      const started: string[] = [];
      const deployed: string[] = [];
      try {
        for (const job of jobs) {
          await ensureJobTopics(admin, job);
          const status = await jobStatus(config, job.name).catch(() => undefined);
          if (status && (status.state === 'running' || status.state === 'degraded')) {
            deployed.push(job.name);
            continue;
          }
          const stop = new AbortController();
          const worker: (typeof workers)[number] = { name: job.name, stop, done: Promise.resolve() };
          worker.done = runWorker({
            job,
            bootstrapServers: config.kafka.bootstrapServers,
            workerId: `demo-${job.name}`,
            signal: stop.signal,
            logger: log,
            onStatus: (status) => {
              worker.status = status;
            },
          });
          workers.push(worker);
          started.push(job.name);
        }
      } finally {
        await admin.close();
      }
      silverLake = await openLake(config);
      const refresher = await SilverRefresher.create(silverLake);
      // Silver's quality gate, as `bv lake silver` and the deployed job run it (BV_QUALITY_GATES=off: none).
      silverGate = await layerGate(silverLake, 'silver', { config });
      silverLoop = followTransform(refresher, {
        ...(silverGate ? { beforePublish: silverGate } : {}),
        signal: stopSilver.signal,
        intervalMs: 300,
        onError: (error) => log.warn({ err: error }, 'silver refresh failed'),
      });
      // The jobs first catch up with what their topics already hold, so the run's own events are not queued behind it.
      let backlog = 0;
      await waitFor(
        'the jobs to catch up with their topics',
        async () => {
          const lags = workers.map((w) =>
            w.status && w.status.tasks.length > 0 ? w.status.tasks.reduce((sum, t) => sum + t.lag, 0) : undefined,
          );
          backlog = Math.max(backlog, ...lags.map((l) => l ?? 0));
          return lags.every((l) => l === 0) ? true : undefined;
        },
        catchUpTimeoutMs,
      );
      return [
        started.length ? `running here: ${started.join(', ')}` : '',
        backlog > 0 ? `caught up with a backlog of up to ${backlog} records` : '',
        deployed.length ? `already deployed: ${deployed.join(', ')}` : '',
        'Silver refreshing every 300 ms',
      ]
        .filter(Boolean)
        .join('; ');
    });

    await step(`api: ${options.orders} orders, payments, shipments, cancellations and a price change`, async () => {
      await placeOrders(api as ApiCall, activity, runId, options.orders);
      return `${activity.orders.length} orders (${activity.paid} paid, ${activity.shipped} shipped, ${activity.cancelled} cancelled) from ${activity.customers} customers over ${activity.productIds.length} products`;
    });

    lake = await openLake(config);
    const lakeDb = lake;
    const t = sqlLiteral(tenant);
    const check: LayerCheck = { lake: lakeDb, postgres, tenant, activity, waitFor };

    await step('bronze: every event of the run landed, exactly once', () => bronzeLanded(check));

    await step('silver: typed orders, lines, products and customers; nothing quarantined', () => silverTyped(check));

    await step('consistency: the lake agrees with Postgres', () => lakeAgreesWithPostgres(check));

    await step('gold: each closed minute window equals the count from Silver', () => goldMatchesSilver(check));

    await step('quality: the Silver orders suite, native runner and Great Expectations agreeing', async () => {
      const parquet = join(scratch, 'orders.parquet');
      const relation = `(SELECT * FROM silver.orders WHERE tenant_id = ${t})`;
      await lakeDb.run(
        `COPY (SELECT * REPLACE (amount::DOUBLE AS amount) FROM ${relation}) TO ${sqlLiteral(parquet)} (FORMAT parquet)`,
      );
      const { native, gx, disagreements } = await checkSilverOrders(lakeDb, {
        python: config.gx.python,
        relation,
        parquet,
        rows: activity.orders.length + activity.paid + activity.shipped + activity.cancelled,
      });
      const failed = native.results.filter((r) => !r.success && r.severity === 'critical');
      if (failed.length > 0) throw new Error(`suite failed: ${JSON.stringify(failed)}`);
      if (disagreements.length > 0) throw new Error(`native and GX disagree: ${disagreements.join('; ')}`);
      const warnings = native.results.filter((r) => !r.success).length;
      const held = silverGate?.checks.filter((c) => c.outcome === 'held').length ?? 0;
      return [
        `native ${native.results.length - warnings}/${native.results.length} expectations met${warnings ? ` (${warnings} warnings)` : ''} in ${native.durationMs} ms`,
        `Great Expectations agrees on the ${gx.results.length} it runs (${gx.skipped.length} platform-only left out) in ${gx.durationMs} ms`,
        silverGate ? `Silver's gate checked ${silverGate.checks.length} increments, held ${held}` : 'Silver gate off',
      ].join('; ');
    });
  } finally {
    stopSilver.abort();
    await silverLoop;
    for (const worker of workers) worker.stop.abort();
    await Promise.allSettled(workers.map((w) => w.done));
    silverLake?.close();
    lake?.close();
    await closeServices?.().catch(() => undefined);
    await postgres.end().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }
  return { runId, tenant, orders: options.orders, steps, ok };
}
