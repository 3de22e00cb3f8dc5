import { EVENT_TYPES, TELEMETRY_TOPIC } from '@bitvelocity/core';
import type { FastifyInstance } from 'fastify';
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
import { writeHeaders } from '../http/schemas.js';

const PRODUCER = 'device-service';

export interface Device {
  deviceId: string;
  name: string;
  kind: string;
  site: string | null;
  firmware: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

type DeviceChanges = Partial<Pick<Device, 'name' | 'kind' | 'site' | 'firmware'>>;

interface DeviceRow {
  device_id: string;
  name: string;
  kind: string;
  site: string | null;
  firmware: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'device_id, name, kind, site, firmware, version, created_at, updated_at';
const toDevice = (r: DeviceRow): Device => ({
  deviceId: r.device_id,
  name: r.name,
  kind: r.kind,
  site: r.site,
  firmware: r.firmware,
  version: r.version,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});
const eventPayload = (d: Device) => ({
  deviceId: d.deviceId,
  name: d.name,
  kind: d.kind,
  site: d.site,
  firmware: d.firmware,
  version: d.version,
});

/** The telemetry contract's key: a device's events and readings share `<tenantId>:<deviceId>` and so a partition. */
const aggregateId = (tenantId: string, deviceId: string) => `${tenantId}:${deviceId}`;

// The same rules as the device event schemas (core/schemas/events/iot.device.*.json).
const deviceId = {
  type: 'string',
  pattern: '^[A-Za-z0-9._:-]{1,64}$',
  description: 'The device’s own id (what it publishes under), unique within the tenant',
} as const;
const fields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  kind: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'What the device is, e.g. thermometer' },
  site: { type: ['string', 'null'], maxLength: 200, description: 'Where it is installed; null when unknown' },
  firmware: { type: 'string', minLength: 1, maxLength: 64 },
} as const;
const deviceSchema = {
  type: 'object',
  properties: {
    deviceId: { type: 'string' },
    name: { type: 'string' },
    kind: { type: 'string' },
    site: { type: ['string', 'null'] },
    firmware: { type: 'string' },
    version: { type: 'integer' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;
const params = {
  type: 'object',
  required: ['deviceId'],
  additionalProperties: false,
  properties: { deviceId },
} as const;
const errors = errorResponses(400, 401, 403, 404);

async function findDevice(db: Db, id: string, lock = false): Promise<Device | undefined> {
  const { rows } = await db.query<DeviceRow>({
    name: lock ? 'device-lock' : 'device-find',
    text: `SELECT ${COLUMNS} FROM devices WHERE device_id = $1${lock ? ' FOR UPDATE' : ''}`,
    values: [id],
  });
  return rows[0] && toDevice(rows[0]);
}

/**
 * The device registry: the devices that send telemetry, with their kind, site and firmware. Each change writes
 * `iot.device.registered.v1` / `iot.device.updated.v1` to the outbox in the same transaction; Debezium routes them to
 * the telemetry topic, where the telemetry job reads them as the devices' context and Bronze/Silver make
 * gold.dim_device from them.
 */
export async function deviceRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  const { pool, outbox } = deps;

  app.post<{ Body: Pick<Device, 'deviceId' | 'name' | 'kind' | 'firmware'> & { site?: string | null } }>(
    '/v1/devices',
    {
      onRequest: requireRole('writer'),
      schema: {
        tags: ['devices'],
        summary: 'Register a device',
        headers: writeHeaders,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['deviceId', 'name', 'kind', 'firmware'],
          properties: { deviceId, ...fields },
        },
        response: { 201: deviceSchema, ...errorResponses(409), ...errors },
      },
    },
    async (request, reply) => {
      const context = requestContext(request, PRODUCER);
      const { deviceId: id, name, kind, site = null, firmware } = request.body;
      const response = await inTenantTransaction(pool, context.tenantId, (db) =>
        idempotently(db, request, async () => {
          const { rows } = await db
            .query<DeviceRow>(
              `INSERT INTO devices (tenant_id, device_id, name, kind, site, firmware)
               VALUES (current_setting('bv.tenant_id'), $1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
              [id, name, kind, site, firmware],
            )
            .catch((error: unknown) => {
              if (isUniqueViolation(error))
                throw new ApiError('DUPLICATE', `a device with id ${id} is registered`, 'body/deviceId');
              throw error;
            });
          const device = toDevice(rows[0] as DeviceRow);
          await outbox.append(db, context, {
            aggregateType: TELEMETRY_TOPIC,
            aggregateId: aggregateId(context.tenantId, device.deviceId),
            eventType: EVENT_TYPES.deviceRegistered,
            payload: eventPayload(device),
          });
          return { status: 201, body: device };
        }),
      );
      return sendWrite(reply, response, `/v1/devices/${encodeURIComponent((response.body as Device).deviceId)}`);
    },
  );

  app.get<{ Params: { deviceId: string } }>(
    '/v1/devices/:deviceId',
    {
      onRequest: requireRole('reader'),
      schema: { tags: ['devices'], summary: 'Read a device', params, response: { 200: deviceSchema, ...errors } },
    },
    async (request, reply) => {
      const device = await inTenantTransaction(pool, request.user.tenant, (db) =>
        findDevice(db, request.params.deviceId),
      );
      if (!device) throw new ApiError('NOT_FOUND', `device ${request.params.deviceId} does not exist`);
      reply.header('etag', etag(device.version));
      return device;
    },
  );

  app.patch<{ Params: { deviceId: string }; Body: DeviceChanges }>(
    '/v1/devices/:deviceId',
    {
      onRequest: requireRole('writer'),
      schema: {
        tags: ['devices'],
        summary: 'Update a device: name, kind, site or firmware (If-Match: its ETag)',
        headers: writeHeaders,
        params,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: fields },
        response: { 200: deviceSchema, ...errorResponses(409, 412, 428), ...errors },
      },
    },
    async (request, reply) => {
      const context = requestContext(request, PRODUCER);
      const expected = expectedVersion(request);
      const device = await inTenantTransaction(pool, context.tenantId, async (db) => {
        const before = await findDevice(db, request.params.deviceId, true);
        if (!before) throw new ApiError('NOT_FOUND', `device ${request.params.deviceId} does not exist`);
        if (before.version !== expected) throw versionConflict(before.version, expected);
        const changed = (Object.keys(request.body) as (keyof DeviceChanges)[]).filter(
          (k) => request.body[k] !== before[k],
        );
        if (changed.length === 0) return before;
        const next = { ...before, ...request.body };
        const { rows } = await db.query<DeviceRow>(
          `UPDATE devices SET name = $2, kind = $3, site = $4, firmware = $5, version = version + 1, updated_at = now()
           WHERE device_id = $1 RETURNING ${COLUMNS}`,
          [before.deviceId, next.name, next.kind, next.site, next.firmware],
        );
        const after = toDevice(rows[0] as DeviceRow);
        await outbox.append(db, context, {
          aggregateType: TELEMETRY_TOPIC,
          aggregateId: aggregateId(context.tenantId, after.deviceId),
          eventType: EVENT_TYPES.deviceUpdated,
          payload: { ...eventPayload(after), changed },
        });
        return after;
      });
      reply.header('etag', etag(device.version));
      return device;
    },
  );
}
