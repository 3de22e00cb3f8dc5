import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '@bitvelocity/core';
import type { StackPaths } from './paths.js';

const POLL_MS = 250;
const WAIT_LIMIT_MS = 15 * 60_000;
/** Set inside the work of a call that holds the lock, so a nested call (a restart runs an `up`) does not wait for itself. */
const holding = new AsyncLocalStorage<true>();
let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs `work` while holding the stack's lock (`$BV_HOME/run/stack.lock`, a directory made atomically, holding the
 * owner's pid), so two `up`s (say `npm test`'s global setup and a `bv stack up` in another shell) never start the
 * same server twice. A second caller waits for the first and then finds everything running. A lock left by a dead
 * process is taken over; calls within one process nest (a restart runs an `up`).
 */
export async function withStackLock<T>(
  paths: StackPaths,
  onWait: (ownerPid: number) => void,
  work: () => Promise<T>,
): Promise<T> {
  if (holding.getStore()) return work();
  // Two calls in one process queue here first; the lock directory then orders processes.
  const previous = queue;
  let done = () => {};
  queue = new Promise<void>((resolve) => {
    done = resolve;
  });
  await previous.catch(() => undefined);
  try {
    return await acquired(paths, onWait, work);
  } finally {
    done();
  }
}

async function acquired<T>(paths: StackPaths, onWait: (ownerPid: number) => void, work: () => Promise<T>): Promise<T> {
  const dir = join(paths.run, 'stack.lock');
  const owner = join(dir, 'pid');
  mkdirSync(paths.run, { recursive: true });
  const deadline = Date.now() + WAIT_LIMIT_MS;
  let announced = false;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(owner, String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = ownerOf(owner);
      if (pid !== undefined && !isAlive(pid)) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`the stack lock ${dir} is still held by pid ${pid ?? '?'}`);
      if (!announced && pid !== undefined) {
        onWait(pid);
        announced = true;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
  try {
    return await holding.run(true, work);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The owner's pid; undefined while the owner has made the directory but not yet written its pid. */
function ownerOf(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
