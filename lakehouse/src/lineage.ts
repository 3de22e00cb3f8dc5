import {
  BV_JOB_NAMESPACE,
  BV_PRODUCER,
  type DatasetFacets,
  type DatasetId,
  datasetNames,
  deployedRunFromEnv,
  diagnostics,
  facets,
  type JobRun,
  LineageClient,
  LineageEmitter,
  lakeCatalogOf,
  loadPlatformConfig,
  type PlatformConfig,
  type TransformRunSummary,
  type TransformTableRef,
} from '@bitvelocity/core';

/**
 * Lake transforms (Silver refreshes and rebuilds, the warehouse build) as OpenLineage BATCH runs, from the runner's
 * `bv:transform:*` diagnostics events; the transforms and the runner know nothing of lineage.
 *
 * - One run per increment that read something (an empty increment, the idle poll of a follow loop, reports nothing),
 *   and one run per rebuild: START (at the time the increment began), then COMPLETE with outputStatistics (rows
 *   written per table) and every table's schema facet, or FAIL with the errorMessage facet.
 * - A held increment (a publish hook such as the quality gate said no) is ABORT: nothing was committed and the
 *   position did not move, so the run did not happen as far as the data is concerned. It carries the custom run
 *   facet `bitvelocity_held` with the hook's reason.
 * - In a deployed transform job each run has the parent facet naming the job's own run (the supervisor's).
 */
export interface TransformLineageOptions {
  /** Defaults to `LineageClient.fromEnv()` (closed by `close()`); with no lineage configured nothing subscribes. */
  client?: LineageClient;
  config?: PlatformConfig;
  /** Extra facets per output table (`schema.table`) of a transform, e.g. the warehouse's column lineage. */
  outputFacets?: Record<string, Record<string, DatasetFacets>>;
  /** The parent run (default: the deployed job's run from the environment). */
  parent?: { runId: string; job: DatasetId };
}

export interface LineageSubscription {
  /** Unsubscribes and (for a client it created) flushes what is queued, waiting at most `timeoutMs`. */
  close(timeoutMs?: number): Promise<void>;
}

/** The lineage job of a transform: `lake.<transform>` (lake.silver, lake.warehouse). */
export const transformJobName = (transform: string) => `lake.${transform}`;

export const HELD_FACET = 'bitvelocity_held';
const HELD_SCHEMA = 'https://bitvelocity.dev/spec/facets/1-0-0/HeldRunFacet.json';

export function installTransformLineage(options: TransformLineageOptions = {}): LineageSubscription {
  const client = options.client ?? LineageClient.fromEnv();
  const owned = !options.client;
  if (client.transportName === 'noop')
    return {
      async close() {
        if (owned) await client.close(0);
      },
    };
  const config = options.config ?? loadPlatformConfig();
  const catalog = lakeCatalogOf(config);
  const emitter = new LineageEmitter(client);
  const parent = options.parent ?? deployedRunFromEnv();
  const pending = new Map<string, { startedAt: Date; inputs: TransformTableRef[]; outputs: TransformTableRef[] }>();

  const dataset = (table: TransformTableRef, extra?: DatasetFacets) => ({
    ...datasetNames.ducklake(catalog, table.schema, table.name),
    facets: {
      ...(table.columns
        ? {
            schema: facets.schema(
              table.columns.map((c) => ({
                name: c.name,
                type: c.type,
                ...(c.description ? { description: c.description } : {}),
              })),
            ),
          }
        : {}),
      ...extra,
    },
  });

  const runOf = (transform: string): JobRun | undefined => {
    const started = pending.get(transform);
    if (!started) return undefined;
    pending.delete(transform);
    const extra = options.outputFacets?.[transform] ?? {};
    const run = emitter.jobRun({
      job: { namespace: BV_JOB_NAMESPACE, name: transformJobName(transform) },
      processingType: 'BATCH',
      jobType: 'LAKE_TRANSFORM',
      inputs: started.inputs.map((t) => dataset(t)),
      outputs: started.outputs.map((t) => dataset(t, extra[`${t.schema}.${t.name}`])),
      ...(parent ? { parent } : {}),
    });
    run.start({ eventTime: started.startedAt });
    return run;
  };

  const statistics = (reports: TransformRunSummary[]) => {
    const rows: Record<string, { rowCount: number }> = {};
    for (const report of reports)
      for (const [table, n] of Object.entries(report.written)) {
        const name = datasetNames.ducklake(catalog, ...(table.split('.') as [string, string])).name;
        rows[name] = { rowCount: (rows[name]?.rowCount ?? 0) + n };
      }
    return rows;
  };

  const unsubscribe = [
    diagnostics.transformStart.subscribe((event) => {
      pending.set(event.transform, {
        startedAt: new Date(),
        inputs: [...(event.inputs ?? [])],
        outputs: [...(event.outputs ?? [])],
      });
    }),
    diagnostics.transformFinish.subscribe((event) => {
      if (event.mode === 'increment' && event.reports.every((r) => r.read === 0)) {
        pending.delete(event.transform);
        return;
      }
      const run = runOf(event.transform);
      if (!run) return;
      const held = event.reports.find((r) => !r.published);
      const outputStatistics = statistics(event.reports.filter((r) => r.published));
      if (held)
        run.abort({
          outputStatistics,
          runFacets: {
            [HELD_FACET]: {
              _producer: BV_PRODUCER,
              _schemaURL: HELD_SCHEMA,
              held: true,
              reason: held.heldReason ?? '',
              position: held.position,
            },
          },
        });
      else run.complete({ outputStatistics });
    }),
    diagnostics.transformFail.subscribe((event) => {
      runOf(event.transform)?.fail(event.error);
    }),
  ];

  return {
    async close(timeoutMs = 2_000) {
      for (const off of unsubscribe) off();
      if (owned) await client.close(timeoutMs);
      else await client.flush(timeoutMs);
    },
  };
}
