import { EVENT_TYPES } from '@bitvelocity/core';
import type { FastifyInstance } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import type { Db } from '../db/tenant.js';
import { inTenantTransaction } from '../db/tenant.js';
import type { ServiceDeps } from '../deps.js';
import { requireRole } from '../http/auth.js';
import { ApiError, errorResponses } from '../http/errors.js';
import { idempotently } from '../http/idempotency.js';
import {
  etag,
  expectedVersion,
  isUniqueViolation,
  requestContext,
  sendWrite,
  versionConflict,
} from '../http/request.js';
import { idParams, writeHeaders } from '../http/schemas.js';

const PRODUCER = 'customer-service';
const AGGREGATE = 'ecommerce.customer';

export interface Address {
  line1: string;
  line2?: string;
  city: string;
  postalCode: string;
  country: string;
}

export interface Customer {
  customerId: string;
  email: string;
  name: string;
  segment: 'consumer' | 'small_business' | 'enterprise';
  address: Address | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

type CustomerChanges = Partial<Pick<Customer, 'email' | 'name' | 'segment' | 'address'>>;

interface CustomerRow {
  customer_id: string;
  email: string;
  name: string;
  segment: Customer['segment'];
  address: Address | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'customer_id, email, name, segment, address, version, created_at, updated_at';
const toCustomer = (r: CustomerRow): Customer => ({
  customerId: r.customer_id,
  email: r.email,
  name: r.name,
  segment: r.segment,
  address: r.address,
  version: r.version,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});
const eventPayload = (c: Customer) => ({
  customerId: c.customerId,
  email: c.email,
  name: c.name,
  segment: c.segment,
  address: c.address,
  version: c.version,
});

const addressSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['line1', 'city', 'postalCode', 'country'],
  properties: {
    line1: { type: 'string', minLength: 1, maxLength: 200 },
    line2: { type: 'string', maxLength: 200 },
    city: { type: 'string', minLength: 1, maxLength: 100 },
    postalCode: { type: 'string', minLength: 1, maxLength: 20 },
    country: { type: 'string', pattern: '^[A-Z]{2}$' },
  },
} as const;
const fields = {
  email: { type: 'string', format: 'email', maxLength: 254 },
  name: { type: 'string', minLength: 1, maxLength: 200 },
  segment: { type: 'string', enum: ['consumer', 'small_business', 'enterprise'] },
  address: addressSchema,
} as const;
const customerSchema = {
  type: 'object',
  properties: {
    customerId: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    segment: { type: 'string' },
    address: { type: ['object', 'null'], additionalProperties: true },
    version: { type: 'integer' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;
const errors = errorResponses(400, 401, 403, 404);

function duplicateEmail(error: unknown, email: string | undefined): never {
  if (isUniqueViolation(error)) throw new ApiError('DUPLICATE', `a customer with email ${email} exists`, 'body/email');
  throw error;
}

export async function findCustomer(db: Db, customerId: string, lock = false): Promise<Customer | undefined> {
  const { rows } = await db.query<CustomerRow>({
    name: lock ? 'customer-lock' : 'customer-find',
    text: `SELECT ${COLUMNS} FROM customers WHERE customer_id = $1${lock ? ' FOR UPDATE' : ''}`,
    values: [customerId],
  });
  return rows[0] && toCustomer(rows[0]);
}

export async function customerRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  const { pool, outbox } = deps;

  app.post<{ Body: Pick<Customer, 'email' | 'name' | 'segment'> & { address?: Address | null } }>(
    '/v1/customers',
    {
      onRequest: requireRole('writer'),
      schema: {
        tags: ['customers'],
        summary: 'Register a customer',
        headers: writeHeaders,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'name', 'segment'],
          properties: fields,
        },
        response: { 201: customerSchema, ...errorResponses(409), ...errors },
      },
    },
    async (request, reply) => {
      const context = requestContext(request, PRODUCER);
      const { email, name, segment, address = null } = request.body;
      const response = await inTenantTransaction(pool, context.tenantId, (db) =>
        idempotently(db, request, async () => {
          const { rows } = await db
            .query<CustomerRow>(
              `INSERT INTO customers (tenant_id, customer_id, email, name, segment, address)
               VALUES (current_setting('bv.tenant_id'), $1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
              [uuidv7(), email, name, segment, address === null ? null : JSON.stringify(address)],
            )
            .catch((error: unknown) => duplicateEmail(error, email));
          const customer = toCustomer(rows[0] as CustomerRow);
          await outbox.append(db, context, {
            aggregateType: AGGREGATE,
            aggregateId: customer.customerId,
            eventType: EVENT_TYPES.customerRegistered,
            payload: eventPayload(customer),
          });
          return { status: 201, body: customer };
        }),
      );
      return sendWrite(reply, response, `/v1/customers/${(response.body as Customer).customerId}`);
    },
  );

  app.get<{ Params: { customerId: string } }>(
    '/v1/customers/:customerId',
    {
      onRequest: requireRole('reader'),
      schema: {
        tags: ['customers'],
        summary: 'Read a customer',
        params: idParams('customerId'),
        response: { 200: customerSchema, ...errors },
      },
    },
    async (request, reply) => {
      const customer = await inTenantTransaction(pool, request.user.tenant, (db) =>
        findCustomer(db, request.params.customerId),
      );
      if (!customer) throw new ApiError('NOT_FOUND', `customer ${request.params.customerId} does not exist`);
      reply.header('etag', etag(customer.version));
      return customer;
    },
  );

  app.patch<{ Params: { customerId: string }; Body: CustomerChanges }>(
    '/v1/customers/:customerId',
    {
      onRequest: requireRole('writer'),
      schema: {
        tags: ['customers'],
        summary: 'Update a customer: name, email, address or segment',
        headers: writeHeaders,
        params: idParams('customerId'),
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: fields },
        response: {
          200: customerSchema,
          ...errorResponses(409, 412, 428),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const context = requestContext(request, PRODUCER);
      const expected = expectedVersion(request);
      const customer = await inTenantTransaction(pool, context.tenantId, async (db) => {
        const before = await findCustomer(db, request.params.customerId, true);
        if (!before) throw new ApiError('NOT_FOUND', `customer ${request.params.customerId} does not exist`);
        if (before.version !== expected) throw versionConflict(before.version, expected);
        const changed = (Object.keys(request.body) as (keyof CustomerChanges)[]).filter(
          (k) => JSON.stringify(request.body[k]) !== JSON.stringify(before[k]),
        );
        if (changed.length === 0) return before;
        const next = { ...before, ...request.body };
        const { rows } = await db
          .query<CustomerRow>(
            `UPDATE customers SET email = $2, name = $3, segment = $4, address = $5, version = version + 1, updated_at = now()
             WHERE customer_id = $1 RETURNING ${COLUMNS}`,
            [
              before.customerId,
              next.email,
              next.name,
              next.segment,
              next.address === null ? null : JSON.stringify(next.address),
            ],
          )
          .catch((error: unknown) => duplicateEmail(error, next.email));
        const after = toCustomer(rows[0] as CustomerRow);
        await outbox.append(db, context, {
          aggregateType: AGGREGATE,
          aggregateId: after.customerId,
          eventType: EVENT_TYPES.customerUpdated,
          payload: { ...eventPayload(after), changed },
        });
        return after;
      });
      reply.header('etag', etag(customer.version));
      return customer;
    },
  );
}
