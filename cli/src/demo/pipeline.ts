import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  type PlatformConfig,
  postgresUrl,
  Tracing,
  traceDiagnostics,
  waitFor as waitForOutcome,
} from '@bitvelocity/core';
import { applyOutboxConnector, defaultOutboxConnector } from '@bitvelocity/ingest';
import {
  bronzeJob,
  type DuckDb,
  followTransform,
  GOLD_VIEWS,
  goldJob,
  installTransformLineage,
  type LineageSubscription,
  lakeSystem,
  openLake,
  SilverRefresher,
  sqlLiteral,
} from '@bitvelocity/lakehouse';
import { layerGate } from '@bitvelocity/quality';
import { createServiceDeps, createServicesApp, ensureAppRole, hashPassword, migrate } from '@bitvelocity/services';
import {
  ensureJobTopics,
  type JobDefinition,
  jobStatus,
  runWorker,
  StreamRunProgress,
  type WorkerStatus,
} from '@bitvelocity/streams';
import customerSessions from '@bitvelocity/streams/jobs/customer-sessions';
import orderStreams from '@bitvelocity/streams/jobs/order-streams';
import productMetrics from '@bitvelocity/streams/jobs/product-metrics';
import revenue from '@bitvelocity/streams/jobs/revenue';
import { Admin } from '@platformatic/kafka';
import pg from 'pg';
import { type Activity, apiEventsOf, emptyActivity, runLoad } from './activity.js';
import { type ApiCall, apiClient } from './api-client.js';
import {
  bronzeKeptDefects,
  bronzeLanded,
  goldMatchesSilver,
  type LayerCheck,
  lakeAgreesWithPostgres,
  quarantinedOfRun,
  silverTyped,
} from './checks.js';
import { type PlantedDefects, plantDefects } from './defects.js';
import { type LoadPlan, planLoad, planTotals } from './load.js';
import { checkSilverOrders } from './quality.js';
import {
  anomaliesOfRun,
  type DemoSummary,
  deadLettersOfRun,
  formatSummary,
  goldOfRun,
  ORDER_AMOUNT_METRIC,
  platformUrls,
} from './summary.js';

export { formatSummary };

export interface DemoStep {
  name: string;
  seconds: number;
  outcome: string;
}

export interface DemoReport {
  runId: string;
  tenant: string;
  orders: number;
  seed: number;
  steps: DemoStep[];
  /** Absent when a step before the summary failed. */
  summary?: DemoSummary;
  ok: boolean;
}

interface DemoOptions {
  orders: number;
  /** The load generator's seed: the same seed gives the same plan and the same planted defects. */
  seed: number;
  onStep?: (step: DemoStep) => void;
  /** What the demo is doing right now (the step, and within a step how far it got), for a progress display. */
  onProgress?: (step: string, detail: string) => void;
  /** After a passing run, keep the services and jobs running here until this resolves (Ctrl-C). */
  keepUntil?: (summary: DemoSummary) => Promise<void>;
  /** Longest wait for a layer to show the run's events. */
  timeoutMs?: number;
  /** Longest wait for the jobs to work through what their topics held before the run. */
  catchUpTimeoutMs?: number;
}

/**
 * `bv demo`: the platform's main job end to end on the local stack. A load planned from the seed (load.ts) goes in
 * through the HTTP API (JWT, a tenant and currency of the run's own); the outbox -> Debezium -> Kafka; the platform's
 * stream jobs (re-keying, per-product minute counts, revenue, sessions, anomalies) and the lake jobs (Bronze, Gold) run,
 * in this process unless they are deployed; Silver is refreshed from Bronze. Defects are planted straight on the
 * topics (defects.ts). Then every layer is checked against the plan's ground truth: Bronze holds every event, Silver
 * every event once with exactly the malformed ones quarantined, the order DLQ exactly those, the lake's totals equal
 * Postgres's, each closed Gold window equals the same count computed from Silver, the planted spikes are scored by the
 * order-amount detector, and a Great Expectations suite passes on the Silver batch. The summary sums it up.
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
  let current = '';
  const step = async (name: string, work: () => Promise<string>): Promise<boolean> => {
    if (!ok) return false; // each step builds on the ones before
    const started = performance.now();
    current = name;
    options.onProgress?.(name, '');
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
  const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, within = timeoutMs): Promise<T> => {
    options.onProgress?.(current, `waiting for ${what}`);
    return waitForOutcome(
      what,
      async () => {
        const failed = workers.find((w) => w.failure);
        if (failed) throw new Error(`job ${failed.name} stopped: ${failed.failure?.message}`);
        return probe();
      },
      within,
    );
  };

  const log = createLogger('demo', 'error');
  // The services and the jobs run in this process: one provider (bv-demo), a span per request, checkpoint and commit.
  const tracing = Tracing.create({ service: 'bv-demo' });
  const untrace = traceDiagnostics(tracing.tracer);
  const scratch = mkdtempSync(join(tmpdir(), 'bv-demo-'));
  const postgres = new pg.Client(postgresUrl(config.postgres));
  const workers: {
    name: string;
    stop: AbortController;
    done: Promise<void>;
    status?: WorkerStatus;
    /** Why the job stopped on its own (it does not, unless it cannot go on). */
    failure?: Error;
    /** Its lineage run (when BV_LINEAGE_URL or _FILE is set), reported as a deployed worker reports it. */
    lineage?: StreamRunProgress | undefined;
  }[] = [];
  let silverLineage: LineageSubscription | undefined;
  let silverLoop: Promise<void> | undefined;
  const stopSilver = new AbortController();
  let lake: DuckDb | undefined;
  let silverLake: DuckDb | undefined;
  let silverGate: Awaited<ReturnType<typeof layerGate>>;
  let closeServices: (() => Promise<void>) | undefined;
  let api: ApiCall | undefined;
  // The run's own currency (Q + two letters): its order amounts are one key of the anomaly detector, apart from
  // everyone else's, so the planted spikes are scored against this run's orders only.
  const letters = [...randomUUID().replaceAll('-', '')]
    .slice(0, 2)
    .map((c) => String.fromCharCode(65 + (parseInt(c, 16) % 26)));
  const activity: Activity = emptyActivity(`Q${letters.join('')}`);
  const plan: LoadPlan = planLoad({ seed: options.seed, orders: options.orders });
  const totals = planTotals(plan);
  let planted: PlantedDefects | undefined;
  let summary: DemoSummary | undefined;
  let loadEndedMs = 0;
  let goldReflectedMs = 0;
  let qualityState: DemoSummary['quality'] = { state: 'not run', detail: 'a step before it failed' };

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
        tracer: tracing.tracer,
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
          const workerId = `demo-${job.name}`;
          const worker: (typeof workers)[number] = {
            name: job.name,
            stop,
            done: Promise.resolve(),
            lineage: StreamRunProgress.installFor(job, workerId, { config }),
          };
          worker.done = runWorker({
            job,
            bootstrapServers: config.kafka.bootstrapServers,
            workerId,
            signal: stop.signal,
            logger: log,
            onStatus: (status) => {
              worker.status = status;
            },
          }).catch((error: unknown) => {
            // A job that cannot go on ends the run's waits with its reason instead of ending the process.
            worker.failure = error instanceof Error ? error : new Error(String(error));
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
      // Each Silver increment as a lineage run (lake.silver), as the deployed Silver job reports it.
      silverLineage = installTransformLineage({ config });
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
          options.onProgress?.('jobs', `catching up: ${lags.reduce<number>((n, l) => n + (l ?? 0), 0)} records behind`);
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

    await step(
      `api: ${totals.orders} orders with ${totals.lines} lines over ${plan.days.length} simulated days, ${totals.spikes} of them spikes`,
      async () => {
        await runLoad(api as ApiCall, plan, activity, {
          runId,
          onProgress: (done, total) => options.onProgress?.('api', `${done}/${total} calls`),
        });
        return [
          `${activity.orders.length} orders (${activity.paid} paid, ${activity.shipped} shipped, ${activity.cancelled} cancelled)`,
          `${activity.customers} customers with ${activity.segmentChanges} segment changes`,
          `${activity.productIds.length} products with ${activity.priceChanges} price changes, in ${activity.currency}`,
          `seed ${plan.seed}`,
        ].join('; ');
      },
    );

    lake = await openLake(config);
    const lakeDb = lake;
    const t = sqlLiteral(tenant);
    const check: LayerCheck = { lake: lakeDb, postgres, tenant, activity, waitFor };

    await step('bronze: every event of the run landed, exactly once', () => bronzeLanded(check));

    await step('defects: duplicates, late, out-of-order and malformed records straight to the topics', async () => {
      planted = await plantDefects(config, lakeDb, plan, activity, { tenant, runId });
      loadEndedMs = Date.now();
      check.planted = planted;
      const kept = await bronzeKeptDefects(check);
      return `${planted.duplicates.length} duplicates, ${planted.late.length} late, ${planted.outOfOrder.length * 2} out of order, ${planted.notJson} not JSON, ${planted.schemaViolations.length} schema-violating; Bronze: ${kept}`;
    });

    await step('silver: typed and deduplicated; late and out-of-order in place; the malformed quarantined', () =>
      silverTyped(check),
    );

    await step('dead letters: the stream jobs dead-lettered exactly the malformed records', async () => {
      const want = {
        SCHEMA_VIOLATION: planted?.schemaViolations.length ?? 0,
        UNDECODABLE: planted?.notJson ?? 0,
      };
      const got = await waitFor('the dead letters', async () => {
        const byReason = await deadLettersOfRun(config, lakeDb, planted as PlantedDefects);
        return Object.values(byReason).reduce((a, b) => a + b, 0) >= want.SCHEMA_VIOLATION + want.UNDECODABLE
          ? byReason
          : undefined;
      });
      if (JSON.stringify(got) !== JSON.stringify(want))
        throw new Error(`dead letters ${JSON.stringify(got)}, planted ${JSON.stringify(want)}`);
      const sessions = workers.find((w) => w.name === customerSessions.name)?.status;
      const tooLate = sessions?.tasks.reduce((n, task) => n + task.counters.tooLate, 0);
      return [
        `ecommerce.order.dlq: ${Object.entries(got)
          .map(([code, n]) => `${n} ${code}`)
          .join(', ')}`,
        tooLate !== undefined
          ? `customer-sessions counted ${tooLate} events past their allowed lateness (${planted?.late.length} planted)`
          : '',
      ]
        .filter(Boolean)
        .join('; ');
    });

    await step('consistency: the lake agrees with Postgres', () => lakeAgreesWithPostgres(check));

    await step('gold: each closed minute window equals the count from Silver', async () => {
      const outcome = await goldMatchesSilver(check);
      goldReflectedMs = Date.now();
      return outcome;
    });

    await step('anomalies: the planted spikes against what the order-amount detector found', async () => {
      const found = await waitFor("the scores of the run's orders in Gold", () =>
        anomaliesOfRun(lakeDb, tenant, activity),
      );
      goldReflectedMs = Math.max(goldReflectedMs, Date.now());
      return `${ORDER_AMOUNT_METRIC}: ${found.planted} planted, ${found.found} found, ${found.truePositives} right (precision ${found.precision ?? 'n/a'}, recall ${found.recall ?? 'n/a'})`;
    });

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
      if (failed.length > 0) {
        qualityState = { state: 'failed', detail: `${failed.length} critical expectations failed` };
        throw new Error(`suite failed: ${JSON.stringify(failed)}`);
      }
      if (disagreements.length > 0) throw new Error(`native and GX disagree: ${disagreements.join('; ')}`);
      const warnings = native.results.filter((r) => !r.success).length;
      const held = silverGate?.checks.filter((c) => c.outcome === 'held').length ?? 0;
      qualityState = {
        state: 'passed',
        detail: `${native.results.length - warnings}/${native.results.length} expectations met on the run's Silver orders, Great Expectations agreeing; ${silverGate ? `Silver's gate held ${held} of ${silverGate.checks.length} increments` : 'Silver gate off'}`,
      };
      return [
        `native ${native.results.length - warnings}/${native.results.length} expectations met${warnings ? ` (${warnings} warnings)` : ''} in ${native.durationMs} ms`,
        `Great Expectations agrees on the ${gx.results.length} it runs (${gx.skipped.length} platform-only left out) in ${gx.durationMs} ms`,
        silverGate ? `Silver's gate checked ${silverGate.checks.length} increments, held ${held}` : 'Silver gate off',
      ].join('; ');
    });

    if (ok && planted) {
      const landedPlanted = planted;
      await step('summary: the run against its ground truth', async () => {
        const [deadLettered, quarantined, anomalies, gold, urls] = await Promise.all([
          deadLettersOfRun(config, lakeDb, landedPlanted),
          quarantinedOfRun(lakeDb, tenant, landedPlanted),
          anomaliesOfRun(lakeDb, tenant, activity),
          goldOfRun(lakeDb, activity),
          platformUrls(),
        ]);
        const sum = (byReason: Record<string, number>) => Object.values(byReason).reduce((a, b) => a + b, 0);
        const eventsIn = {
          api: apiEventsOf(activity),
          duplicates: landedPlanted.duplicates.length,
          late: landedPlanted.late.length,
          outOfOrder: landedPlanted.outOfOrder.length * 2,
          malformed: landedPlanted.notJson + landedPlanted.schemaViolations.length,
          total: 0,
        };
        eventsIn.total = eventsIn.api + eventsIn.duplicates + eventsIn.late + eventsIn.outOfOrder + eventsIn.malformed;
        summary = {
          seed: plan.seed,
          currency: activity.currency,
          eventsIn,
          deadLettered: { total: sum(deadLettered), byReason: deadLettered },
          quarantined: { total: sum(quarantined), byReason: quarantined },
          anomalies: anomalies as DemoSummary['anomalies'],
          gold: gold.counts,
          goldOrderLines: { lines: gold.lines, units: gold.units },
          freshness: {
            loadToGoldSeconds: goldReflectedMs ? Math.round((goldReflectedMs - loadEndedMs) / 100) / 10 : null,
            newestGoldRowAgeSeconds:
              gold.newestLandedMs !== null ? Math.round((Date.now() - gold.newestLandedMs) / 100) / 10 : null,
          },
          quality: qualityState,
          urls,
        };
        return `${eventsIn.total} events in, ${summary.deadLettered.total} dead-lettered, ${summary.quarantined.total} quarantined, recall ${summary.anomalies.recall ?? 'n/a'}`;
      });
    }
    if (ok && summary && options.keepUntil) await options.keepUntil(summary);
  } finally {
    stopSilver.abort();
    await silverLoop;
    for (const worker of workers) worker.stop.abort();
    await Promise.allSettled(workers.map((w) => w.done));
    await Promise.allSettled([...workers.map((w) => w.lineage?.close()), silverLineage?.close()]);
    silverLake?.close();
    lake?.close();
    await closeServices?.().catch(() => undefined);
    untrace();
    await tracing.shutdown().catch(() => undefined);
    await postgres.end().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }
  return { runId, tenant, orders: options.orders, seed: options.seed, steps, ...(summary ? { summary } : {}), ok };
}
