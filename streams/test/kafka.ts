import { randomUUID } from 'node:crypto';
import { Admin, Consumer, Producer } from '@platformatic/kafka';
import type { RawRecord } from '../src/api/record.js';
import { PartitionFetcher } from '../src/kafka/fetcher.js';

export async function createTopic(brokers: string[], prefix: string, partitions: number): Promise<string> {
  const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
  const topic = `test.${prefix}.${randomUUID().slice(0, 8)}`;
  await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
  await admin.close();
  return topic;
}

export interface TestRecord {
  key: string;
  value: string;
  partition?: number;
}

export async function produce(brokers: string[], topic: string, records: TestRecord[]): Promise<void> {
  const producer = new Producer({ clientId: 'streams-test', bootstrapBrokers: brokers, acks: -1 });
  for (let i = 0; i < records.length; i += 1000) {
    await producer.send({
      messages: records.slice(i, i + 1000).map((r) => ({
        topic,
        key: Buffer.from(r.key),
        value: Buffer.from(r.value),
        ...(r.partition === undefined ? {} : { partition: r.partition }),
      })),
    });
  }
  await producer.close();
}

/** Everything committed in a topic (read_committed), partition by partition, in offset order. */
export async function readAll(brokers: string[], topic: string): Promise<RawRecord[]> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'streams-test-reader',
    bootstrapBrokers: brokers,
    groupId: `reader-${randomUUID()}`,
  });
  const fetcher = new PartitionFetcher(consumer);
  const metadata = await consumer.metadata({ topics: [topic] });
  const partitions = metadata.topics.get(topic)?.partitionsCount ?? 0;
  const records: RawRecord[] = [];
  for (let partition = 0; partition < partitions; partition++) {
    let position = await fetcher.earliest(topic, partition);
    const end = await fetcher.end(topic, partition);
    while (position < end) {
      const part = (await fetcher.fetch([{ topic, partition, offset: position }], { maxWaitTime: 100 })).get(
        `${topic}:${partition}`,
      );
      if (!part) break;
      records.push(...part.records.filter((r) => r.offset < end));
      if (part.nextOffset <= position) break;
      position = part.nextOffset;
    }
  }
  await consumer.close();
  return records;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
