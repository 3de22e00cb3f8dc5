import { type Envelope, EVENT_TYPES, type OrderCreatedPayload } from '@bitvelocity/core';
import type { AnomalyEpisode } from '../operators/zscore.js';

export interface OrderLine {
  orderId: string;
  productId: string;
  tenantId: string;
  quantity: number;
  amountCents: number;
  occurredAt: string;
  eventId: string;
}

export interface OrderAmount {
  orderId: string;
  customerId: string;
  tenantId: string;
  currency: string;
  amountCents: number;
  occurredAt: string;
  eventId: string;
}

export interface CustomerActivity {
  customerId: string;
  tenantId: string;
  eventType: string;
  isOrder: boolean;
  occurredAt: string;
  eventId: string;
}

export const isOrderCreated = (e: Envelope): e is Envelope<OrderCreatedPayload & Record<string, unknown>> =>
  e.eventType === EVENT_TYPES.orderCreated;

export const eventTime = (value: { occurredAt: string }) => Date.parse(value.occurredAt);

/** What the telemetry job knows of a device from its registration and updates on the telemetry topic. */
export interface DeviceContext {
  name: string | null;
  kind: string | null;
  site: string | null;
  /** The registration's version the context is from (0: no registration seen yet). */
  version: number;
}

/** One deduplicated reading with its device's context. */
export interface DeviceReading extends DeviceContext {
  tenantId: string;
  deviceId: string;
  metric: string;
  value: number;
  unit: string | null;
  seq: number | null;
  recordedAt: string;
  eventId: string;
}

/** A device's metric over one minute (`analytics.device_readings_1m`), keyed by `<tenantId>:<deviceId>`. */
export interface DeviceReadingsMinute {
  kind: 'device_readings_1m';
  tenantId: string;
  deviceId: string;
  metric: string;
  unit: string | null;
  windowStart: string;
  windowEnd: string;
  /** 0 for the on-time result; a late reading within the allowed lateness sends the next revision. */
  revision: number;
  count: number;
  min: number;
  max: number;
  mean: number;
  sum: number;
}

/**
 * An anomaly episode of one device's metric (`analytics.device_anomalies`): streams' AnomalyEpisode with the
 * device's tenant, id and context; `metric` is the reading's metric, `key` is `<tenantId>:<deviceId>:<metric>`.
 */
export interface DeviceAnomalyEpisode extends Omit<AnomalyEpisode, 'context'> {
  tenantId: string;
  deviceId: string;
  deviceName: string | null;
  deviceKind: string | null;
  site: string | null;
}

/**
 * A device went silent (no reading for `silenceAfterMs` of event time, by the watermark) or resumed
 * (`analytics.device_silence`), keyed by `<tenantId>:<deviceId>`.
 */
export interface DeviceSilence {
  kind: 'device_silence';
  status: 'silent' | 'resumed';
  tenantId: string;
  deviceId: string;
  deviceName: string | null;
  deviceKind: string | null;
  site: string | null;
  /** The event time of the device's last reading before the silence. */
  lastReadingAt: string;
  /** When the silence began to count: the last reading plus `silenceAfterMs`. */
  silentSince: string;
  /** The reading that ended the silence (`resumed` only). */
  resumedAt: string | null;
  silenceAfterMs: number;
}
