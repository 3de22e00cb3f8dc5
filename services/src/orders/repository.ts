import { v7 as uuidv7 } from 'uuid';
import type { Db } from '../db/tenant.js';
import { ApiError } from '../http/errors.js';
import type { OrderStatus } from './status.js';

export interface OrderLine {
  lineNo: number;
  productId: string;
  quantity: number;
  unitPrice: string;
}

export interface Order {
  orderId: string;
  customerId: string;
  status: OrderStatus;
  currency: string;
  totalAmount: string;
  lines: OrderLine[];
  paymentReference: string | null;
  carrier: string | null;
  trackingNumber: string | null;
  cancelReason: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

interface OrderRow {
  order_id: string;
  customer_id: string;
  status: OrderStatus;
  currency: string;
  total_amount: string;
  payment_reference: string | null;
  carrier: string | null;
  tracking_number: string | null;
  cancel_reason: string | null;
  version: number;
  created_at: Date;
  updated_at: Date;
  lines: { line_no: number; product_id: string; quantity: number; unit_price: string }[];
}

const SELECT_ORDER = `
  SELECT o.order_id, o.customer_id, o.status, o.currency, o.total_amount, o.payment_reference, o.carrier,
         o.tracking_number, o.cancel_reason, o.version, o.created_at, o.updated_at,
         (SELECT coalesce(json_agg(json_build_object('line_no', l.line_no, 'product_id', l.product_id,
                  'quantity', l.quantity, 'unit_price', l.unit_price::text) ORDER BY l.line_no), '[]')
          FROM order_lines l WHERE l.order_id = o.order_id AND l.order_created_at = o.created_at) AS lines
  FROM orders o WHERE o.order_id = $1 AND o.created_at = $2`;

const toOrder = (r: OrderRow): Order => ({
  orderId: r.order_id,
  customerId: r.customer_id,
  status: r.status,
  currency: r.currency.trim(),
  totalAmount: r.total_amount,
  lines: r.lines.map((l) => ({
    lineNo: l.line_no,
    productId: l.product_id,
    quantity: l.quantity,
    unitPrice: l.unit_price,
  })),
  paymentReference: r.payment_reference,
  carrier: r.carrier,
  trackingNumber: r.tracking_number,
  cancelReason: r.cancel_reason,
  version: r.version,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/**
 * Order ids are UUIDv7 minted from the order's creation time (see newOrderId), so the id alone yields the partition
 * key: every lookup by id prunes to one monthly partition instead of planning across all of them.
 */
export function newOrderId(createdAt: Date): string {
  return uuidv7({ msecs: createdAt.getTime() });
}

export function createdAtOf(orderId: string): Date {
  return new Date(Number.parseInt(orderId.replaceAll('-', '').slice(0, 12), 16));
}

export async function findOrder(db: Db, orderId: string): Promise<Order | undefined> {
  const { rows } = await db.query<OrderRow>({
    name: 'order-find',
    text: SELECT_ORDER,
    values: [orderId, createdAtOf(orderId)],
  });
  return rows[0] && toOrder(rows[0]);
}

/** Locks the order row for the transaction; commands on one order are serialised. */
export async function lockOrder(db: Db, orderId: string): Promise<Order> {
  const { rows } = await db.query<OrderRow>({
    name: 'order-lock',
    text: `${SELECT_ORDER} FOR UPDATE OF o`,
    values: [orderId, createdAtOf(orderId)],
  });
  if (!rows[0]) throw new ApiError('NOT_FOUND', `order ${orderId} does not exist`);
  return toOrder(rows[0]);
}

export async function insertOrder(
  db: Db,
  order: {
    orderId: string;
    customerId: string;
    currency: string;
    totalAmount: string;
    createdAt: Date;
    lines: OrderLine[];
  },
): Promise<void> {
  // The order and its lines in one statement (one round trip).
  await db.query({
    name: 'order-insert',
    text: `WITH new_order AS (
             INSERT INTO orders (tenant_id, order_id, customer_id, status, currency, total_amount, created_at, updated_at)
             VALUES (current_setting('bv.tenant_id'), $1, $7, 'created', $8, $9, $2, $2) RETURNING order_id)
           INSERT INTO order_lines (tenant_id, order_id, order_created_at, line_no, product_id, quantity, unit_price)
           SELECT current_setting('bv.tenant_id'), (SELECT order_id FROM new_order), $2, *
           FROM unnest($3::int[], $4::uuid[], $5::int[], $6::numeric[])`,
    values: [
      order.orderId,
      order.createdAt,
      order.lines.map((l) => l.lineNo),
      order.lines.map((l) => l.productId),
      order.lines.map((l) => l.quantity),
      order.lines.map((l) => l.unitPrice),
      order.customerId,
      order.currency,
      order.totalAmount,
    ],
  });
}

export async function applyTransition(
  db: Db,
  order: Order,
  status: OrderStatus,
  fields: { paymentReference?: string; carrier?: string; trackingNumber?: string; cancelReason?: string },
): Promise<void> {
  await db.query(
    `UPDATE orders SET status = $3, version = version + 1, updated_at = now(),
            payment_reference = coalesce($4, payment_reference), carrier = coalesce($5, carrier),
            tracking_number = coalesce($6, tracking_number), cancel_reason = coalesce($7, cancel_reason)
     WHERE order_id = $1 AND created_at = $2`,
    [
      order.orderId,
      order.createdAt,
      status,
      fields.paymentReference ?? null,
      fields.carrier ?? null,
      fields.trackingNumber ?? null,
      fields.cancelReason ?? null,
    ],
  );
}

/**
 * Whether the customer exists, and the current price and currency of each product an order names, in one round trip.
 * No row locks: under READ COMMITTED an order priced just before a concurrent price change is a valid serial order,
 * and shared locks on hot product rows would make every concurrent order contend on them (multixacts).
 */
export async function orderReferences(
  db: Db,
  customerId: string,
  productIds: string[],
): Promise<{ customerExists: boolean; prices: Map<string, { price: string; currency: string }> }> {
  const { rows } = await db.query<{
    product_id: string | null;
    price: string;
    currency: string;
    customer_exists: boolean;
  }>({
    name: 'order-references',
    text: `SELECT p.product_id, p.price, p.currency, c.customer_exists
           FROM (SELECT EXISTS (SELECT 1 FROM customers WHERE customer_id = $1) AS customer_exists) c
           LEFT JOIN products p ON p.product_id = ANY($2::uuid[]) AND p.deleted_at IS NULL`,
    values: [customerId, productIds],
  });
  const prices = new Map<string, { price: string; currency: string }>();
  for (const r of rows) if (r.product_id) prices.set(r.product_id, { price: r.price, currency: r.currency.trim() });
  return { customerExists: rows[0]?.customer_exists ?? false, prices };
}
