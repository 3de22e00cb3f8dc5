import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Admin, Producer } from '@platformatic/kafka';

/**
 * The platform's test kit, for every package's specs (import from `@bitvelocity/infra/testing`): run the `bv` command
 * of this checkout, wait for an outcome, make a topic of the test's own and fill it, kill a deployed job's worker.
 * No package's tests import another package's test files.
 */

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

/** The platform's one wait-until loop (core), here too for the specs. */
export { waitFor } from '@bitvelocity/core';

/** A topic of the test's own: `test.<prefix>.<random>`. */
export async function createTopic(brokers: string[], prefix: string, partitions: number): Promise<string> {
  const admin = new Admin({ clientId: 'bv-test', bootstrapBrokers: brokers });
  const topic = `test.${prefix}.${randomUUID().slice(0, 8)}`;
  await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
  await admin.close();
  return topic;
}

export interface TestRecord {
  key: string;
  value: string;
  partition?: number;
}

export async function produce(brokers: string[], topic: string, records: TestRecord[]): Promise<void> {
  const producer = new Producer({ clientId: 'bv-test', bootstrapBrokers: brokers, acks: -1 });
  for (let i = 0; i < records.length; i += 1000) {
    await producer.send({
      messages: records.slice(i, i + 1000).map((r) => ({
        topic,
        key: Buffer.from(r.key),
        value: Buffer.from(r.value),
        ...(r.partition === undefined ? {} : { partition: r.partition }),
      })),
    });
  }
  await producer.close();
}

/** What the kit needs of the streams' job registry (its `workers` rows). */
export interface WorkerRows {
  workers(job: string): Promise<{ pid: number | null; restarts: number }[]>;
}

/** SIGKILLs one live worker of a deployed job, chosen at random; false when none was alive to kill. */
export async function killRandomWorker(registry: WorkerRows, job: string): Promise<boolean> {
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
export async function restartsOf(registry: WorkerRows, job: string): Promise<number> {
  return (await registry.workers(job)).reduce((sum, w) => sum + w.restarts, 0);
}
