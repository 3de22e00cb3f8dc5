import type { PlatformConfig } from '@bitvelocity/core';
import {
  Admin,
  ConfigResourceTypes,
  FetchIsolationLevels,
  IncrementalAlterConfigOperationTypes,
  ListOffsetTimestamps,
} from '@platformatic/kafka';

/** Raw Kafka administration the job commands need: an admin client per command, offsets, changelog clearing. */

export async function withAdmin<T>(config: PlatformConfig, body: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: 'bv-jobs', bootstrapBrokers: config.kafka.bootstrapServers });
  try {
    return await body(admin);
  } finally {
    await admin.close();
  }
}

/** Offsets of every partition of `topics` at a timestamp (LATEST = the end, EARLIEST = the start). */
export async function offsetsAt(
  admin: Admin,
  topics: string[],
  timestamp: bigint,
  readCommitted = false,
): Promise<Map<string, bigint[]>> {
  const metadata = await admin.metadata({ topics });
  const listed = await admin.listOffsets({
    topics: topics.map((name) => ({
      name,
      partitions: Array.from({ length: metadata.topics.get(name)?.partitionsCount ?? 0 }, (_, partitionIndex) => ({
        partitionIndex,
        timestamp,
      })),
    })),
    ...(readCommitted ? { isolationLevel: FetchIsolationLevels.READ_COMMITTED } : {}),
  });
  const result = new Map<string, bigint[]>();
  for (const topic of listed) {
    const offsets: bigint[] = [];
    for (const p of topic.partitions) offsets[p.partitionIndex] = p.offset;
    result.set(topic.name, offsets);
  }
  return result;
}

/**
 * Deletes every record of compacted changelog topics. Kafka refuses DeleteRecords on a topic whose cleanup policy is
 * only `compact`, so the policy gains `delete` for the deletion and gets `compact` back after it.
 */
export async function clearChangelogs(admin: Admin, topics: string[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const changelogs = topics.filter((topic) => existing.has(topic));
  if (changelogs.length === 0) return;
  const setPolicy = (value: string) =>
    admin.incrementalAlterConfigs({
      resources: changelogs.map((topic) => ({
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName: topic,
        configs: [{ name: 'cleanup.policy', configOperation: IncrementalAlterConfigOperationTypes.SET, value }],
      })),
    });
  await setPolicy('compact,delete');
  try {
    const ends = await offsetsAt(admin, changelogs, ListOffsetTimestamps.LATEST);
    await admin.deleteRecords({
      topics: [...ends].map(([topic, topicEnds]) => ({
        name: topic,
        partitions: topicEnds.map((offset, partition) => ({ partition, offset })),
      })),
    });
  } finally {
    await setPolicy('compact');
  }
}
