import {
  createEnvelope,
  type DeviceReadingPayload,
  type Envelope,
  EVENT_TYPES,
  type EventSchemaRegistry,
  readingEventId,
  TELEMETRY_TOPIC,
} from '@bitvelocity/core';

/** The producer name readings carry in their envelope. */
export const TELEMETRY_PRODUCER = 'bv-telemetry-bridge';

/** What a device sends per reading: the deviceId and tenant come from the MQTT topic or the HTTP path and token. */
export interface DeviceReading {
  metric: string;
  value: number;
  unit?: string;
  seq?: number;
  recordedAt: string;
}

/** Why a reading was refused; each code is in core's ErrorCode and docs/errors.md. */
export type ReadingRejectCode =
  | 'UNDECODABLE'
  | 'SCHEMA_VIOLATION'
  | 'TELEMETRY_TOPIC_INVALID'
  | 'TELEMETRY_RATE_LIMITED';

export interface ReadingReject {
  /** The reading's position in an array body; undefined for a body that could not be read at all. */
  index: number | undefined;
  code: ReadingRejectCode;
  reason: string;
  /** What the device sent for this reading (the whole body when it is not JSON). */
  raw: string;
}

/** A reading ready for `iot.device`: the Kafka key and the envelope. */
export interface ReadingRecord {
  key: string;
  envelope: Envelope<DeviceReadingPayload>;
}

export interface DeviceAddress {
  tenantId: string;
  deviceId: string;
}

/** Tenant ids are the MQTT user names (the ACL's `%u`); device ids follow the reading schema. */
const TENANT = /^[A-Za-z0-9._-]{1,64}$/;
const DEVICE = /^[A-Za-z0-9._:-]{1,64}$/;
const READINGS_TOPIC = /^devices\/([^/]+)\/([^/]+)\/readings$/;

/** `devices/<tenant>/<deviceId>/readings` -> the device, or why the topic is not one. */
export function deviceOfTopic(topic: string): DeviceAddress | string {
  const match = READINGS_TOPIC.exec(topic);
  if (!match) return `topic "${topic}" is not devices/<tenant>/<deviceId>/readings`;
  const [, tenantId = '', deviceId = ''] = match;
  if (!TENANT.test(tenantId)) return `tenant "${tenantId}" is not 1-64 of [A-Za-z0-9._-]`;
  if (!DEVICE.test(deviceId)) return `deviceId "${deviceId}" is not 1-64 of [A-Za-z0-9._:-]`;
  return { tenantId, deviceId };
}

export const deviceKey = (device: DeviceAddress) => `${device.tenantId}:${device.deviceId}`;

export interface ReadingsOutcome {
  records: ReadingRecord[];
  /** For each record, its index in the body (0 for a single object). */
  indexes: number[];
  rejects: ReadingReject[];
}

/**
 * Turns one body (a reading object or an array of them) into envelopes. A bad element is refused with its index; the
 * others go through. Only what the device sent (the payload) is checked against the schema registry: the rest of the
 * envelope is built here from values already checked (tenant and device from the topic, ids derived, a constant event
 * type), and a spec holds every envelope built here to the full envelope schema.
 */
export function readingsOf(
  registry: EventSchemaRegistry,
  device: DeviceAddress,
  body: unknown,
  trace: { traceId: string },
): ReadingsOutcome {
  const outcome: ReadingsOutcome = { records: [], indexes: [], rejects: [] };
  const isArray = Array.isArray(body);
  const items: unknown[] = isArray ? body : [body];
  const key = deviceKey(device);
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    const reason = refusalOf(registry, device, item);
    if (typeof reason === 'string') {
      outcome.rejects.push({
        index: isArray ? index : undefined,
        code: 'SCHEMA_VIOLATION',
        reason,
        raw: JSON.stringify(item) ?? 'undefined',
      });
      continue;
    }
    const payload = reason;
    const envelope = createEnvelope({
      eventType: EVENT_TYPES.deviceReading,
      producer: TELEMETRY_PRODUCER,
      tenantId: device.tenantId,
      partitionKey: key,
      payload,
      traceId: trace.traceId,
      occurredAt: new Date(payload.recordedAt),
      eventId: readingEventId({
        tenantId: device.tenantId,
        deviceId: device.deviceId,
        metric: payload.metric,
        recordedAt: payload.recordedAt,
        seq: payload.seq,
      }),
    });
    outcome.records.push({ key, envelope });
    outcome.indexes.push(index);
  }
  return outcome;
}

/** The reading as a payload of the device, or why it is refused. */
function refusalOf(registry: EventSchemaRegistry, device: DeviceAddress, item: unknown): DeviceReadingPayload | string {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    return 'a reading must be an object {metric, value, unit?, seq?, recordedAt}';
  const reading = item as Record<string, unknown>;
  if ('deviceId' in reading && reading.deviceId !== device.deviceId)
    return `deviceId "${String(reading.deviceId)}" differs from the device of the topic or path`;
  if (typeof reading.value === 'number' && !Number.isFinite(reading.value)) return 'value must be a finite number';
  const payload = { ...reading, deviceId: device.deviceId };
  const validation = registry.validatePayload(EVENT_TYPES.deviceReading, payload);
  if (!validation.valid) return validation.violations.map((v) => `${v.path} ${v.message}`).join('; ');
  // The schema's date-time format admits what Date cannot represent (e.g. year 0000 offsets): refuse those too.
  if (Number.isNaN(Date.parse(String(reading.recordedAt)))) return '/recordedAt must be an ISO 8601 date-time';
  return payload as unknown as DeviceReadingPayload;
}

/**
 * The envelope of a reading as JSON, the same value JSON.stringify gives (a spec holds it to that), written by hand:
 * every envelope field but the payload is a number or a string of JSON-safe characters (hex ids, ISO time, the
 * checked tenant and device ids, constants), so only the device's payload goes through JSON.stringify.
 */
export function readingJson(e: Envelope<DeviceReadingPayload>): string {
  return (
    `{"eventId":"${e.eventId}","eventType":"${e.eventType}","occurredAt":"${e.occurredAt}","producer":"${e.producer}",` +
    `"traceId":"${e.traceId}","correlationId":"${e.correlationId}","schemaVersion":${e.schemaVersion},` +
    `"tenantId":"${e.tenantId}","partitionKey":"${e.partitionKey}","payload":${JSON.stringify(e.payload)}}`
  );
}

/** Parses an MQTT payload; undefined with the reason when it is not JSON. */
export function parseBody(payload: Buffer): { body: unknown } | { reason: string } {
  try {
    return { body: JSON.parse(payload.toString('utf8')) };
  } catch (error) {
    return { reason: `the body is not JSON: ${(error as Error).message}` };
  }
}

export { TELEMETRY_TOPIC };
