import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  BV_JOB_NAMESPACE,
  datasetNames,
  FileTransport,
  facets,
  inputDataset,
  LineageClient,
  LineageEmitter,
  type LineageEvent,
  newRunId,
  OpenLineageValidator,
  outputDataset,
  runEvent,
} from '../src/index.js';
import { datasetEvent, jobEvent } from '../src/lineage/events.js';
import { HttpTransport } from '../src/lineage/transport.js';

const validator = OpenLineageValidator.load();
const expectValid = (event: unknown) => expect(validator.violations(event, { facets: true })).toEqual([]);

const orders = datasetNames.postgres({ host: 'localhost', port: 5432 }, 'bitvelocity', 'public', 'outbox');
const topic = datasetNames.kafka(['localhost:9092', 'other:9092'], 'ecommerce.order.created.v1');
const silver = datasetNames.ducklake({ host: 'localhost', port: 5432, database: 'bv_lake' }, 'silver', 'orders');

describe('OpenLineage names', () => {
  it('follow the naming conventions for Postgres, Kafka, S3 and the lake', () => {
    expect(orders).toEqual({ namespace: 'postgres://localhost:5432', name: 'bitvelocity.public.outbox' });
    expect(topic).toEqual({ namespace: 'kafka://localhost:9092', name: 'ecommerce.order.created.v1' });
    expect(datasetNames.s3Uri('s3://lake/bronze/orders/part-0.parquet')).toEqual({
      namespace: 's3://lake',
      name: 'bronze/orders/part-0.parquet',
    });
    expect(silver).toEqual({ namespace: 'ducklake://localhost:5432/bv_lake', name: 'silver.orders' });
  });
});

describe('OpenLineage events', () => {
  it('built with every standard facet validate against the official 2-0-2 schema and each facet schema', () => {
    const runId = newRunId();
    expect(runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const event = runEvent({
      eventType: 'COMPLETE',
      runId,
      job: {
        namespace: BV_JOB_NAMESPACE,
        name: 'silver.orders',
        facets: {
          jobType: facets.jobType('BATCH', 'LAKE_TRANSFORM'),
          documentation: facets.jobDocumentation('Deduplicated orders'),
          ownership: facets.jobOwnership([{ name: 'team:data-platform' }]),
        },
      },
      runFacets: {
        processing_engine: facets.processingEngine(),
        parent: facets.parent({ runId: newRunId() }, { namespace: BV_JOB_NAMESPACE, name: 'lake.refresh' }),
        errorMessage: facets.errorMessage(new Error('boom')),
      },
      inputs: [
        inputDataset(
          topic,
          { schema: facets.schema([{ name: 'orderId', type: 'string' }]) },
          {
            dataQualityAssertions: facets.dataQualityAssertions([
              { assertion: 'not_null', success: true, column: 'orderId' },
            ]),
            dataQualityMetrics: facets.dataQualityMetrics({
              rowCount: 10,
              columnMetrics: { orderId: { nullCount: 0 } },
            }),
          },
        ),
      ],
      outputs: [
        outputDataset(
          silver,
          {
            schema: facets.schema([{ name: 'order_id', type: 'VARCHAR' }]),
            dataSource: facets.dataSource('ducklake', silver.namespace),
            columnLineage: facets.columnLineage({
              order_id: [{ namespace: topic.namespace, name: topic.name, field: 'orderId' }],
            }),
            documentation: facets.datasetDocumentation('One row per order'),
            ownership: facets.datasetOwnership([{ name: 'team:orders', type: 'MAINTAINER' }]),
            tags: facets.tags([{ key: 'pii', value: 'none', source: 'bitvelocity' }]),
          },
          { outputStatistics: facets.outputStatistics({ rowCount: 10, size: 2048, fileCount: 1 }) },
        ),
      ],
    });
    expectValid(event);
    expectValid(datasetEvent({ ...silver, facets: { schema: facets.schema([{ name: 'order_id' }]) } }));
    expectValid(
      jobEvent({ ...BV_JOB_NAMESPACE_JOB }, { inputs: [inputDataset(orders)], outputs: [outputDataset(topic)] }),
    );
  });

  it('that break the schema are reported with the JSON path of each error', () => {
    const event = runEvent({ eventType: 'START', runId: 'not-a-uuid', job: { namespace: 'n', name: 'j' } });
    const bad = { ...event, eventTime: 'yesterday', job: { namespace: 'n' } } as unknown;
    const paths = validator.violations(bad).map((v) => v.path);
    expect(paths).toEqual(expect.arrayContaining(['/eventTime', '/run/runId', '/job/name']));
    const badFacet = runEvent({
      eventType: 'START',
      runId: newRunId(),
      job: {
        namespace: 'n',
        name: 'j',
        facets: { jobType: { ...facets.jobType('BATCH', 'X'), processingType: 7 } as never },
      },
    });
    expect(validator.violations(badFacet)).toEqual([]);
    expect(validator.violations(badFacet, { facets: true }).map((v) => v.path)).toContain(
      '/job/facets/jobType/processingType',
    );
  });
});

const BV_JOB_NAMESPACE_JOB = { namespace: BV_JOB_NAMESPACE, name: 'debezium.orders' };

describe('the lineage client', () => {
  it('writes each emitted run event of a job run to the file transport, every one valid', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bv-lineage-')), 'events.ndjson');
    const client = new LineageClient({ transport: new FileTransport(file), registry: new Registry() });
    const run = new LineageEmitter(client).jobRun({
      job: { namespace: BV_JOB_NAMESPACE, name: 'stream.enrich' },
      processingType: 'STREAMING',
      jobType: 'STREAM_JOB',
      inputs: [topic],
      outputs: [silver],
    });
    run.start();
    run.running({ outputStatistics: { [silver.name]: { rowCount: 5 } } });
    run.fail(new Error('worker crashed'));
    await client.close();
    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LineageEvent);
    expect(events.map((e) => (e as { eventType: string }).eventType)).toEqual(['START', 'RUNNING', 'FAIL']);
    for (const e of events) expectValid(e);
    expect(new Set(events.map((e) => (e as { run: { runId: string } }).run.runId)).size).toBe(1);
  });

  it('never blocks the caller when the service is unreachable: bounded buffer, dropped events counted', async () => {
    const registry = new Registry();
    const client = new LineageClient({
      transport: new HttpTransport({ url: 'http://127.0.0.1:1', timeoutMs: 200 }),
      bufferSize: 5,
      retry: { initialMs: 10, maxMs: 20 },
      registry,
    });
    for (let i = 0; i < 8; i++) client.emit(datasetEvent(silver));
    // emit() has returned for all eight while nothing could be delivered: they wait in the bounded buffer.
    expect(client.stats()).toMatchObject({ emitted: 8, delivered: 0, buffered: 5, dropped: 3 });
    const stats = await client.close(300);
    expect(stats.delivered).toBe(0);
    expect(stats.dropped).toBe(8); // 3 for the full buffer, 5 still undelivered at exit
    const metrics = await registry.getMetricsAsJSON();
    const dropped = metrics.find((m) => m.name === 'bv_lineage_events_dropped_total');
    expect(dropped?.values.map((v) => [v.labels.reason, v.value]).sort()).toEqual([
      ['buffer_full', 3],
      ['shutdown', 5],
    ]);
  });

  it('keeps undelivered events in its spool file and sends them after a restart, with retries', async () => {
    const spoolFile = join(mkdtempSync(join(tmpdir(), 'bv-lineage-')), 'spool.ndjson');
    const down = new LineageClient({
      transport: new HttpTransport({ url: 'http://127.0.0.1:1', timeoutMs: 200 }),
      spoolFile,
      retry: { initialMs: 10, maxMs: 20 },
      registry: new Registry(),
    });
    for (let i = 0; i < 3; i++) down.emit(datasetEvent({ ...silver, name: `silver.t${i}` }));
    expect((await down.close(100)).dropped).toBe(0);

    const received: string[] = [];
    let failFirst = true;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        if (failFirst) {
          failFirst = false;
          res.writeHead(503).end();
          return;
        }
        received.push((JSON.parse(body) as { dataset: { name: string } }).dataset.name);
        res.writeHead(201).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const up = new LineageClient({
      transport: new HttpTransport({ url }),
      spoolFile,
      retry: { initialMs: 10, maxMs: 20 },
      registry: new Registry(),
    });
    expect(await up.flush(5_000)).toBe(true);
    const stats = await up.close();
    server.close();
    expect(received).toEqual(['silver.t0', 'silver.t1', 'silver.t2']);
    expect(stats.failedAttempts).toBe(1);
    expect(readFileSync(spoolFile, 'utf8')).toBe('');
  });
});
