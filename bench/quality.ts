/**
 * Quality: the native DuckDB runner against Great Expectations (the stack's venv, through the GX runner) on the same
 * suite and the same Parquet file, and the latency a quality gate adds to a lake transform's increment.
 *   npx tsx bench/quality.ts [--rows 1000000,10000000] [--gate-rows 100000] [--repeat 3] [--quick] [--skip-gx] [--skip-engines]
 * (1) A Parquet file of order lines (DuckDB generates it; a few planted defects) checked by one suite of 10
 *     expectations GX also has: seconds per engine, GX's including its Python start and pandas' read of the file.
 * (2) A LakeTransform (copy a batch of new rows into a lake table, position in the same transaction) run with and
 *     without the gate (the Silver order_lines suite, 19 expectations and the table's metrics) on an increment of
 *     --gate-rows rows; the added latency is the median difference over --repeat runs.
 * Needs the stack up. Every process shares the same 2 cores.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { loadPlatformConfig } from '@bitvelocity/core';
import { DuckDb, ensureTable, openLake, qualifiedName, silverTables, sqlLiteral } from '@bitvelocity/lakehouse';
import {
  ensureQualityStore,
  loadSuites,
  parseSuite,
  qualityGate,
  runNative,
  runWithGx,
  suiteForTable,
} from '@bitvelocity/quality';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const quick = args.includes('--quick');
const sizes = flag('rows', quick ? '100000,1000000' : '1000000,10000000')
  .split(',')
  .map(Number);
const gateRows = Number(flag('gate-rows', quick ? '10000' : '100000'));
const repeat = Number(flag('repeat', '3'));
const config = loadPlatformConfig();
const print = (line: string) => process.stdout.write(`${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

print(
  `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
);

const e = (type: string, kwargs: Record<string, unknown>) => ({ type, kwargs, meta: { severity: 'critical' } });
const suite = parseSuite({
  name: 'bench.order_lines',
  meta: { table: 'bench.order_lines', keys: ['event_id', 'line_no'] },
  expectations: [
    e('expect_column_values_to_not_be_null', { column: 'event_id' }),
    e('expect_column_values_to_not_be_null', { column: 'product_id' }),
    e('expect_compound_columns_to_be_unique', { column_list: ['event_id', 'line_no'] }),
    e('expect_column_values_to_be_unique', { column: 'line_id' }),
    e('expect_column_values_to_be_between', { column: 'quantity', min_value: 1, max_value: 10000 }),
    e('expect_column_values_to_be_between', { column: 'unit_price', min_value: 0, max_value: 1000000 }),
    e('expect_column_values_to_be_in_set', { column: 'currency', value_set: ['EUR', 'USD', 'GBP'] }),
    e('expect_column_values_to_match_regex', { column: 'currency', regex: '^[A-Z]{3}$' }),
    e('expect_column_value_lengths_to_be_between', { column: 'product_id', min_value: 8, max_value: 12 }),
    e('expect_table_row_count_to_be_between', { min_value: 1 }),
  ],
});

const LINES = (n: number) => `
  SELECT md5(CAST(i // 3 AS VARCHAR)) AS event_id, CAST(i % 3 + 1 AS INTEGER) AS line_no, i AS line_id,
         CASE WHEN i % 100003 = 7 THEN NULL ELSE 'p-' || lpad(CAST(i % 5000 AS VARCHAR), 6, '0') END AS product_id,
         CAST(CASE WHEN i % 200003 = 11 THEN 0 ELSE i % 9 + 1 END AS INTEGER) AS quantity,
         CAST((i % 9973) / 100.0 AS DOUBLE) AS unit_price,
         ['EUR', 'USD', 'GBP'][i % 3 + 1] AS currency,
         TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_milliseconds(i) AS occurred_at
  FROM range(${n}) t(i)`;

const dir = mkdtempSync(join(tmpdir(), 'bv-bench-quality-'));
try {
  print('\n(1) native vs Great Expectations, same suite (10 expectations), same Parquet file');
  print('rows        file MiB   native s   GX s      GX / native   verdicts agree');
  const db = await DuckDb.create(config);
  for (const n of args.includes('--skip-engines') ? [] : sizes) {
    const file = join(dir, `lines_${n}.parquet`);
    await db.run(`COPY (${LINES(n)}) TO ${sqlLiteral(file)} (FORMAT parquet)`);
    const mib = statSync(file).size / 2 ** 20;
    let t = performance.now();
    const native = await runNative(db, suite, { relation: `read_parquet(${sqlLiteral(file)})` });
    const nativeS = (performance.now() - t) / 1000;
    let gxS = Number.NaN;
    let agree = '-';
    if (!args.includes('--skip-gx')) {
      t = performance.now();
      const gx = await runWithGx(suite, { python: config.gx.python, dataPath: file, timeoutMs: 3_600_000 });
      gxS = (performance.now() - t) / 1000;
      const same = native.results.every(
        (r, i) =>
          r.success === gx.results[i]?.success && r.unexpectedCount === (gx.results[i]?.unexpectedCount ?? null),
      );
      agree = same
        ? 'yes'
        : `NO: ${JSON.stringify(native.results.map((r, i) => [r.unexpectedCount, gx.results[i]?.unexpectedCount]))}`;
    }
    print(
      `${String(n).padEnd(12)}${mib.toFixed(1).padEnd(11)}${nativeS.toFixed(2).padEnd(11)}${gxS.toFixed(2).padEnd(10)}${(gxS / nativeS).toFixed(1).padEnd(14)}${agree}`,
    );
    rmSync(file);
  }
  db.close();

  print(`\n(2) the gate's added latency on a ${gateRows}-row increment (Silver order_lines suite, lake transaction)`);
  const lake = await openLake(config);
  const id = randomUUID().replaceAll('-', '').slice(0, 8);
  const schema = `bench_q_${id}`;
  const metaSchema = `bench_q_${id}_meta`;
  const tables = silverTables(schema);
  const source = { ...tables.orderLines, name: 'order_lines_source', partitionedBy: [] };
  const target = { ...tables.orderLines, partitionedBy: [] };
  try {
    for (const t of [source, target, tables.products]) await ensureTable(lake, t);
    await ensureQualityStore(lake, metaSchema);
    const silverSuite = suiteForTable(loadSuites(), schema, 'order_lines');
    if (!silverSuite) throw new Error('no order_lines suite');
    const gate = qualityGate({ suites: [silverSuite], metaSchema });
    const cols = target.columns.map((c) => c.name);
    await lake.run(`INSERT INTO ${qualifiedName(source)} (${cols.join(', ')})
      SELECT md5(CAST(i AS VARCHAR))::UUID::VARCHAR, 'ecommerce.order.created.v1', now() - INTERVAL 1 MINUTE, 't1', md5('x'),
             md5(CAST(i // 3 AS VARCHAR))::UUID::VARCHAR, CAST(i % 3 + 1 AS INTEGER), 'p' || (i % 500), CAST(i % 9 + 1 AS INTEGER),
             CAST((i % 997) / 10.0 AS DECIMAL(18,2)), CAST((i % 997) / 10.0 AS DECIMAL(18,2)) * CAST(i % 9 + 1 AS INTEGER), 'EUR',
             'bronze', 0, i, i, now(), 0, false
      FROM range(${gateRows * (2 * repeat + 1)}) t(i)`);
    await lake.run(
      `INSERT INTO ${qualifiedName(tables.products)} (event_id, product_id) SELECT md5(CAST(i AS VARCHAR)), 'p' || i FROM range(500) t(i)`,
    );
    let position = 0;
    const step = async (withGate: boolean) => {
      const from = position;
      const to = position + gateRows;
      const t0 = performance.now();
      await lake.run('BEGIN TRANSACTION');
      await lake.run(
        `INSERT INTO ${qualifiedName(target)} SELECT * FROM ${qualifiedName(source)} WHERE _bronze_rowid >= ${from} AND _bronze_rowid < ${to}`,
      );
      const tGate = performance.now();
      const cpuGate = process.cpuUsage(); // DuckDB's threads are this process's: the gate's CPU time, load or not
      const verdict = withGate
        ? await gate({
            transform: 'bench',
            lake,
            outputs: [
              {
                table: target,
                increment: `(SELECT * FROM ${qualifiedName(target)} WHERE _bronze_rowid >= ${from} AND _bronze_rowid < ${to})`,
                rows: gateRows,
              },
            ],
          })
        : { action: 'publish' as const };
      const gateMs = performance.now() - tGate;
      const cpu = process.cpuUsage(cpuGate);
      const gateCpuMs = (cpu.user + cpu.system) / 1000;
      if (verdict.action !== 'publish') throw new Error(`held: ${verdict.reason}`);
      await lake.run('COMMIT');
      position = to;
      return { totalMs: performance.now() - t0, gateMs, gateCpuMs };
    };
    await step(false); // warm-up
    const plain: number[] = [];
    const gated: number[] = [];
    const inGate: number[] = [];
    const inGateCpu: number[] = [];
    for (let r = 0; r < repeat; r++) {
      plain.push((await step(false)).totalMs);
      const g = await step(true);
      gated.push(g.totalMs);
      inGate.push(g.gateMs);
      inGateCpu.push(g.gateCpuMs);
    }
    print(
      `increment without the gate: median ${median(plain).toFixed(0)} ms  (${plain.map((x) => x.toFixed(0)).join(', ')})`,
    );
    print(
      `increment with the gate:    median ${median(gated).toFixed(0)} ms  (${gated.map((x) => x.toFixed(0)).join(', ')})`,
    );
    print(
      `time inside the gate:       median ${median(inGate).toFixed(0)} ms  (${inGate.map((x) => x.toFixed(0)).join(', ')})`,
    );
    print(
      `CPU time inside the gate:   median ${median(inGateCpu).toFixed(0)} ms  (${inGateCpu.map((x) => x.toFixed(0)).join(', ')})`,
    );
    print(`added latency:              ${(median(gated) - median(plain)).toFixed(0)} ms`);
  } finally {
    for (const s of [schema, metaSchema]) await lake.run(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => {});
    lake.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
