import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createEnvelope, loadPlatformConfig } from '@bitvelocity/core';
import {
  BV,
  bv,
  createTopic,
  type IsolatedStack,
  produce,
  startIsolatedStack,
  stopJob,
  waitFor,
} from '@bitvelocity/infra/testing';
import {
  BRONZE_ENVELOPES,
  type DuckDb,
  ensureTable,
  offsetsTableOf,
  openLake,
  qualifiedName,
} from '@bitvelocity/lakehouse';
import { readAll } from '@bitvelocity/streams/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Only the broker is isolated (it is the one killed); the job registry and the lake stay on the shared stack, under
 * names of this test's own. Port base 46600 (ten ports from there).
 */
const PORT_BASE = 46_600;
const BRONZE_JOB = fileURLToPath(new URL('./fixtures/bronze-small-batches.ts', import.meta.url));
const DEDUPE_JOB = fileURLToPath(new URL('./fixtures/dedupe-crash-job.ts', import.meta.url));
const config = loadPlatformConfig();
const exec = promisify(execFile);

let stack: IsolatedStack;
let brokers: string[];
let lake: DuckDb;
beforeAll(async () => {
  stack = await startIsolatedStack(['kafka'], PORT_BASE);
  brokers = stack.config.kafka.bootstrapServers;
  lake = await openLake(config);
}, 240_000);
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  lake?.close();
  await stack?.destroy();
}, 120_000);

const orders = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => {
    const orderId = randomUUID();
    const n = from + i;
    return {
      key: orderId,
      value: JSON.stringify(
        createEnvelope({
          eventId: `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`,
          eventType: 'ecommerce.order.created.v1',
          producer: 'crash-test',
          tenantId: 'crash',
          partitionKey: orderId,
          traceId: '0'.repeat(32),
          occurredAt: new Date(Date.now() - 60_000 + n),
          payload: {
            orderId,
            customerId: randomUUID(),
            status: 'created',
            currency: 'EUR',
            totalAmount: '1.00',
            lines: [{ lineNo: 1, productId: randomUUID(), quantity: 1, unitPrice: '1.00' }],
            createdAt: new Date().toISOString(),
          },
        }),
      ),
    };
  });

describe('the broker under kill -9', () => {
  it('loses and duplicates nothing: a stream job (exactly once) and the Bronze lake job run on through it', async () => {
    const topic = await createTopic(brokers, 'crash', 3);
    const tag = topic.slice(-8);
    const dedupeName = `test-crash-dedupe-${tag}`;
    const bronzeName = `test-crash-bronze-${tag}`;
    const schema = `test_crash_${tag}`;
    const bronze = { ...BRONZE_ENVELOPES, schema };
    const env = {
      BV_KAFKA_BOOTSTRAP: brokers.join(','),
      BV_TEST_CRASH_INPUT: topic,
      BV_TEST_CRASH_JOB: dedupeName,
      BV_BRONZE_TOPICS: topic,
      BV_BRONZE_JOB: bronzeName,
      BV_BRONZE_SCHEMA: schema,
    };
    cleanups.push(async () => {
      await lake.run(`DROP TABLE IF EXISTS ${qualifiedName(offsetsTableOf(bronzeName))}`).catch(() => {});
      await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    });
    await ensureTable(lake, bronze);
    const landed = async () => {
      const [row] = await lake.rows<{ n: bigint; distinct_coordinates: bigint; distinct_ids: bigint }>(
        `SELECT count(*) AS n, count(DISTINCT (_source_partition, _source_offset)) AS distinct_coordinates,
                count(DISTINCT event_id) AS distinct_ids
           FROM ${qualifiedName(bronze)} WHERE _source_topic = $1`,
        [topic],
      );
      return row ?? { n: 0n, distinct_coordinates: 0n, distinct_ids: 0n };
    };
    const dedupedIds = async () =>
      (await readAll(brokers, `${topic}.deduped`)).map(
        (r) => JSON.parse(r.value?.toString() ?? '{}').eventId as string,
      );

    const first = 6000;
    await produce(brokers, topic, orders(0, first));
    bv(['jobs', 'deploy', DEDUPE_JOB, '--parallelism', '2'], env);
    cleanups.push(() => stopJob(dedupeName, env));
    bv(['jobs', 'deploy', BRONZE_JOB, '--parallelism', '1'], env);
    cleanups.push(() => stopJob(bronzeName, env));
    // Kill the broker while both jobs are in the middle of the backlog.
    await waitFor(
      'both jobs under way',
      async () => ((await dedupedIds()).length > 0 && (await landed()).n > 0n ? true : undefined),
      90_000,
    );
    const before = { bronze: (await landed()).n, deduped: (await dedupedIds()).length };
    const killed = await stack.kill('kafka');
    expect(killed).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 3000));
    await stack.start(['kafka']);
    const second = 3000;
    await produce(brokers, topic, orders(first, second));
    const total = first + second;

    const ids = await waitFor(
      `all ${total} events deduplicated`,
      async () => {
        const now = await dedupedIds();
        return now.length >= total ? now : undefined;
      },
      300_000,
    );
    const final = await waitFor(
      `all ${total} records in Bronze`,
      async () => {
        const now = await landed();
        return now.n >= BigInt(total) ? now : undefined;
      },
      300_000,
    );
    await new Promise((r) => setTimeout(r, 3000)); // a straggling duplicate would show up now (there must be none)
    expect(await landed()).toEqual(final);
    expect(final).toEqual({ n: BigInt(total), distinct_coordinates: BigInt(total), distinct_ids: BigInt(total) });
    const settled = await dedupedIds();
    expect(settled).toHaveLength(total);
    expect(new Set(settled).size).toBe(total);
    expect(ids.length).toBe(total);
    console.log(
      `broker kill -9 (pid ${killed}) with ${before.bronze}/${first} in Bronze and ${before.deduped}/${first} deduplicated; after: ${total}/${total} each, no duplicate`,
    );
    expect(Number(before.bronze) < first || before.deduped < first).toBe(true);
  }, 720_000);

  it('`bv stack restart kafka` brings a new, healthy broker; `bv stack kill kafka` kills it -9', async () => {
    // Exactly the isolated stack's environment (not merged into ours): these commands must never reach the shared one.
    // Asynchronously, so this process goes on reaping the servers it started.
    const stackBv = async (args: string[]) => (await exec(process.execPath, [BV, ...args], { env: stack.env })).stdout;
    const before = stack.pidOf('kafka');
    expect(await stackBv(['stack', 'restart', 'kafka'])).toMatch(
      new RegExp(`stack restart kafka: pid ${before} -> \\d+`),
    );
    const after = stack.pidOf('kafka');
    expect(after).toBeGreaterThan(0);
    expect(after).not.toBe(before);
    expect(await stackBv(['stack', 'kill', 'kafka'])).toMatch(new RegExp(`pid ${after} killed \\(SIGKILL\\)`));
    expect(stack.pidOf('kafka')).toBeUndefined();
    await expect(stackBv(['stack', 'kill', 'duckdb'])).rejects.toThrow(/toolchain, not a server/);
    await stackBv(['stack', 'up', 'kafka']); // so the jobs stop cleanly afterwards
  }, 120_000);
});
