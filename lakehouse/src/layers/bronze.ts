import { AGGREGATE_TOPICS } from '@bitvelocity/core';
import { type Duration, defineJob, type JobDefinition, type RawRecord, rawRecords } from '@bitvelocity/streams';
import type { LakeSystem } from '../sink/lake-sink.js';
import type { LakeCommitContext, LakeRow } from '../sink/lake-writer.js';
import type { LakeTable } from '../tables.js';

/**
 * Bronze: every envelope as it arrived, append-only, with where it came from. Nothing is rejected here: a record that is
 * not JSON, or not an envelope, is kept with its text (and NULL envelope fields) for Silver to quarantine with a
 * reason. Partitioned by ingestion day.
 */
export const BRONZE_ENVELOPES: LakeTable = {
  schema: 'bronze',
  name: 'envelopes',
  description: 'Raw envelopes from every envelope topic, with their Kafka coordinates',
  columns: [
    { name: 'event_id', type: 'VARCHAR', description: 'envelope eventId (NULL if the record is not an envelope)' },
    { name: 'event_type', type: 'VARCHAR' },
    { name: 'occurred_at', type: 'TIMESTAMP WITH TIME ZONE' },
    { name: 'tenant_id', type: 'VARCHAR' },
    { name: 'partition_key', type: 'VARCHAR' },
    { name: 'trace_id', type: 'VARCHAR' },
    { name: 'envelope', type: 'VARCHAR', description: 'the record value as UTF-8 text, unchanged' },
    { name: 'record_key', type: 'VARCHAR' },
    { name: 'headers', type: 'JSON', description: 'Kafka headers as a JSON object of strings' },
    { name: '_source_topic', type: 'VARCHAR' },
    { name: '_source_partition', type: 'INTEGER' },
    { name: '_source_offset', type: 'BIGINT' },
    { name: '_source_timestamp', type: 'TIMESTAMP WITH TIME ZONE' },
    { name: '_ingested_at', type: 'TIMESTAMP WITH TIME ZONE' },
  ],
  partitionedBy: ['year(_ingested_at)', 'month(_ingested_at)', 'day(_ingested_at)'],
};

const text = (value: unknown) => (typeof value === 'string' ? value : undefined);

/** A Kafka record as a Bronze row. Total: never throws, whatever the bytes. */
export function bronzeRow(record: RawRecord, context: LakeCommitContext): LakeRow {
  const envelope = record.value?.toString('utf8') ?? '';
  let parsed: Record<string, unknown> = {};
  try {
    const value: unknown = JSON.parse(envelope);
    if (value && typeof value === 'object' && !Array.isArray(value)) parsed = value as Record<string, unknown>;
  } catch {
    // kept as text; Silver quarantines it
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of record.headers) headers[name] = value.toString('utf8');
  return {
    event_id: text(parsed.eventId),
    event_type: text(parsed.eventType),
    occurred_at: text(parsed.occurredAt),
    tenant_id: text(parsed.tenantId),
    partition_key: text(parsed.partitionKey),
    trace_id: text(parsed.traceId),
    envelope,
    record_key: record.key?.toString('utf8'),
    headers,
    _source_topic: record.topic,
    _source_partition: record.partition,
    _source_offset: record.offset,
    _source_timestamp: record.timestamp,
    _ingested_at: context.committedAt,
  };
}

export interface BronzeJobOptions {
  lake: LakeSystem;
  /** The envelope topics to land; by default every aggregate topic. */
  topics?: readonly string[];
  name?: string;
  /** Most records per task between two lake commits, and the longest wait: lake files are batched by both. */
  maxBatchRecords?: number;
  maxBatchWait?: Duration;
}

/** The stream job that lands envelope topics in Bronze, exactly once (offsets commit with the rows). */
export function bronzeJob(options: BronzeJobOptions): JobDefinition {
  return defineJob({
    name: options.name ?? 'lake-bronze',
    description: 'Lands every envelope topic in bronze.envelopes, exactly once',
    maxBatchRecords: options.maxBatchRecords ?? 50_000,
    maxBatchWait: options.maxBatchWait ?? '1s',
    build: (job) => {
      job
        .source(rawRecords({ topics: [...(options.topics ?? AGGREGATE_TOPICS)] }))
        .to(options.lake.sink<RawRecord>(BRONZE_ENVELOPES, (record, context) => bronzeRow(record.value, context)));
    },
  });
}
