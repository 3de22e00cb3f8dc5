import { createHash } from 'node:crypto';
import type { Envelope } from '@bitvelocity/core';
import { Admin, Producer, stringSerializers } from '@platformatic/kafka';

/** The event a late fact makes (core/schemas/events/analytics.order.fact.corrected.v1.json). */
export const CORRECTION_EVENT_TYPE = 'analytics.order.fact.corrected.v1';
/** Where correction events go unless told otherwise. */
export const CORRECTIONS_TOPIC = 'analytics.order.fact.corrections';

export interface PeriodCorrection {
  mart: string;
  period: string;
  before: { orders: number; revenue: string };
  after: { orders: number; revenue: string };
}

export interface OrderFactCorrected {
  fact: string;
  orderId: string;
  orderAt: string;
  currency: string | null;
  publishedUpTo: string;
  buildSeq: number;
  periods: PeriodCorrection[];
}

/** A uuid-shaped id from md5 (deterministic: the same correction always has the same event id). */
export function uuidFrom(text: string): string {
  const h = createHash('md5').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function correctionEnvelope(
  correctionId: string,
  tenantId: string,
  payload: OrderFactCorrected,
  occurredAt: Date,
): Envelope<OrderFactCorrected> {
  return {
    eventId: correctionId,
    eventType: CORRECTION_EVENT_TYPE,
    occurredAt: occurredAt.toISOString(),
    producer: 'warehouse',
    traceId: createHash('md5').update(correctionId).digest('hex'),
    correlationId: payload.orderId,
    schemaVersion: 1,
    tenantId,
    partitionKey: payload.orderId,
    payload,
  };
}

/** Sends correction events to Kafka, keyed by order id (one order's corrections stay in order). */
export class CorrectionPublisher {
  private constructor(
    private readonly producer: Producer<string, string, string, string>,
    readonly topic: string,
  ) {}

  static async create(bootstrapServers: string[], topic = CORRECTIONS_TOPIC): Promise<CorrectionPublisher> {
    const admin = new Admin({ clientId: 'bv-warehouse', bootstrapBrokers: bootstrapServers });
    try {
      const existing = await admin.listTopics();
      if (!existing.includes(topic)) {
        await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 }).catch((error: unknown) => {
          if (!/already exists/i.test(String((error as Error)?.message ?? error))) throw error;
        });
      }
    } finally {
      await admin.close();
    }
    const producer = new Producer({
      clientId: 'bv-warehouse',
      bootstrapBrokers: bootstrapServers,
      serializers: stringSerializers,
      acks: -1,
      idempotent: true,
    });
    return new CorrectionPublisher(producer, topic);
  }

  async send(envelopes: readonly Envelope<OrderFactCorrected>[]): Promise<void> {
    if (envelopes.length === 0) return;
    await this.producer.send({
      messages: envelopes.map((e) => ({ topic: this.topic, key: e.partitionKey, value: JSON.stringify(e) })),
    });
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}
