/**
 * The stream runtime in process (no server): a Task per partition fed pre-built Kafka records, with each checkpoint's
 * outputs and changelog turned into Kafka messages exactly as the worker does, but not sent. What it measures is the
 * runtime's own CPU per event (decode, operators, state, changelog, serialisation), without the Kafka client.
 *   npx tsx bench/streams-operators.ts [--events 1000000]
 *     [--only order-streams,pipeline,dedupe,tumbling,hopping,session,zscore]
 * pipeline: dedupe + 10 s tumbling count + z-score (bench/streams.ts's job), 1,000 keys, 2 % duplicates;
 * session: a 30 s-gap session count over 100,000 keys; order-streams: the platform's job over order-created envelopes
 * (two lines each, 1 % re-delivered), schema validation and dedupe included; the others one operator each over 1,000
 * keys.
 * A job whose dedupe or keyBy repartitions (the default) runs its hops in process too: what a task writes to an
 * internal topic is serialised and read back by that topic's task in the same cycle (no broker), so the figure covers
 * the whole graph, not only the stage before the first hop.
 * A checkpoint every 5,000 records (the worker's maxBatchRecords). Prints events per CPU-second, wall events/s and
 * changelog bytes per event, with the load average.
 */
import { loadavg } from 'node:os';
import { createEnvelope } from '@bitvelocity/core';
import {
  count,
  defineJob,
  hopping,
  type JobDefinition,
  jsonRecords,
  kafkaSink,
  session,
  sum,
  tumbling,
} from '@bitvelocity/streams';
import { repartitionTopics } from '../streams/src/api/job.js';
import type { RawRecord } from '../streams/src/api/record.js';
import orderStreams from '../streams/src/jobs/order-streams.js';
import { changelogMessage, toMessage } from '../streams/src/kafka/messages.js';
import { Task } from '../streams/src/runtime/task.js';
import { numberArg } from './load.js';

const EVENTS = numberArg('events', 1_000_000);
const CHECKPOINT_EVERY = numberArg('checkpoint-every', 5000);
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? new Set((process.argv[onlyArg + 1] ?? '').split(',')) : undefined;

interface Reading {
  id: string;
  sensor: string;
  t: number;
  v: number;
}

const source = () =>
  jsonRecords<Reading>({
    topics: ['input'],
    maxOutOfOrderness: '5s',
    idleTimeout: 0,
    eventTime: (r) => r.t,
    eventId: (r) => r.id,
  });

const jobs: Record<string, { keys: number; job: JobDefinition; topic?: string }> = {
  'order-streams': { keys: 10_000, job: orderStreams, topic: 'ecommerce.order' },
  pipeline: {
    keys: 1000,
    job: defineJob({
      name: 'bench-pipeline',
      eventTimeTolerance: '1000d',
      build: (j) => {
        const keyed = j
          .source(source())
          .dedupe({ ttl: '10m' })
          .keyBy((r) => r.sensor);
        keyed.window(tumbling({ size: '10s' }), count()).to(kafkaSink('counts'));
        keyed
          .zScore({ metric: 'v', value: (r) => r.v, window: { points: 100 }, minSamples: 20, threshold: 4 })
          .to(kafkaSink('anomalies'));
      },
    }),
  },
  dedupe: {
    keys: 1000,
    job: defineJob({
      name: 'bench-dedupe',
      eventTimeTolerance: '1000d',
      build: (j) => j.source(source()).dedupe({ ttl: '10m' }).to(kafkaSink('out')),
    }),
  },
  tumbling: {
    keys: 1000,
    job: defineJob({
      name: 'bench-tumbling',
      eventTimeTolerance: '1000d',
      build: (j) =>
        j
          .source(source())
          .keyBy((r) => r.sensor)
          .window(tumbling({ size: '10s' }), count())
          .to(kafkaSink('out')),
    }),
  },
  hopping: {
    keys: 1000,
    job: defineJob({
      name: 'bench-hopping',
      eventTimeTolerance: '1000d',
      build: (j) =>
        j
          .source(source())
          .keyBy((r) => r.sensor)
          .window(
            hopping({ size: '10s', slide: '3s' }),
            sum((r: Reading) => r.v),
          )
          .to(kafkaSink('out')),
    }),
  },
  session: {
    keys: 100_000,
    job: defineJob({
      name: 'bench-session',
      eventTimeTolerance: '1000d',
      build: (j) =>
        j
          .source(source())
          .keyBy((r) => r.sensor)
          .window(session({ gap: '30s' }), count())
          .to(kafkaSink('out')),
    }),
  },
  zscore: {
    keys: 1000,
    job: defineJob({
      name: 'bench-zscore',
      eventTimeTolerance: '1000d',
      build: (j) =>
        j
          .source(source())
          .keyBy((r) => r.sensor)
          .zScore({ metric: 'v', value: (r) => r.v, window: { points: 100 }, minSamples: 20, threshold: 4 })
          .to(kafkaSink('out')),
    }),
  },
};

/** The n-th reading: 2 % are re-deliveries of the one before (same id, key and value), 5 ms apart, <= 480 ms late. */
function recordOf(n: number, keys: number, start: number) {
  const o = n % 50 === 49 ? n - 1 : n;
  const r: Reading = {
    id: `r${o}`,
    sensor: `sensor-${o % keys}`,
    t: start + n * 5 - (n % 13) * 40,
    v: 100 + ((o * 7919) % 37) + (o % 997 === 0 ? 500 : 0),
  };
  return {
    topic: 'input',
    partition: 0,
    offset: BigInt(n),
    timestamp: r.t,
    key: Buffer.from(r.sensor),
    value: Buffer.from(JSON.stringify(r).padEnd(200, ' ')),
    headers: new Map<string, Buffer>(),
  };
}

const uuid = (prefix: string, n: number) => `0190a0a0-0000-7000-${prefix}-${String(n).padStart(12, '0')}`;

/** The n-th order-created envelope (1 % are re-deliveries of the one before), as Debezium's outbox routing gives it. */
function orderRecordOf(n: number, customers: number, start: number) {
  const o = n % 100 === 99 ? n - 1 : n;
  const orderId = uuid('8000', o);
  const envelope = createEnvelope({
    eventId: uuid('9000', o),
    eventType: 'ecommerce.order.created.v1',
    producer: 'bench',
    tenantId: 't1',
    partitionKey: orderId,
    traceId: 'a'.repeat(32),
    occurredAt: new Date(start + o * 5),
    payload: {
      orderId,
      customerId: uuid('c000', o % customers),
      status: 'created',
      currency: o % 3 === 0 ? 'USD' : 'EUR',
      totalAmount: '31.50',
      lines: [
        { lineNo: 1, productId: uuid('a000', o % 500), quantity: 1, unitPrice: '19.50' },
        { lineNo: 2, productId: uuid('a000', (o * 7) % 500), quantity: 2, unitPrice: '6.00' },
      ],
      createdAt: new Date(start + o * 5).toISOString(),
    },
  });
  return {
    topic: 'ecommerce.order',
    partition: 0,
    offset: BigInt(n),
    timestamp: start + n * 5,
    key: Buffer.from(orderId),
    value: Buffer.from(JSON.stringify(envelope)),
    headers: new Map<string, Buffer>(),
  };
}

function run(name: string, keys: number, job: JobDefinition, topic = 'input') {
  // A job whose dedupe or keyBy repartitions runs as the worker runs it: what a task writes to one of the job's
  // internal topics (serialised as it would be sent) is read back by the task of that topic in the same cycle.
  const internal = new Set(repartitionTopics(job));
  const tasks = new Map<string, Task>();
  const offsets = new Map<string, bigint>();
  const taskOf = (of: string) => {
    let task = tasks.get(of);
    if (!task) {
      task = new Task(job, of, 0);
      tasks.set(of, task);
    }
    return task;
  };
  const start = Date.UTC(2026, 0, 1);
  // Records are built in slices outside the measured time (the bench measures the runtime, not the generator).
  let cpu = 0;
  let wall = 0;
  let changelogBytes = 0;
  let changelogEntries = 0;
  let outputs = 0;
  for (let from = 0; from < EVENTS; from += CHECKPOINT_EVERY) {
    const batch = Array.from({ length: Math.min(CHECKPOINT_EVERY, EVENTS - from) }, (_, k) =>
      topic === 'input' ? recordOf(from + k, keys, start) : orderRecordOf(from + k, keys, start),
    );
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const queue: [string, RawRecord[]][] = [[topic, batch]];
    let sent = 0;
    const changes: ReturnType<typeof changelogMessage>[] = [];
    for (let step = queue.shift(); step; step = queue.shift()) {
      const [of, records] = step;
      const task = taskOf(of);
      for (const record of records) task.process(record);
      const hops = new Map<string, RawRecord[]>();
      for (const output of task.takeOutputs()) {
        const message = toMessage(output);
        if (!internal.has(output.topic)) {
          sent++;
          continue;
        }
        const offset = offsets.get(output.topic) ?? 0n;
        offsets.set(output.topic, offset + 1n);
        const hop = hops.get(output.topic) ?? [];
        hop.push({
          topic: output.topic,
          partition: 0,
          offset,
          timestamp: output.timestamp,
          key: message.key,
          value: message.value,
          headers: new Map([...message.headers].map(([k, v]) => [k.toString(), Buffer.from(v)])),
        });
        hops.set(output.topic, hop);
      }
      for (const entry of task.takeChangelog()) changes.push(changelogMessage('changelog', 0, entry));
      queue.push(...hops);
    }
    const used = process.cpuUsage(cpuBefore);
    cpu += (used.user + used.system) / 1e6;
    wall += (performance.now() - wallBefore) / 1000;
    outputs += sent;
    changelogEntries += changes.length;
    for (const c of changes) changelogBytes += c.key.length + (c.value?.length ?? 0);
  }
  return {
    job: name,
    keys,
    events: EVENTS,
    'events per CPU-second': Math.round(EVENTS / cpu),
    'events/s (wall)': Math.round(EVENTS / wall),
    'CPU-s': Number(cpu.toFixed(2)),
    outputs,
    'changelog entries': changelogEntries,
    'changelog MiB': Number((changelogBytes / 2 ** 20).toFixed(1)),
    'changelog B/event': Math.round(changelogBytes / EVENTS),
  };
}

console.log(
  `load before: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const results = [];
for (const [name, { keys, job, topic }] of Object.entries(jobs)) {
  if (only && !only.has(name)) continue;
  results.push(run(name, keys, job, topic));
}
console.table(results);
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
