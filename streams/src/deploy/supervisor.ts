import type { ChildProcess } from 'node:child_process';
import { createLogger, diagnostics, isAlive, loadPlatformConfig } from '@bitvelocity/core';
import { StreamJobLineage } from './lineage.js';
import { JobRegistry } from './registry.js';

export interface SupervisorOptions {
  /** Starts worker `index` of the job as a child process. */
  spawnWorker: (index: number) => ChildProcess;
  pollInterval?: number;
}

interface Slot {
  child: ChildProcess | undefined;
  startedAt: number;
  failures: number;
  /** Not before this time (ms) after a crash: exponential backoff. */
  restartAt: number;
  stopping: boolean;
  everStarted: boolean;
}

/**
 * Keeps a deployed job's workers running as the registry says: `parallelism` worker processes, restarted with backoff
 * when they crash, all stopped (cleanly, SIGTERM) when the job is stopped, all replaced when a restart is requested.
 */
export async function runSupervisor(jobName: string, options: SupervisorOptions): Promise<void> {
  const log = createLogger(`streams.${jobName}.supervisor`);
  const registry = await JobRegistry.create(loadPlatformConfig());
  const slots = new Map<number, Slot>();
  const lineage = new StreamJobLineage(jobName);
  let handledRestart = (await registry.get(jobName))?.restartRequestedAt?.getTime() ?? 0;
  await registry.setSupervisor(jobName, process.pid);
  let shuttingDown = false;
  const stopSignal = new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const)
      process.once(signal, () => {
        shuttingDown = true;
        resolve();
      });
  });

  const start = async (index: number, slot: Slot) => {
    const child = options.spawnWorker(index);
    slot.child = child;
    slot.startedAt = Date.now();
    slot.stopping = false;
    if (child.pid) await registry.workerStarted(jobName, index, child.pid, slot.everStarted);
    slot.everStarted = true;
    log.info({ index, pid: child.pid }, 'worker started');
    diagnostics.jobStarted.publish({ job: jobName, workerIndex: index, pid: child.pid });
    child.once('exit', (code, signal) => {
      slot.child = undefined;
      if (slot.stopping) {
        diagnostics.jobStopped.publish({ job: jobName, workerIndex: index, pid: child.pid });
        return;
      }
      // A worker that ran a minute was healthy: start the backoff over.
      slot.failures = Date.now() - slot.startedAt > 60_000 ? 1 : slot.failures + 1;
      const restartInMs = Math.min(30_000, 500 * 2 ** (slot.failures - 1));
      slot.restartAt = Date.now() + restartInMs;
      log.warn({ index, code, signal, failures: slot.failures }, 'worker exited; restarting');
      lineage.workerCrashed(index, code, signal);
      diagnostics.jobCrashed.publish({
        job: jobName,
        workerIndex: index,
        pid: child.pid,
        exitCode: code,
        signal,
        failures: slot.failures,
        restartInMs,
      });
    });
  };

  const stop = async (index: number, slot: Slot) => {
    slot.stopping = true;
    const child = slot.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    log.info({ index }, 'worker stopped');
  };

  const stopAll = async () => {
    await Promise.all([...slots].map(([index, slot]) => stop(index, slot)));
  };

  try {
    for (;;) {
      if (shuttingDown) break;
      const job = await registry.get(jobName);
      if (!job || job.desiredState === 'stopped') break;
      if (job.supervisorPid !== process.pid && isAlive(job.supervisorPid)) {
        log.warn({ other: job.supervisorPid }, 'another supervisor owns this job; leaving');
        await stopAll();
        return;
      }
      const restartAt = job.restartRequestedAt?.getTime() ?? 0;
      if (restartAt > handledRestart) {
        handledRestart = restartAt;
        log.info('restart requested');
        await stopAll();
        for (const slot of slots.values()) slot.restartAt = 0;
      }
      for (const [index, slot] of slots) {
        if (index >= job.parallelism) {
          await stop(index, slot);
          slots.delete(index);
        }
      }
      await registry.removeWorkersFrom(jobName, job.parallelism);
      for (let index = 0; index < job.parallelism; index++) {
        let slot = slots.get(index);
        if (!slot) {
          slot = { child: undefined, startedAt: 0, failures: 0, restartAt: 0, stopping: false, everStarted: false };
          slots.set(index, slot);
        }
        if (!slot.child && Date.now() >= slot.restartAt) {
          lineage.workerStarted(job);
          lineage.exportRun();
          await start(index, slot);
        }
      }
      await Promise.race([new Promise((r) => setTimeout(r, options.pollInterval ?? 1000)), stopSignal]);
    }
    await stopAll();
  } finally {
    await lineage.stopped().catch(() => {});
    await registry.setSupervisor(jobName, null).catch(() => {});
    await registry.close();
    log.info('supervisor stopped');
  }
}
