import { EVENT_TYPES } from '@bitvelocity/core';
import type { FastifyInstance } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { inTenantTransaction } from '../db/tenant.js';
import type { ServiceDeps } from '../deps.js';
import { requireRole } from '../http/auth.js';
import { ApiError, errorResponses } from '../http/errors.js';
import { idempotently } from '../http/idempotency.js';
import { etag, expectedVersion, requestContext, sendWrite } from '../http/request.js';
import { currency, idParams, listQuery, money, writeHeaders } from '../http/schemas.js';
import {
  findProduct,
  insertProduct,
  listProducts,
  lockProduct,
  type Product,
  type ProductAttributes,
  softDeleteProduct,
  updateProduct,
} from './repository.js';

const PRODUCER = 'product-service';
const AGGREGATE = 'ecommerce.product';

const productSchema = {
  type: 'object',
  properties: {
    productId: { type: 'string' },
    sku: { type: 'string' },
    name: { type: 'string' },
    category: { type: 'string' },
    price: { type: 'string' },
    currency: { type: 'string' },
    version: { type: 'integer' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;
const errors = errorResponses(400, 401, 403, 404);
const text = { type: 'string', minLength: 1, maxLength: 200 } as const;

const eventPayload = (p: Product) => ({
  productId: p.productId,
  sku: p.sku,
  name: p.name,
  category: p.category,
  price: p.price,
  currency: p.currency,
  version: p.version,
});

export async function productRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  const { pool, outbox, productCache } = deps;

  app.post<{ Body: Pick<Product, 'sku' | 'name' | 'category' | 'price' | 'currency'> }>(
    '/v1/products',
    {
      onRequest: requireRole('writer'),
      schema: {
        tags: ['products'],
        summary: 'Add a product to the catalog',
        headers: writeHeaders,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['sku', 'name', 'category', 'price', 'currency'],
          properties: { sku: text, name: text, category: text, price: money, currency },
        },
        response: { 201: productSchema, ...errorResponses(409), ...errors },
      },
    },
    async (request, reply) => {
      const context = requestContext(request, PRODUCER);
      const response = await inTenantTransaction(pool, context.tenantId, (db) =>
        idempotently(db, request, async () => {
          const product = await insertProduct(db, uuidv7(), request.body);
          await outbox.append(db, context, {
            aggregateType: AGGREGATE,
            aggregateId: product.productId,
            eventType: EVENT_TYPES.productCreated,
            payload: eventPayload(product),
          });
          return { status: 201, body: product };
        }),
      );
      const product = response.body as Product;
      await productCache.put(context.tenantId, product.productId, product);
      return sendWrite(reply, response, `/v1/products/${product.productId}`);
    },
  );

  app.get<{ Params: { productId: string } }>(
    '/v1/products/:productId',
    {
      onRequest: requireRole('reader'),
      schema: {
        tags: ['products'],
        summary: 'Read a product (cached)',
        params: idParams('productId'),
        response: { 200: productSchema, ...errors },
      },
    },
    async (request, reply) => {
      const tenantId = request.user.tenant;
      const { productId } = request.params;
      let product = await productCache.get(tenantId, productId);
      if (!product) {
        const fromDb = await inTenantTransaction(pool, tenantId, (db) => findProduct(db, productId));
        if (fromDb) await productCache.put(tenantId, productId, fromDb);
        product = fromDb;
      }
      if (!product || 'deleted' in product) throw new ApiError('NOT_FOUND', `product ${productId} does not exist`);
      reply.header('etag', etag(product.version));
      return product;
    },
  );

  app.get<{ Querystring: { limit?: string; after?: string; category?: string } }>(
    '/v1/products',
    {
      onRequest: requireRole('reader'),
      schema: {
        tags: ['products'],
        summary: 'List products, ordered by id, a page at a time',
        querystring: { ...listQuery, properties: { ...listQuery.properties, category: text } },
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: productSchema }, next: { type: ['string', 'null'] } },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? 50);
      const items = await inTenantTransaction(pool, request.user.tenant, (db) =>
        listProducts(db, {
          limit,
          ...(request.query.category ? { category: request.query.category } : {}),
          ...(request.query.after ? { after: request.query.after } : {}),
        }),
      );
      return { items, next: items.length === limit ? (items.at(-1)?.productId ?? null) : null };
    },
  );

  app.patch<{ Params: { productId: string }; Body: Partial<ProductAttributes> }>(
    '/v1/products/:productId',
    {
      onRequest: requireRole('writer'),
      schema: {
        tags: ['products'],
        summary: 'Change product attributes (not the price: PUT .../price)',
        headers: writeHeaders,
        params: idParams('productId'),
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { sku: text, name: text, category: text },
        },
        response: {
          200: productSchema,
          ...errorResponses(409, 412, 428),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const context = requestContext(request, PRODUCER);
      const expected = expectedVersion(request);
      const product = await inTenantTransaction(pool, context.tenantId, async (db) => {
        const before = await lockProduct(db, request.params.productId, expected);
        const changed = (Object.keys(request.body) as (keyof ProductAttributes)[]).filter(
          (k) => request.body[k] !== before[k],
        );
        if (changed.length === 0) return before;
        const after = await updateProduct(db, before.productId, request.body);
        await outbox.append(db, context, {
          aggregateType: AGGREGATE,
          aggregateId: after.productId,
          eventType: EVENT_TYPES.productUpdated,
          payload: { ...eventPayload(after), changed },
        });
        return after;
      });
      await productCache.put(context.tenantId, product.productId, product);
      reply.header('etag', etag(product.version));
      return product;
    },
  );

  app.put<{ Params: { productId: string }; Body: { price: string } }>(
    '/v1/products/:productId/price',
    {
      onRequest: requireRole('writer'),
      schema: {
        tags: ['products'],
        summary: 'Change a product price',
        headers: writeHeaders,
        params: idParams('productId'),
        body: { type: 'object', additionalProperties: false, required: ['price'], properties: { price: money } },
        response: { 200: productSchema, ...errorResponses(412, 428), ...errors },
      },
    },
    async (request, reply) => {
      const context = requestContext(request, PRODUCER);
      const expected = expectedVersion(request);
      const product = await inTenantTransaction(pool, context.tenantId, async (db) => {
        const before = await lockProduct(db, request.params.productId, expected);
        const after = await updateProduct(db, before.productId, { price: request.body.price });
        if (after.price === before.price) return before;
        await outbox.append(db, context, {
          aggregateType: AGGREGATE,
          aggregateId: after.productId,
          eventType: EVENT_TYPES.productPriceChanged,
          payload: {
            productId: after.productId,
            oldPrice: before.price,
            newPrice: after.price,
            currency: after.currency,
            version: after.version,
          },
        });
        return after;
      });
      await productCache.put(context.tenantId, product.productId, product);
      reply.header('etag', etag(product.version));
      return product;
    },
  );

  app.delete<{ Params: { productId: string } }>(
    '/v1/products/:productId',
    {
      onRequest: requireRole('writer'),
      schema: {
        tags: ['products'],
        summary: 'Remove a product from the catalog',
        headers: writeHeaders,
        params: idParams('productId'),
        response: { ...errorResponses(412, 428), ...errors },
      },
    },
    async (request, reply) => {
      const context = requestContext(request, PRODUCER);
      const expected = expectedVersion(request);
      const version = await inTenantTransaction(pool, context.tenantId, async (db) => {
        const before = await lockProduct(db, request.params.productId, expected);
        const deletedVersion = await softDeleteProduct(db, before.productId);
        await outbox.append(db, context, {
          aggregateType: AGGREGATE,
          aggregateId: before.productId,
          eventType: EVENT_TYPES.productDeleted,
          payload: { productId: before.productId, version: deletedVersion },
        });
        return deletedVersion;
      });
      await productCache.put(context.tenantId, request.params.productId, { deleted: true, version });
      return reply.code(204).send();
    },
  );
}
