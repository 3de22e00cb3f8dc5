import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import {
  BV_JOB_NAMESPACE,
  type DatasetId,
  datasetNames,
  lakeCatalogOf,
  loadPlatformConfig,
  postgresUrl,
} from '@bitvelocity/core';
import { defaultOutboxConnector } from '@bitvelocity/ingest';
import { startLineageServer } from '@bitvelocity/lineage';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planLoad, planTotals } from '../src/demo/load.js';
import type { DemoSummary } from '../src/demo/summary.js';

const exec = promisify(execFile);

// The demo reports its jobs' runs to a lineage service of this spec's own (its own schema and tenant).
const config = loadPlatformConfig();
const ownerUrl = postgresUrl(config.postgres);
const lineageSchema = `lineage_demo_${randomUUID().slice(0, 8)}`;
let lineage: Awaited<ReturnType<typeof startLineageServer>>;
let lineageToken: string;

beforeAll(async () => {
  lineage = await startLineageServer({
    postgresUrl: ownerUrl,
    jwtSecret: randomUUID().repeat(2),
    schema: lineageSchema,
    port: 0,
  });
  lineageToken = lineage.app.jwt.sign({ sub: 'demo', tenant: `demo-${randomUUID().slice(0, 8)}`, roles: ['writer'] });
});

afterAll(async () => {
  await lineage?.close();
  const client = new pg.Client(ownerUrl);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${lineageSchema} CASCADE`);
  await client.end();
});

describe('bv demo', () => {
  it('pushes a seeded load with planted defects through the whole path and finds exactly what was planted', async () => {
    const { stdout } = await exec('node', ['cli/bin/bv.js', 'demo', '--orders', '60', '--seed', '7', '--json'], {
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, BV_LINEAGE_URL: lineage.url, BV_LINEAGE_TOKEN: lineageToken },
    });
    const report = JSON.parse(stdout) as {
      ok: boolean;
      orders: number;
      seed: number;
      steps: { name: string; outcome: string }[];
      summary: DemoSummary;
    };
    expect(report.steps.filter((s) => s.outcome.startsWith('FAILED'))).toEqual([]);
    expect(report).toMatchObject({ ok: true, orders: 60, seed: 7 });
    expect(report.steps.map((s) => s.name.split(':')[0])).toEqual([
      'services',
      'cdc',
      'jobs',
      'api',
      'bronze',
      'defects',
      'silver',
      'dead letters',
      'consistency',
      'gold',
      'anomalies',
      'quality',
      'summary',
    ]);

    // The ground truth is the generator's: the same seed gives the same plan here as in the demo.
    const plan = planLoad({ seed: 7, orders: 60 });
    const totals = planTotals(plan);
    const { summary } = report;
    expect(summary.eventsIn).toEqual({
      api: totals.apiEvents,
      duplicates: new Set(plan.defects.duplicates).size,
      late: plan.defects.late.length,
      outOfOrder: plan.defects.outOfOrder.length * 2,
      malformed: plan.defects.notJson + plan.defects.schemaViolations,
      total:
        totals.apiEvents +
        new Set(plan.defects.duplicates).size +
        plan.defects.late.length +
        plan.defects.outOfOrder.length * 2 +
        plan.defects.notJson +
        plan.defects.schemaViolations,
    });
    // Exactly the malformed records, once each, in the order topic's dead letters and in Silver's quarantine.
    const malformed = { SCHEMA_VIOLATION: plan.defects.schemaViolations, UNDECODABLE: plan.defects.notJson };
    expect(summary.deadLettered).toEqual({ total: 4, byReason: malformed });
    expect(summary.quarantined).toEqual({ total: 4, byReason: malformed });
    // Gold holds every line and unit of the run once: the duplicates were not counted twice.
    const units = plan.orders.reduce((n, o) => n + o.lines.reduce((u, l) => u + l.quantity, 0), 0);
    expect(summary.goldOrderLines).toEqual({ lines: totals.lines, units });
    expect(summary.gold['gold.orders_per_product_1m']).toBeGreaterThan(0);
    // The order-amount detector scores a currency's orders after its first 30.
    expect(summary.gold['gold.anomaly_scores']).toBeGreaterThanOrEqual(30);
    // Every planted spike is found, and nothing else is.
    expect(totals.spikes).toBe(2);
    expect(summary.anomalies).toMatchObject({ planted: 2, found: 2, truePositives: 2, precision: 1, recall: 1 });
    expect(summary.quality.state).toBe('passed');
    expect(summary.freshness.loadToGoldSeconds).toBeGreaterThan(0);

    // The lineage graph of the run's path, as the lineage browser shows it: outbox table -> Debezium connector ->
    // topic -> Bronze job -> Bronze table -> Silver job -> Silver table, from the Silver table upstream.
    const dataset = (d: DatasetId) => `dataset:${d.namespace}:${d.name}`;
    const job = (name: string) => `job:${BV_JOB_NAMESPACE}:${name}`;
    const catalog = lakeCatalogOf(config);
    const path = [
      dataset(datasetNames.postgres(config.postgres, config.postgres.database, 'public', 'outbox')),
      job(`debezium.${defaultOutboxConnector().name}`),
      dataset(datasetNames.kafka(config.kafka.bootstrapServers, 'ecommerce.order')),
      job('stream.lake-bronze'),
      dataset(datasetNames.ducklake(catalog, 'bronze', 'envelopes')),
      job('lake.silver'),
      dataset(datasetNames.ducklake(catalog, 'silver', 'orders')),
    ];
    const silverOrders = path[path.length - 1] as string;
    const response = await fetch(
      `${lineage.url}/api/v1/lineage?nodeId=${encodeURIComponent(silverOrders)}&depth=${path.length}&direction=upstream`,
      { headers: { authorization: `Bearer ${lineageToken}` } },
    );
    expect(response.status).toBe(200);
    const graph = (
      (await response.json()) as { graph: { id: string; inEdges: { origin: string; destination: string }[] }[] }
    ).graph;
    const nodes = new Map(graph.map((n) => [n.id, n]));
    expect([...nodes.keys()]).toEqual(expect.arrayContaining(path));
    for (let i = 1; i < path.length; i++)
      expect(nodes.get(path[i] as string)?.inEdges).toContainEqual({ origin: path[i - 1], destination: path[i] });
  }, 420_000);

  it('rejects a bad --orders or --seed value with a clear message', async () => {
    const orders = await exec('node', ['cli/bin/bv.js', 'demo', '--orders', 'lots']).catch((e: unknown) => e);
    expect(orders).toMatchObject({ code: 1 });
    expect((orders as { stderr: string }).stderr).toContain("option '--orders <n>' argument 'lots' is invalid");
    const seed = await exec('node', ['cli/bin/bv.js', 'demo', '--seed', '-1']).catch((e: unknown) => e);
    expect(seed).toMatchObject({ code: 1 });
    expect((seed as { stderr: string }).stderr).toContain("option '--seed <n>' argument '-1' is invalid");
  });
});

describe('the demo load generator', () => {
  it('plans the same load from the same seed, and another from another seed', () => {
    expect(planLoad({ seed: 7, orders: 200 })).toEqual(planLoad({ seed: 7, orders: 200 }));
    expect(planLoad({ seed: 8, orders: 200 })).not.toEqual(planLoad({ seed: 7, orders: 200 }));
  });

  it('spreads the orders over days and plants spikes only after the warm-up, spaced apart', () => {
    const plan = planLoad({ seed: 3, orders: 200 });
    expect(plan.days.length).toBe(5);
    expect(plan.days.flatMap((d) => d.orders)).toEqual(plan.orders.map((o) => o.index));
    const spikes = plan.orders.filter((o) => o.spike).map((o) => o.index);
    expect(spikes).toEqual([56, 88, 120, 152, 184]);
    const amount = (o: (typeof plan.orders)[number]) =>
      o.lines.reduce((n, l) => n + Number(plan.products[l.product]?.price) * l.quantity, 0);
    const usual = plan.orders.filter((o) => !o.spike).map(amount);
    const smallestSpike = Math.min(...plan.orders.filter((o) => o.spike).map(amount));
    expect(smallestSpike).toBeGreaterThan(100 * Math.max(...usual));
    expect(plan.days.slice(1).every((d) => d.priceChanges.length > 0 && d.segmentChanges.length > 0)).toBe(true);
  });
});
