import { EVENT_TYPES, type EventPayloads, fromCents, toCents } from '@bitvelocity/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { inTenantTransaction } from '../db/tenant.js';
import type { ServiceDeps } from '../deps.js';
import { requireRole } from '../http/auth.js';
import { ApiError, errorResponses } from '../http/errors.js';
import { idempotently } from '../http/idempotency.js';
import { etag, requestContext, sendWrite, versionConflict } from '../http/request.js';
import { currency, idParams, writeHeaders } from '../http/schemas.js';
import { MAX_ORDER_TOTAL_CENTS } from './money.js';
import {
  applyTransition,
  findOrder,
  insertOrder,
  lockOrder,
  newOrderId,
  type Order,
  type OrderLine,
  orderReferences,
} from './repository.js';
import { nextStatus, type OrderCommand } from './status.js';

const PRODUCER = 'order-service';
const AGGREGATE = 'ecommerce.order';

/** The events of an order's status transitions, each with its payload type. */
type TransitionEvent = {
  [K in typeof EVENT_TYPES.orderPaid | typeof EVENT_TYPES.orderShipped | typeof EVENT_TYPES.orderCancelled]: {
    eventType: K;
    payload: EventPayloads[K];
  };
}[typeof EVENT_TYPES.orderPaid | typeof EVENT_TYPES.orderShipped | typeof EVENT_TYPES.orderCancelled];

const orderSchema = {
  type: 'object',
  properties: {
    orderId: { type: 'string' },
    customerId: { type: 'string' },
    status: { type: 'string', enum: ['created', 'paid', 'shipped', 'cancelled'] },
    currency: { type: 'string' },
    totalAmount: { type: 'string' },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          lineNo: { type: 'integer' },
          productId: { type: 'string' },
          quantity: { type: 'integer' },
          unitPrice: { type: 'string' },
        },
      },
    },
    paymentReference: { type: ['string', 'null'] },
    carrier: { type: ['string', 'null'] },
    trackingNumber: { type: ['string', 'null'] },
    cancelReason: { type: ['string', 'null'] },
    version: { type: 'integer' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;
const errors = errorResponses(400, 401, 403, 404, 409, 412, 422);
const text = { type: 'string', minLength: 1, maxLength: 200 } as const;

interface CreateOrderBody {
  customerId: string;
  currency: string;
  lines: { productId: string; quantity: number }[];
}

/** The optional If-Match on a command: when sent, a stale version is refused with 412. */
function optionalExpectedVersion(request: FastifyRequest): number | undefined {
  const header = request.headers['if-match'];
  const match = header ? /^(?:W\/)?"(\d+)"$/.exec(header.trim()) : null;
  if (header && !match)
    throw new ApiError('VALIDATION_FAILED', 'If-Match must be an ETag such as "3"', 'header/if-match');
  return match ? Number(match[1]) : undefined;
}

export async function orderRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  const { pool, outbox } = deps;

  app.post<{ Body: CreateOrderBody }>(
    '/v1/orders',
    {
      onRequest: requireRole('writer'),
      schema: {
        tags: ['orders'],
        summary: 'Place an order; unit prices are the products’ current prices',
        headers: writeHeaders,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['customerId', 'currency', 'lines'],
          properties: {
            customerId: { type: 'string', format: 'uuid' },
            currency,
            lines: {
              type: 'array',
              minItems: 1,
              maxItems: 100,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['productId', 'quantity'],
                properties: {
                  productId: { type: 'string', format: 'uuid' },
                  quantity: { type: 'integer', minimum: 1, maximum: 10000 },
                },
              },
            },
          },
        },
        response: { 201: orderSchema, ...errors },
      },
    },
    async (request, reply) => {
      const context = requestContext(request, PRODUCER);
      const body = request.body;
      const response = await inTenantTransaction(pool, context.tenantId, (db) =>
        idempotently(db, request, async () => {
          const productIds = [...new Set(body.lines.map((l) => l.productId))];
          const { customerExists, prices } = await orderReferences(db, body.customerId, productIds);
          if (!customerExists) {
            throw new ApiError('REFERENCE_NOT_FOUND', `customer ${body.customerId} does not exist`, 'body/customerId');
          }
          const lines: OrderLine[] = body.lines.map((line, i) => {
            const product = prices.get(line.productId);
            if (!product)
              throw new ApiError(
                'REFERENCE_NOT_FOUND',
                `product ${line.productId} does not exist`,
                `body/lines/${i}/productId`,
              );
            if (product.currency !== body.currency) {
              throw new ApiError(
                'CURRENCY_MISMATCH',
                `product ${line.productId} is priced in ${product.currency}, the order is in ${body.currency}`,
                `body/lines/${i}/productId`,
              );
            }
            return { lineNo: i + 1, productId: line.productId, quantity: line.quantity, unitPrice: product.price };
          });
          const total = lines.reduce((sum, l) => sum + toCents(l.unitPrice) * BigInt(l.quantity), 0n);
          if (total > MAX_ORDER_TOTAL_CENTS) {
            throw new ApiError(
              'ORDER_TOTAL_TOO_LARGE',
              `the order's total ${fromCents(total)} is over the largest total, ${fromCents(MAX_ORDER_TOTAL_CENTS)}; split the order`,
              'body/lines',
              { total: fromCents(total), maxTotal: fromCents(MAX_ORDER_TOTAL_CENTS) },
            );
          }
          const createdAt = new Date();
          const orderId = newOrderId(createdAt);
          const order: Order = {
            orderId,
            customerId: body.customerId,
            status: 'created',
            currency: body.currency,
            totalAmount: fromCents(total),
            lines,
            paymentReference: null,
            carrier: null,
            trackingNumber: null,
            cancelReason: null,
            version: 1,
            createdAt: createdAt.toISOString(),
            updatedAt: createdAt.toISOString(),
          };
          await insertOrder(db, { ...order, createdAt });
          await outbox.append(db, context, {
            aggregateType: AGGREGATE,
            aggregateId: orderId,
            eventType: EVENT_TYPES.orderCreated,
            occurredAt: createdAt,
            payload: {
              orderId,
              customerId: order.customerId,
              status: 'created',
              currency: order.currency,
              totalAmount: order.totalAmount,
              lines: order.lines,
              createdAt: order.createdAt,
            },
          });
          return { status: 201, body: order };
        }),
      );
      return sendWrite(reply, response, `/v1/orders/${(response.body as Order).orderId}`);
    },
  );

  app.get<{ Params: { orderId: string } }>(
    '/v1/orders/:orderId',
    {
      onRequest: requireRole('reader'),
      schema: {
        tags: ['orders'],
        summary: 'Read an order with its lines',
        params: idParams('orderId'),
        response: { 200: orderSchema, ...errors },
      },
    },
    async (request, reply) => {
      const order = await inTenantTransaction(pool, request.user.tenant, (db) => findOrder(db, request.params.orderId));
      if (!order) throw new ApiError('NOT_FOUND', `order ${request.params.orderId} does not exist`);
      reply.header('etag', etag(order.version));
      return order;
    },
  );

  const command = <Body extends object>(
    name: OrderCommand,
    summary: string,
    body: Record<string, unknown>,
    required: string[],
    event: (order: Order, body: Body, at: Date) => TransitionEvent & { fields: Parameters<typeof applyTransition>[3] },
  ) =>
    app.post<{ Params: { orderId: string }; Body: Body }>(
      `/v1/orders/:orderId/${name}`,
      {
        onRequest: requireRole('writer'),
        schema: {
          tags: ['orders'],
          summary,
          headers: writeHeaders,
          params: idParams('orderId'),
          body: { type: 'object', additionalProperties: false, required, properties: body },
          response: { 200: orderSchema, ...errors },
        },
      },
      async (request, reply) => {
        const context = requestContext(request, PRODUCER);
        const expected = optionalExpectedVersion(request);
        const response = await inTenantTransaction(pool, context.tenantId, (db) =>
          idempotently(db, request, async () => {
            const order = await lockOrder(db, request.params.orderId);
            if (expected !== undefined && order.version !== expected) throw versionConflict(order.version, expected);
            const status = nextStatus(order.status, name);
            if (!status) {
              throw new ApiError('ILLEGAL_TRANSITION', `cannot ${name} an order that is ${order.status}`, undefined, {
                status: order.status,
                command: name,
              });
            }
            const at = new Date();
            const { fields, ...transition } = event(order, request.body as Body, at);
            await applyTransition(db, order, status, fields);
            await outbox.append(db, context, {
              aggregateType: AGGREGATE,
              aggregateId: order.orderId,
              occurredAt: at,
              ...transition,
            });
            return { status: 200, body: await findOrder(db, order.orderId) };
          }),
        );
        return sendWrite(reply, response);
      },
    );

  command<{ paymentReference: string }>(
    'pay',
    'Record the payment of a created order',
    { paymentReference: text },
    ['paymentReference'],
    (order, body, at) => ({
      eventType: EVENT_TYPES.orderPaid,
      fields: { paymentReference: body.paymentReference },
      payload: {
        orderId: order.orderId,
        customerId: order.customerId,
        status: 'paid',
        amount: order.totalAmount,
        currency: order.currency,
        paymentReference: body.paymentReference,
        paidAt: at.toISOString(),
      },
    }),
  );

  command<{ carrier: string; trackingNumber: string }>(
    'ship',
    'Ship a paid order',
    { carrier: text, trackingNumber: text },
    ['carrier', 'trackingNumber'],
    (order, body, at) => ({
      eventType: EVENT_TYPES.orderShipped,
      fields: { carrier: body.carrier, trackingNumber: body.trackingNumber },
      payload: {
        orderId: order.orderId,
        customerId: order.customerId,
        status: 'shipped',
        carrier: body.carrier,
        trackingNumber: body.trackingNumber,
        shippedAt: at.toISOString(),
      },
    }),
  );

  command<{ reason: string }>(
    'cancel',
    'Cancel a created or paid order',
    { reason: text },
    ['reason'],
    (order, body, at) => ({
      eventType: EVENT_TYPES.orderCancelled,
      fields: { cancelReason: body.reason },
      payload: {
        orderId: order.orderId,
        customerId: order.customerId,
        status: 'cancelled',
        // nextStatus allows cancel only from created or paid
        previousStatus: order.status as 'created' | 'paid',
        reason: body.reason,
        cancelledAt: at.toISOString(),
      },
    }),
  );
}
