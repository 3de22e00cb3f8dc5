import type { RawRecord } from '@bitvelocity/streams';

/** The order actions a client is told about: one notification per status change. */
export const ORDER_STATUSES = ['created', 'paid', 'shipped', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface OrderStatusNotification {
  kind: 'order.status';
  tenantId: string;
  orderId: string;
  status: OrderStatus;
  eventId: string;
  eventType: string;
  occurredAt: string;
  /** The event's payload as the services wrote it (amounts, lines, carrier...). */
  payload: Record<string, unknown>;
}

export interface DeviceAnomalyNotification {
  kind: 'device.anomaly';
  tenantId: string;
  deviceId: string;
  /** `open` when the episode starts (or grows), `closed` when it ends. */
  status: string;
  episodeId: string;
  metric: string;
  /** The anomaly episode record as the telemetry job published it (score, peak, the device's context). */
  episode: Record<string, unknown>;
}

export type Notification = OrderStatusNotification | DeviceAnomalyNotification;
export type NotificationKind = Notification['kind'];

/** Why a record of a subscribed topic is not a notification (counted in the metrics, never fatal). */
export type SkipReason = 'undecodable' | 'not_a_status_change' | 'malformed';

export type Decoded = { notification: Notification } | { skipped: SkipReason };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

function parse(record: RawRecord): unknown {
  if (!record.value) return undefined;
  try {
    return JSON.parse(record.value.toString('utf8'));
  } catch {
    return undefined;
  }
}

const ORDER_EVENT = /^ecommerce\.order\.([a-z_]+)\.v\d+$/;

/** An order envelope (from the CDC topic or its deduplicated copy) as a status change. */
export function decodeOrderRecord(record: RawRecord): Decoded {
  const envelope = parse(record);
  if (!isObject(envelope)) return { skipped: 'undecodable' };
  const action = ORDER_EVENT.exec(String(envelope.eventType))?.[1];
  if (!action || !(ORDER_STATUSES as readonly string[]).includes(action)) return { skipped: 'not_a_status_change' };
  const payload = envelope.payload;
  if (!isObject(payload) || !isText(payload.orderId) || !isText(envelope.tenantId) || !isText(envelope.eventId))
    return { skipped: 'malformed' };
  return {
    notification: {
      kind: 'order.status',
      tenantId: envelope.tenantId,
      orderId: payload.orderId,
      status: action as OrderStatus,
      eventId: envelope.eventId,
      eventType: String(envelope.eventType),
      occurredAt: String(envelope.occurredAt),
      payload,
    },
  };
}

/** A device anomaly episode record (streams' AnomalyEpisode plus tenantId, deviceId and the device's context). */
export function decodeDeviceAnomalyRecord(record: RawRecord): Decoded {
  const episode = parse(record);
  if (!isObject(episode)) return { skipped: 'undecodable' };
  if (!isText(episode.tenantId) || !isText(episode.deviceId) || !isText(episode.episodeId))
    return { skipped: 'malformed' };
  return {
    notification: {
      kind: 'device.anomaly',
      tenantId: episode.tenantId,
      deviceId: episode.deviceId,
      status: String(episode.status),
      episodeId: episode.episodeId,
      metric: String(episode.metric),
      episode,
    },
  };
}
