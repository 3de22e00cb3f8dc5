/**
 * Kafka clients for Node, measured on the local broker (ADR 0003).
 *   npx tsx bench/kafka-clients.ts [--messages 50000]
 * For each client: (a) produce N ~300-byte keyed records with 2 headers, acks=all, in batches of 1,000;
 * (b) consume them in a consumer group; (c) consume-transform-produce in Kafka transactions of 1,000 records with the
 * consumed offsets committed in the same transaction, then count the output with a read_committed consumer.
 */
import { randomUUID } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { loadPlatformConfig } from '@bitvelocity/core';
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  type Message,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { Kafka, logLevel } from 'kafkajs';

const messagesArg = process.argv.indexOf('--messages');
const N = messagesArg > 0 ? Number(process.argv[messagesArg + 1]) : 50_000;
const BATCH = 1000;
const brokers = loadPlatformConfig().kafka.bootstrapServers;
const value = (i: number) =>
  JSON.stringify({
    eventId: randomUUID(),
    eventType: 'ecommerce.order.created.v1',
    occurredAt: new Date().toISOString(),
    payload: { orderId: randomUUID(), customerId: `customer-${i % 500}`, amount: (i % 997) + 0.99, seq: i },
  }).padEnd(300, ' ');
const payloads = Array.from({ length: N }, (_, i) => ({ key: `customer-${i % 500}`, value: value(i) }));
const headers = { eventType: 'ecommerce.order.created.v1', traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` };

const admin = new Admin({ clientId: 'bench', bootstrapBrokers: brokers });
const topics: string[] = [];
async function topic(name: string): Promise<string> {
  const full = `bench.${name}.${randomUUID().slice(0, 8)}`;
  await admin.createTopics({ topics: [full], partitions: 3, replicas: 1 });
  topics.push(full);
  return full;
}
const perSecond = (started: number) => Math.round(N / ((performance.now() - started) / 1000));

interface Row {
  client: string;
  'produce rec/s': number;
  'consume rec/s': number;
  'transactional c-t-p rec/s': number;
  'output (read_committed)': number;
}

async function platformatic(): Promise<Row> {
  const base = { clientId: 'bench-pk', bootstrapBrokers: brokers };
  const input = await topic('pk-in');
  const output = await topic('pk-out');
  const producer = new Producer({ ...base, serializers: stringSerializers, acks: -1 });
  let started = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    await producer.send({ messages: payloads.slice(i, i + BATCH).map((p) => ({ topic: input, ...p, headers })) });
  }
  const produce = perSecond(started);
  await producer.close();

  const consumeAll = async (topicName: string, groupId: string, isolationLevel?: number): Promise<number> => {
    const consumer = new Consumer({ ...base, groupId, deserializers: stringDeserializers });
    const stream = await consumer.consume({
      topics: [topicName],
      mode: 'earliest',
      autocommit: false,
      maxWaitTime: 100,
      ...(isolationLevel === undefined ? {} : { isolationLevel }),
    });
    let count = 0;
    const idle = setInterval(() => {}, 1000);
    const timer = setTimeout(() => stream.close(), 60_000);
    for await (const _ of stream) if (++count === N) break;
    clearTimeout(timer);
    clearInterval(idle);
    await stream.close();
    await consumer.close(true);
    return count;
  };
  started = performance.now();
  await consumeAll(input, `bench-pk-${randomUUID()}`);
  const consume = perSecond(started);

  const groupId = `bench-pk-ctp-${randomUUID()}`;
  const consumer = new Consumer({ ...base, groupId, deserializers: stringDeserializers });
  const txProducer = new Producer({
    ...base,
    serializers: stringSerializers,
    idempotent: true,
    transactionalId: `bench-pk-${randomUUID()}`,
    // Right after a commit the broker answers CONCURRENT_TRANSACTIONS until the markers are written; the default
    // 1 s retry delay would stall every transaction (the Java client backs off ~20 ms here).
    retryDelay: 20,
  });
  started = performance.now();
  const stream = await consumer.consume({ topics: [input], mode: 'earliest', autocommit: false, maxWaitTime: 100 });
  let pending: Message<string, string, string, string>[] = [];
  let done = 0;
  const flush = async () => {
    const transaction = await txProducer.beginTransaction();
    await transaction.addConsumer(consumer);
    await transaction.send({
      messages: pending.map((m) => ({ topic: output, key: m.key, value: m.value.toUpperCase(), headers: m.headers })),
    });
    const lastPerPartition = new Map(pending.map((m) => [m.partition, m]));
    for (const message of lastPerPartition.values()) await transaction.addOffset(message);
    await transaction.commit();
    done += pending.length;
    pending = [];
  };
  for await (const message of stream) {
    pending.push(message);
    if (pending.length === BATCH || done + pending.length === N) await flush();
    if (done === N) break;
  }
  const transactional = perSecond(started);
  await stream.close();
  await consumer.close(true);
  await txProducer.close();
  const committed = await consumeAll(output, `bench-pk-verify-${randomUUID()}`, FetchIsolationLevels.READ_COMMITTED);
  return {
    client: '@platformatic/kafka 1.35.0',
    'produce rec/s': produce,
    'consume rec/s': consume,
    'transactional c-t-p rec/s': transactional,
    'output (read_committed)': committed,
  };
}

async function kafkajs(): Promise<Row> {
  const kafka = new Kafka({ clientId: 'bench-kjs', brokers, logLevel: logLevel.NOTHING });
  const input = await topic('kjs-in');
  const output = await topic('kjs-out');
  const producer = kafka.producer();
  await producer.connect();
  let started = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    await producer.send({
      topic: input,
      acks: -1,
      messages: payloads.slice(i, i + BATCH).map((p) => ({ ...p, headers })),
    });
  }
  const produce = perSecond(started);
  await producer.disconnect();

  const consumeAll = async (topicName: string, readUncommitted: boolean): Promise<number> => {
    const consumer = kafka.consumer({ groupId: `bench-kjs-${randomUUID()}`, readUncommitted });
    await consumer.connect();
    await consumer.subscribe({ topic: topicName, fromBeginning: true });
    let count = 0;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 60_000);
      void consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          count += batch.messages.length;
          if (count >= N) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    return count;
  };
  started = performance.now();
  await consumeAll(input, true);
  const consume = perSecond(started);

  const groupId = `bench-kjs-ctp-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId });
  const txProducer = kafka.producer({
    transactionalId: `bench-kjs-${randomUUID()}`,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await Promise.all([consumer.connect(), txProducer.connect()]);
  await consumer.subscribe({ topic: input, fromBeginning: true });
  started = performance.now();
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        for (let i = 0; i < batch.messages.length; i += BATCH) {
          const chunk = batch.messages.slice(i, i + BATCH);
          const last = chunk.at(-1);
          if (!last) continue;
          const transaction = await txProducer.transaction();
          try {
            await transaction.send({
              topic: output,
              messages: chunk.map((m) => ({
                key: m.key,
                value: m.value?.toString().toUpperCase() ?? null,
                headers: m.headers,
              })),
            });
            await transaction.sendOffsets({
              consumerGroupId: groupId,
              topics: [
                {
                  topic: batch.topic,
                  partitions: [{ partition: batch.partition, offset: String(Number(last.offset) + 1) }],
                },
              ],
            });
            await transaction.commit();
          } catch (error) {
            await transaction.abort();
            reject(error);
            return;
          }
          done += chunk.length;
          await heartbeat();
        }
        if (done >= N) resolve();
      },
    });
  });
  const transactional = perSecond(started);
  await consumer.disconnect();
  await txProducer.disconnect();
  const committed = await consumeAll(output, false);
  return {
    client: 'kafkajs 2.2.4',
    'produce rec/s': produce,
    'consume rec/s': consume,
    'transactional c-t-p rec/s': transactional,
    'output (read_committed)': committed,
  };
}

try {
  const rows = [await platformatic(), await kafkajs()];
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`machine: ${cpus().length} x ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  console.log(`records: ${N} x ~300 B, 3 partitions, transactions of ${BATCH}`);
  console.table(rows);
} finally {
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.close();
}
