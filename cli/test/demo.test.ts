import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);

describe('bv demo', () => {
  it('pushes a batch through Postgres, Kafka, DuckLake, DuckDB and Great Expectations and checks every hop', async () => {
    const { stdout } = await exec('node', ['cli/bin/bv.js', 'demo', '--orders', '300', '--json']);
    const report = JSON.parse(stdout) as { ok: boolean; orders: number; steps: { name: string; outcome: string }[] };
    expect(report.steps.filter((s) => s.outcome.startsWith('FAILED'))).toEqual([]);
    expect(report).toMatchObject({ ok: true, orders: 300 });
    expect(report.steps.map((s) => s.name.split(':')[0])).toEqual([
      'postgres',
      'kafka',
      'kafka',
      'lake',
      'duckdb',
      'quality',
    ]);
  });

  it('rejects a bad --orders value with a clear message', async () => {
    const error = await exec('node', ['cli/bin/bv.js', 'demo', '--orders', 'lots']).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toContain("option '--orders <n>' argument 'lots' is invalid");
  });
});
