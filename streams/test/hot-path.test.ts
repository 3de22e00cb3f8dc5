// The per-record paths made cheaper for throughput keep their results. In process, no server.
import { describe, expect, it } from 'vitest';
import { toJson } from '../src/api/sinks.js';
import { toMessage } from '../src/kafka/messages.js';
import { fitSinkOutput } from '../src/runtime/dead-letter.js';

describe('sink values are JSON without a replacer unless they hold a bigint', () => {
  it('writes plain values as JSON.stringify does and bigints as strings, nested too', () => {
    expect(toJson({ a: 1, b: 'x', c: [null, true] })).toBe('{"a":1,"b":"x","c":[null,true]}');
    expect(toJson({ offset: 12n, nested: { big: [1n, 2] } })).toBe('{"offset":"12","nested":{"big":["1",2]}}');
  });
});

describe('an output is measured against the record limit by a bound first', () => {
  it('passes a record under the limit unchanged and still cuts a multi-byte one over it', () => {
    const small = { topic: 't', key: 'k', value: 'é'.repeat(100), timestamp: 1, headers: { 'bv-job': 'j' } };
    expect(fitSinkOutput(small, { topic: 'in', partition: 0, offset: 1n }, 'j')).toBe(small);
    // 200k characters of 3 bytes each (600 KB) fit under 900 KiB; 400k (1.2 MB) do not, although 400k chars would.
    const fits = { ...small, value: '€'.repeat(200_000) };
    expect(fitSinkOutput(fits, { topic: 'in', partition: 0, offset: 1n }, 'j')).toBe(fits);
    const over = fitSinkOutput(
      { ...small, value: '€'.repeat(400_000) },
      { topic: 'in', partition: 0, offset: 1n },
      'j',
    );
    expect(over.topic).toBe('in.dlq');
    expect(over.headers['bv-dlq-code']).toBe('OUTPUT_TOO_LARGE');
  });
});

describe('header bytes are shared between messages', () => {
  it('gives each message the same header names and values', () => {
    const output = {
      topic: 't',
      key: 'k',
      value: '{}',
      timestamp: 5,
      headers: { 'bv-job': 'orders', traceparent: 'x' },
    };
    const [a, b] = [toMessage(output), toMessage(output)];
    const text = (m: ReturnType<typeof toMessage>) => [...m.headers].map(([k, v]) => `${k}=${v}`);
    expect(text(a)).toEqual(['bv-job=orders', 'traceparent=x']);
    expect(text(b)).toEqual(text(a));
  });
});
