import { BvError, type PlatformConfig } from '@bitvelocity/core';
import { JobRegistry } from '../deploy/registry.js';
import type { OffsetSkip } from '../runtime/skips.js';

export interface SkipRequest {
  job: string;
  topic: string;
  partition: number;
  fromOffset: bigint;
  toOffset: bigint;
  reason: string;
  requestedBy: string;
}

/**
 * Records that a job must skip an offset range of one of its source partitions, and restarts its workers when it
 * runs so they apply it: each record in the range becomes a dead letter with code SKIPPED_BY_OPERATOR (the record is
 * kept there, with the reason and who asked), and the job goes on after it.
 */
export async function skipOffsets(config: PlatformConfig, request: SkipRequest): Promise<OffsetSkip> {
  if (request.fromOffset < 0n || request.toOffset < request.fromOffset)
    throw new BvError(
      'JOB_INVALID',
      `--from ${request.fromOffset} --to ${request.toOffset} is not an offset range (0 <= from <= to)`,
    );
  if (!Number.isInteger(request.partition) || request.partition < 0)
    throw new BvError('JOB_INVALID', `--partition ${request.partition} is not a partition number`);
  const registry = await JobRegistry.create(config);
  try {
    const job = await registry.get(request.job);
    if (!job) throw new BvError('JOB_NOT_FOUND', `job ${request.job} is not deployed (bv jobs list)`);
    if (!job.sourceTopics.includes(request.topic))
      throw new BvError(
        'JOB_INVALID',
        `job ${request.job} does not read ${request.topic}; it reads ${job.sourceTopics.join(', ')}`,
      );
    const skip = await registry.addSkip(
      request.job,
      {
        topic: request.topic,
        partition: request.partition,
        fromOffset: request.fromOffset,
        toOffset: request.toOffset,
        reason: request.reason,
      },
      request.requestedBy,
    );
    if (job.desiredState === 'running') await registry.requestRestart(request.job);
    return skip;
  } finally {
    await registry.close();
  }
}

export async function listSkips(config: PlatformConfig, job: string) {
  const registry = await JobRegistry.create(config);
  try {
    return await registry.skips(job);
  } finally {
    await registry.close();
  }
}
