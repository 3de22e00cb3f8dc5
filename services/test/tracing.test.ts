import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonLinesSpanExporter, readTraceFile, type SpanLine, Tracing } from '@bitvelocity/core';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, outboxRows, startServices } from './harness.js';

let h: Harness;
let tracing: Tracing;
let dir: string;
let file: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bv-traces-'));
  file = join(dir, 'bv-services.jsonl');
  tracing = Tracing.create({ service: 'bv-services', exporter: new JsonLinesSpanExporter(file) });
  h = await startServices({ tracer: tracing.tracer });
});
afterAll(async () => {
  await h.close();
  await tracing.shutdown();
  await rm(dir, { recursive: true, force: true });
});

const spans = async (): Promise<SpanLine[]> => {
  await tracing.forceFlush();
  return readTraceFile(file);
};

describe('tracing through the services', () => {
  it("continues the client's trace: server span, outbox insert span, outbox row and envelope share its trace id", async () => {
    const traceId = randomBytes(16).toString('hex');
    const clientSpanId = randomBytes(8).toString('hex');
    const customer = await h.call('writerA', {
      method: 'POST',
      url: '/v1/customers',
      payload: { email: 'grace@example.com', name: 'Grace', segment: 'consumer' },
    });
    const product = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      payload: { sku: 'TRACE-1', name: 'Traced', category: 'c', price: '5.00', currency: 'EUR' },
    });
    const response = await h.call('writerA', {
      method: 'POST',
      url: '/v1/orders',
      headers: { traceparent: `00-${traceId}-${clientSpanId}-01` },
      payload: {
        customerId: customer.json().customerId,
        currency: 'EUR',
        lines: [{ productId: product.json().productId, quantity: 2 }],
      },
    });
    expect(response.statusCode).toBe(201);
    const orderId = response.json().orderId as string;

    const traced = (await spans()).filter((s) => s.traceId === traceId);
    const server = traced.find((s) => s.kind === SpanKind.SERVER);
    expect(server).toMatchObject({
      name: 'POST /v1/orders',
      parentSpanId: clientSpanId,
      service: 'bv-services',
      attributes: { 'http.request.method': 'POST', 'http.route': '/v1/orders', 'http.response.status_code': 201 },
    });
    expect(response.headers.traceparent).toBe(`00-${traceId}-${server?.spanId}-01`);
    const inserts = traced.filter((s) => s.name === 'INSERT outbox');
    expect(inserts.length).toBeGreaterThan(0);
    for (const insert of inserts) {
      expect(insert).toMatchObject({
        kind: SpanKind.CLIENT,
        parentSpanId: server?.spanId,
        attributes: { 'db.system.name': 'postgresql', 'db.collection.name': 'outbox' },
      });
    }
    // The other requests are traces of their own.
    expect(traced.every((s) => s.parentSpanId === clientSpanId || s.parentSpanId === server?.spanId)).toBe(true);

    const rows = (await outboxRows(h.owner, h.tenantA)).filter((e) => e.aggregate_id === orderId);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row).toMatchObject({ trace_id: traceId, traceparent: response.headers.traceparent });
      expect(row.payload).toMatchObject({ traceId });
      expect(inserts.map((s) => s.attributes['bv.event_id'])).toContain(row.id);
    }
  });

  it('starts a new W3C trace when the traceparent is missing or invalid', async () => {
    const response = await h.call('writerA', {
      method: 'GET',
      url: '/v1/products?limit=1',
      headers: { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` },
    });
    expect(response.statusCode).toBe(200);
    const [, traceId, spanId] =
      /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(response.headers.traceparent)) ?? [];
    expect(traceId).not.toBe('0'.repeat(32));
    const server = (await spans()).find((s) => s.spanId === spanId);
    expect(server).toMatchObject({ traceId, kind: SpanKind.SERVER, name: 'GET /v1/products' });
    expect(server?.parentSpanId).toBeUndefined();
  });
});
