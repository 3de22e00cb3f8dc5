import { randomUUID } from 'node:crypto';
import { BvError } from '../errors.js';

/** The canonical envelope every event travels in, from the outbox row to the Gold row. */
export interface Envelope<Payload extends object = Record<string, unknown>> {
  eventId: string;
  /**
   * `<domain>.<aggregate>[.<entity>].<action>.v<N>`, e.g. `ecommerce.order.created.v1`, or with the part of the
   * aggregate it is about, `analytics.order.fact.corrected.v1`.
   */
  eventType: string;
  /** Event time, ISO 8601 UTC. */
  occurredAt: string;
  producer: string;
  /** W3C trace id (32 lowercase hex) of the request that caused the event. */
  traceId: string;
  correlationId: string;
  schemaVersion: number;
  tenantId: string;
  /** The Kafka key: the aggregate id, so one aggregate's events stay in one partition, in order. */
  partitionKey: string;
  payload: Payload;
}

export interface EventTypeName {
  domain: string;
  aggregate: string;
  /** The part of the aggregate the event is about (`fact` in `analytics.order.fact.corrected.v1`), when named. */
  entity?: string;
  action: string;
  version: number;
}

/** The same pattern as `eventType` in core/schemas/envelope.v1.json. */
const EVENT_TYPE = /^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)(?:\.([a-z][a-z0-9_]*))?\.([a-z][a-z0-9_]*)\.v([1-9][0-9]*)$/;

export function parseEventType(eventType: string): EventTypeName | undefined {
  const match = EVENT_TYPE.exec(eventType);
  if (!match) return undefined;
  const [, domain = '', aggregate = '', entity, action = '', version = '0'] = match;
  return { domain, aggregate, ...(entity ? { entity } : {}), action, version: Number(version) };
}

export interface NewEnvelope<Payload extends object> {
  eventType: string;
  producer: string;
  tenantId: string;
  partitionKey: string;
  payload: Payload;
  traceId: string;
  correlationId?: string;
  occurredAt?: Date;
  eventId?: string;
}

/** Builds an envelope; schemaVersion comes from the event type's `.vN` suffix. */
export function createEnvelope<Payload extends object>(event: NewEnvelope<Payload>): Envelope<Payload> {
  const name = parseEventType(event.eventType);
  if (!name)
    throw new BvError(
      'EVENT_SCHEMA_VIOLATION',
      `"${event.eventType}" is not an event type of the form <domain>.<aggregate>[.<entity>].<action>.v<N>`,
    );
  const eventId = event.eventId ?? randomUUID();
  return {
    eventId,
    eventType: event.eventType,
    occurredAt: (event.occurredAt ?? new Date()).toISOString(),
    producer: event.producer,
    traceId: event.traceId,
    correlationId: event.correlationId ?? eventId,
    schemaVersion: name.version,
    tenantId: event.tenantId,
    partitionKey: event.partitionKey,
    payload: event.payload,
  };
}
