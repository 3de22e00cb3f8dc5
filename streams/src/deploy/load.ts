import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BvError } from '@bitvelocity/core';
import type { JobDefinition } from '../api/job.js';
import { isTransformJob, type TransformJobDefinition } from './transform-job.js';

/** What a job module exports: a stream job (`defineJob`) or a lake transform (`transformJob`). */
export type DeployableJob = JobDefinition | TransformJobDefinition;

/** Imports a job module (its default export is a `defineJob(...)` or a transform job) and checks that it is one. */
export async function loadJobModule(modulePath: string): Promise<{ path: string; job: DeployableJob }> {
  const path = resolve(modulePath);
  if (!existsSync(path)) throw new BvError('JOB_MODULE_NOT_FOUND', `job module ${path} does not exist`);
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    // defineJob refused the job: its reason is the answer.
    if (error instanceof BvError && error.code === 'JOB_INVALID') throw error;
    throw new BvError('JOB_MODULE_INVALID', `job module ${path} failed to load: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (isTransformJob(loaded.default)) return { path, job: loaded.default };
  const job = loaded.default as Partial<JobDefinition> | undefined;
  if (!job || typeof job.name !== 'string' || !Array.isArray(job.nodes) || !job.options) {
    throw new BvError('JOB_MODULE_INVALID', `job module ${path} must export default defineJob({...})`);
  }
  return { path, job: job as JobDefinition };
}
