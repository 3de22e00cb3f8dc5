import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  contextFromTraceparent,
  JsonLinesSpanExporter,
  linksFromTraceparents,
  spanContextFromTraceparent,
  Tracing,
  traceFileOf,
  traceparentOf,
} from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bv-tracing-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = `00-${TRACE}-00f067aa0ba902b7-01`;

describe('tracing setup', () => {
  it('exports over OTLP/HTTP when a collector is configured, to $BV_HOME/traces/<service>.jsonl otherwise', async () => {
    const destination = (env: Record<string, string>) => {
      const tracing = Tracing.create({ service: 'bv-services', env });
      void tracing.shutdown();
      return tracing.destination;
    };
    expect(destination({ BV_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual({
      kind: 'otlp',
      url: 'http://collector:4318/v1/traces',
    });
    expect(destination({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' })).toEqual({
      kind: 'otlp',
      url: 'http://otel:4318/v1/traces',
    });
    expect(destination({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel:4318/custom' })).toEqual({
      kind: 'otlp',
      url: 'http://otel:4318/custom',
    });
    expect(destination({ BV_HOME: '/srv/bv' })).toEqual({ kind: 'file', file: '/srv/bv/traces/bv-services.jsonl' });
    expect(destination({ BV_HOME: '/srv/bv', BV_TRACING: 'off' })).toEqual({ kind: 'off' });
    expect(traceFileOf('bv-stream-gold', { BV_TRACES_DIR: '/tmp/t' })).toBe('/tmp/t/bv-stream-gold.jsonl');
  });

  it('continues a valid traceparent and refuses invalid ones (W3C: all-zero ids, other versions, bad hex)', () => {
    expect(spanContextFromTraceparent(PARENT)).toMatchObject({ traceId: TRACE, spanId: '00f067aa0ba902b7' });
    for (const bad of [
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `01-${TRACE}-00f067aa0ba902b7-01`,
      `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`,
      'garbage',
      undefined,
    ])
      expect(spanContextFromTraceparent(bad)).toBeUndefined();
    const tracing = Tracing.silent('test');
    const span = tracing.tracer.startSpan('child', {}, contextFromTraceparent(PARENT));
    expect(span.spanContext().traceId).toBe(TRACE);
    expect(traceparentOf(span.spanContext())).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    const fresh = tracing.tracer.startSpan('root', {}, contextFromTraceparent('garbage'));
    expect(fresh.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(fresh.spanContext().traceId).not.toBe(TRACE);
  });

  it('links each distinct trace once, at most the cap', () => {
    const other = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    const links = linksFromTraceparents([PARENT, undefined, PARENT, 'bad', other]);
    expect(links.map((l) => l.context.traceId)).toEqual([TRACE, 'a'.repeat(32)]);
    expect(linksFromTraceparents([PARENT, other], 1)).toHaveLength(1);
  });

  it('writes one JSON line per span and moves a full file aside to <file>.1', async () => {
    const file = join(dir, 'small.jsonl');
    const tracing = Tracing.create({ service: 'svc', exporter: new JsonLinesSpanExporter(file, 2_000) });
    for (let i = 0; i < 20; i++) {
      tracing.tracer.startSpan(`span ${i}`, { attributes: { i } }, contextFromTraceparent(PARENT)).end();
      await tracing.forceFlush();
    }
    await tracing.shutdown();
    const current = (await readFile(file, 'utf8')).trim().split('\n');
    const previous = (await readFile(`${file}.1`, 'utf8')).trim().split('\n');
    expect((await stat(file)).size).toBeLessThanOrEqual(2_000);
    const names = [...previous, ...current].map((line) => JSON.parse(line).name);
    expect(names.at(-1)).toBe('span 19');
    expect(JSON.parse(current.at(-1) as string)).toMatchObject({
      traceId: TRACE,
      parentSpanId: '00f067aa0ba902b7',
      service: 'svc',
      attributes: { i: 19 },
    });
  });
});
