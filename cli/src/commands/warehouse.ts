import { BvError, loadPlatformConfig } from '@bitvelocity/core';
import { Command } from 'commander';

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function intervalMs(value: string): number {
  const match = /^(\d+)(ms|s|m)$/.exec(value.trim());
  if (!match?.[1] || !match[2]) {
    throw new BvError('LAKE_BAD_OPTION', `--interval takes a duration like 500ms, 5s or 1m, got "${value}"`);
  }
  return Number(match[1]) * ({ ms: 1, s: 1_000, m: 60_000 } as const)[match[2] as 'ms' | 's' | 'm'];
}

/** Opens the lake (and, for builds, the Kafka producer of correction events) and the warehouse over it. */
async function withWarehouse<T>(
  withCorrections: boolean,
  use: (
    warehouse: import('@bitvelocity/warehouse').Warehouse,
    lake: import('@bitvelocity/lakehouse').DuckDb,
  ) => Promise<T>,
): Promise<T> {
  const [{ openLake }, wh] = await Promise.all([import('@bitvelocity/lakehouse'), import('@bitvelocity/warehouse')]);
  const config = loadPlatformConfig();
  const lake = await openLake(config);
  const corrections = withCorrections ? await wh.CorrectionPublisher.create(config.kafka.bootstrapServers) : undefined;
  let lineage: { close(): Promise<void> } | undefined;
  try {
    const warehouse = await wh.Warehouse.create({ lake, ...(corrections ? { corrections } : {}) });
    // Builds as lineage runs with column lineage (a no-op without BV_LINEAGE_URL / _FILE).
    if (withCorrections) lineage = await wh.installWarehouseLineage(warehouse, lake, { config });
    return await use(warehouse, lake);
  } finally {
    await lineage?.close();
    await corrections?.close();
    lake.close();
  }
}

function summarise(report: import('@bitvelocity/warehouse').WarehouseReport): string {
  if (report.read === 0 && report.mode === 'incremental')
    return `warehouse: up to date (Silver position ${report.position})`;
  const written = Object.entries(report.written)
    .filter(([, n]) => n > 0)
    .map(([table, n]) => `${table} ${n}`)
    .join(', ');
  return [
    `warehouse: ${report.mode} build ${report.buildSeq ?? '-'} ${report.published ? 'committed' : `held (${report.heldReason})`}`,
    `  read ${report.read} Silver rows up to position ${report.position} in ${report.durationMs} ms`,
    `  late facts ${report.lateFacts}, corrections sent ${report.correctionsSent}`,
    `  written: ${written || 'nothing'}`,
  ].join('\n');
}

function buildCommand(): Command {
  return new Command('build')
    .description('build the warehouse (dimensions, facts, marts) from what Silver committed since the last build')
    .option('--full', 'rebuild everything from all of Silver (one transaction)')
    .option('--follow', 'keep building until interrupted')
    .option('--interval <duration>', 'with --follow: pause between builds that found nothing new', '2s')
    .action(async (options: { full?: boolean; follow?: boolean; interval: string }) => {
      const pause = intervalMs(options.interval);
      const { rebuildTransform, runIncrement } = await import('@bitvelocity/lakehouse');
      await withWarehouse(true, async (warehouse, lake) => {
        // The warehouse's quality gate (quality/suites/gold), unless BV_QUALITY_GATES=off.
        const { layerGate } = await import('@bitvelocity/quality');
        const beforePublish = await layerGate(lake, 'gold');
        const gate = beforePublish ? { beforePublish } : {};
        const held = (report: import('@bitvelocity/warehouse').WarehouseReport) => {
          if (report.published) return;
          process.exitCode = 1;
          print(
            '  held by the quality gate: `bv quality report` lists it, `bv quality release <batch>` lets it through',
          );
        };
        if (options.full) {
          for (const report of await rebuildTransform(warehouse, undefined, gate)) {
            print(summarise(report));
            held(report);
          }
          if (!options.follow) return;
        }
        const stop = new AbortController();
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
        do {
          const report = await runIncrement(warehouse, { ...gate, signal: stop.signal });
          if (report.read > 0 || !options.follow) {
            print(summarise(report));
            held(report);
          }
          if (options.follow && (report.read === 0 || !report.published))
            await new Promise((r) => setTimeout(r, pause));
        } while (options.follow && !stop.signal.aborted);
      });
    });
}

function statusCommand(): Command {
  return new Command('status')
    .description('the last build, the Silver position and snapshot it reflects, rows per table, lag behind Silver')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const status = await withWarehouse(false, (warehouse) => warehouse.status());
      if (options.json) {
        print(JSON.stringify(status, null, 2));
        return;
      }
      const last = status.lastBuild;
      print(
        last
          ? `last build ${last.buildSeq} (${last.mode}) at ${last.finishedAt}: Silver position ${last.silverPosition}, snapshot ${last.silverSnapshotId}, published up to ${last.publishedUpTo ?? '-'}, late facts ${last.lateFacts}`
          : 'no build yet: run `bv warehouse build`',
      );
      print(
        `lag: ${status.lag.pendingRows} Silver rows pending; consumed up to ${status.lag.consumedUpTo ?? '-'}, Silver up to ${status.lag.inputUpTo ?? '-'}`,
      );
      if (status.unsentCorrections > 0) print(`unsent correction events: ${status.unsentCorrections}`);
      const width = Math.max(...Object.keys(status.rows).map((t) => t.length));
      for (const [table, rows] of Object.entries(status.rows)) print(`  ${table.padEnd(width)}  ${rows}`);
    });
}

export function warehouseCommand(): Command {
  return new Command('warehouse')
    .description('the warehouse: SCD2 dimensions, facts and marts in Gold, built from Silver')
    .addCommand(buildCommand())
    .addCommand(statusCommand());
}
