import {
  type AggregateTopic,
  BvError,
  createEnvelope,
  type Envelope,
  type EventPayloads,
  type EventSchemaRegistry,
  type PlatformEventType,
  type TELEMETRY_TOPIC,
} from '@bitvelocity/core';
import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { Db } from '../db/tenant.js';
import type { ServiceMetrics } from '../http/metrics.js';
import type { TraceContext } from '../http/trace.js';

/**
 * The aggregate types, which EventRouter routes to one topic each (aggregate_type is the topic name). Devices publish
 * their registrations on the telemetry topic, beside their readings, keyed `<tenantId>:<deviceId>` like them.
 */
export type AggregateType = AggregateTopic | typeof TELEMETRY_TOPIC;

export interface RequestContext {
  tenantId: string;
  trace: TraceContext;
  producer: string;
}

/** An event of one of the platform's event types, its payload typed by core's schemas. */
export type DomainEvent<T extends PlatformEventType = PlatformEventType> = {
  [K in T]: {
    aggregateType: AggregateType;
    aggregateId: string;
    eventType: K;
    payload: EventPayloads[K];
    occurredAt?: Date;
  };
}[T];

/**
 * Writes an event to the outbox inside the caller's transaction, so the domain rows and the event commit or roll
 * back together. Every envelope is validated against its event type's schema first: a payload that does not match
 * its contract is a bug, and it fails the request instead of reaching consumers.
 */
export class OutboxWriter {
  constructor(
    private readonly schemas: EventSchemaRegistry,
    private readonly metrics: ServiceMetrics,
    private readonly tracer: Tracer,
  ) {}

  async append<T extends PlatformEventType>(
    db: Db,
    context: RequestContext,
    event: DomainEvent<T>,
  ): Promise<Envelope<EventPayloads[T]>> {
    const envelope = createEnvelope({
      eventType: event.eventType,
      producer: context.producer,
      tenantId: context.tenantId,
      partitionKey: event.aggregateId,
      traceId: context.trace.traceId,
      payload: event.payload,
      ...(event.occurredAt ? { occurredAt: event.occurredAt } : {}),
    });
    const outcome = this.schemas.validate(envelope);
    if (!outcome.valid) {
      throw new BvError('EVENT_SCHEMA_VIOLATION', `${event.eventType} does not match its schema`, {
        details: { violations: outcome.violations },
      });
    }
    // The row carries the request's traceparent (the server span) into the Kafka headers; the insert is its child.
    const span = this.tracer.startSpan(
      `INSERT outbox`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system.name': 'postgresql',
          'db.operation.name': 'INSERT',
          'db.collection.name': 'outbox',
          'bv.event_type': envelope.eventType,
          'bv.event_id': envelope.eventId,
          'bv.aggregate_type': event.aggregateType,
          'bv.tenant': envelope.tenantId,
        },
      },
      context.trace.context,
    );
    try {
      await this.insert(db, event, envelope, context.trace.traceparent);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
    this.metrics.outboxEvents.inc({ event_type: envelope.eventType });
    return envelope;
  }

  private async insert(
    db: Db,
    event: Pick<DomainEvent, 'aggregateType' | 'aggregateId'>,
    envelope: Envelope<object>,
    traceparent: string,
  ): Promise<void> {
    await db.query({
      name: 'outbox-insert',
      text: `INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, occurred_at, trace_id, traceparent, partition_key, tenant_id)
             VALUES ($1, $2, $3, $4, $5, ($6::timestamptz AT TIME ZONE 'UTC'), $7, $8, $9, $10)`,
      values: [
        envelope.eventId,
        event.aggregateType,
        event.aggregateId,
        envelope.eventType,
        JSON.stringify(envelope),
        envelope.occurredAt,
        envelope.traceId,
        traceparent,
        envelope.partitionKey,
        envelope.tenantId,
      ],
    });
  }
}
