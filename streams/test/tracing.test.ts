import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  diagnostics,
  JsonLinesSpanExporter,
  loadPlatformConfig,
  readTraceFile,
  Tracing,
  traceDiagnostics,
} from '@bitvelocity/core';
import { SpanKind } from '@opentelemetry/api';
import { Admin, Producer } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { defineJob, jsonRecords, kafkaSink, runWorker } from '../src/index.js';
import { ensureJobTopics } from '../src/kafka/topics.js';
import { createTopic, waitFor } from './kafka.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;

describe('tracing a stream job', () => {
  it('makes one span per checkpoint, linked to the traces of the records it made durable (not one per record)', async () => {
    const input = await createTopic(brokers, 'trace-in', 1);
    const job = defineJob({
      name: `test-trace-${input.slice(-8)}`,
      maxBatchRecords: 50,
      build: (j) =>
        j
          .source(jsonRecords<{ n: number }>({ topics: [input], maxOutOfOrderness: '1s', idleTimeout: 0 }))
          .to(kafkaSink(`${input}.out`)),
    });
    const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
    await ensureJobTopics(admin, job, { sinkPartitions: 1 });
    await admin.close();
    // Three requests' traces, 30 records each (as three orders' events would arrive).
    const traceparents = Array.from(
      { length: 3 },
      () => `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
    );
    const producer = new Producer({ clientId: 'bv-test', bootstrapBrokers: brokers, acks: -1 });
    await producer.send({
      messages: Array.from({ length: 90 }, (_, n) => ({
        topic: input,
        key: Buffer.from(`k${n % 5}`),
        value: Buffer.from(JSON.stringify({ n })),
        headers: new Map([[Buffer.from('traceparent'), Buffer.from(traceparents[n % 3] as string)]]),
      })),
    });
    await producer.close();

    const dir = await mkdtemp(join(tmpdir(), 'bv-traces-'));
    const file = join(dir, 'worker.jsonl');
    const tracing = Tracing.create({ service: `bv-stream-${job.name}`, exporter: new JsonLinesSpanExporter(file) });
    const untrace = traceDiagnostics(tracing.tracer, { workerId: 'trace-0' });
    let committed = 0n;
    const unsubscribe = diagnostics.checkpointCommitted.subscribe((event) => {
      for (const o of event.offsets) if (o.nextOffset > committed) committed = o.nextOffset;
    });
    const stop = new AbortController();
    const worker = runWorker({ job, bootstrapServers: brokers, workerId: 'trace-0', signal: stop.signal });
    try {
      await waitFor('a checkpoint at the end of the input', async () => (committed === 90n ? true : undefined));
    } finally {
      stop.abort();
      await worker;
      unsubscribe();
      untrace();
    }
    await tracing.forceFlush();
    const spans = await readTraceFile(file);
    await tracing.shutdown();
    await rm(dir, { recursive: true, force: true });

    expect(spans.length).toBeGreaterThan(0);
    expect(spans.length).toBeLessThan(90);
    for (const span of spans) {
      expect(span).toMatchObject({
        name: `checkpoint ${job.name}`,
        kind: SpanKind.CONSUMER,
        service: `bv-stream-${job.name}`,
        attributes: { 'bv.job': job.name, 'bv.worker': 'trace-0', 'bv.checkpoint.strategy': 'kafka-transaction' },
      });
    }
    const linked = new Set(spans.flatMap((s) => s.links.map((l) => `00-${l.traceId}-${l.spanId}-01`)));
    expect([...linked].sort()).toEqual([...traceparents].sort());
    expect(spans.reduce((sum, s) => sum + Number(s.attributes['bv.checkpoint.records']), 0)).toBe(90);
  }, 90_000);
});
