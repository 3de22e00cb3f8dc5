/**
 * The stream runtime, Kafka to Kafka on the local broker.
 *   npx tsx bench/streams.ts [--events 200000] [--rate 5000] [--latency-seconds 20] [--throughput-only] [--exactly-once-only] [--per-partition]
 *   (--events 10000000 for the long run: JIT and GC warmed up, state at its steady size)
 * (a) plain consume: records/s reading the input topic (read_committed, the runtime's fetcher);
 * (b) dedupe + tumbling window + z-score, one worker in this process, exactly-once, then at-least-once:
 *     events/s by wall clock, and events per CPU-second of the worker process;
 * (c) processing latency at a steady rate, excluding window wait: input append -> output visible to read_committed,
 *     through dedupe (keyed state, a changelog entry per record) and an exactly-once sink; no window holds the event.
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import { createLogger, diagnostics, loadPlatformConfig } from '@bitvelocity/core';
import { count, defineJob, jsonRecords, kafkaSink, runWorker, tumbling } from '@bitvelocity/streams';
import { Admin, Consumer, Producer } from '@platformatic/kafka';
import * as hdr from 'hdr-histogram-js';
import { repartitionTopics } from '../streams/src/api/job.js';
import { PartitionFetcher } from '../streams/src/kafka/fetcher.js';
import { ensureJobTopics } from '../streams/src/kafka/topics.js';
import { numberArg } from './load.js';

const EVENTS = numberArg('events', 200_000);
const RATE = numberArg('rate', 5_000);
const LATENCY_SECONDS = numberArg('latency-seconds', 20);
const PARTITIONS = 6;
const brokers = loadPlatformConfig().kafka.bootstrapServers;
const admin = new Admin({ clientId: 'bench-streams', bootstrapBrokers: brokers });

interface Reading {
  id: string;
  sensor: string;
  t: number;
  v: number;
  sentAt?: number;
}

async function topic(name: string): Promise<string> {
  const full = `bench.streams.${name}.${randomUUID().slice(0, 8)}`;
  await admin.createTopics({ topics: [full], partitions: PARTITIONS, replicas: 1 });
  return full;
}

const reading = (i: number, t: number): Reading => {
  // 2 % duplicates, as CDC re-delivery would make: a re-delivery is its original again (id, sensor key, value), so it
  // lands on the original's partition and meets it in dedupe.
  const o = i % 50 === 49 ? i - 1 : i;
  return {
    id: `r${o}`,
    sensor: `sensor-${o % 1000}`,
    t,
    v: 100 + ((o * 7919) % 37) + (o % 997 === 0 ? 500 : 0),
  };
};

async function produceInput(input: string): Promise<void> {
  const producer = new Producer({ clientId: 'bench-streams', bootstrapBrokers: brokers, acks: -1 });
  const start = Date.now() - EVENTS * 5;
  for (let i = 0; i < EVENTS; i += 2000) {
    await producer.send({
      messages: Array.from({ length: Math.min(2000, EVENTS - i) }, (_, k) => {
        const n = i + k;
        const r = reading(n, start + n * 5 - (n % 13) * 40);
        return { topic: input, key: Buffer.from(r.sensor), value: Buffer.from(JSON.stringify(r).padEnd(200, ' ')) };
      }),
    });
  }
  await producer.close();
}

/** The input readings: event time and id from the record, 5 s out of order at most. */
const readings = (input: string) =>
  jsonRecords<Reading>({
    topics: [input],
    maxOutOfOrderness: '5s',
    idleTimeout: 0,
    eventTime: (r) => r.t,
    eventId: (r) => r.id,
  });

function pipeline(name: string, input: string, guarantee: 'exactly-once' | 'at-least-once') {
  return defineJob({
    name,
    guarantee,
    maxBatchRecords: numberArg('batch-records', 5000),
    build: (job) => {
      // --per-partition: the topology without repartition topics (dedupe within each partition, keyBy on the Kafka
      // key), for comparing the cost of the two hops on the same machine and load.
      const perPartition = process.argv.includes('--per-partition');
      const keyed = perPartition
        ? job
            .source(readings(input))
            .dedupe({ ttl: '10m', scope: 'partition' })
            .keyBy((r) => r.sensor, { partitioning: 'co-partitioned' })
        : job
            .source(readings(input))
            .dedupe({ ttl: '10m' })
            .keyBy((r) => r.sensor);
      keyed.window(tumbling({ size: '10s' }), count()).to(kafkaSink(`${input}.counts`));
      keyed
        .zScore({ metric: 'v', value: (r) => r.v, window: { points: 100 }, minSamples: 20, threshold: 4 })
        .to(kafkaSink(`${input}.anomalies`));
    },
  });
}

async function lagOf(group: string, topics: string[]): Promise<bigint> {
  const [offsets] = await admin.listConsumerGroupOffsets({ groups: [group] });
  let lag = 0n;
  for (const input of topics) {
    const committed = offsets?.topics.find((t) => t.name === input)?.partitions ?? [];
    const ends = await admin.listOffsets({
      topics: [
        {
          name: input,
          partitions: Array.from({ length: PARTITIONS }, (_, partitionIndex) => ({ partitionIndex, timestamp: -1n })),
        },
      ],
    });
    for (const p of ends[0]?.partitions ?? []) {
      const c = committed.find((x) => x.partitionIndex === p.partitionIndex)?.committedOffset ?? 0n;
      lag += p.offset - (c < 0n ? 0n : c);
    }
  }
  return lag;
}

async function throughput(input: string, guarantee: 'exactly-once' | 'at-least-once') {
  if (process.argv.includes('--latency-only')) return { guarantee };
  const name = `bench-${guarantee === 'exactly-once' ? 'eos' : 'alo'}-${randomUUID().slice(0, 6)}`;
  const job = pipeline(name, input, guarantee);
  await ensureJobTopics(admin, job, { sinkPartitions: PARTITIONS });
  const stop = new AbortController();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let dedupeHits = 0;
  const worker = runWorker({
    job,
    bootstrapServers: brokers,
    workerId: name,
    signal: stop.signal,
    logger: silent,
    onStatus: (status) => {
      dedupeHits = status.tasks.reduce((n, t) => n + t.counters.dedupeHits, 0);
    },
  });
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    // Done when the input and the job's repartition topics (dedupe by id, keyBy by sensor) are all consumed.
    if ((await lagOf(`bv.job.${name}`, [input, ...repartitionTopics(job)])) === 0n) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  stop.abort();
  await worker;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    guarantee,
    'events/s (wall, 1 worker)': Math.round(EVENTS / seconds),
    'events per CPU-second': Math.round(EVENTS / cpuSeconds),
    'worker CPU %': Math.round((cpuSeconds / seconds) * 100),
    'CPU-s': Number(cpuSeconds.toFixed(1)),
    'duplicates dropped': dedupeHits,
  };
}

async function plainConsume(input: string): Promise<number> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'bench',
    bootstrapBrokers: brokers,
    groupId: `bench-${randomUUID()}`,
  });
  const fetcher = new PartitionFetcher(consumer);
  const positions = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: input, partition, offset: 0n }));
  const started = performance.now();
  let read = 0;
  while (read < EVENTS) {
    const fetched = await fetcher.fetch(positions, { maxWaitTime: 100 });
    for (const position of positions) {
      const part = fetched.get(`${input}:${position.partition}`);
      if (!part) continue;
      read += part.records.length;
      position.offset = part.nextOffset;
    }
  }
  const perSecond = Math.round(read / ((performance.now() - started) / 1000));
  await consumer.close();
  return perSecond;
}

async function latency() {
  const input = await topic('latency');
  const name = `bench-latency-${randomUUID().slice(0, 6)}`;
  const output = `${input}.scored`;
  const job = defineJob({
    name,
    maxBatchWait: `${numberArg('batch-wait-ms', 100)}ms`,
    build: (j) => j.source(readings(input)).dedupe({ ttl: '10m' }).to(kafkaSink(output)),
  });
  await ensureJobTopics(admin, job, { sinkPartitions: PARTITIONS });
  const stop = new AbortController();
  const checkpoints = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000,
    numberOfSignificantValueDigits: 3,
  });
  const worker = runWorker({
    job,
    bootstrapServers: brokers,
    workerId: name,
    signal: stop.signal,
    logger: silent,
  });
  const unsubscribe = diagnostics.checkpointCommitted.subscribe((checkpoint) => {
    if (checkpoint.workerId === name) checkpoints.recordValue(Math.max(1, Math.round(checkpoint.durationMs)));
  });
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000,
    numberOfSignificantValueDigits: 3,
  });
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'bench',
    bootstrapBrokers: brokers,
    groupId: `bench-${randomUUID()}`,
  });
  const fetcher = new PartitionFetcher(consumer);
  const positions = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: output, partition, offset: 0n }));
  let reading_ = true;
  let received = 0;
  const reader = (async () => {
    while (reading_) {
      const fetched = await fetcher.fetch(positions, { maxWaitTime: 50 });
      const now = Date.now();
      for (const position of positions) {
        const part = fetched.get(`${output}:${position.partition}`);
        if (!part) continue;
        for (const record of part.records) {
          const sentAt = (JSON.parse(record.value?.toString() ?? '{}') as Reading).sentAt;
          if (sentAt) histogram.recordValue(Math.max(1, now - sentAt));
          received++;
        }
        position.offset = part.nextOffset;
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 3000)); // let the worker join and open its tasks
  const producer = new Producer({ clientId: 'bench-streams', bootstrapBrokers: brokers, acks: -1, linger: 5 } as never);
  const total = RATE * LATENCY_SECONDS;
  const started = Date.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * RATE));
    if (due > sent) {
      const now = Date.now();
      const batch = Array.from({ length: due - sent }, (_, k) => {
        const r = { ...reading(sent + k, now), sentAt: now };
        return { topic: input, key: Buffer.from(r.sensor), value: Buffer.from(JSON.stringify(r)) };
      });
      sent = due;
      void producer.send({ messages: batch });
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const deadline = Date.now() + 30_000;
  const expected = total - Math.floor(total / 50); // duplicates are dropped
  while (received < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  reading_ = false;
  await reader;
  stop.abort();
  await worker;
  unsubscribe();
  await producer.close();
  await consumer.close();
  return {
    rate: RATE,
    received,
    'p50 ms': histogram.getValueAtPercentile(50),
    'p95 ms': histogram.getValueAtPercentile(95),
    'p99 ms': histogram.getValueAtPercentile(99),
    'max ms': histogram.maxValue,
    'checkpoint p50/p99 ms': `${checkpoints.getValueAtPercentile(50)} / ${checkpoints.getValueAtPercentile(99)}`,
  };
}

const silent = createLogger('bench', 'silent');
const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
const input = await topic('input');
await produceInput(input);
console.log(`input: ${EVENTS} events (~200 B, 1,000 keys, 2 % duplicates) in ${PARTITIONS} partitions`);
if (!process.argv.includes('--latency-only')) console.log(`plain consume: ${await plainConsume(input)} records/s`);
console.log(`load before the run: ${loadAverage()}`);
const runs = [await throughput(input, 'exactly-once')];
if (!process.argv.includes('--exactly-once-only')) runs.push(await throughput(input, 'at-least-once'));
console.table(runs);
console.log(`load after the run: ${loadAverage()}`);
if (!process.argv.includes('--throughput-only')) {
  console.log('processing latency (append -> read_committed output, dedupe pass-through, exactly-once):');
  console.table([await latency()]);
}
await admin.close();
