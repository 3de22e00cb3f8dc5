import { randomBytes, randomUUID } from 'node:crypto';
import { createEnvelope, EVENT_TYPES, type PlatformConfig } from '@bitvelocity/core';
import { type DuckDb, sqlLiteral } from '@bitvelocity/lakehouse';
import { Producer, stringSerializers } from '@platformatic/kafka';
import type { Activity } from './activity.js';
import type { LoadPlan } from './load.js';

export const ORDER_TOPIC = 'ecommerce.order';
export const CUSTOMER_TOPIC = 'ecommerce.customer';

/** The ground truth of what was planted on the topics, to check the dead letters, quarantine and Silver against. */
export interface PlantedDefects {
  /** Text every malformed record carries, so the run finds its own among everyone's dead letters and quarantine. */
  marker: string;
  /** eventIds of the order events re-sent as they were. */
  duplicates: string[];
  /** eventIds of the customer updates sent hours behind the run. */
  late: string[];
  /** The out-of-order pair: sent first (the later event time) and second (the earlier one). */
  outOfOrder: { customerId: string; first: { eventId: string; segment: string }; second: { eventId: string } }[];
  /** Records that are not JSON (on the order topic). */
  notJson: number;
  /** eventIds of the order-created envelopes that break their schema (on the order topic). */
  schemaViolations: string[];
}

type Message = { topic: string; key?: string; value: string; headers: Map<string, string> };

const traceId = () => randomBytes(16).toString('hex');

/**
 * Produces the plan's defects straight to the topics the CDC publishes, after the run's own events are in Bronze:
 * duplicates are the run's order events re-sent byte for byte (read back from Bronze); late and out-of-order events
 * are valid customer updates with event times set here; the malformed ones are not JSON or break the schema.
 */
export async function plantDefects(
  config: PlatformConfig,
  lake: DuckDb,
  plan: LoadPlan,
  activity: Activity,
  options: { tenant: string; runId: string },
): Promise<PlantedDefects> {
  const { tenant, runId } = options;
  const t = sqlLiteral(tenant);
  const marker = `bv-demo-run ${runId}`;
  const messages: Message[] = [];
  const planted: PlantedDefects = {
    marker,
    duplicates: [],
    late: [],
    outOfOrder: [],
    notJson: 0,
    schemaViolations: [],
  };

  const duplicateOrders = plan.defects.duplicates
    .map((index) => activity.orders.find((o) => o.index === index)?.orderId)
    .filter((id): id is string => id !== undefined);
  if (duplicateOrders.length > 0) {
    const originals = await lake.rows<{
      event_id: string;
      envelope: string;
      record_key: string | null;
      headers: string | null;
    }>(
      `SELECT event_id, arg_min(envelope, _source_offset) AS envelope, arg_min(record_key, _source_offset) AS record_key,
              arg_min(headers::VARCHAR, _source_offset) AS headers
         FROM bronze.envelopes
        WHERE tenant_id = ${t} AND event_type = ${sqlLiteral(EVENT_TYPES.orderCreated)}
          AND json_extract_string(envelope, '$.payload.orderId') IN (${duplicateOrders.map(sqlLiteral).join(', ')})
        GROUP BY event_id ORDER BY event_id`,
    );
    for (const original of originals) {
      messages.push({
        topic: ORDER_TOPIC,
        ...(original.record_key !== null ? { key: original.record_key } : {}),
        value: original.envelope,
        headers: new Map(Object.entries(JSON.parse(original.headers ?? '{}') as Record<string, string>)),
      });
      planted.duplicates.push(original.event_id);
    }
  }

  // A customer's newest state, as its last event in Bronze says, is what a planted update starts from.
  const customerIds = [...new Set([...plan.defects.late, ...plan.defects.outOfOrder].map((d) => d.customer))]
    .map((i) => activity.customerIds[i])
    .filter((id): id is string => id !== undefined);
  const latest = new Map(
    (
      await lake.rows<{ customer_id: string; envelope: string }>(
        `SELECT json_extract_string(envelope, '$.payload.customerId') AS customer_id, arg_max(envelope, occurred_at) AS envelope
           FROM bronze.envelopes
          WHERE tenant_id = ${t} AND event_type IN (${sqlLiteral(EVENT_TYPES.customerRegistered)}, ${sqlLiteral(EVENT_TYPES.customerUpdated)})
            AND json_extract_string(envelope, '$.payload.customerId') IN (${customerIds.map(sqlLiteral).join(', ') || "''"})
          GROUP BY 1`,
      )
    ).map((r) => [r.customer_id, JSON.parse(r.envelope) as { payload: Record<string, unknown> }]),
  );
  const customerUpdate = (customer: number, segment: string, occurredAt: Date) => {
    const customerId = activity.customerIds[customer];
    const state = customerId ? latest.get(customerId) : undefined;
    if (!customerId || !state) throw new Error(`customer ${customer} of the plan has no event in Bronze`);
    const envelope = createEnvelope({
      eventType: EVENT_TYPES.customerUpdated,
      occurredAt,
      producer: 'bv-demo',
      traceId: traceId(),
      tenantId: tenant,
      partitionKey: customerId,
      payload: { ...state.payload, segment, changed: ['segment'] },
    });
    messages.push({
      topic: CUSTOMER_TOPIC,
      key: customerId,
      value: JSON.stringify(envelope),
      headers: new Map([
        ['eventType', envelope.eventType],
        ['tenantId', tenant],
        ['traceId', envelope.traceId],
      ]),
    });
    return envelope.eventId;
  };
  const now = Date.now();
  for (const late of plan.defects.late)
    planted.late.push(customerUpdate(late.customer, late.segment, new Date(now - late.behindMs)));
  for (const pair of plan.defects.outOfOrder) {
    const customerId = activity.customerIds[pair.customer] as string;
    // The later event (now) goes first, the earlier one (90 s before) second: event-time order must put it back.
    const first = customerUpdate(pair.customer, pair.first, new Date(now));
    const second = customerUpdate(pair.customer, pair.second, new Date(now - 90_000));
    planted.outOfOrder.push({
      customerId,
      first: { eventId: first, segment: pair.first },
      second: { eventId: second },
    });
  }

  for (let i = 0; i < plan.defects.notJson; i++) {
    messages.push({
      topic: ORDER_TOPIC,
      key: `${marker} ${i}`,
      value: `{"eventId": "${randomUUID()}", this is not JSON (${marker} #${i})`,
      headers: new Map([['tenantId', tenant]]),
    });
    planted.notJson++;
  }
  for (let i = 0; i < plan.defects.schemaViolations; i++) {
    const orderId = randomUUID();
    // An order-created event without lines and with a total that is not an amount.
    const envelope = createEnvelope({
      eventType: EVENT_TYPES.orderCreated,
      producer: 'bv-demo',
      traceId: traceId(),
      tenantId: tenant,
      partitionKey: orderId,
      payload: { orderId, status: 'created', currency: activity.currency, totalAmount: 'a lot', note: marker },
    });
    messages.push({
      topic: ORDER_TOPIC,
      key: orderId,
      value: JSON.stringify(envelope),
      headers: new Map([
        ['eventType', envelope.eventType],
        ['tenantId', tenant],
      ]),
    });
    planted.schemaViolations.push(envelope.eventId);
  }

  const producer = new Producer({
    clientId: 'bv-demo-defects',
    bootstrapBrokers: config.kafka.bootstrapServers,
    serializers: stringSerializers,
    acks: -1,
  });
  try {
    // One by one, in the order above: the out-of-order pair must reach its partition in the order it was planned.
    for (const message of messages) await producer.send({ messages: [message] });
  } finally {
    await producer.close();
  }
  return planted;
}

/** Every event the defects add to Bronze with an eventId of the run's tenant (the not-JSON ones have neither). */
export const plantedEnvelopes = (p: PlantedDefects) =>
  p.late.length + p.outOfOrder.length * 2 + p.schemaViolations.length;
