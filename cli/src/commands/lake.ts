import { BvError, loadPlatformConfig, parseDuration, platformConfigFile } from '@bitvelocity/core';
import type { DuckDb } from '@bitvelocity/lakehouse';
import { Command } from 'commander';
import { positiveInt, print, printJson } from '../output.js';

const FLAG_UNITS = ['s', 'm', 'h', 'd', 'w'] as const;

function durationMs(value: string, flag: string): number {
  const millis = parseDuration(value, { units: FLAG_UNITS });
  if (millis === undefined) {
    throw new BvError('LAKE_BAD_OPTION', `${flag} takes a duration like 90s, 30m, 24h, 7d or 2w, got "${value}"`);
  }
  return millis;
}

/** `7d`, `24h`, ... back from now, or a date (`2026-11-01`, UTC) or ISO timestamp. */
function pointInTime(value: string): Date {
  if (parseDuration(value, { units: FLAG_UNITS }) !== undefined)
    return new Date(Date.now() - durationMs(value, '--older-than'));
  const date = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim()) ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) {
    throw new BvError(
      'LAKE_BAD_OPTION',
      `--older-than takes a duration (7d, 24h) or a date (2026-11-01), got "${value}"`,
    );
  }
  return date;
}

function qualifiedTable(value: string): { schema: string; table: string } {
  const dot = value.indexOf('.');
  const schema = value.slice(0, dot);
  const table = value.slice(dot + 1);
  if (dot < 1 || !table || table.includes('.')) {
    throw new BvError('LAKE_BAD_OPTION', `--table takes schema.table, e.g. bronze.orders, got "${value}"`);
  }
  return { schema, table };
}

const graceMs = (value: string) => durationMs(value, '--grace');

function fraction(value: string): number {
  const n = Number(value);
  if (!/^(0|1)?(\.\d+)?$/.test(value.trim()) || !(n >= 0 && n <= 1)) {
    throw new BvError('LAKE_BAD_OPTION', `--delete-threshold takes a fraction from 0 to 1, e.g. 0.5, got "${value}"`);
  }
  return n;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Aligned columns under a header, the last column left ragged. */
function alignedColumns(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n');
}

/** Opens the lake for one command and closes it afterwards; the lakehouse package loads only when a command runs. */
async function withLake<T>(
  use: (lake: DuckDb, lakehouse: typeof import('@bitvelocity/lakehouse')) => Promise<T>,
): Promise<T> {
  const lakehouse = await import('@bitvelocity/lakehouse');
  const lake = await lakehouse.openLake(loadPlatformConfig());
  try {
    return await use(lake, lakehouse);
  } finally {
    lake.close();
  }
}

function tablesCommand(): Command {
  return new Command('tables')
    .description('every table: rows, data files, size, delete files, inlined rows, partitioning')
    .option('--schema <schema>', 'only the tables of this schema')
    .option('--json', 'machine-readable output')
    .action(async (options: { schema?: string; json?: boolean }) => {
      const tables = await withLake((lake, { listTables }) =>
        listTables(lake, options.schema === undefined ? {} : { schema: options.schema }),
      );
      if (options.json) return printJson(tables);
      if (!tables.length) return print('no tables');
      print(
        alignedColumns(
          ['TABLE', 'ROWS', 'FILES', 'SIZE', 'DELETE FILES', 'INLINED ROWS', 'PARTITIONED BY'],
          tables.map((t) => [
            `${t.schema}.${t.table}`,
            String(t.rows),
            String(t.dataFiles),
            bytes(t.dataFileBytes),
            t.deleteFiles ? `${t.deleteFiles} (${bytes(t.deleteFileBytes)})` : '0',
            String(t.inlinedRows),
            t.partitionedBy.join(', ') || '-',
          ]),
        ),
      );
    });
}

function snapshotsCommand(): Command {
  return new Command('snapshots')
    .description('the newest snapshots (commits) of the lake and what each changed')
    .option('--limit <n>', 'how many', positiveInt('LAKE_BAD_OPTION', '--limit'), 20)
    .option('--json', 'machine-readable output')
    .action(async (options: { limit: number; json?: boolean }) => {
      const snapshots = await withLake((lake, { listSnapshots }) => listSnapshots(lake, { limit: options.limit }));
      if (options.json) return printJson(snapshots);
      print(
        alignedColumns(
          ['SNAPSHOT', 'TIME', 'SCHEMA VERSION', 'CHANGES'],
          snapshots.map((s) => [
            String(s.id),
            s.time.toISOString(),
            String(s.schemaVersion),
            [
              Object.entries(s.changes)
                .map(([change, subjects]) => `${change}=${subjects.join(',')}`)
                .join('; '),
              s.message ? `"${s.message}"${s.author ? ` by ${s.author}` : ''}` : '',
            ]
              .filter(Boolean)
              .join('  '),
          ]),
        ),
      );
    });
}

function compactCommand(): Command {
  return new Command('compact')
    .description(
      'flush inlined rows, rewrite files with many deletes, merge small files, then delete unreferenced files',
    )
    .option('--table <schema.table>', 'only this table (default: the whole lake)', qualifiedTable)
    .option('--schema <schema>', 'only the tables of this schema')
    .option(
      '--delete-threshold <fraction>',
      'rewrite a file once this share of its rows is deleted (default 0.95; DuckLake merges no file with deletes)',
      fraction,
    )
    .option(
      '--grace <duration>',
      'delete unreferenced files only once they are this old (0s: now; default 1h)',
      graceMs,
    )
    .option('--json', 'machine-readable output')
    .action(
      async (options: {
        table?: { schema: string; table: string };
        schema?: string;
        deleteThreshold?: number;
        grace?: number;
        json?: boolean;
      }) => {
        if (options.table && options.schema !== undefined) {
          throw new BvError('LAKE_BAD_OPTION', 'give --table schema.table or --schema, not both');
        }
        const report = await withLake((lake, { compact }) =>
          compact(lake, {
            ...(options.table ?? (options.schema === undefined ? {} : { schema: options.schema })),
            ...(options.deleteThreshold === undefined ? {} : { deleteThreshold: options.deleteThreshold }),
            ...(options.grace === undefined ? {} : { fileGraceMs: options.grace }),
          }),
        );
        if (options.json) return printJson(report);
        for (const t of report.tables) {
          const work = `flushed ${t.rowsFlushed} rows, rewrote ${t.filesRewritten} files, merged ${t.filesMerged} files`;
          print(
            `${t.schema}.${t.table}: data files ${t.dataFilesBefore} -> ${t.dataFilesAfter}, delete files ${t.deleteFilesBefore} -> ${t.deleteFilesAfter} (${work})`,
          );
        }
        if (!report.tables.length) print('no tables to compact');
        print(`deleted ${report.filesDeleted.length} unreferenced files`);
      },
    );
}

function expireCommand(): Command {
  return new Command('expire')
    .description('expire snapshots older than a point in time (no time travel to them), then delete their files')
    .requiredOption('--older-than <when>', 'a duration back from now (7d, 24h) or a date (2026-11-01)', pointInTime)
    .option('--dry-run', 'list what would be expired and change nothing')
    .option(
      '--grace <duration>',
      'delete unreferenced files only once they are this old (0s: now; default 1h)',
      graceMs,
    )
    .option('--json', 'machine-readable output')
    .action(async (options: { olderThan: Date; dryRun?: boolean; grace?: number; json?: boolean }) => {
      const report = await withLake((lake, { expireSnapshots }) =>
        expireSnapshots(lake, {
          olderThan: options.olderThan,
          dryRun: options.dryRun ?? false,
          ...(options.grace === undefined ? {} : { fileGraceMs: options.grace }),
        }),
      );
      if (options.json) return printJson(report);
      const ids = report.expired.map((s) => s.id);
      const range = ids.length ? ` (${ids[0]}${ids.length > 1 ? `..${ids[ids.length - 1]}` : ''})` : '';
      print(
        `${report.dryRun ? 'would expire' : 'expired'} ${ids.length} snapshots older than ${report.olderThan.toISOString()}${range}`,
      );
      const newest = report.newestKept;
      print(
        `kept snapshot ${newest.id} (${newest.time.toISOString()}), the newest${newest.olderThanCutoff ? ': it is older than the cutoff, but the current state of the lake is never expired' : ''}`,
      );
      if (!report.dryRun) print(`deleted ${report.filesDeleted.length} unreferenced files`);
    });
}

function retentionCommand(): Command {
  return new Command('retention')
    .description('delete rows older than each layer keeps them (BV_LAKE_RETENTION_{BRONZE,SILVER,GOLD}_DAYS)')
    .option('--dry-run', 'count what would be deleted and change nothing')
    .option('--json', 'machine-readable output')
    .action(async (options: { dryRun?: boolean; json?: boolean }) => {
      const config = loadPlatformConfig();
      const policy = config.lake.retentionDays ?? {};
      if (!Object.keys(policy).length) {
        const message =
          'no retention configured: every layer keeps its rows forever. Set BV_LAKE_RETENTION_BRONZE_DAYS, ' +
          `BV_LAKE_RETENTION_SILVER_DAYS or BV_LAKE_RETENTION_GOLD_DAYS (or lake.retentionDays in ${platformConfigFile()})`;
        return options.json ? printJson({ configured: false, message }) : print(message);
      }
      const report = await withLake((lake, { applyRetention }) =>
        applyRetention(lake, policy, { dryRun: options.dryRun ?? false }),
      );
      if (options.json) return printJson({ configured: true, ...report });
      const verb = report.dryRun ? 'would delete' : 'deleted';
      for (const layer of report.layers) {
        print(
          `${layer.layer}: keep ${layer.days} days (rows before ${layer.cutoff.toISOString()}), schema ${layer.schema}: ${layer.tables} tables`,
        );
        for (const t of report.tables.filter((t) => t.layer === layer.layer))
          print(`  ${t.schema}.${t.table}: ${verb} ${t.rowsDeleted} rows by ${t.timeColumn}`);
        for (const s of report.skipped.filter((s) => s.layer === layer.layer))
          print(`  ${s.schema}.${s.table}: skipped, ${s.reason}`);
      }
    });
}

function summariseSilver(reports: import('@bitvelocity/lakehouse').SilverBatchReport[]): string {
  const landed: Record<string, number> = {};
  for (const report of reports)
    for (const [table, n] of Object.entries(report.landed)) landed[table] = (landed[table] ?? 0) + n;
  const sum = (pick: (r: import('@bitvelocity/lakehouse').SilverBatchReport) => number) =>
    reports.reduce((n, r) => n + pick(r), 0);
  const tables =
    Object.entries(landed)
      .map(([table, n]) => `${table} ${n}`)
      .join(', ') || 'nothing';
  const held = reports.filter((r) => !r.published);
  const heldLines = held.map(
    (r) =>
      `\nheld by the quality gate, not published (\`bv quality report\`, \`bv quality release <batch>\`): ${r.heldReason}`,
  );
  return `read ${sum((r) => r.read)} Bronze rows: landed ${tables}; quarantined ${sum((r) => r.quarantined)}, duplicates ${sum((r) => r.duplicates)}, late ${sum((r) => r.late)}${heldLines.join('')}`;
}

/** Silver's quality gate (quality/suites/silver), unless BV_QUALITY_GATES=off. */
async function silverGate(lake: DuckDb) {
  const { layerGate } = await import('@bitvelocity/quality');
  const beforePublish = await layerGate(lake, 'silver');
  return beforePublish ? { beforePublish } : {};
}

function silverCommand(): Command {
  return new Command('silver')
    .description('refresh Silver from Bronze (typed, deduplicated, invalid rows quarantined); --follow keeps it fresh')
    .option('--follow', 'keep refreshing until interrupted')
    .option('--interval <duration>', 'with --follow: pause between refreshes that found nothing new', '500ms')
    .action(async (options: { follow?: boolean; interval: string }) => {
      const pause = /^\d+ms$/.test(options.interval)
        ? Number.parseInt(options.interval, 10)
        : durationMs(options.interval, '--interval');
      await withLake(async (lake, { SilverRefresher, followTransform, runUntilCaughtUp }) => {
        const silver = await SilverRefresher.create(lake);
        const gate = await silverGate(lake);
        if (!options.follow) {
          const reports = await runUntilCaughtUp(silver, gate);
          print(summariseSilver(reports));
          if (reports.some((r) => !r.published)) process.exitCode = 1;
          return;
        }
        const stop = new AbortController();
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
        await followTransform(silver, {
          ...gate,
          signal: stop.signal,
          intervalMs: pause,
          onReport: (report) => {
            if (report.read > 0) print(summariseSilver([report]));
          },
        });
      });
    });
}

function rebuildCommand(): Command {
  const rebuild = new Command('rebuild').description('derive a layer again from the one below it');
  rebuild
    .command('silver')
    .description('rebuild Silver from the Bronze rows ingested at or after --from (same rows as the incremental path)')
    .requiredOption('--from <date>', 'a date (2026-11-01, UTC) or ISO timestamp')
    .action(async (options: { from: string }) => {
      const from = /^\d{4}-\d{2}-\d{2}/.test(options.from) ? new Date(options.from) : new Date(Number.NaN);
      if (Number.isNaN(from.getTime()))
        throw new BvError(
          'LAKE_BAD_OPTION',
          `--from takes a date (2026-11-01) or ISO timestamp, got "${options.from}"`,
        );
      await withLake(async (lake, { SilverRefresher, rebuildTransform }) => {
        const reports = await rebuildTransform(await SilverRefresher.create(lake), from, await silverGate(lake));
        print(`removed ${reports[0]?.removed ?? 0} Silver rows derived from Bronze since ${from.toISOString()}`);
        print(summariseSilver(reports.filter((r) => r.read > 0)));
      });
    });
  return rebuild;
}

/** `bv lake ...`: the lakehouse for data engineers. Each subcommand is one function; add new ones the same way. */
export function lakeCommand(): Command {
  return new Command('lake')
    .description('operate the lakehouse: tables, snapshots, compaction, snapshot expiry, retention')
    .addCommand(tablesCommand())
    .addCommand(snapshotsCommand())
    .addCommand(compactCommand())
    .addCommand(expireCommand())
    .addCommand(retentionCommand())
    .addCommand(silverCommand())
    .addCommand(rebuildCommand());
}
