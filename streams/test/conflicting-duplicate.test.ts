import { randomUUID } from 'node:crypto';
import { createEnvelope, deadLetterTopicOf } from '@bitvelocity/core';
import { describe, expect, it } from 'vitest';
import type { RawRecord } from '../src/api/record.js';
import { defineJob, envelopes, kafkaSink } from '../src/index.js';
import { runJobInProcess } from '../src/testing.js';

const TOPIC = 'ecommerce.product';
const created = (eventId: string, name: string) => {
  const productId = randomUUID();
  return createEnvelope({
    eventId,
    eventType: 'ecommerce.product.created.v1',
    producer: 'test',
    tenantId: 't1',
    partitionKey: productId,
    traceId: '0'.repeat(32),
    occurredAt: new Date(1_790_000_000_000),
    payload: { productId, sku: name, name, category: 'c', price: '1.00', currency: 'EUR', version: 1 },
  });
};
let offset = 0n;
const raw = (value: object): RawRecord => ({
  topic: TOPIC,
  partition: 0,
  offset: offset++,
  timestamp: 1_790_000_000_000,
  key: undefined,
  value: Buffer.from(JSON.stringify(value)),
  headers: new Map(),
});

describe('regression: a conflicting duplicate (same eventId, other content) vanished as a dedupe hit', () => {
  it('drops an identical re-delivery and dead-letters a conflicting duplicate with CONFLICTING_DUPLICATE', () => {
    const job = defineJob({
      name: 'conflicts',
      build: (j) =>
        j
          .source(envelopes({ topics: [TOPIC], maxOutOfOrderness: '1m', idleTimeout: 0 }))
          .dedupe({ ttl: '24h' })
          .to(kafkaSink('out')),
    });
    const first = created(randomUUID(), 'a');
    const other = created(first.eventId, 'b');
    // Through the job's repartition by eventId; the conflict is dead-lettered as the input record it came from.
    const outputs = runJobInProcess(job, [first, first, other].map(raw));
    expect(outputs.filter((o) => o.topic === 'out').map((o) => JSON.parse(o.value.toString()).payload.name)).toEqual([
      'a',
    ]);
    const dead = outputs.filter((o) => o.topic === deadLetterTopicOf(TOPIC));
    expect(dead.map((d) => [d.headers['bv-dlq-code'], d.headers['bv-dlq-offset']])).toEqual([
      ['CONFLICTING_DUPLICATE', '2'],
    ]);
  });
});
