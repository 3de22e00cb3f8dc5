import { createHash } from 'node:crypto';
import { BvError, createLogger } from '@bitvelocity/core';
import { type DuckDb, type PendingIncrement, type PublishHook, qualifiedName } from '@bitvelocity/lakehouse';
import { type AlertSink, gateFailedEvent } from './alerts.js';
import { reportQualityRun } from './lineage.js';
import {
  computeMetrics,
  metricsScan,
  type QualityPrometheus,
  type QualityThresholds,
  type TableMetrics,
} from './metrics.js';
import { newRunId, runNative, type SuiteRun, unexpectedRowsSql } from './native.js';
import {
  type HeldBatch,
  previousRowCounts,
  type QualityTables,
  qualityTables,
  recordHeld,
  recordRun,
  tableSql,
} from './store.js';
import { loadSuites, type QualitySuite, suiteForTable } from './suite.js';

export interface QualityGateOptions {
  /** The suites to apply (a table without one passes unchecked); the repository's when omitted. */
  suites?: readonly QualitySuite[];
  /** Where the quality tables live (create them first with ensureQualityStore). */
  metaSchema?: string;
  thresholds?: Partial<QualityThresholds>;
  /** Where a failed gate's alert goes (kafkaAlerts(...)); no alert when omitted. */
  alerts?: AlertSink;
  /** Fed with every gated batch's metrics. */
  prometheus?: QualityPrometheus;
  /** At most this many failing rows kept per failing expectation (default 1,000). */
  failingRowsLimit?: number;
  now?: () => Date;
}

/** What a gate decided for one output table. */
export interface GateCheck {
  run: SuiteRun;
  metrics: TableMetrics;
  batchId: string;
  outcome: 'published' | 'held' | 'released';
}

const log = createLogger('quality-gate');

/** The critical expectations a run failed, as the held batch records them. */
const criticalFailures = (run: SuiteRun) => run.results.filter((r) => !r.success && r.severity === 'critical');

/**
 * A publish hook that checks every output increment against its table's suite before the transform commits:
 * - all critical expectations met: `publish`; results, metrics and warnings are written in the same transaction;
 * - a critical expectation failed: `hold` (the transaction rolls back, readers keep the previous snapshot); after the
 *   rollback the held batch, its results and its failing rows are written to the lake and an alert event is sent;
 * - a batch released with `bv quality release <batch>` is let through once, when it fails no more than it did.
 */
export function qualityGate(options: QualityGateOptions = {}): PublishHook & { checks: GateCheck[] } {
  const suites = options.suites ?? loadSuites();
  const tables = qualityTables(options.metaSchema);
  const limit = options.failingRowsLimit ?? 1000;
  const now = options.now ?? (() => new Date());
  const checks: GateCheck[] = [];
  // The previous increments' volumes per table: read from the lake once, then kept as this gate publishes.
  const window = options.thresholds?.volumeWindow ?? 10;
  const baselines = new Map<string, number[]>();
  const volumes = async (lake: DuckDb, table: string) => {
    let known = baselines.get(table);
    if (!known) {
      known = await previousRowCounts(lake, tables, table, 'increment', window);
      baselines.set(table, known);
    }
    return [...known];
  };

  const hook = async (increment: PendingIncrement) => {
    const lake = increment.lake;
    const gated: GateCheck[] = [];
    for (const output of increment.outputs) {
      const suite = suiteForTable(suites, output.table.schema, output.table.name);
      if (!suite || output.rows === 0) continue;
      const table = qualifiedName(output.table);
      const relation = output.increment;
      const runId = newRunId();
      // The checks and the metrics profile in one scan of the increment.
      const profile = await metricsScan(lake, suite, relation);
      let scanned: Record<string, unknown> | undefined;
      const run = await runNative(lake, suite, {
        relation,
        table,
        scope: 'increment',
        now: now(),
        runId,
        columns: profile.columns,
        extraSelect: profile.select,
        onExtra: (row) => {
          scanned = profile.read(row);
        },
      });
      const metrics = await computeMetrics(lake, suite, {
        ...(scanned ? { scanned: { columns: profile.columns, row: scanned } } : {}),
        relation,
        table,
        scope: 'increment',
        now: now(),
        thresholds: options.thresholds,
        profile: 'light',
        ...(run.validRows === undefined ? {} : { validRows: run.validRows }),
        previousRowCounts: await volumes(lake, table),
      });
      // A published batch is named by its run; only a held one needs the content fingerprint (one more scan).
      const batchId = run.criticalSuccess
        ? `${output.table.name}-${runId}`
        : await fingerprint(lake, increment.transform, table, relation);
      let outcome: GateCheck['outcome'] = run.criticalSuccess ? 'published' : 'held';
      if (outcome === 'held' && (await releasedFor(lake, tables, increment.transform, table, run)))
        outcome = 'released';
      gated.push({ run, metrics, batchId, outcome });
      reportQualityRun(run, metrics);
    }
    checks.push(...gated);
    if (checks.length > 100) checks.splice(0, checks.length - 100); // the latest ones, for callers and tests
    for (const check of gated) {
      options.prometheus?.observe(check.metrics, {
        critical: criticalFailures(check.run).length,
        warning: check.run.results.filter((r) => !r.success && r.severity === 'warning').length,
      });
      for (const warning of check.metrics.warnings) log.warn({ table: check.run.table, warning }, 'quality warning');
    }

    const held = gated.filter((c) => c.outcome === 'held');
    if (held.length === 0) {
      for (const check of gated) {
        await recordRun(lake, tables, { ...check, batchId: check.batchId });
        const known = baselines.get(check.run.table);
        if (known) {
          known.unshift(check.run.rowCount); // newest first, as the lake query returns them
          known.splice(window);
        }
        if (check.outcome === 'released') {
          await lake.run(
            `UPDATE ${tableSql(tables.held)} SET status = 'replayed', replayed_at = now() WHERE status = 'released' AND transform = $1 AND table_name = $2`,
            [increment.transform, check.run.table],
          );
        }
      }
      return { action: 'publish' } as const;
    }

    // Read what must be kept now: the rolled-back transaction takes the increment with it.
    const heldAt = now().toISOString();
    const kept: { batch: HeldBatch; check: GateCheck; rows: Parameters<typeof recordHeld>[3] }[] = [];
    for (const check of gated) {
      const rows: Parameters<typeof recordHeld>[3] = [];
      const suite = suiteForTable(suites, ...(check.run.table.split('.') as [string, string])) as QualitySuite;
      for (const [index, result] of check.run.results.entries()) {
        if (result.success) continue;
        const expectation = suite.expectations[index];
        const output = increment.outputs.find((o) => qualifiedName(o.table) === check.run.table);
        if (!expectation || !output) continue;
        const sql = unexpectedRowsSql(expectation, index, output.increment, check.run.table.split('.')[0] ?? '');
        if (!sql) continue;
        const failing = await lake
          .rows<{ j: string }>(`SELECT CAST(to_json(__bv_f) AS VARCHAR) AS j FROM (${sql} LIMIT ${limit}) __bv_f`)
          .catch(() => []);
        for (const f of failing)
          rows.push({
            runId: check.run.runId,
            expectation: result.type,
            column: result.column,
            severity: result.severity,
            row: f.j,
          });
      }
      const critical = criticalFailures(check.run);
      kept.push({
        check,
        rows,
        batch: {
          batchId: check.batchId,
          transform: increment.transform,
          table: check.run.table,
          heldAt,
          rowCount: check.run.rowCount,
          reason: critical
            .map((r) => `${r.type}${r.column ? `(${r.column})` : ''}: ${r.unexpectedCount ?? r.exception ?? 'failed'}`)
            .join('; '),
          failing: critical.map((r) => ({ expectation: r.type, column: r.column, unexpectedCount: r.unexpectedCount })),
          alert: options.alerts ? 'pending' : 'off',
        },
      });
    }
    const reason = held
      .map((c) => `${c.run.table}: ${kept.find((k) => k.check === c)?.batch.reason} (batch ${c.batchId})`)
      .join(' | ');
    return {
      action: 'hold',
      reason: `quality gate: ${reason}`,
      afterRollback: async () => {
        for (const { batch, check, rows } of kept) {
          // The same batch offered again while it is held: recorded as a run, not held or alerted twice.
          const known = await lake.rows(
            `SELECT 1 FROM ${tableSql(tables.held)} WHERE batch_id = $1 AND status = 'held' LIMIT 1`,
            [batch.batchId],
          );
          const isHeld = check.outcome === 'held' && known.length === 0;
          if (isHeld && options.alerts) {
            try {
              await options.alerts(
                gateFailedEvent({
                  batchId: batch.batchId,
                  transform: batch.transform,
                  table: batch.table,
                  heldAt: batch.heldAt,
                  rowCount: batch.rowCount,
                  reason: batch.reason,
                  failures: check.run.results
                    .filter((r) => !r.success)
                    .map((r) => ({
                      expectation: r.type,
                      column: r.column,
                      severity: r.severity,
                      unexpectedCount: r.unexpectedCount,
                      unexpectedPercent: r.unexpectedPercent,
                      exception: r.exception,
                    })),
                  release: `npx bv quality release ${batch.batchId}`,
                }),
              );
              batch.alert = 'sent';
            } catch (error) {
              batch.alert = `failed: ${(error as Error).message}`.slice(0, 500);
              log.error({ err: error, batch: batch.batchId }, 'quality alert not sent');
            }
          }
          // A table of the same increment that passed is held with the rest; its run is recorded as held too.
          await lake.transaction(async () => {
            await recordRun(lake, tables, {
              run: check.run,
              metrics: check.metrics,
              outcome: 'held',
              batchId: batch.batchId,
            });
            if (isHeld) await recordHeld(lake, tables, batch, rows);
          });
        }
      },
    } as const;
  };
  return Object.assign(hook, { checks });
}

/** A stable id of an increment's content: the same input offered again after a hold gets the same id. */
async function fingerprint(lake: DuckDb, transform: string, table: string, relation: string): Promise<string> {
  const [row] = await lake.rows(
    `SELECT count(*) AS n, bit_xor(hash(__bv_r)) AS h FROM (SELECT * FROM ${relation}) __bv_r`,
  );
  const digest = createHash('sha256')
    .update(`${transform}\n${table}\n${String(row?.n)}\n${String(row?.h)}`)
    .digest('hex')
    .slice(0, 16);
  return `${table.split('.')[1]}-${digest}`;
}

/**
 * A released batch of this transform and table lets the increment through when it fails no expectation the held batch
 * did not, and none by more rows: new defects are held again.
 */
async function releasedFor(
  lake: DuckDb,
  tables: QualityTables,
  transform: string,
  table: string,
  run: SuiteRun,
): Promise<boolean> {
  const released = await lake.rows<{ failing: string }>(
    `SELECT CAST(failing AS VARCHAR) AS failing FROM ${tableSql(tables.held)} WHERE status = 'released' AND transform = $1 AND table_name = $2`,
    [transform, table],
  );
  return released.some((r) => {
    const before = JSON.parse(r.failing) as HeldBatch['failing'];
    return criticalFailures(run).every((now) =>
      before.some(
        (b) =>
          b.expectation === now.type &&
          b.column === now.column &&
          (now.unexpectedCount ?? 0) <= (b.unexpectedCount ?? Number.POSITIVE_INFINITY),
      ),
    );
  });
}

/** Marks a held batch released: the next increment of its transform and table passes the gate once. */
export async function releaseBatch(
  lake: DuckDb,
  batchId: string,
  options: { metaSchema?: string; by?: string } = {},
): Promise<HeldBatch & { status: string }> {
  const tables = qualityTables(options.metaSchema);
  const found = await lake.rows<{ status: string }>(
    `SELECT status FROM ${tableSql(tables.held)} WHERE batch_id = $1 ORDER BY held_at DESC LIMIT 1`,
    [batchId],
  );
  if (found.length === 0)
    throw new BvError('QUALITY_BATCH_NOT_FOUND', `no held batch ${batchId}; \`bv quality report\` lists the held ones`);
  if (found[0]?.status !== 'held')
    throw new BvError('QUALITY_BAD_OPTION', `batch ${batchId} is ${found[0]?.status}, not held: nothing to release`);
  await lake.run(
    `UPDATE ${tableSql(tables.held)} SET status = 'released', released_at = now(), released_by = $2 WHERE batch_id = $1 AND status = 'held'`,
    [batchId, options.by ?? process.env.USER ?? 'unknown'],
  );
  const [row] = await lake.rows(
    `SELECT batch_id, transform, table_name, held_at, row_count, reason, CAST(failing AS VARCHAR) AS failing, status, alert FROM ${tableSql(tables.held)} WHERE batch_id = $1`,
    [batchId],
  );
  return {
    batchId,
    transform: String(row?.transform),
    table: String(row?.table_name),
    heldAt: String(row?.held_at),
    rowCount: Number(row?.row_count),
    reason: String(row?.reason),
    failing: JSON.parse(String(row?.failing)),
    alert: String(row?.alert),
    status: String(row?.status),
  };
}
