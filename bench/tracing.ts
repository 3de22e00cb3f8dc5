/**
 * Tracing overhead, in process (no server):
 *   npx tsx bench/tracing.ts [--requests 50000] [--quick]
 * (a) what one HTTP request's spans cost: a server span continuing a client traceparent plus one outbox insert span
 *     (as services make them), with BV_TRACING=off (ids only) and with the JSON-lines file exporter (batch processor,
 *     flushed every 2,000 requests so nothing is dropped; the flush is counted);
 * (b) what one stream checkpoint's span costs: a checkpoint event with 64 distinct traceparents turned into one span
 *     with 64 links, exported to the file.
 * `--quick` uses 10k requests.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  contextFromTraceparent,
  diagnostics,
  JsonLinesSpanExporter,
  MAX_TRACE_LINKS,
  Tracing,
  traceDiagnostics,
} from '@bitvelocity/core';
import { SpanKind, trace } from '@opentelemetry/api';
import { numberArg } from './load.js';

const N = process.argv.includes('--quick') ? 10_000 : numberArg('requests', 50_000);
const FLUSH_EVERY = 2_000;
const mark = () => ({ wall: performance.now(), cpu: process.cpuUsage() });
const perUnit = (from: ReturnType<typeof mark>, units: number) => {
  const cpu = process.cpuUsage(from.cpu);
  const wallMs = performance.now() - from.wall;
  return `${(((cpu.user + cpu.system) / units) | 0).toString()} µs CPU each, ${((wallMs * 1000) / units).toFixed(1)} µs wall each (${Math.round((units / wallMs) * 1000)}/s)`;
};
const traceparents = Array.from(
  { length: 256 },
  () => `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
);

async function requests(tracing: Tracing): Promise<void> {
  const tracer = tracing.tracer;
  for (let i = 0; i < N; i++) {
    const parent = contextFromTraceparent(traceparents[i % traceparents.length]);
    const server = tracer.startSpan(
      'POST',
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'POST', 'url.path': '/v1/orders' } },
      parent,
    );
    const insert = tracer.startSpan(
      'INSERT outbox',
      { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'postgresql', 'bv.event_id': String(i) } },
      trace.setSpan(parent, server),
    );
    insert.end();
    server.updateName('POST /v1/orders');
    server.setAttribute('http.response.status_code', 201);
    server.end();
    if ((i + 1) % FLUSH_EVERY === 0) await tracing.forceFlush();
  }
  await tracing.forceFlush();
}

const dir = mkdtempSync(join(tmpdir(), 'bv-bench-traces-'));
try {
  // Warm-up, so the first measured run does not pay the JIT.
  const warm = Tracing.silent('bench');
  await requests(warm);
  await warm.shutdown();

  const off = Tracing.silent('bench-off');
  let started = mark();
  await requests(off);
  console.log(`(a) request spans, BV_TRACING=off: ${N} requests, ${perUnit(started, N)}`);
  await off.shutdown();

  const file = join(dir, 'requests.jsonl');
  const on = Tracing.create({ service: 'bench-file', exporter: new JsonLinesSpanExporter(file) });
  started = mark();
  await requests(on);
  const bytes = statSync(file).size;
  console.log(
    `(a) request spans, file exporter: ${N} requests, ${perUnit(started, N)}; ${(bytes / N).toFixed(0)} bytes a request`,
  );
  await on.shutdown();

  const checkpoints = Math.max(1_000, N / 10);
  const batch = Tracing.create({
    service: 'bench-checkpoints',
    exporter: new JsonLinesSpanExporter(join(dir, 'checkpoints.jsonl')),
  });
  const untrace = traceDiagnostics(batch.tracer);
  started = mark();
  for (let i = 0; i < checkpoints; i++) {
    diagnostics.checkpointCommitted.publish({
      job: 'bench',
      workerId: 'bench-0',
      strategy: 'kafka-transaction',
      offsets: [{ topic: 'orders', partition: i % 6, nextOffset: BigInt(i * 500) }],
      produced: [{ topic: 'out', records: 500, bytes: 250_000 }],
      traceparents: traceparents.slice(i % 128, (i % 128) + MAX_TRACE_LINKS),
      durationMs: 3,
    });
    if ((i + 1) % FLUSH_EVERY === 0) await batch.forceFlush();
  }
  await batch.forceFlush();
  console.log(
    `(b) checkpoint span with ${MAX_TRACE_LINKS} links, file exporter: ${checkpoints} checkpoints, ${perUnit(started, checkpoints)}`,
  );
  untrace();
  await batch.shutdown();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
