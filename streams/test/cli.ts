import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { JobRegistry } from '../src/deploy/registry.js';

/** The `bv` command of this checkout, as the tests run it. */
export const BV = fileURLToPath(new URL('../../cli/bin/bv.js', import.meta.url));

/** Runs `bv <args>` with extra environment; throws with its stderr when it fails, else returns its stdout. */
export function bv(args: string[], env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(process.execPath, [BV, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`bv ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** `bv jobs stop <job>`, for cleanups: never throws. */
export function stopJob(name: string, env: NodeJS.ProcessEnv = {}): void {
  spawnSync(process.execPath, [BV, 'jobs', 'stop', name], { env: { ...process.env, ...env } });
}

/** SIGKILLs one live worker of a deployed job, chosen at random; false when none was alive to kill. */
export async function killRandomWorker(registry: JobRegistry, job: string): Promise<boolean> {
  const workers = (await registry.workers(job)).filter((w) => w.pid);
  const victim = workers[Math.floor(Math.random() * workers.length)];
  if (!victim?.pid) return false;
  try {
    process.kill(victim.pid, 'SIGKILL');
    return true;
  } catch {
    return false; // already gone
  }
}

/** How many times the supervisor has restarted the job's workers. */
export async function restartsOf(registry: JobRegistry, job: string): Promise<number> {
  return (await registry.workers(job)).reduce((sum, w) => sum + w.restarts, 0);
}
