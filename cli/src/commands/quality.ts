import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BvError, loadPlatformConfig } from '@bitvelocity/core';
import { DuckDb as Duck, type DuckDb, openLake, sqlLiteral } from '@bitvelocity/lakehouse';
import {
  closeQualityLineage,
  computeMetrics,
  ensureQualityStore,
  loadSuiteFile,
  loadSuites,
  QualityPrometheus,
  type QualitySuite,
  qualityReport,
  qualitySchema,
  qualityTables,
  recordRun,
  releaseBatch,
  reportQualityRun,
  runNative,
  runWithGx,
  type SuiteRun,
  type TableMetrics,
} from '@bitvelocity/quality';
import { Command } from 'commander';
import { print, printJson } from '../output.js';

function engineOf(value: string): 'native' | 'gx' {
  if (value !== 'native' && value !== 'gx')
    throw new BvError('QUALITY_BAD_OPTION', `--engine is native or gx, got "${value}"`);
  return value;
}

function tableOf(value: string): string {
  if (!/^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$/.test(value))
    throw new BvError('QUALITY_BAD_OPTION', `--table takes schema.table, e.g. silver.orders, got "${value}"`);
  return value;
}

const percent = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)} %`);

function printRun(run: SuiteRun, metrics?: TableMetrics, skipped: string[] = []): void {
  const failed = run.results.filter((r) => !r.success);
  const verdict = run.criticalSuccess ? (run.success ? 'PASS' : 'PASS with warnings') : 'FAIL';
  print(
    `${run.table} (${run.engine}, ${run.rowCount} rows, ${run.durationMs} ms): ${verdict}: ${run.results.length - failed.length}/${run.results.length} expectations met`,
  );
  for (const r of failed) {
    const what =
      r.exception ??
      (r.unexpectedCount === null
        ? `observed ${JSON.stringify(r.observedValue)}`
        : `${r.unexpectedCount} unexpected (${percent(r.unexpectedPercent)})`);
    const sample = r.partialUnexpectedList?.length
      ? ` e.g. ${JSON.stringify(r.partialUnexpectedList.slice(0, 3))}`
      : '';
    print(`  ${r.severity.padEnd(8)} ${r.type}${r.column ? `(${r.column})` : ''}: ${what}${sample}`);
  }
  if (skipped.length) print(`  not in GX (run them with --engine native): ${[...new Set(skipped)].join(', ')}`);
  if (metrics) {
    print(
      `  valid rows ${percent(metrics.validRowsPct)}, duplicate key rate ${metrics.duplicateKeyRate ?? '-'}, late ${metrics.lateEvents ?? '-'}, freshness lag ${metrics.freshnessLagSeconds === null ? '-' : `${Math.round(metrics.freshnessLagSeconds)} s`}`,
    );
    for (const w of metrics.warnings) print(`  warning  ${w}`);
  }
}

async function existing(lake: DuckDb, table: string): Promise<boolean> {
  const [schema, name] = table.split('.');
  const rows = await lake.rows(
    'SELECT 1 FROM information_schema.tables WHERE table_catalog = current_database() AND table_schema = $1 AND table_name = $2',
    [schema ?? '', name ?? ''],
  );
  return rows.length > 0;
}

export function qualityCommand(): Command {
  const quality = new Command('quality').description(
    'Expectation suites on lake tables: run them (native DuckDB or Great Expectations), report, release held batches',
  );

  quality
    .command('run')
    .description('Run the suites (quality/suites/**) on their lake tables, or one suite on a Parquet file')
    .option('--engine <engine>', 'native (DuckDB SQL) or gx (Great Expectations on a Parquet export)', 'native')
    .option('--table <schema.table>', 'only the suite of this table')
    .option('--suite <file>', 'a suite file instead of the repository suites')
    .option('--data <file.parquet>', 'check a Parquet file instead of the lake table (nothing is recorded)')
    .option('--schema <schema>', 'check the tables of the suites in another schema (e.g. a test schema)')
    .option('--json', 'print the runs as JSON')
    .option('--prometheus', 'print the metrics in the Prometheus text format')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const engine = engineOf(String(opts.engine));
      const table = typeof opts.table === 'string' ? tableOf(opts.table) : undefined;
      let suites: QualitySuite[] = typeof opts.suite === 'string' ? [loadSuiteFile(opts.suite)] : loadSuites();
      if (table) suites = suites.filter((s) => s.meta.table.split('.')[1] === table.split('.')[1]);
      else if (!opts.suite) suites = suites.filter((s) => !s.meta.pending);
      if (suites.length === 0) throw new BvError('QUALITY_BAD_OPTION', `no suite for ${table ?? 'the given options'}`);
      const config = loadPlatformConfig();
      const prometheus = new QualityPrometheus();
      const out: unknown[] = [];
      let failedCritical = false;
      const report = (run: SuiteRun, metrics?: TableMetrics, skipped?: string[]) => {
        failedCritical ||= !run.criticalSuccess;
        if (typeof opts.data !== 'string') reportQualityRun(run, metrics, { config });
        if (metrics)
          prometheus.observe(metrics, {
            critical: run.results.filter((r) => !r.success && r.severity === 'critical').length,
            warning: run.results.filter((r) => !r.success && r.severity === 'warning').length,
          });
        if (opts.json) out.push({ ...run, metrics, skipped });
        else if (!opts.prometheus) printRun(run, metrics, skipped);
      };

      if (typeof opts.data === 'string') {
        const suite = suites[0] as QualitySuite;
        if (engine === 'gx') {
          const run = await runWithGx(suite, { python: config.gx.python, dataPath: opts.data });
          report(run, undefined, run.skipped);
        } else {
          const db = await Duck.create(config);
          try {
            const relation = `read_parquet(${sqlLiteral(opts.data)})`;
            const run = await runNative(db, suite, { relation, scope: 'table' });
            report(run, await computeMetrics(db, suite, { relation, table: suite.meta.table, scope: 'table' }));
          } finally {
            db.close();
          }
        }
      } else {
        const lake = await openLake(config);
        const dir = mkdtempSync(join(tmpdir(), 'bv-quality-'));
        try {
          const tables = await ensureQualityStore(lake, qualitySchema());
          for (const suite of suites) {
            const name = opts.schema ? `${opts.schema}.${suite.meta.table.split('.')[1]}` : suite.meta.table;
            if (!(await existing(lake, name))) {
              if (!opts.json) print(`${name}: no such table yet, skipped`);
              continue;
            }
            const relation = name
              .split('.')
              .map((p) => `"${p}"`)
              .join('.');
            let run: SuiteRun & { skipped?: string[] };
            if (engine === 'gx') {
              const file = join(dir, `${name}.parquet`);
              await lake.run(`COPY (SELECT * FROM ${relation}) TO ${sqlLiteral(file)} (FORMAT parquet)`);
              run = await runWithGx(suite, { python: config.gx.python, dataPath: file, table: name });
            } else run = await runNative(lake, suite, { relation, table: name, scope: 'table' });
            const previous = await lake.rows<{ row_count: bigint }>(
              `SELECT row_count FROM bv_meta.quality_metrics WHERE table_name = $1 AND scope = 'table' ORDER BY checked_at DESC LIMIT 10`,
              [name],
            );
            const metrics = await computeMetrics(lake, suite, {
              relation,
              table: name,
              scope: 'table',
              previousRowCounts: previous.map((r) => Number(r.row_count)),
            });
            await lake.transaction(() => recordRun(lake, tables, { run, metrics, outcome: 'checked' }));
            report(run, metrics, run.skipped);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
          lake.close();
        }
      }
      await closeQualityLineage();
      if (opts.json) printJson(out);
      if (opts.prometheus) process.stdout.write(await prometheus.metrics());
      if (failedCritical) process.exitCode = 1;
    });

  quality
    .command('report')
    .description(
      'The latest quality run of every table (or one), its failed expectations and warnings, and held batches',
    )
    .option('--table <schema.table>', 'only this table')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { table?: string; json?: boolean }) => {
      const table = opts.table ? tableOf(opts.table) : undefined;
      const lake = await openLake(loadPlatformConfig(), { readOnly: true });
      try {
        const metaSchema = qualitySchema();
        const names = qualityTables(metaSchema);
        if (!(await existing(lake, `${names.metrics.schema}.${names.metrics.name}`))) {
          if (opts.json) printJson({ tables: [], held: [] });
          else print('no quality runs yet: `bv quality run`');
          return;
        }
        const report = await qualityReport(lake, { metaSchema, ...(table ? { table } : {}) });
        if (opts.json) {
          printJson(report);
          return;
        }
        for (const t of report.tables) {
          print(
            `${t.table} [${t.scope}] ${t.checkedAt} ${t.outcome}: ${t.rowCount} rows, valid ${percent(t.validRowsPct)}, duplicate key rate ${t.duplicateKeyRate ?? '-'}, late ${t.lateEvents ?? '-'}, freshness lag ${t.freshnessLagSeconds === null ? '-' : `${Math.round(t.freshnessLagSeconds)} s`}, volume x${t.volumeRatio?.toFixed(2) ?? '-'}`,
          );
          for (const f of t.failed)
            print(
              `  ${f.severity.padEnd(8)} ${f.expectation}${f.column ? `(${f.column})` : ''}: ${f.unexpectedCount ?? 'failed'}`,
            );
          for (const w of t.warnings) print(`  warning  ${w}`);
        }
        if (report.held.length) print('\nheld batches (release one with `npx bv quality release <batch>`):');
        for (const h of report.held)
          print(
            `  ${h.batchId}  ${h.status.padEnd(8)} ${h.table} from ${h.transform}, ${h.rowCount} rows, ${h.failingRows} failing rows kept, held ${h.heldAt}, alert ${h.alert}: ${h.reason}`,
          );
      } finally {
        lake.close();
      }
    });

  quality
    .command('release')
    .argument('<batch>', 'a held batch id, as `bv quality report` lists it')
    .description('Release a held batch: the next increment of its transform and table passes the gate once')
    .option('--by <name>', 'who released it (recorded)')
    .action(async (batch: string, opts: { by?: string }) => {
      const lake = await openLake(loadPlatformConfig());
      try {
        const released = await releaseBatch(lake, batch, {
          metaSchema: qualitySchema(),
          ...(opts.by ? { by: opts.by } : {}),
        });
        print(
          `released ${batch} (${released.table} from ${released.transform}, ${released.rowCount} rows): the next run of ${released.transform} publishes it`,
        );
      } finally {
        lake.close();
      }
    });
  return quality;
}
