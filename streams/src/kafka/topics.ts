import { deadLetterTopicOf } from '@bitvelocity/core';
import type { Admin } from '@platformatic/kafka';
import { type JobDefinition, sinkTopics, sourceTopics, transactionalSystemOf } from '../api/job.js';

/** The consumer group of a job's workers. */
export const jobGroupId = (job: string) => `bv.job.${job}`;

/** The compacted topic holding the state of a job's tasks for one source topic (partition = source partition). */
export const changelogTopicOf = (job: string, sourceTopic: string) => `bv.job.${job}.${sourceTopic}.changelog`;

/** One transactional id per task, so a new owner of a partition fences the old one (and aborts its transaction). */
export const transactionalIdOf = (job: string, topic: string, partition: number) =>
  `bv.job.${job}.${topic}.${partition}`;

export interface JobTopicsOptions {
  sinkPartitions?: number;
}

/**
 * Creates what a job writes to and does not exist yet: changelogs (compacted, as many partitions as the source),
 * sink topics and the sources' dead-letter topics. Sources must exist.
 */
export async function ensureJobTopics(admin: Admin, job: JobDefinition, options: JobTopicsOptions = {}): Promise<void> {
  const sources = sourceTopics(job);
  const metadata = await admin.metadata({ topics: sources });
  const existing = new Set(await admin.listTopics());
  const create = async (topic: string, partitions: number, configs: { name: string; value: string }[]) => {
    if (existing.has(topic)) return;
    try {
      await admin.createTopics({ topics: [topic], partitions, replicas: 1, configs });
    } catch (error) {
      // Another worker may have created it first.
      if (!JSON.stringify((error as { errors?: unknown }).errors ?? '').includes('TOPIC_ALREADY_EXISTS')) throw error;
    }
    existing.add(topic);
  };
  for (const source of sources) {
    const partitions = metadata.topics.get(source)?.partitionsCount;
    if (!partitions) throw new Error(`source topic ${source} of job ${job.name} does not exist`);
    // A job landing in a transactional system keeps no state and its offsets in that system: no changelog.
    if (!transactionalSystemOf(job))
      await create(changelogTopicOf(job.name, source), partitions, [
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'min.compaction.lag.ms', value: '60000' },
      ]);
    await create(deadLetterTopicOf(source), 1, [{ name: 'retention.ms', value: String(30 * 86_400_000) }]);
  }
  for (const sink of sinkTopics(job)) await create(sink, options.sinkPartitions ?? 6, []);
}
