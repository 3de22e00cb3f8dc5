import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createEnvelope,
  FileTransport,
  LineageClient,
  loadPlatformConfig,
  OpenLineageValidator,
} from '@bitvelocity/core';
import type { RawRecord, StreamRecord, TransactionalWriter } from '@bitvelocity/streams';
import { rawStreamRecord } from '@bitvelocity/streams/testing';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BRONZE_ENVELOPES,
  type DuckDb,
  HELD_FACET,
  installTransformLineage,
  type LakeTable,
  lakeSystem,
  offsetsTableOf,
  openLake,
  qualifiedName,
  rebuildTransform,
  runIncrement,
  SilverRefresher,
  silverTables,
} from '../src/index.js';
import { bronzeRow } from '../src/layers/bronze.js';

const config = loadPlatformConfig();
const id = randomUUID().replaceAll('-', '').slice(0, 10);
const bronze: LakeTable = { ...BRONZE_ENVELOPES, schema: `test_tl_${id}_bronze` };
const tables = silverTables(`test_tl_${id}_silver`);
const T0 = Date.parse('2026-11-20T10:00:00Z');
let offset = 0;

const raw = (n: number): StreamRecord<RawRecord> => {
  const envelope = createEnvelope({
    eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    eventType: 'ecommerce.order.created.v1',
    producer: 'test',
    tenantId: 't1',
    partitionKey: `o${n}`,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    occurredAt: new Date(T0 + n),
    payload: {
      orderId: randomUUID(),
      customerId: randomUUID(),
      status: 'created',
      currency: 'EUR',
      totalAmount: '10.10',
      lines: [{ lineNo: 1, productId: randomUUID(), quantity: 1, unitPrice: '10.10' }],
      createdAt: new Date(T0 + n).toISOString(),
    },
  });
  return rawStreamRecord({ topic: 'ecommerce.order', offset: BigInt(offset++), timestamp: T0, value: envelope });
};

const readEvents = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('lake transforms report OpenLineage runs from the runner diagnostics', () => {
  let lake: DuckDb;
  let writer: TransactionalWriter;
  const system = lakeSystem();
  const sink = system.sink<RawRecord>(bronze, (r, context) => bronzeRow(r.value, context));
  const writerJob = `test-tl-writer-${id}`;
  const land = (records: StreamRecord<RawRecord>[]) =>
    writer.commit({
      records: new Map([[sink.target, records]]),
      offsets: [{ topic: 'ecommerce.order', partition: 0, nextOffset: BigInt(offset) }],
    });

  beforeAll(async () => {
    lake = await openLake(config);
    writer = await system.connect(writerJob, 'test');
    await writer.claim('ecommerce.order', 0);
  });
  afterAll(async () => {
    await writer.close();
    for (const schema of [bronze.schema, tables.orders.schema])
      await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    for (const table of [offsetsTableOf(writerJob), tables.progress])
      await lake.run(`DROP TABLE IF EXISTS ${qualifiedName(table)}`).catch(() => {});
    lake.close();
  });

  it('an increment is START then COMPLETE with rows per table and schemas; a held one is ABORT; a rebuild is one run', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bv-transform-lineage-')), 'events.ndjson');
    const client = new LineageClient({ transport: new FileTransport(file), registry: new Registry() });
    const name = `test-tl-silver-${id}`;
    const lineage = installTransformLineage({
      client,
      config,
      parent: {
        runId: '0190b1a2-0000-7000-8000-000000000001',
        job: { namespace: 'bitvelocity', name: `stream.${name}` },
      },
    });
    try {
      const silver = await SilverRefresher.create(lake, { name, bronze, tables });
      await land([raw(1), raw(2), raw(3)]);
      const first = await runIncrement(silver);
      expect(first.read).toBe(3);
      await runIncrement(silver); // nothing new: no run
      await land([raw(4)]);
      const held = await runIncrement(silver, {
        beforePublish: async () => ({ action: 'hold', reason: 'gate: volume' }),
      });
      expect(held.published).toBe(false);
      await rebuildTransform(silver);
    } finally {
      await lineage.close();
      await client.close(2_000);
    }
    const events = readEvents(file);
    const validator = OpenLineageValidator.load();
    for (const e of events) expect(validator.violations(e, { facets: true })).toEqual([]);
    expect(events.map((e) => e.eventType)).toEqual(['START', 'COMPLETE', 'START', 'ABORT', 'START', 'COMPLETE']);
    const [start, complete, , abort] = events;
    expect(start.job).toMatchObject({ namespace: 'bitvelocity', name: `lake.${name}` });
    expect(start.job.facets.jobType).toMatchObject({ processingType: 'BATCH', jobType: 'LAKE_TRANSFORM' });
    expect(complete.run.runId).toBe(start.run.runId);
    expect(complete.run.facets.parent.run.runId).toBe('0190b1a2-0000-7000-8000-000000000001');
    const namespace = `ducklake://${config.postgres.host}:${config.postgres.port ?? 5432}/${config.lake.catalogDatabase}`;
    expect(start.inputs.map((d: { namespace: string; name: string }) => `${d.namespace} ${d.name}`)).toContain(
      `${namespace} ${bronze.schema}.${bronze.name}`,
    );
    const orders = complete.outputs.find((d: { name: string }) => d.name === qualifiedName(tables.orders));
    expect(orders.outputFacets.outputStatistics.rowCount).toBe(3);
    expect(orders.facets.schema.fields.map((f: { name: string }) => f.name)).toContain('order_id');
    expect(abort.run.facets[HELD_FACET]).toMatchObject({ held: true, reason: 'gate: volume' });
  });

  it('a failing increment is START then FAIL with the error message', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bv-transform-lineage-')), 'events.ndjson');
    const client = new LineageClient({ transport: new FileTransport(file), registry: new Registry() });
    const lineage = installTransformLineage({ client, config });
    const broken = await SilverRefresher.create(lake, { name: `test-tl-broken-${id}`, bronze, tables });
    await land([raw(5)]);
    await expect(
      runIncrement(broken, {
        beforePublish: async () => {
          throw new Error('gate exploded');
        },
      }),
    ).rejects.toThrow(/gate exploded/);
    await lineage.close();
    await client.close(2_000);
    const events = readEvents(file);
    const validator = OpenLineageValidator.load();
    for (const e of events) expect(validator.violations(e, { facets: true })).toEqual([]);
    expect(events.map((e) => e.eventType)).toEqual(['START', 'FAIL']);
    expect(events[1].run.facets.errorMessage.message).toMatch(/gate exploded/);
  });
});
