import { BvError, isAlive, type PlatformConfig } from '@bitvelocity/core';
import { ListOffsetTimestamps } from '@platformatic/kafka';
import { transactionalSystemOf } from '../api/job.js';
import { isRepartitionTopic } from '../api/repartition.js';
import { clearChangelogs, offsetsAt, withAdmin } from '../kafka/admin.js';
import { changelogTopicOf, jobGroupId } from '../kafka/topics.js';
import { loadJobModule } from './load.js';
import { requireJob, withRegistry } from './registry.js';
import { isTransformJob } from './transform-job.js';

export interface ResetTarget {
  toOffset?: bigint;
  toTime?: Date;
  toEarliest?: boolean;
}

export interface ResetOutcome {
  offsets: { topic: string; partition: number; offset: string }[];
  /** The reprocessing epoch the job's next results carry (one more than before the reset). */
  epoch: number;
}

/**
 * Moves a stopped job's input position (every source partition) and clears its state, so the next start reprocesses
 * from there, in the job's next reprocessing epoch. Outputs already written stay where they are; the results of the
 * reprocessing carry the new epoch, so they supersede them in a consumer that orders by (epoch, revision).
 */
export async function resetJob(config: PlatformConfig, name: string, target: ResetTarget): Promise<ResetOutcome> {
  const chosen = [target.toOffset !== undefined, target.toTime !== undefined, target.toEarliest === true].filter(
    Boolean,
  );
  if (chosen.length !== 1)
    throw new BvError('JOB_BAD_OPTION', 'give exactly one of --to-offset, --to-time, --to-earliest');
  if (target.toTime && Number.isNaN(target.toTime.getTime()))
    throw new BvError('JOB_BAD_OPTION', '--to-time is not a date');
  return withRegistry(config, async (registry) => {
    const job = await requireJob(registry, name);
    if (job.kind === 'transform')
      throw new BvError('JOB_BAD_OPTION', `job ${name} is a lake transform: rebuild it instead (bv lake rebuild)`);
    if (job.desiredState !== 'stopped' || isAlive(job.supervisorPid))
      throw new BvError('JOB_RUNNING', `stop job ${name} first (bv jobs stop ${name})`);
    return withAdmin(config, async (admin) => {
      const ends = await offsetsAt(admin, job.sourceTopics, ListOffsetTimestamps.LATEST);
      const resolved =
        target.toTime !== undefined
          ? await offsetsAt(admin, job.sourceTopics, BigInt(target.toTime.getTime()))
          : target.toEarliest
            ? await offsetsAt(admin, job.sourceTopics, ListOffsetTimestamps.EARLIEST)
            : undefined;
      const offsets: { topic: string; partition: number; offset: string }[] = [];
      for (const [topic, topicEnds] of ends) {
        topicEnds.forEach((end, partition) => {
          // A repartition topic holds what the job itself wrote from its input: reprocessing the input writes it again,
          // so its tasks start at its end (Kafka Streams' reset tool deletes internal topics for the same reason).
          let offset = isRepartitionTopic(topic) ? end : (target.toOffset ?? resolved?.get(topic)?.[partition] ?? end);
          // A time after the last record resolves to -1; an offset past the end means the end.
          if (offset < 0n || offset > end) offset = end;
          offsets.push({ topic, partition, offset: offset.toString() });
        });
      }
      const { job: definition } = await loadJobModule(job.module);
      const system = isTransformJob(definition) ? undefined : transactionalSystemOf(definition);
      if (system) {
        // The offsets a lake job resumes from live in the lake; it claims the partitions (fencing any zombie) first.
        await system.resetOffsets(
          name,
          offsets.map((o) => ({ topic: o.topic, partition: o.partition, nextOffset: BigInt(o.offset) })),
        );
      } else {
        // State belongs to the old position: empty the changelogs first, so a failure leaves the job where it was.
        await clearChangelogs(
          admin,
          job.sourceTopics.map((topic) => changelogTopicOf(name, topic)),
        );
      }
      await admin.alterConsumerGroupOffsets({
        groupId: jobGroupId(name),
        topics: job.sourceTopics.map((topic) => ({
          name: topic,
          partitionOffsets: offsets
            .filter((o) => o.topic === topic)
            .map((o) => ({ partition: o.partition, offset: BigInt(o.offset) })),
        })),
      });
      // Last, once the position moved: a reset that failed before this leaves the epoch where it was.
      return { offsets, epoch: await registry.nextEpoch(name) };
    });
  });
}
