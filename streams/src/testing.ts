// The streams' test kit for every package's specs (`@bitvelocity/streams/testing`). It lives here, not in
// infra/testing, because it reads through the streams' own read_committed fetcher.
import { createHash, randomUUID } from 'node:crypto';
import {
  createEnvelope,
  type DeviceReadingPayload,
  type DeviceRegisteredPayload,
  type Envelope,
  EVENT_TYPES,
} from '@bitvelocity/core';
import { Consumer } from '@platformatic/kafka';
import type { RawRecord, StreamRecord } from './api/record.js';
import { PartitionFetcher } from './kafka/fetcher.js';

/** Everything committed in a topic (read_committed), partition by partition, in offset order. */
export async function readAll(brokers: string[], topic: string): Promise<RawRecord[]> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'streams-test-reader',
    bootstrapBrokers: brokers,
    groupId: `reader-${randomUUID()}`,
  });
  const fetcher = new PartitionFetcher(consumer);
  const metadata = await consumer.metadata({ topics: [topic] });
  const partitions = metadata.topics.get(topic)?.partitionsCount ?? 0;
  const records: RawRecord[] = [];
  for (let partition = 0; partition < partitions; partition++) {
    let position = await fetcher.earliest(topic, partition);
    const end = await fetcher.end(topic, partition);
    while (position < end) {
      const part = (await fetcher.fetch([{ topic, partition, offset: position }], { maxWaitTime: 100 })).get(
        `${topic}:${partition}`,
      );
      if (!part) break;
      records.push(...part.records.filter((r) => r.offset < end));
      if (part.nextOffset <= position) break;
      position = part.nextOffset;
    }
  }
  await consumer.close();
  return records;
}

export interface RawRecordSpec {
  topic: string;
  partition?: number;
  offset: bigint;
  timestamp: number;
  /** Text as it is, anything else as its JSON. */
  value: string | object;
  key?: Buffer;
  headers?: Map<string, Buffer>;
}

/** A Kafka record as a raw-record source hands it to a job: for specs that feed a sink directly. */
export function rawStreamRecord(spec: RawRecordSpec): StreamRecord<RawRecord> {
  const partition = spec.partition ?? 0;
  const record: RawRecord = {
    topic: spec.topic,
    partition,
    offset: spec.offset,
    timestamp: spec.timestamp,
    key: spec.key,
    value: Buffer.from(typeof spec.value === 'string' ? spec.value : JSON.stringify(spec.value)),
    headers: spec.headers ?? new Map(),
  };
  return {
    value: record,
    timestamp: spec.timestamp,
    key: undefined,
    origin: { topic: spec.topic, partition, offset: spec.offset },
  };
}

/**
 * The eventId of a device reading, derived from (tenantId, deviceId, metric, recordedAt, seq) as a UUID (v5 layout,
 * SHA-1), so a re-delivered reading keeps its id. The telemetry contract's `readingEventId()` in core computes it for
 * the bridge; the specs and benches use this copy.
 */
export function readingEventIdOf(
  tenantId: string,
  reading: { deviceId: string; metric: string; recordedAt: string; seq?: number | undefined },
): string {
  const hash = createHash('sha1')
    .update(JSON.stringify([tenantId, reading.deviceId, reading.metric, reading.recordedAt, reading.seq ?? null]))
    .digest();
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A device reading as the telemetry topic carries it: the envelope, keyed `<tenantId>:<deviceId>`. */
export function deviceReadingEnvelope(tenantId: string, reading: DeviceReadingPayload): Envelope<DeviceReadingPayload> {
  return createEnvelope({
    eventType: EVENT_TYPES.deviceReading,
    eventId: readingEventIdOf(tenantId, reading),
    producer: 'bv-test-fleet',
    tenantId,
    partitionKey: `${tenantId}:${reading.deviceId}`,
    traceId: createHash('md5').update(reading.deviceId).digest('hex'),
    occurredAt: new Date(reading.recordedAt),
    payload: reading,
  });
}

/** A device registration (or, with `changed`, an update) as the services' outbox publishes it. */
export function deviceEnvelope(
  tenantId: string,
  device: DeviceRegisteredPayload,
  occurredAt: Date,
  changed?: string[],
): Envelope<DeviceRegisteredPayload> {
  return createEnvelope({
    eventType: changed ? EVENT_TYPES.deviceUpdated : EVENT_TYPES.deviceRegistered,
    producer: 'bv-test-fleet',
    tenantId,
    partitionKey: `${tenantId}:${device.deviceId}`,
    traceId: createHash('md5').update(device.deviceId).digest('hex'),
    occurredAt,
    payload: changed ? { ...device, changed } : device,
  });
}
