import { randomBytes } from 'node:crypto';
import { BvError, createEnvelope, type Envelope, EventSchemaRegistry } from '@bitvelocity/core';
import { Admin, Producer } from '@platformatic/kafka';

export const QUALITY_ALERTS_TOPIC = 'bv.quality.alerts';
export const GATE_FAILED_EVENT = 'quality.gate.failed.v1';

export interface GateFailedPayload {
  batchId: string;
  transform: string;
  table: string;
  heldAt: string;
  rowCount: number;
  reason: string;
  failures: {
    expectation: string;
    column: string | null;
    severity: 'critical' | 'warning';
    unexpectedCount: number | null;
    unexpectedPercent?: number | null;
    exception?: string | null;
  }[];
  release: string;
}

let registry: EventSchemaRegistry | undefined;

/** The alert envelope, validated against its versioned schema in core (a bad one is a bug: it throws). */
export function gateFailedEvent(payload: GateFailedPayload): Envelope<GateFailedPayload> {
  const envelope = createEnvelope({
    eventType: GATE_FAILED_EVENT,
    producer: 'bv-quality',
    tenantId: 'platform',
    partitionKey: payload.table,
    traceId: randomBytes(16).toString('hex'),
    occurredAt: new Date(payload.heldAt),
    payload,
  });
  registry ??= EventSchemaRegistry.load();
  const outcome = registry.validate(envelope);
  if (!outcome.valid)
    throw new BvError('EVENT_SCHEMA_VIOLATION', `${GATE_FAILED_EVENT}: ${JSON.stringify(outcome.violations)}`);
  return envelope;
}

export type AlertSink = (event: Envelope<GateFailedPayload>) => Promise<void>;

/** Sends alerts to a Kafka topic (created when missing), keyed by table. */
export function kafkaAlerts(options: { brokers: string[]; topic?: string }): AlertSink {
  const topic = options.topic ?? QUALITY_ALERTS_TOPIC;
  let ensured = false;
  return async (event) => {
    if (!ensured) {
      const admin = new Admin({ clientId: 'bv-quality', bootstrapBrokers: options.brokers });
      try {
        if (!(await admin.listTopics()).includes(topic))
          await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 }).catch((error: unknown) => {
            if (!JSON.stringify((error as { errors?: unknown }).errors ?? '').includes('TOPIC_ALREADY_EXISTS'))
              throw error;
          });
        ensured = true;
      } finally {
        await admin.close();
      }
    }
    const producer = new Producer({ clientId: 'bv-quality', bootstrapBrokers: options.brokers, acks: -1 });
    try {
      await producer.send({
        messages: [
          {
            topic,
            key: Buffer.from(event.partitionKey),
            value: Buffer.from(JSON.stringify(event)),
            headers: new Map([[Buffer.from('eventType'), Buffer.from(event.eventType)]]),
          },
        ],
      });
    } finally {
      await producer.close();
    }
  };
}
