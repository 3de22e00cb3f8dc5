/**
 * The lakehouse: Bronze ingest rate, and freshness from an HTTP order commit to Silver and to Gold.
 *   npx tsx bench/lake.ts [--events 1000000] [--batch-records 50000] [--rate 20] [--seconds 150] [--skip-ingest]
 *   [--skip-freshness]
 * (1) Bronze ingest: `events` envelopes (~700 B) in a 6-partition topic, landed by the Bronze job (one worker, in
 *     this process) exactly once; events/s over the steady part (first to last commit) and over the whole run.
 * (2) Freshness: orders through the real path (services -> outbox -> Debezium -> Kafka), landed by the Bronze job,
 *     refreshed into Silver (polling every 200 ms), and through the platform's order-streams and product-metrics jobs
 *     and the Gold job into gold.orders_per_product_1m. Latency = first time a poll (every 100 ms) sees the row -
 *     time the HTTP response arrived. Gold includes the window wait (a 1-minute tumbling window closes 10 s after its
 *     end, when later events move the watermark); "after close" subtracts it.
 * Needs the stack up (`bv stack up`). Every process shares the same 2 cores.
 */
import { randomUUID } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createEnvelope, loadPlatformConfig } from '@bitvelocity/core';
import { applyOutboxConnector, defaultOutboxConnector } from '@bitvelocity/ingest';
import {
  BRONZE_ENVELOPES,
  bronzeJob,
  type DuckDb,
  followTransform,
  GOLD_VIEWS,
  goldJob,
  lakeSystem,
  offsetsTableOf,
  openLake,
  qualifiedName,
  runUntilCaughtUp,
  SilverRefresher,
} from '@bitvelocity/lakehouse';
import { ensureJobTopics } from '@bitvelocity/streams';
import customerSessions from '@bitvelocity/streams/jobs/customer-sessions';
import orderStreams from '@bitvelocity/streams/jobs/order-streams';
import productMetrics from '@bitvelocity/streams/jobs/product-metrics';
import revenue from '@bitvelocity/streams/jobs/revenue';
import { Admin, Producer } from '@platformatic/kafka';
import * as hdr from 'hdr-histogram-js';
import { numberArg } from './load.js';
import { startServices } from './services.js';
import { type Running, start, stopAll } from './workers.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const flag = (name: string) => process.argv.includes(`--${name}`);

const caughtUp = (w: Running) =>
  w.status !== undefined && w.status.tasks.length > 0 && w.status.tasks.every((t) => t.lag === 0);

async function bronzeIngest(lake: DuckDb) {
  const events = numberArg('events', 1_000_000);
  const id = randomUUID().slice(0, 8);
  const topic = `bench.bronze.${id}`;
  const admin = new Admin({ clientId: 'bench', bootstrapBrokers: brokers });
  await admin.createTopics({ topics: [topic], partitions: 6, replicas: 1 });
  const producer = new Producer({ clientId: 'bench', bootstrapBrokers: brokers, acks: 1 });
  const orderId = randomUUID();
  const template = createEnvelope({
    eventType: 'ecommerce.order.created.v1',
    producer: 'bench',
    tenantId: 'bench',
    partitionKey: orderId,
    traceId: 'b'.repeat(32),
    payload: {
      orderId,
      customerId: randomUUID(),
      status: 'created',
      currency: 'EUR',
      totalAmount: '42.00',
      lines: [
        { lineNo: 1, productId: randomUUID(), quantity: 2, unitPrice: '10.00' },
        { lineNo: 2, productId: randomUUID(), quantity: 1, unitPrice: '22.00' },
      ],
      createdAt: new Date().toISOString(),
    },
  });
  for (let i = 0; i < events; i += 5000) {
    await producer.send({
      messages: Array.from({ length: Math.min(5000, events - i) }, (_, j) => ({
        topic,
        key: Buffer.from(`k${(i + j) % 997}`),
        value: Buffer.from(JSON.stringify({ ...template, eventId: randomUUID() })),
      })),
    });
  }
  await producer.close();

  // A Bronze table of its own, dropped afterwards: the bench's envelopes must not reach the platform's Silver.
  const table = { ...BRONZE_ENVELOPES, schema: `bench_bronze_${id}` };
  const job = bronzeJob({
    lake: lakeSystem(),
    table,
    topics: [topic],
    name: `bench-bronze-${id}`,
    // The job's own batching (50,000 records per partition or 1 s) unless the flag says otherwise.
    ...(process.argv.includes('--batch-records') ? { maxBatchRecords: numberArg('batch-records', 50_000) } : {}),
  });
  await ensureJobTopics(admin, job);
  await admin.close();
  const offsets = qualifiedName(offsetsTableOf(job.name));
  const landed = async () => {
    try {
      const [row] = await lake.rows<{ n: bigint | null }>(`SELECT sum(next_offset) AS n FROM ${offsets}`);
      return Number(row?.n ?? 0n);
    } catch {
      return 0;
    }
  };
  const started = performance.now();
  const worker = start(job);
  const samples: [number, number][] = [];
  for (;;) {
    const n = await landed();
    if (n > 0 && (samples.length === 0 || (samples.at(-1) as [number, number])[1] !== n))
      samples.push([performance.now(), n]);
    if (n >= events) break;
    await sleep(100);
  }
  const finished = performance.now();
  await stopAll([worker]);
  const [first, last] = [samples[0] as [number, number], samples.at(-1) as [number, number]];
  const [files] = await lake.rows<{ files: bigint }>(
    `SELECT count(*) AS files FROM ducklake_list_files('lake', 'envelopes', schema => '${table.schema}')`,
  );
  await lake.run(`DROP TABLE IF EXISTS ${offsets}`);
  await lake.run(`DROP SCHEMA IF EXISTS ${table.schema} CASCADE`);
  return {
    events,
    'events/s (first to last commit)': Math.round((last[1] - first[1]) / ((last[0] - first[0]) / 1000)),
    'events/s (whole run, incl. start)': Math.round(events / ((finished - started) / 1000)),
    commits: samples.length,
    'Parquet files': Number(files?.files ?? 0n),
  };
}

async function freshness(lake: DuckDb) {
  const rate = numberArg('rate', 20);
  const seconds = numberArg('seconds', 150);
  await applyOutboxConnector(config, defaultOutboxConnector());
  const services = await startServices({ port: 18098 });
  const workers: Running[] = [];
  try {
    const productIds: string[] = [];
    for (let i = 0; i < 5; i++) {
      const product = {
        sku: `F-${i}-${randomUUID().slice(0, 6)}`,
        name: `F${i}`,
        category: 'bench',
        price: `${i + 3}.50`,
        currency: 'EUR',
      };
      productIds.push((await services.post('/v1/products', product)).productId ?? '');
    }
    const customer = { email: `fresh-${randomUUID().slice(0, 8)}@example.com`, name: 'Fresh', segment: 'consumer' };
    const customerId = (await services.post('/v1/customers', customer)).customerId ?? '';

    const admin = new Admin({ clientId: 'bench', bootstrapBrokers: brokers });
    const gold = goldJob({ lake: lakeSystem({ views: GOLD_VIEWS }) });
    const bronze = bronzeJob({ lake: lakeSystem() });
    // Every platform job's topics, in pipeline order (Gold reads all of their outputs).
    for (const job of [orderStreams, productMetrics, revenue, customerSessions, gold, bronze])
      await ensureJobTopics(admin, job);
    await admin.close();
    for (const job of [bronze, orderStreams, productMetrics, gold]) workers.push(start(job));
    // Silver has a DuckDB connection of its own: the polls below run beside it.
    const silverLake = await openLake(config);
    const refresher = await SilverRefresher.create(silverLake);
    // Catch up on what the topics (and Bronze, for Silver) already hold before measuring.
    const catchUp = performance.now();
    while (!workers.slice(0, 2).every(caughtUp) || (await runUntilCaughtUp(refresher)).length > 0) {
      if (performance.now() - catchUp > 600_000) throw new Error('the jobs did not catch up in 10 minutes');
      await sleep(500);
    }
    const stopSilver = new AbortController();
    const silverLoop = followTransform(refresher, { signal: stopSilver.signal, intervalMs: 200 });
    await sleep(3000);

    interface Sent {
      orderId: string;
      committedAt: number;
      windows: string[];
    }
    const sent: Sent[] = [];
    const loadDone = (async () => {
      const interval = 1000 / rate;
      const begin = performance.now();
      for (let i = 0; i < rate * seconds; i++) {
        const due = begin + i * interval;
        if (due > performance.now()) await sleep(due - performance.now());
        const lines = [{ productId: productIds[i % 5], quantity: 1 }];
        const order = await services.post('/v1/orders', { customerId, currency: 'EUR', lines });
        const createdAt = Date.parse(order.createdAt ?? new Date().toISOString());
        const minute = Math.floor(createdAt / 60_000) * 60_000;
        sent.push({
          orderId: order.orderId ?? '',
          committedAt: Date.now(),
          windows: lines.map((l) => `${l.productId}|${minute}`),
        });
      }
    })();

    const silverSeen = new Map<string, number>();
    const goldSeen = new Map<string, number>();
    let loadFinished = false;
    let loadEndedAt = Number.POSITIVE_INFINITY;
    void loadDone.then(() => {
      loadFinished = true;
      loadEndedAt = Date.now();
    });
    const settleBy = () => Date.now() + 150_000;
    let deadline = Number.POSITIVE_INFINITY;
    for (;;) {
      const now = Date.now();
      const pending = sent.filter((s) => !silverSeen.has(s.orderId)).map((s) => s.orderId);
      if (pending.length > 0) {
        const rows = await lake.rows<{ order_id: string }>(
          `SELECT order_id FROM silver.orders WHERE event_type = 'ecommerce.order.created.v1' AND order_id IN (${pending
            .map((o) => `'${o}'`)
            .join(',')})`,
        );
        for (const row of rows) silverSeen.set(row.order_id, now);
      }
      const windows = [...new Set(sent.flatMap((s) => s.windows))].filter((w) => !goldSeen.has(w));
      if (windows.length > 0) {
        const rows = await lake.rows<{ product_id: string; ws: bigint }>(
          `SELECT product_id, epoch_ms(window_start) AS ws FROM gold.orders_per_product_1m_revisions
            WHERE revision = 0 AND product_id IN (${productIds.map((p) => `'${p}'`).join(',')})`,
        );
        for (const row of rows) {
          const key = `${row.product_id}|${Number(row.ws)}`;
          if (!goldSeen.has(key)) goldSeen.set(key, now);
        }
      }
      if (loadFinished && deadline === Number.POSITIVE_INFINITY) deadline = settleBy();
      const allSeen =
        loadFinished && sent.every((s) => silverSeen.has(s.orderId) && s.windows.every((w) => goldSeen.has(w)));
      if (allSeen || Date.now() > deadline) break;
      await sleep(100);
    }
    stopSilver.abort();
    await silverLoop;
    silverLake.close();

    const histogram = () =>
      hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 });
    const silver = histogram();
    const goldTotal = histogram();
    const goldAfterClose = histogram();
    for (const s of sent) {
      const seen = silverSeen.get(s.orderId);
      if (seen !== undefined) silver.recordValue(Math.max(1, seen - s.committedAt));
      for (const w of s.windows) {
        const at = goldSeen.get(w);
        if (at === undefined) continue;
        goldTotal.recordValue(Math.max(1, at - s.committedAt));
        // Windows that close while orders still flow: later events move the watermark. The last minute closes only
        // when the partition has been idle for 30 s (the source's idle timeout), which is not pipeline latency.
        const closes = Number(w.split('|')[1]) + 60_000 + 10_000;
        if (closes < loadEndedAt) goldAfterClose.recordValue(Math.max(1, at - closes));
      }
    }
    const row = (label: string, h: ReturnType<typeof histogram>, seen: number, of: number) => ({
      path: label,
      seen: `${seen}/${of}`,
      'p50 ms': h.getValueAtPercentile(50),
      'p95 ms': h.getValueAtPercentile(95),
      'max ms': h.maxValue,
    });
    const windowCount = new Set(sent.flatMap((s) => s.windows)).size;
    return [
      row('commit -> Silver row', silver, silverSeen.size, sent.length),
      row('commit -> Gold aggregate (incl. window wait)', goldTotal, goldSeen.size, windowCount),
      row(
        'window close -> Gold aggregate (windows closed under load)',
        goldAfterClose,
        goldAfterClose.totalCount,
        sent.length,
      ),
    ];
  } finally {
    await stopAll(workers);
    services.stop();
  }
}

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
const lake = await openLake(config);
try {
  if (!flag('skip-ingest')) {
    console.log('Bronze ingest (exactly-once lake sink, one worker):');
    console.table([await bronzeIngest(lake)]);
  }
  if (!flag('skip-freshness')) {
    console.log(`freshness at ${numberArg('rate', 20)} orders/s for ${numberArg('seconds', 150)} s:`);
    console.table(await freshness(lake));
  }
} finally {
  lake.close();
}
