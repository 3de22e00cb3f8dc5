import { diagnostics, type TransformRunSummary } from '@bitvelocity/core';
import type { LakeTransform, TransformContext, TransformReport } from './contract.js';

/**
 * The one runner of lake transforms: the CLI (`bv lake silver`, `bv lake rebuild`), the supervised transform job and
 * the demo all drive a transform through it. It publishes the `bv:transform:*` diagnostics events (start, finish,
 * held, fail), so a transform itself knows nothing of lineage, metrics or quality.
 */

const summaryOf = (report: TransformReport): TransformRunSummary => ({
  transform: report.transform,
  read: report.read,
  written: report.written,
  position: report.position,
  published: report.published,
  ...(report.heldReason !== undefined ? { heldReason: report.heldReason } : {}),
  ...(report.snapshotId !== undefined ? { snapshotId: report.snapshotId } : {}),
  durationMs: report.durationMs,
});

const tablesOf = (transform: LakeTransform<TransformReport>) => ({
  transform: transform.name,
  inputs: transform.inputs,
  outputs: transform.outputs,
});

function published<Report extends TransformReport>(
  transform: string,
  reports: Report[],
  mode: 'increment' | 'rebuild',
) {
  for (const report of reports)
    if (!report.published)
      diagnostics.transformHeld.publish({ transform, reason: report.heldReason ?? '', report: summaryOf(report) });
  diagnostics.transformFinish.publish({ transform, mode, reports: reports.map(summaryOf) });
}

/** One increment (at most one batch), with its events. */
export async function runIncrement<Report extends TransformReport>(
  transform: LakeTransform<Report>,
  context: TransformContext = {},
): Promise<Report> {
  diagnostics.transformStart.publish({ ...tablesOf(transform), mode: 'increment' });
  try {
    const report = await transform.runOnce(context);
    published(transform.name, [report], 'increment');
    return report;
  } catch (error) {
    diagnostics.transformFail.publish({ transform: transform.name, mode: 'increment', error });
    throw error;
  }
}

/**
 * Runs increments until the transform has read everything its inputs committed (a run that reads nothing), a publish
 * hook holds one back, or `signal` aborts. Returns the reports of the increments that read something.
 */
export async function runUntilCaughtUp<Report extends TransformReport>(
  transform: LakeTransform<Report>,
  context: TransformContext = {},
): Promise<Report[]> {
  const reports: Report[] = [];
  while (!context.signal?.aborted) {
    const report = await runIncrement(transform, context);
    if (report.read === 0) break;
    reports.push(report);
    if (!report.published) break;
  }
  return reports;
}

export interface FollowOptions<Report extends TransformReport> extends TransformContext {
  /** The pause after a run that found nothing new (or was held), in ms. */
  intervalMs: number;
  /** Called after every increment, the empty ones included (status reports, CLI output). */
  onReport?: (report: Report) => void | Promise<void>;
  /** Decides what a failed increment does: return to carry on after the pause, throw to stop (default: stop). */
  onError?: (error: unknown) => void | Promise<void>;
}

/** Keeps the transform fresh until `signal` aborts: increments back to back while there is input, then a pause. */
export async function followTransform<Report extends TransformReport>(
  transform: LakeTransform<Report>,
  options: FollowOptions<Report>,
): Promise<void> {
  const { intervalMs, onReport, onError, ...context } = options;
  while (!context.signal?.aborted) {
    let report: Report | undefined;
    try {
      report = await runIncrement(transform, context);
      await onReport?.(report);
    } catch (error) {
      if (!onError) throw error;
      await onError(error);
    }
    if (report && report.read > 0 && report.published) continue;
    await pause(intervalMs, context.signal);
  }
}

/** Rebuilds from `from` (everything when omitted), with its events. */
export async function rebuildTransform<Report extends TransformReport>(
  transform: LakeTransform<Report>,
  from?: Date,
  context: TransformContext = {},
): Promise<Report[]> {
  diagnostics.transformStart.publish({ ...tablesOf(transform), mode: 'rebuild', ...(from ? { from } : {}) });
  try {
    const reports = await transform.rebuild(from, context);
    published(transform.name, reports, 'rebuild');
    return reports;
  } catch (error) {
    diagnostics.transformFail.publish({ transform: transform.name, mode: 'rebuild', error });
    throw error;
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
