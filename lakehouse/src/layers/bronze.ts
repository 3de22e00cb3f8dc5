import { AGGREGATE_TOPICS, TELEMETRY_TOPIC } from '@bitvelocity/core';
import { type Duration, defineJob, type JobDefinition, type RawRecord, rawRecords } from '@bitvelocity/streams';
import type { LakeSystem } from '../sink/lake-sink.js';
import type { LakeCommitContext, LakeRow } from '../sink/lake-writer.js';
import type { LakeTable } from '../tables.js';

/** A top-level text field of the envelope, NULL when the value is not a JSON object or lacks it. */
function envelopeField(field: string): string {
  return `CASE WHEN json_valid(envelope) THEN json_extract_string(envelope, '$.${field}') END`;
}

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
    {
      name: 'event_id',
      type: 'VARCHAR',
      description: 'envelope eventId (NULL if the record is not an envelope)',
      derivedFrom: envelopeField('eventId'),
    },
    { name: 'event_type', type: 'VARCHAR', derivedFrom: envelopeField('eventType') },
    {
      name: 'occurred_at',
      type: 'TIMESTAMP WITH TIME ZONE',
      derivedFrom: `TRY_CAST(${envelopeField('occurredAt')} AS TIMESTAMPTZ)`,
    },
    { name: 'tenant_id', type: 'VARCHAR', derivedFrom: envelopeField('tenantId') },
    { name: 'partition_key', type: 'VARCHAR', derivedFrom: envelopeField('partitionKey') },
    { name: 'trace_id', type: 'VARCHAR', derivedFrom: envelopeField('traceId') },
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

/**
 * A Kafka record as a Bronze row. Total: never throws, whatever the bytes. The envelope's fields are extracted in SQL
 * as the rows go in (see the derived columns), not here: parsing JSON per record in JavaScript halved the ingest rate.
 */
export function bronzeRow(record: RawRecord, context: LakeCommitContext): LakeRow {
  let headers = '{';
  for (const [name, value] of record.headers) {
    if (headers.length > 1) headers += ',';
    headers += `${JSON.stringify(name)}:${JSON.stringify(value.toString('utf8'))}`;
  }
  headers += '}';
  return {
    envelope: record.value?.toString('utf8') ?? '',
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
  /** The Bronze table; `bronze.envelopes` by default (benches and tests land in their own). */
  table?: LakeTable;
  /** The envelope topics to land; by default every aggregate topic and the telemetry topic. */
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
        .source(rawRecords({ topics: [...(options.topics ?? [...AGGREGATE_TOPICS, TELEMETRY_TOPIC])] }))
        .to(
          options.lake.sink<RawRecord>(options.table ?? BRONZE_ENVELOPES, (record, context) =>
            bronzeRow(record.value, context),
          ),
        );
    },
  });
}
