import { BvError, createLogger, diagnostics, loadPlatformConfig, Tracing, traceDiagnostics } from '@bitvelocity/core';
import { isRepartitionTopic } from '../api/repartition.js';
import { incompatibleState, stateShape } from '../api/shape.js';
import { runWorker } from '../kafka/worker.js';
import { StreamRunProgress } from './lineage.js';
import { loadJobModule } from './load.js';
import { WorkerMetrics } from './metrics.js';
import { JobRegistry } from './registry.js';
import { isTransformJob } from './transform-job.js';

/**
 * The body of one worker process of a deployed job: loads the job's module from the registry, serves /metrics (stream
 * jobs), reports its status to the registry, and stops cleanly (after committing) on SIGTERM/SIGINT. A transform job's
 * worker runs the transform's own loop.
 */
export async function runWorkerProcess(jobName: string, workerIndex: number): Promise<void> {
  const config = loadPlatformConfig();
  const registry = await JobRegistry.create(config);
  const record = await registry.get(jobName);
  if (!record) throw new BvError('JOB_NOT_FOUND', `job ${jobName} is not deployed`);
  // A worker an orchestrator runs (no supervisor of ours started it) enters itself in the registry; a row from an
  // earlier process of the same index makes this start a restart.
  const row = (await registry.workers(jobName)).find((w) => w.workerIndex === workerIndex);
  if (row?.pid !== process.pid) await registry.workerStarted(jobName, workerIndex, process.pid, row !== undefined);
  const { job: defined } = await loadJobModule(record.module);
  // The module may have changed in place since it was deployed: a worker never restores state into other operators.
  if (!isTransformJob(defined) && record.stateShape) {
    const changed = incompatibleState(record.stateShape, stateShape(defined));
    if (changed.length > 0)
      throw new BvError(
        'JOB_STATE_INCOMPATIBLE',
        `job ${jobName}'s module changed since it was deployed and would misread its state (${changed.join('; ')}): deploy it again (bv jobs deploy), which checks its state`,
        { details: { job: jobName, changed } },
      );
  }
  // Offset ranges an operator told the job to skip (`bv jobs skip`) go to the dead-letter topic, recorded.
  const job = { ...defined, skips: await registry.skips(jobName) };
  const log = createLogger(`streams.${job.name}.${workerIndex}`);
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
  // A worker whose supervisor died (even by kill -9) stops too, instead of running on where nothing can stop it.
  const supervisor = process.ppid;
  const orphanCheck = setInterval(() => {
    if (process.ppid !== supervisor) {
      log.warn({ supervisor }, 'supervisor gone; stopping');
      stop.abort();
    }
  }, 1000);
  orphanCheck.unref();
  let reporting = Promise.resolve();
  const report = (port: number | null, status: Parameters<JobRegistry['report']>[3]) => {
    // Reports are best effort and never overlap: a slow database must not slow the job.
    reporting = reporting
      .then(() => registry.report(job.name, workerIndex, port, status))
      .catch((error: unknown) => log.warn({ err: error }, 'status report failed'));
  };

  const metrics = new WorkerMetrics(job.name);
  // A fixed base port gives worker i the port base + i, so parallel workers never collide; a container, alone on its
  // address, names its exact port (BV_WORKER_METRICS_PORT).
  const exactPort = Number(process.env.BV_WORKER_METRICS_PORT ?? 0);
  const basePort = Number(process.env.BV_JOB_METRICS_PORT ?? 0);
  const { port, server } = await metrics.serve(exactPort > 0 ? exactPort : basePort > 0 ? basePort + workerIndex : 0);
  // The process runs this one job: every lake commit in it is the job's (a lake sink's or a transform's).
  const unsubscribeLake = diagnostics.lakeCommit.subscribe((commit) => metrics.observeLakeCommit(commit));

  if (isTransformJob(job)) {
    try {
      await job.run({
        signal: stop.signal,
        logger: log,
        workerId: `${job.name}-${workerIndex}-${process.pid}`,
        report: (status) => report(port, status),
      });
    } finally {
      unsubscribeLake();
      await reporting;
      server.close();
      await registry.close();
    }
    return;
  }

  const workerId = `${job.name}-${workerIndex}-${process.pid}`;
  // A span per checkpoint and per lake commit, linked to the traces of the records it made durable.
  const tracing = Tracing.create({ service: `bv-stream-${job.name}` });
  const untrace = traceDiagnostics(tracing.tracer, { workerId });
  const unsubscribe = diagnostics.checkpointCommitted.subscribe((checkpoint) => {
    // One observation per task checkpointed: a lake commit covers every task of the worker at once.
    if (checkpoint.workerId === workerId)
      for (const _ of checkpoint.offsets) metrics.observeCheckpoint(checkpoint.durationMs);
  });
  const lineage = StreamRunProgress.install(
    // A job's repartition topics are internal to it: its lineage runs from its inputs to its outputs.
    {
      name: job.name,
      sourceTopics: record.sourceTopics.filter((topic) => !isRepartitionTopic(topic)),
      sinkTopics: record.sinkTopics,
    },
    workerId,
  );
  try {
    await runWorker({
      job,
      bootstrapServers: config.kafka.bootstrapServers,
      workerId,
      groupInstanceId: `${job.name}-${workerIndex}`,
      epoch: record.epoch,
      signal: stop.signal,
      logger: log,
      onStatus: (status) => {
        metrics.update(status);
        report(port, status);
      },
    });
  } finally {
    unsubscribe();
    unsubscribeLake();
    untrace();
    await tracing.shutdown().catch(() => {});
    await lineage?.close().catch(() => {});
    await reporting;
    server.close();
    await registry.close();
  }
}
