/**
 * Provisioning times of the local stack, printed as a table.
 *   npx tsx bench/provisioning.ts          fresh BV_HOME, the machine's download cache (a fresh clone on a machine
 *                                          that ran before)
 *   npx tsx bench/provisioning.ts --cold   fresh BV_HOME and an empty cache (a brand-new machine: every download,
 *                                          the MinIO build, the GX venv); Debian packages already present are not
 *                                          re-installed
 * It uses its own ports, so it runs beside a running stack, and removes what it created.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stackPaths } from '@bitvelocity/infra';

const exec = promisify(execFile);
const cold = process.argv.includes('--cold');
const home = mkdtempSync(join(tmpdir(), 'bv-bench-home-'));
chmodSync(home, 0o755);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  BV_HOME: home,
  BV_CACHE_DIR: cold ? join(home, 'cache') : stackPaths().cache,
  BV_PG_PORT: '57432',
  BV_KAFKA_PORT: '39092',
  BV_KAFKA_CONTROLLER_PORT: '39093',
  BV_CONNECT_PORT: '38083',
  BV_MINIO_PORT: '39000',
  BV_MINIO_CONSOLE_PORT: '39001',
  BV_REDIS_PORT: '36379',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

async function timed(label: string, args: string[]): Promise<[string, number]> {
  const started = performance.now();
  await exec('node', ['cli/bin/bv.js', ...args], { env, maxBuffer: 16 * 1024 * 1024 });
  return [label, (performance.now() - started) / 1000];
}

const rows: [string, number][] = [];
try {
  rows.push(
    await timed(cold ? 'stack up, new machine (empty cache)' : 'stack up, fresh home (cache warm)', ['stack', 'up']),
  );
  rows.push(await timed('stack up, already running (no-op)', ['stack', 'up']));
  rows.push(await timed('stack down', ['stack', 'down']));
  rows.push(await timed('stack up, restart with data', ['stack', 'up']));
  rows.push(await timed('stack status', ['stack', 'status']));
} finally {
  await exec('node', ['cli/bin/bv.js', 'stack', 'down'], { env }).catch(() => undefined);
  rmSync(home, { recursive: true, force: true });
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`machine: ${cpus().length} x ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
console.log(`${'step'.padEnd(40)} seconds`);
for (const [label, seconds] of rows) console.log(`${label.padEnd(40)} ${seconds.toFixed(1).padStart(7)}`);
