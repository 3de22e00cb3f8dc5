import {
  type CustomerRegisteredPayload,
  type CustomerUpdatedPayload,
  type DeviceReadingPayload,
  type DeviceUpdatedPayload,
  type Envelope,
  multiplyDecimal,
  type OrderCancelledPayload,
  type OrderCreatedPayload,
  type OrderPaidPayload,
  type OrderShippedPayload,
  type ProductCreatedPayload,
  type ProductDeletedPayload,
  type ProductPriceChangedPayload,
  type ProductUpdatedPayload,
} from '@bitvelocity/core';
import type { LakeRow } from '../staging.js';
import type { LakeColumn, LakeTable } from '../tables.js';

/** Where each Silver row came from in Bronze, and how late it was. */
const LINEAGE: LakeColumn[] = [
  { name: '_bronze_topic', type: 'VARCHAR' },
  { name: '_bronze_partition', type: 'INTEGER' },
  { name: '_bronze_offset', type: 'BIGINT' },
  { name: '_bronze_rowid', type: 'BIGINT' },
  { name: '_ingested_at', type: 'TIMESTAMP WITH TIME ZONE' },
  {
    name: '_lateness_ms',
    type: 'BIGINT',
    description: 'how far the event time is behind the latest event time seen before it on its topic (0 if not)',
  },
  { name: '_is_late', type: 'BOOLEAN', description: 'lateness beyond the allowed out-of-orderness' },
];

const EVENT: LakeColumn[] = [
  { name: 'event_id', type: 'VARCHAR' },
  { name: 'event_type', type: 'VARCHAR' },
  { name: 'occurred_at', type: 'TIMESTAMP WITH TIME ZONE' },
  { name: 'tenant_id', type: 'VARCHAR' },
  { name: 'trace_id', type: 'VARCHAR' },
];

const table = (name: string, description: string, columns: LakeColumn[]): LakeTable => ({
  schema: 'silver',
  name,
  description,
  columns: [...EVENT, ...columns, ...LINEAGE],
  partitionedBy: ['year(occurred_at)', 'month(occurred_at)'],
});

export interface SilverTables {
  orders: LakeTable;
  orderLines: LakeTable;
  products: LakeTable;
  customers: LakeTable;
  devices: LakeTable;
  deviceReadings: LakeTable;
  quarantine: LakeTable;
  progress: LakeTable;
}

/** The Silver tables in a schema (`silver` by default; tests use their own). */
export function silverTables(schema = 'silver', metaSchema = 'bv_meta'): SilverTables {
  const inSchema = (t: LakeTable): LakeTable => ({ ...t, schema });
  return {
    orders: inSchema(
      table('orders', 'Every order event, typed: one row per created/paid/shipped/cancelled event', [
        { name: 'order_id', type: 'VARCHAR' },
        { name: 'customer_id', type: 'VARCHAR' },
        { name: 'status', type: 'VARCHAR' },
        { name: 'previous_status', type: 'VARCHAR' },
        { name: 'currency', type: 'VARCHAR' },
        { name: 'amount', type: 'DECIMAL(18,2)', description: 'total of a created order; amount of a payment' },
        { name: 'line_count', type: 'INTEGER' },
        { name: 'payment_reference', type: 'VARCHAR' },
        { name: 'carrier', type: 'VARCHAR' },
        { name: 'tracking_number', type: 'VARCHAR' },
        { name: 'cancel_reason', type: 'VARCHAR' },
        { name: 'status_at', type: 'TIMESTAMP WITH TIME ZONE', description: 'createdAt/paidAt/shippedAt/cancelledAt' },
      ]),
    ),
    orderLines: inSchema(
      table('order_lines', 'The lines of every created order', [
        { name: 'order_id', type: 'VARCHAR' },
        { name: 'line_no', type: 'INTEGER' },
        { name: 'product_id', type: 'VARCHAR' },
        { name: 'quantity', type: 'INTEGER' },
        { name: 'unit_price', type: 'DECIMAL(18,2)' },
        { name: 'line_amount', type: 'DECIMAL(18,2)' },
        { name: 'currency', type: 'VARCHAR' },
      ]),
    ),
    products: inSchema(
      table('products', 'Every product event, typed (the state after the event where the event carries it)', [
        { name: 'product_id', type: 'VARCHAR' },
        { name: 'sku', type: 'VARCHAR' },
        { name: 'name', type: 'VARCHAR' },
        { name: 'category', type: 'VARCHAR' },
        { name: 'price', type: 'DECIMAL(18,2)' },
        { name: 'previous_price', type: 'DECIMAL(18,2)' },
        { name: 'currency', type: 'VARCHAR' },
        { name: 'version', type: 'INTEGER' },
        { name: 'is_deleted', type: 'BOOLEAN' },
      ]),
    ),
    customers: inSchema(
      table('customers', 'Every customer event, typed', [
        { name: 'customer_id', type: 'VARCHAR' },
        { name: 'email', type: 'VARCHAR' },
        { name: 'name', type: 'VARCHAR' },
        { name: 'segment', type: 'VARCHAR' },
        { name: 'address', type: 'JSON' },
        { name: 'version', type: 'INTEGER' },
      ]),
    ),
    devices: inSchema(
      table('devices', 'Every device registration and update, typed (the full state after the event)', [
        {
          name: 'device_ref',
          type: 'VARCHAR',
          description: '<tenantId>:<deviceId>: the natural key (device ids are unique within a tenant only)',
        },
        { name: 'device_id', type: 'VARCHAR' },
        { name: 'name', type: 'VARCHAR' },
        { name: 'kind', type: 'VARCHAR' },
        { name: 'site', type: 'VARCHAR' },
        { name: 'firmware', type: 'VARCHAR' },
        { name: 'version', type: 'INTEGER' },
        { name: 'changed', type: 'JSON', description: 'the fields an update changed (null on a registration)' },
      ]),
    ),
    deviceReadings: inSchema(
      table('device_readings', 'Every device reading, typed and deduplicated by eventId', [
        { name: 'device_ref', type: 'VARCHAR', description: '<tenantId>:<deviceId>' },
        { name: 'device_id', type: 'VARCHAR' },
        { name: 'metric', type: 'VARCHAR' },
        { name: 'value', type: 'DOUBLE' },
        { name: 'unit', type: 'VARCHAR' },
        { name: 'seq', type: 'BIGINT' },
      ]),
    ),
    quarantine: {
      schema,
      name: 'quarantine',
      description: 'Bronze rows that are not valid events, with the reason; nothing is dropped silently',
      columns: [
        { name: '_bronze_topic', type: 'VARCHAR' },
        { name: '_bronze_partition', type: 'INTEGER' },
        { name: '_bronze_offset', type: 'BIGINT' },
        { name: '_bronze_rowid', type: 'BIGINT' },
        { name: '_ingested_at', type: 'TIMESTAMP WITH TIME ZONE' },
        { name: 'event_id', type: 'VARCHAR' },
        { name: 'event_type', type: 'VARCHAR' },
        {
          name: 'reason_code',
          type: 'VARCHAR',
          description: 'UNDECODABLE | SCHEMA_VIOLATION | UNROUTED | EVENT_TIME_OUT_OF_RANGE | CONFLICTING_DUPLICATE',
        },
        { name: 'reason', type: 'VARCHAR' },
        { name: 'envelope', type: 'VARCHAR' },
      ],
    },
    progress: {
      schema: metaSchema,
      name: `silver_progress_${schema}`,
      description: 'How far Silver has read Bronze (rowid), and the latest event time seen per topic',
      columns: [
        { name: 'topic', type: 'VARCHAR', description: "'' for the Bronze read position" },
        { name: 'last_rowid', type: 'BIGINT' },
        { name: 'max_occurred_at', type: 'TIMESTAMP WITH TIME ZONE' },
      ],
    },
  };
}

/** Every field any of these payloads has, each optional: one Silver table takes its columns from several event types. */
type FieldsOf<T> = { [K in T extends unknown ? keyof T : never]?: T extends Record<K, infer V> ? V : never };
type OrderFields = FieldsOf<OrderCreatedPayload | OrderPaidPayload | OrderShippedPayload | OrderCancelledPayload>;
type ProductFields = FieldsOf<
  ProductCreatedPayload | ProductUpdatedPayload | ProductPriceChangedPayload | ProductDeletedPayload
>;
type CustomerFields = FieldsOf<CustomerRegisteredPayload | CustomerUpdatedPayload>;
type DeviceFields = FieldsOf<DeviceUpdatedPayload | DeviceReadingPayload>;
const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
const int = (v: unknown) => (typeof v === 'number' ? v : undefined);

/** The Silver rows of one valid envelope (without lineage), by table; empty when Silver has no table for it. */
export function silverRowsOf(envelope: Envelope, tables: SilverTables): [LakeTable, LakeRow][] {
  const event: LakeRow = {
    event_id: envelope.eventId,
    event_type: envelope.eventType,
    occurred_at: envelope.occurredAt,
    tenant_id: envelope.tenantId,
    trace_id: envelope.traceId,
  };
  const [, aggregate, action] = envelope.eventType.split('.');
  switch (aggregate) {
    case 'order': {
      const p = envelope.payload as OrderFields;
      const lines = Array.isArray(p.lines) ? p.lines : [];
      const order: LakeRow = {
        ...event,
        order_id: str(p.orderId),
        customer_id: str(p.customerId),
        status: str(p.status),
        previous_status: str(p.previousStatus),
        currency: str(p.currency),
        amount: str(p.totalAmount ?? p.amount),
        line_count: action === 'created' ? lines.length : undefined,
        payment_reference: str(p.paymentReference),
        carrier: str(p.carrier),
        tracking_number: str(p.trackingNumber),
        cancel_reason: str(p.reason),
        status_at: str(p.createdAt ?? p.paidAt ?? p.shippedAt ?? p.cancelledAt),
      };
      const rows: [LakeTable, LakeRow][] = [[tables.orders, order]];
      for (const line of lines) {
        const quantity = int(line.quantity) ?? 0;
        rows.push([
          tables.orderLines,
          {
            ...event,
            order_id: str(p.orderId),
            line_no: int(line.lineNo),
            product_id: str(line.productId),
            quantity,
            unit_price: str(line.unitPrice),
            line_amount: multiplyDecimal(String(line.unitPrice), quantity),
            currency: str(p.currency),
          },
        ]);
      }
      return rows;
    }
    case 'product': {
      const p = envelope.payload as ProductFields;
      return [
        [
          tables.products,
          {
            ...event,
            product_id: str(p.productId),
            sku: str(p.sku),
            name: str(p.name),
            category: str(p.category),
            price: str(p.price ?? p.newPrice),
            previous_price: str(p.oldPrice),
            currency: str(p.currency),
            version: int(p.version),
            is_deleted: action === 'deleted',
          },
        ],
      ];
    }
    case 'customer': {
      const p = envelope.payload as CustomerFields;
      return [
        [
          tables.customers,
          {
            ...event,
            customer_id: str(p.customerId),
            email: str(p.email),
            name: str(p.name),
            segment: str(p.segment),
            address: p.address ?? null,
            version: int(p.version),
          },
        ],
      ];
    }
    case 'device': {
      const p = envelope.payload as DeviceFields;
      const device = { device_ref: `${envelope.tenantId}:${str(p.deviceId)}`, device_id: str(p.deviceId) };
      if (action === 'reading')
        return [
          [
            tables.deviceReadings,
            {
              ...event,
              ...device,
              metric: str(p.metric),
              value: typeof p.value === 'number' ? p.value : undefined,
              unit: str(p.unit),
              seq: int(p.seq),
            },
          ],
        ];
      return [
        [
          tables.devices,
          {
            ...event,
            ...device,
            name: str(p.name),
            kind: str(p.kind),
            site: str(p.site),
            firmware: str(p.firmware),
            version: int(p.version),
            changed: p.changed ?? null,
          },
        ],
      ];
    }
    default:
      return [];
  }
}
