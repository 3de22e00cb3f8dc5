import { randomUUID } from 'node:crypto';
import { readingEventId } from '@bitvelocity/core';
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceReading } from './readings.js';

export interface FleetOptions {
  /** The broker, e.g. `mqtt://127.0.0.1:11883`. */
  url: string;
  /** The tenant the fleet belongs to; it is also the MQTT user name (the broker's ACL allows `devices/<user>/...`). */
  tenant: string;
  password: string;
  devices: number;
  /** Every device sends this many readings per metric: the fleet is bounded. */
  readingsPerDevice: number;
  metrics?: readonly string[];
  /** Publisher connections; the devices are spread over them. */
  connections?: number;
  /** Readings per MQTT message (a JSON array when above 1). */
  readingsPerMessage?: number;
  /** QoS 1 messages a connection has unacknowledged at once. */
  inflightPerConnection?: number;
  /** Device ids are `<prefix><n>`. */
  devicePrefix?: string;
  /** recordedAt of reading 0; reading r is `intervalMs * r` later. */
  startAt?: Date;
  intervalMs?: number;
  /** The value of reading r of device d for a metric; a default sine wave with noise. Plant spikes here. */
  value?: (device: number, reading: number, metric: string) => number;
  /** Keep the eventIds of what was published (the bridge derives the same ones). */
  collectEventIds?: boolean;
  /** Called after each acknowledged message with the running count of readings; return false to stop early. */
  onProgress?: (published: number) => boolean | undefined;
}

export interface FleetResult {
  /** Readings the broker acknowledged (PUBACK). */
  published: number;
  messages: number;
  seconds: number;
  eventIds: Set<string>;
}

export const deviceIdOf = (prefix: string, n: number) => `${prefix}${n}`;

/** The reading r of device d, as the fleet publishes it. */
export function fleetReading(options: FleetOptions, device: number, reading: number, metric: string): DeviceReading {
  const start = (options.startAt ?? new Date('2026-01-01T00:00:00.000Z')).getTime();
  const value =
    options.value?.(device, reading, metric) ??
    20 + 5 * Math.sin(reading / 10 + device) + ((device * 7919 + reading * 104729) % 100) / 100;
  return {
    metric,
    value,
    unit: metric === 'temperature' ? 'C' : 'u',
    seq: reading,
    recordedAt: new Date(start + reading * (options.intervalMs ?? 1000)).toISOString(),
  };
}

/**
 * A bounded local device fleet: `devices` devices each publish `readingsPerDevice` readings per metric over QoS 1
 * to `devices/<tenant>/<deviceId>/readings`, from a few publisher connections, then it disconnects. Resolves with
 * what the broker acknowledged.
 */
export async function runFleet(options: FleetOptions): Promise<FleetResult> {
  const metrics = options.metrics ?? ['temperature'];
  const connections = Math.max(1, Math.min(options.connections ?? 4, options.devices));
  const perMessage = Math.max(1, options.readingsPerMessage ?? 1);
  const inflight = options.inflightPerConnection ?? 500;
  const prefix = options.devicePrefix ?? 'dev-';
  const eventIds = new Set<string>();
  let published = 0;
  let messages = 0;
  let stopped = false;
  const started = performance.now();

  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: connections }, (_, i) =>
      mqtt.connectAsync(options.url, {
        protocolVersion: 5,
        clientId: `bv-fleet-${options.tenant}-${i}-${randomUUID().slice(0, 6)}`,
        username: options.tenant,
        password: options.password,
        clean: true,
        reconnectPeriod: 1000,
        properties: { receiveMaximum: 65_535 },
      }),
    ),
  );
  try {
    await Promise.all(
      clients.map(async (client, c) => {
        const own: number[] = [];
        for (let d = c; d < options.devices; d += connections) own.push(d);
        let open = 0;
        let wake: (() => void) | undefined;
        let failure: unknown;
        const send = (device: number, readings: DeviceReading[]) => {
          const deviceId = deviceIdOf(prefix, device);
          const body = JSON.stringify(readings.length === 1 ? readings[0] : readings);
          open++;
          client.publish(`devices/${options.tenant}/${deviceId}/readings`, body, { qos: 1 }, (error) => {
            open--;
            if (error) failure ??= error;
            else {
              published += readings.length;
              messages++;
              if (options.collectEventIds) {
                for (const r of readings) eventIds.add(readingEventId({ tenantId: options.tenant, deviceId, ...r }));
              }
              if (options.onProgress?.(published) === false) stopped = true;
            }
            wake?.();
          });
        };
        for (let r = 0; r < options.readingsPerDevice && !stopped; r += perMessage) {
          for (const device of own) {
            for (const metric of metrics) {
              const readings: DeviceReading[] = [];
              for (let k = r; k < Math.min(r + perMessage, options.readingsPerDevice); k++)
                readings.push(fleetReading(options, device, k, metric));
              while (open >= inflight) await new Promise<void>((resolve) => (wake = resolve));
              if (failure) throw failure;
              send(device, readings);
            }
            if (stopped) break;
          }
        }
        while (open > 0) await new Promise<void>((resolve) => (wake = resolve));
        if (failure) throw failure;
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(false).catch(() => undefined)));
  }
  return { published, messages, seconds: (performance.now() - started) / 1000, eventIds };
}
