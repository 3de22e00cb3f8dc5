import { randomUUID } from 'node:crypto';
import { BV_PRODUCER } from './facets.js';
import type { DatasetId } from './naming.js';
import {
  type Dataset,
  type DatasetEvent,
  type DatasetFacets,
  type InputDataset,
  type Job,
  type JobEvent,
  type JobFacets,
  OPENLINEAGE_SCHEMA_URL,
  type OutputDataset,
  type RunEvent,
  type RunFacets,
  type RunState,
} from './types.js';

/** A UUIDv7 (time-ordered), as the spec recommends for runIds. */
export function newRunId(now = Date.now()): string {
  const hex = now.toString(16).padStart(12, '0').slice(-12);
  const random = randomUUID().replace(/-/g, '');
  const variant = ((Number.parseInt(random.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${random.slice(13, 16)}-${variant}${random.slice(17, 20)}-${random.slice(20, 32)}`;
}

export interface RunEventInput {
  eventType: RunState;
  runId: string;
  job: DatasetId & { facets?: JobFacets };
  runFacets?: RunFacets;
  inputs?: InputDataset[];
  outputs?: OutputDataset[];
  eventTime?: Date | string;
  producer?: string;
}

function time(value: Date | string | undefined): string {
  return value === undefined ? new Date().toISOString() : typeof value === 'string' ? value : value.toISOString();
}

/** Drops facets set to undefined so the JSON never carries `"facet": null`. */
function compact<T extends Record<string, unknown>>(facets: T | undefined): T | undefined {
  if (!facets) return undefined;
  const out = Object.fromEntries(Object.entries(facets).filter(([, v]) => v !== undefined)) as T;
  return Object.keys(out).length ? out : undefined;
}

function withFacets<T extends object>(target: T, key: string, facets: Record<string, unknown> | undefined): T {
  const kept = compact(facets);
  return kept ? { ...target, [key]: kept } : target;
}

export function runEvent(input: RunEventInput): RunEvent {
  const job: Job = withFacets({ namespace: input.job.namespace, name: input.job.name }, 'facets', input.job.facets);
  const event: RunEvent = {
    eventType: input.eventType,
    eventTime: time(input.eventTime),
    producer: input.producer ?? BV_PRODUCER,
    schemaURL: `${OPENLINEAGE_SCHEMA_URL}#/$defs/RunEvent`,
    run: withFacets({ runId: input.runId }, 'facets', input.runFacets),
    job,
  };
  if (input.inputs) event.inputs = input.inputs;
  if (input.outputs) event.outputs = input.outputs;
  return event;
}

/** A dataset's metadata on its own (schema, ownership, tags), outside any run. */
export function datasetEvent(
  dataset: Dataset,
  options: { eventTime?: Date | string; producer?: string } = {},
): DatasetEvent {
  return {
    eventTime: time(options.eventTime),
    producer: options.producer ?? BV_PRODUCER,
    schemaURL: `${OPENLINEAGE_SCHEMA_URL}#/$defs/DatasetEvent`,
    dataset: withFacets({ namespace: dataset.namespace, name: dataset.name }, 'facets', dataset.facets),
  };
}

/** A job's design-time definition (its inputs, outputs and facets), outside any run. */
export function jobEvent(
  job: DatasetId & { facets?: JobFacets },
  io: { inputs?: InputDataset[]; outputs?: OutputDataset[] } = {},
  options: { eventTime?: Date | string; producer?: string } = {},
): JobEvent {
  const event: JobEvent = {
    eventTime: time(options.eventTime),
    producer: options.producer ?? BV_PRODUCER,
    schemaURL: `${OPENLINEAGE_SCHEMA_URL}#/$defs/JobEvent`,
    job: withFacets({ namespace: job.namespace, name: job.name }, 'facets', job.facets),
  };
  if (io.inputs) event.inputs = io.inputs;
  if (io.outputs) event.outputs = io.outputs;
  return event;
}

export function inputDataset(
  id: DatasetId,
  facets?: DatasetFacets,
  inputFacets?: InputDataset['inputFacets'],
): InputDataset {
  return withFacets(
    withFacets({ namespace: id.namespace, name: id.name }, 'facets', facets),
    'inputFacets',
    inputFacets,
  );
}

export function outputDataset(
  id: DatasetId,
  facets?: DatasetFacets,
  outputFacets?: OutputDataset['outputFacets'],
): OutputDataset {
  return withFacets(
    withFacets({ namespace: id.namespace, name: id.name }, 'facets', facets),
    'outputFacets',
    outputFacets,
  );
}
