import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withStackLock } from '../src/local/lock.js';
import { stackPaths } from '../src/local/paths.js';

// The lock is a directory on disk and involves no server: these specs use throwaway homes.
const lockModule = fileURLToPath(new URL('../src/local/lock.ts', import.meta.url));
const pathsModule = fileURLToPath(new URL('../src/local/paths.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

function freshHome() {
  const home = mkdtempSync(join(tmpdir(), 'bv-lock-'));
  return { home, paths: stackPaths({ BV_HOME: home }), log: join(home, 'order.log') };
}

/** A separate process that holds the lock for `holdMs` and writes `start`/`end` lines around its work. */
function holder(home: string, log: string, name: string, holdMs: number) {
  const script = `
    import { appendFileSync } from 'node:fs';
    import { withStackLock } from ${JSON.stringify(lockModule)};
    import { stackPaths } from ${JSON.stringify(pathsModule)};
    await withStackLock(stackPaths({ BV_HOME: ${JSON.stringify(home)} }), () => {}, async () => {
      appendFileSync(${JSON.stringify(log)}, 'start ${name}\\n');
      await new Promise((r) => setTimeout(r, ${holdMs}));
      appendFileSync(${JSON.stringify(log)}, 'end ${name}\\n');
    });`;
  const child = spawn(tsx, ['--input-type=module', '-e', script], { stdio: 'inherit' });
  return new Promise<number | null>((resolve) => child.on('exit', resolve));
}

describe('the stack lock', () => {
  it('lets one process at a time bring the stack up or down', async () => {
    const { home, log } = freshHome();
    writeFileSync(log, '');
    const codes = await Promise.all([holder(home, log, 'a', 700), holder(home, log, 'b', 700)]);
    expect(codes).toEqual([0, 0]);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(4);
    // Whichever came first, its end comes before the other's start.
    expect(lines[0]?.split(' ')[1]).toBe(lines[1]?.split(' ')[1]);
    expect(lines[1]).toMatch(/^end /);
  });

  it('takes over a lock left by a process that died holding it', async () => {
    const { paths } = freshHome();
    const dead = spawnSync('true').pid;
    mkdirSync(join(paths.run, 'stack.lock'), { recursive: true });
    writeFileSync(join(paths.run, 'stack.lock', 'pid'), String(dead));
    await expect(
      withStackLock(
        paths,
        () => {},
        async () => 'ran',
      ),
    ).resolves.toBe('ran');
  });

  it('queues calls within one process, and a nested call does not wait for itself', async () => {
    const { paths, log } = freshHome();
    writeFileSync(log, '');
    const work = (name: string) =>
      withStackLock(
        paths,
        () => {},
        async () => {
          appendFileSync(log, `start ${name}\n`);
          await new Promise((r) => setTimeout(r, 50));
          await withStackLock(
            paths,
            () => {},
            async () => appendFileSync(log, `nested ${name}\n`),
          );
          appendFileSync(log, `end ${name}\n`);
        },
      );
    await Promise.all([work('a'), work('b')]);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      'start a',
      'nested a',
      'end a',
      'start b',
      'nested b',
      'end b',
    ]);
  });
});
