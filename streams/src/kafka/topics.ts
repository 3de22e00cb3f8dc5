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
  const internal = new Map(
    job.nodes.flatMap((n) => (n.kind === 'source' && n.source.repartitionOf ? [[n.source.topics[0], n.source]] : [])),
  );
  const sources = sourceTopics(job).filter((topic) => !internal.has(topic));
  const metadata = await admin.metadata({ topics: sources });
  const partitionsOf = new Map(sources.map((topic) => [topic, metadata.topics.get(topic)?.partitionsCount ?? 0]));
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
  // A repartition topic (Kafka Streams' model) gets the partition count of what is written into it, so the downstream
  // half of the job runs with the same parallelism as the upstream one; nodes come in order, upstream first.
  for (const [topic, source] of internal) {
    if (!topic) continue;
    const partitions = Math.max(0, ...(source.repartitionOf ?? []).map((t) => partitionsOf.get(t) ?? 0));
    if (partitions === 0) throw new Error(`the topics written into ${topic} of job ${job.name} do not exist`);
    // Retention counts from when a record was written, not from its event time: with CreateTime a backlog of old
    // events (a replay, a catch-up) would be deleted by retention before the job's own downstream tasks read it. The
    // event time travels in the record itself (api/repartition.ts).
    await create(topic, partitions, [{ name: 'message.timestamp.type', value: 'LogAppendTime' }]);
    partitionsOf.set(topic, partitions);
  }
  for (const source of [...sources, ...internal.keys()]) {
    if (!source) continue;
    const partitions = partitionsOf.get(source);
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
