import { errorMessage, loadPlatformConfig } from '@bitvelocity/core';
import { defineTransformJob, type TransformJobDefinition, type TransformJobStatus } from '@bitvelocity/streams';
import type { DuckDb } from '../duckdb.js';
import { openLake } from '../lake.js';
import { installTransformLineage } from '../lineage.js';
import type { LakeTransform, PublishHook, TransformLag } from './contract.js';
import { followTransform } from './runner.js';

export interface TransformJobOptions {
  /** The job's name in the registry (the transform's own name unless a test runs its own). */
  name: string;
  description: string;
  /** Builds the transform over the worker's lake connection. */
  create: (lake: DuckDb) => Promise<LakeTransform>;
  /** The pause after an increment that found nothing new, in ms. */
  intervalMs?: number;
  /** The publish hook every increment passes (a quality gate), built over the worker's lake connection. */
  beforePublish?: (lake: DuckDb) => Promise<PublishHook | undefined>;
}

const lagJson = (lag: TransformLag): TransformJobStatus['lag'] => ({
  position: lag.position,
  pendingRows: lag.pendingRows,
  consumedUpTo: lag.consumedUpTo?.toISOString() ?? null,
  inputUpTo: lag.inputUpTo?.toISOString() ?? null,
});

/**
 * A lake transform as a deployable job (`bv jobs deploy <module>` with this as the module's default export): its
 * worker follows the transform through the runner and reports runs and lag after every increment. A failed increment
 * is logged and tried again after the pause (it committed nothing); a crashed worker is restarted by the supervisor
 * and resumes from the position the last committed increment recorded.
 */
export function transformJob(options: TransformJobOptions): TransformJobDefinition {
  return defineTransformJob({
    name: options.name,
    description: options.description,
    run: async ({ signal, logger, workerId, report }) => {
      const lake = await openLake(loadPlatformConfig());
      // Each increment as a lineage run, its parent the deployed job's run (no-op without lineage configured).
      const lineage = installTransformLineage();
      try {
        const transform = await options.create(lake);
        const beforePublish = await options.beforePublish?.(lake);
        const status: TransformJobStatus = {
          workerId,
          runs: 0,
          held: 0,
          failures: 0,
          lastRunAt: null,
          lastError: null,
          lag: lagJson(await transform.lag()),
        };
        report({ ...status });
        logger.info({ transform: transform.name, position: status.lag.position }, 'transform started');
        await followTransform(transform, {
          ...(beforePublish ? { beforePublish } : {}),
          signal,
          intervalMs: options.intervalMs ?? 500,
          onReport: async (run) => {
            status.runs++;
            if (!run.published) {
              status.held++;
              logger.warn({ reason: run.heldReason, position: run.position }, 'increment held back, not published');
            }
            status.lastRunAt = new Date().toISOString();
            status.lag = lagJson(await transform.lag());
            report({ ...status });
            if (run.read > 0)
              logger.info({ read: run.read, written: run.written, position: run.position }, 'increment');
          },
          onError: (error) => {
            status.failures++;
            status.lastError = errorMessage(error);
            report({ ...status });
            logger.warn({ err: error }, 'increment failed; trying again');
          },
        });
      } finally {
        await lineage.close().catch(() => {});
        lake.close();
      }
    },
  });
}
