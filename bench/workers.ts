/**
 * Stream jobs run in the bench's own process (no supervisor), with their latest status kept for the bench to read.
 */
import { createLogger, loadPlatformConfig } from '@bitvelocity/core';
import { type JobDefinition, runWorker, type WorkerStatus } from '@bitvelocity/streams';

const silent = createLogger('bench', 'error');

export interface Running {
  stop: AbortController;
  done: Promise<void>;
  status?: WorkerStatus;
}

export function start(job: JobDefinition, brokers = loadPlatformConfig().kafka.bootstrapServers): Running {
  const stop = new AbortController();
  const running: Running = { stop, done: Promise.resolve() };
  running.done = runWorker({
    job,
    bootstrapServers: brokers,
    workerId: `bench-${job.name}`,
    signal: stop.signal,
    logger: silent,
    onStatus: (status) => {
      running.status = status;
    },
  });
  return running;
}

/** Stops the workers (each commits and leaves its group) and waits for them. */
export async function stopAll(workers: Running[]): Promise<void> {
  for (const worker of workers) worker.stop.abort();
  await Promise.allSettled(workers.map((w) => w.done));
}
