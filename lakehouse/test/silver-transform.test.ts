import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  createEnvelope,
  diagnostics,
  type Envelope,
  type LakeCommitEvent,
  loadPlatformConfig,
} from '@bitvelocity/core';
import { bv, killRandomWorker, restartsOf, stopJob, waitFor } from '@bitvelocity/infra/testing';
import { JobRegistry, type RawRecord, type StreamRecord, type TransactionalWriter } from '@bitvelocity/streams';
import { rawStreamRecord } from '@bitvelocity/streams/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BRONZE_ENVELOPES,
  type DuckDb,
  type LakeTable,
  lakeSystem,
  offsetsTableOf,
  openLake,
  qualifiedName,
  SilverRefresher,
  silverTables,
} from '../src/index.js';
import { bronzeRow } from '../src/layers/bronze.js';
import { runIncrement } from '../src/transform/runner.js';

const config = loadPlatformConfig();
const SILVER_JOB = fileURLToPath(new URL('../src/jobs/silver.ts', import.meta.url));
const id = randomUUID().replaceAll('-', '').slice(0, 10);
const bronze: LakeTable = { ...BRONZE_ENVELOPES, schema: `test_st_${id}_bronze` };
const tables = silverTables(`test_st_${id}_silver`);
const T0 = Date.parse('2026-11-20T10:00:00Z');

const order = (n: number): Envelope =>
  createEnvelope({
    eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    eventType: 'ecommerce.order.created.v1',
    producer: 'test',
    tenantId: 't1',
    partitionKey: `o${n}`,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    occurredAt: new Date(T0 + n),
    payload: {
      orderId: randomUUID(),
      customerId: randomUUID(),
      status: 'created',
      currency: 'EUR',
      totalAmount: '10.10',
      lines: [{ lineNo: 1, productId: randomUUID(), quantity: 1, unitPrice: '10.10' }],
      createdAt: new Date(T0 + n).toISOString(),
    },
  });

let offset = 0;
const raw = (value: string | Envelope): StreamRecord<RawRecord> =>
  rawStreamRecord({ topic: 'ecommerce.order', offset: BigInt(offset++), timestamp: T0, value });

describe('Silver as a supervised lake transform', () => {
  let lake: DuckDb;
  let writer: TransactionalWriter;
  const system = lakeSystem();
  const sink = system.sink<RawRecord>(bronze, (r, context) => bronzeRow(r.value, context));
  const writerJob = `test-st-writer-${id}`;
  const silverJob = `test-st-silver-${id}`;
  const cleanups: (() => Promise<void> | void)[] = [];

  const land = async (records: StreamRecord<RawRecord>[]) => {
    await writer.commit({
      records: new Map([[sink.target, records]]),
      offsets: [{ topic: 'ecommerce.order', partition: 0, nextOffset: BigInt(offset) }],
    });
  };
  const count = async (table: LakeTable, reader: DuckDb = lake) => {
    const [row] = await reader.rows<{ n: bigint; ids: bigint }>(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM ${qualifiedName(table)}`,
    );
    return { n: Number(row?.n ?? 0n), ids: Number(row?.ids ?? 0n) };
  };

  beforeAll(async () => {
    lake = await openLake(config);
    writer = await system.connect(writerJob, 'test');
    await writer.claim('ecommerce.order', 0);
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await writer.close();
    for (const schema of [bronze.schema, tables.orders.schema, `test_st_${id}_quality`])
      await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    for (const table of [offsetsTableOf(writerJob), tables.progress])
      await lake.run(`DROP TABLE IF EXISTS ${qualifiedName(table)}`).catch(() => {});
    lake.close();
  });

  it('a hold verdict leaves readers on the previous snapshot and the position unmoved; publish lands the increment', async () => {
    const silver = await SilverRefresher.create(lake, { name: `${silverJob}-hold`, bronze, tables });
    const commits: LakeCommitEvent[] = [];
    const offCommits = diagnostics.lakeCommit.subscribe((e) => commits.push(e));
    await land([raw(order(1)), raw(order(2)), raw('not json')]);
    const before = await silver.lag();
    const events: string[] = [];
    const unsubscribe = [
      diagnostics.transformStart.subscribe((e) => events.push(`start ${e.transform} ${e.mode}`)),
      diagnostics.transformHeld.subscribe((e) => events.push(`held ${e.transform} ${e.reason}`)),
      diagnostics.transformFinish.subscribe((e) => events.push(`finish ${e.transform} ${e.reports[0]?.read}`)),
    ];
    const reader = await openLake(config);
    let seenInside = -1;
    let seenAfterRollback = -1;
    try {
      const held = await runIncrement(silver, {
        beforePublish: async (increment) => {
          const orders = increment.outputs.find((o) => o.table === tables.orders);
          const [inside] = await increment.lake.rows<{ n: bigint }>(`SELECT count(*) AS n FROM ${orders?.increment}`);
          seenInside = Number(inside?.n ?? -1n);
          return {
            action: 'hold',
            reason: 'test gate: amounts unchecked',
            afterRollback: async () => {
              seenAfterRollback = (await count(tables.orders)).n;
            },
          };
        },
      });
      expect(held).toMatchObject({ read: 3, published: false, heldReason: 'test gate: amounts unchecked' });
      expect(held.position).toBe(before.position);
      expect(seenInside).toBe(2); // the hook saw the increment inside the transaction...
      expect(seenAfterRollback).toBe(0); // ...and nothing of it was left after the rollback
      expect(await count(tables.orders, reader)).toEqual({ n: 0, ids: 0 });
      expect(await count(tables.quarantine, reader)).toEqual({ n: 0, ids: 0 });
      expect(await silver.lag()).toMatchObject({ position: before.position, pendingRows: 3 });

      const published = await runIncrement(silver, { beforePublish: async () => ({ action: 'publish' }) });
      expect(published).toMatchObject({ read: 3, published: true, quarantined: 1, landed: { orders: 2 } });
      expect(await count(tables.orders, reader)).toEqual({ n: 2, ids: 2 });
      expect(await silver.lag()).toMatchObject({ position: published.position, pendingRows: 0 });
    } finally {
      for (const off of [...unsubscribe, offCommits]) off();
      reader.close();
    }
    // Two lake commits: Bronze's batch (with its offsets) and the published increment (with its position); none held.
    expect(commits.map(({ durationMs: _d, ...commit }) => commit)).toEqual([
      {
        writer: writerJob,
        written: { [qualifiedName(bronze)]: 3 },
        offsets: [{ topic: 'ecommerce.order', partition: 0, nextOffset: 3n }],
      },
      {
        writer: `${silverJob}-hold`,
        written: {
          [qualifiedName(tables.orders)]: 2,
          [qualifiedName(tables.orderLines)]: 2,
          [qualifiedName(tables.quarantine)]: 1,
        },
        position: commits[1]?.position,
      },
    ]);
    const name = `${silverJob}-hold`;
    expect(events).toEqual([
      `start ${name} increment`,
      `held ${name} test gate: amounts unchecked`,
      `finish ${name} 3`,
      `start ${name} increment`,
      `finish ${name} 3`,
    ]);
  });

  it('deployed with bv jobs deploy, its worker killed -9 under load, lands every event exactly once', async () => {
    const env = {
      BV_SILVER_JOB: silverJob,
      BV_BRONZE_SCHEMA: bronze.schema,
      BV_SILVER_SCHEMA: tables.orders.schema,
      BV_SILVER_MAX_BATCH_ROWS: '100', // each increment also passes the quality gate
      // the job runs Silver's quality gate; its results go to a schema of this spec's own
      BV_QUALITY_SCHEMA: `test_st_${id}_quality`,
      BV_QUALITY_ALERTS_TOPIC: `test.st.${id}.alerts`,
    };
    // 2 + 1 quarantined rows from the first spec; now 600 more events, each delivered twice, and a few non-JSON rows.
    const expectedOrders = 2 + 600;
    const expectedQuarantine = 1 + 6;
    bv(['jobs', 'deploy', SILVER_JOB], env);
    cleanups.push(() => stopJob(silverJob, env));
    const registry = await JobRegistry.create(config);
    cleanups.push(() => registry.close());

    const batch = (b: number) => {
      const records: StreamRecord<RawRecord>[] = [];
      const events = Array.from({ length: 100 }, (_, i) => order(100 + b * 100 + i));
      for (const event of events) records.push(raw(event));
      for (const event of events) records.push(raw(event)); // a re-delivery: the same event again
      records.push(raw(`not json ${b}`));
      return records;
    };
    await land(batch(0));
    await waitFor('the first increment', async () => ((await count(tables.orders)).n > 2 ? true : undefined), 60_000);
    // Kill the worker at random points while it works through the backlog; the supervisor restarts it.
    let kills = 0;
    const landedAtKill: number[] = [];
    for (let b = 1; b < 6; b++) {
      await land(batch(b));
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 900));
      if (b % 2 === 0) continue;
      landedAtKill.push((await count(tables.orders)).n);
      if (await killRandomWorker(registry, silverJob)) kills++;
      // The next kill goes to the restarted worker.
      await waitFor('the restart', async () => ((await restartsOf(registry, silverJob)) >= kills ? true : undefined));
    }
    await waitFor(
      'Silver to catch up with Bronze',
      async () => ((await count(tables.orders)).n >= expectedOrders ? true : undefined),
      180_000,
    );
    await new Promise((r) => setTimeout(r, 1500)); // a straggling duplicate commit would show up now
    expect(await count(tables.orders)).toEqual({ n: expectedOrders, ids: expectedOrders });
    expect(await count(tables.orderLines)).toEqual({ n: expectedOrders, ids: expectedOrders });
    expect((await count(tables.quarantine)).n).toBe(expectedQuarantine);
    console.log(`kill -9 x${kills}; Silver orders at each kill: ${landedAtKill.join(', ')}`);
    expect(kills).toBeGreaterThanOrEqual(2);
    expect(landedAtKill.filter((n) => n > 2 && n < expectedOrders).length).toBeGreaterThanOrEqual(2);
    await waitFor('the supervisor to restart every killed worker', async () =>
      (await restartsOf(registry, silverJob)) >= kills ? true : undefined,
    );

    // bv jobs status shows the transform with its lag (list prints the same status per job).
    const status = await waitFor('a report with no lag', async () => {
      const s = JSON.parse(bv(['jobs', 'status', silverJob, '--json'], env));
      return s.state === 'running' && s.transform?.lag.pendingRows === 0 ? s : undefined;
    });
    expect(status).toMatchObject({ kind: 'transform', guarantee: 'exactly-once', parallelism: 1, totals: { lag: 0 } });
    expect(bv(['jobs', 'status', silverJob], env)).toMatch(/lag: position \d+, 0 input rows pending/);
    // The worker serves /metrics (its address is in the status): lake commit time and the freshness of Silver's tables.
    const port = (status.workers as { metricsPort: number | null }[])[0]?.metricsPort;
    expect(port).toEqual(expect.any(Number));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    // (this worker may be a restarted one with nothing left to commit: the metrics are there, values or not)
    expect(metrics).toMatch(/^# TYPE bv_lake_commit_seconds histogram$/m);
    expect(metrics).toMatch(/^# TYPE bv_lake_freshness_seconds gauge$/m);

    // Every increment the job published passed Silver's quality gate (its quarantine is not gated).
    const gated = await lake.rows<{ outcome: string; table_name: string }>(
      `SELECT DISTINCT outcome, split_part(table_name, '.', 2) AS table_name FROM ${env.BV_QUALITY_SCHEMA}.quality_metrics ORDER BY ALL`,
    );
    expect(gated).toEqual([
      { outcome: 'published', table_name: 'order_lines' },
      { outcome: 'published', table_name: 'orders' },
    ]);
  }, 300_000);
});
