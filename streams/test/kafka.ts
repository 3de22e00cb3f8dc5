// Kafka helpers of the streams specs; the generic ones come from the shared test kit.
export { createTopic, produce, type TestRecord, waitFor } from '@bitvelocity/infra/testing';

import { randomUUID } from 'node:crypto';
import { Consumer } from '@platformatic/kafka';
import type { RawRecord } from '../src/api/record.js';
import { PartitionFetcher } from '../src/kafka/fetcher.js';

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
