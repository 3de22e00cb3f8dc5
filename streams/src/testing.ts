// The streams' test kit for every package's specs (`@bitvelocity/streams/testing`). It lives here, not in
// infra/testing, because it reads through the streams' own read_committed fetcher.
import { createHash, randomUUID } from 'node:crypto';
import {
  createEnvelope,
  type DeviceReadingPayload,
  type DeviceRegisteredPayload,
  type Envelope,
  EVENT_TYPES,
  readingEventId,
} from '@bitvelocity/core';
import { Consumer } from '@platformatic/kafka';
import { type JobDefinition, repartitionTopics } from './api/job.js';
import type { OutputRecord, RawRecord, StreamRecord } from './api/record.js';
import { PartitionFetcher } from './kafka/fetcher.js';
import { Task } from './runtime/task.js';

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

/** A device reading as the telemetry topic carries it: the envelope, keyed `<tenantId>:<deviceId>`. */
export function deviceReadingEnvelope(tenantId: string, reading: DeviceReadingPayload): Envelope<DeviceReadingPayload> {
  return createEnvelope({
    eventType: EVENT_TYPES.deviceReading,
    eventId: readingEventId({ tenantId, ...reading }),
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

/**
 * Runs a job's graph in this process over one partition of its input, repartition topics included: what a task
 * writes to one of the job's internal repartition topics is fed, in order, to the task of that topic (all in
 * partition 0, as if every topic had one partition). Returns the outputs to every other topic. For in-process specs
 * of jobs whose dedupe or keyBy repartitions; the Kafka specs run the real thing.
 */
export function runJobInProcess(
  job: JobDefinition,
  input: readonly RawRecord[],
  options: { now?: () => number } = {},
): OutputRecord[] {
  const internal = new Set(repartitionTopics(job));
  const tasks = new Map<string, Task>();
  const offsets = new Map<string, bigint>();
  const taskOf = (topic: string) => {
    let task = tasks.get(topic);
    if (!task) {
      task = new Task(job, topic, 0, options.now);
      tasks.set(topic, task);
    }
    return task;
  };
  const outputs: OutputRecord[] = [];
  const feed = (record: RawRecord) => {
    const task = taskOf(record.topic);
    task.process(record);
    for (const output of task.takeOutputs()) {
      if (!internal.has(output.topic)) {
        outputs.push(output);
        continue;
      }
      const offset = offsets.get(output.topic) ?? 0n;
      offsets.set(output.topic, offset + 1n);
      feed({
        topic: output.topic,
        partition: 0,
        offset,
        timestamp: output.timestamp,
        key: output.key === undefined ? undefined : Buffer.from(output.key),
        value: Buffer.isBuffer(output.value) ? output.value : Buffer.from(output.value),
        headers: new Map(Object.entries(output.headers).map(([name, value]) => [name, Buffer.from(value)])),
      });
    }
  };
  for (const record of input) feed(record);
  return outputs;
}

/**
 * What a job without repartition hops writes when it reads `records` of `topic` uninterrupted, one task per
 * partition: the output values per topic, for the kill -9 specs to compare a crashed run with.
 */
export function outputsPerPartition(
  job: JobDefinition,
  topic: string,
  records: readonly RawRecord[],
): Map<string, string[]> {
  const outputs = new Map<string, string[]>();
  for (const partition of [...new Set(records.map((r) => r.partition))].sort((a, b) => a - b)) {
    const task = new Task(job, topic, partition);
    for (const record of records.filter((r) => r.partition === partition)) task.process(record);
    for (const output of task.takeOutputs())
      outputs.set(output.topic, [...(outputs.get(output.topic) ?? []), output.value.toString()]);
  }
  return outputs;
}
