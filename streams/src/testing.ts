// The streams' test kit for every package's specs (`@bitvelocity/streams/testing`). It lives here, not in
// infra/testing, because it reads through the streams' own read_committed fetcher.
import { randomUUID } from 'node:crypto';
import { Consumer } from '@platformatic/kafka';
import type { RawRecord, StreamRecord } from './api/record.js';
import { PartitionFetcher } from './kafka/fetcher.js';

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

export interface RawRecordSpec {
  topic: string;
  partition?: number;
  offset: bigint;
  timestamp: number;
  /** Text as it is, anything else as its JSON. */
  value: string | object;
  key?: Buffer;
  headers?: Map<string, Buffer>;
}

/** A Kafka record as a raw-record source hands it to a job: for specs that feed a sink directly. */
export function rawStreamRecord(spec: RawRecordSpec): StreamRecord<RawRecord> {
  const partition = spec.partition ?? 0;
  const record: RawRecord = {
    topic: spec.topic,
    partition,
    offset: spec.offset,
    timestamp: spec.timestamp,
    key: spec.key,
    value: Buffer.from(typeof spec.value === 'string' ? spec.value : JSON.stringify(spec.value)),
    headers: spec.headers ?? new Map(),
  };
  return {
    value: record,
    timestamp: spec.timestamp,
    key: undefined,
    origin: { topic: spec.topic, partition, offset: spec.offset },
  };
}
