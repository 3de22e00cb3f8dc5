/**
 * The Postgres wire endpoint's latency next to the same queries on an analyst session in-process.
 *   npx tsx bench/serving-wire.ts [--quick]
 * Builds a lake of its own (Gold/Silver tables, 90 and 5,000 rows), starts the endpoint on a free port, and runs each
 * query N times sequentially on one connection each way (node pg over TCP with SCRAM done once, vs session.run).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { addAnalystUser, startPgServer, verifiersFromFile } from '@bitvelocity/serving';
import { AnalystDatabase } from '@bitvelocity/warehouse';
import { createAnalystTestLake } from '@bitvelocity/warehouse/testing';
import pg from 'pg';

const quick = process.argv.includes('--quick');
const iterations = quick ? 50 : 300;
const QUERIES: [string, string, unknown[]][] = [
  ['point: one row by key', 'SELECT * FROM silver.orders WHERE order_id = $1', ['o-4242']],
  ['aggregate: revenue by category', 'SELECT category, sum(revenue) FROM gold.daily_sales GROUP BY 1 ORDER BY 1', []],
  ['scan: 2,000 rows out', 'SELECT * FROM silver.orders WHERE amount > $1 LIMIT 2000', ['10']],
];

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
async function time(work: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 10; i += 1) await work();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i += 1) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

const lake = await createAnalystTestLake('benchwire');
const dir = mkdtempSync(join(tmpdir(), 'bv-bench-wire-'));
const users = join(dir, 'users.json');
addAnalystUser('bench', 'bench-password', users);
const database = await AnalystDatabase.create(lake.config);
const server = await startPgServer({ config: lake.config, port: 0, verifiers: verifiersFromFile(users), database });
const session = await database.openSession();
const client = new pg.Client({
  host: '127.0.0.1',
  port: server.port,
  user: 'bench',
  password: 'bench-password',
  database: 'lake',
});
await client.connect();
console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ${iterations} runs per query`,
);
console.log('query | in-process p50 / p99 ms | wire p50 / p99 ms | wire / in-process (p50)');
try {
  for (const [name, sql, params] of QUERIES) {
    const local = await time(() => session.run(sql, { params: params.map(String) }));
    const wire = await time(() => client.query(sql, params));
    console.log(
      `${name} | ${local.p50.toFixed(2)} / ${local.p99.toFixed(2)} | ${wire.p50.toFixed(2)} / ${wire.p99.toFixed(2)} | ${(wire.p50 / local.p50).toFixed(2)}x`,
    );
  }
} finally {
  await client.end();
  session.close();
  await server.close();
  database.close();
  rmSync(dir, { recursive: true, force: true });
  await lake.destroy();
}
