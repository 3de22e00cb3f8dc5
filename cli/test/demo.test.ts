import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);

describe('bv demo', () => {
  it('runs orders from the API through CDC, the stream jobs and Bronze/Silver/Gold, and checks every layer', async () => {
    const { stdout } = await exec('node', ['cli/bin/bv.js', 'demo', '--orders', '60', '--json']);
    const report = JSON.parse(stdout) as { ok: boolean; orders: number; steps: { name: string; outcome: string }[] };
    expect(report.steps.filter((s) => s.outcome.startsWith('FAILED'))).toEqual([]);
    expect(report).toMatchObject({ ok: true, orders: 60 });
    expect(report.steps.map((s) => s.name.split(':')[0])).toEqual([
      'services',
      'cdc',
      'jobs',
      'api',
      'bronze',
      'silver',
      'consistency',
      'gold',
      'quality',
    ]);
  }, 300_000);

  it('rejects a bad --orders value with a clear message', async () => {
    const error = await exec('node', ['cli/bin/bv.js', 'demo', '--orders', 'lots']).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toContain("option '--orders <n>' argument 'lots' is invalid");
  });
});
