import {
  ANALYTICS_TOPICS,
  type DeviceReadingPayload,
  type DeviceRegisteredPayload,
  type Envelope,
  EVENT_TYPES,
  TELEMETRY_TOPIC,
} from '@bitvelocity/core';
import { type Duration, toMillis } from '../api/duration.js';
import type { JobDefinition } from '../api/job.js';
import {
  ANOMALY_DEFAULTS,
  aggregates,
  count,
  defineJob,
  envelopes,
  kafkaSink,
  max,
  min,
  sum,
  tumbling,
} from '../index.js';
import type { Aggregate } from '../operators/windows/aggregates.js';
import type {
  DeviceAnomalyEpisode,
  DeviceContext,
  DeviceReading,
  DeviceReadingsMinute,
  DeviceSilence,
} from './model.js';

export interface DeviceTelemetryOptions {
  name?: string;
  topics?: Partial<{ input: string; readings1m: string; anomalies: string; silence: string }>;
  /** A device with no reading for this long (event time, by the watermark) is reported silent. Default `2m`. */
  silenceAfter?: Duration;
  /**
   * How long a partition may have nothing to read before its watermark follows the clock. Default `30s`; `0` turns
   * idle handling off (fully deterministic: silence and the last minutes then wait for later readings).
   */
  idleTimeout?: Duration;
  /** Most records per checkpoint (default: the runtime's). */
  maxBatchRecords?: number;
  /** How far out of order a device's readings may arrive (clock skew, batched uploads). Default `30s`. */
  maxOutOfOrderness?: Duration;
}

/** Keys are JSON arrays: tenant ids and device ids may hold any separator. */
const deviceKey = (tenantId: string, deviceId: string) => JSON.stringify([tenantId, deviceId]);
const metricKey = (r: DeviceReading) => JSON.stringify([r.tenantId, r.deviceId, r.metric]);
const parseKey = (key: string) => JSON.parse(key) as [string, string, string];
/** The Kafka key of every telemetry topic (the contract's): `<tenantId>:<deviceId>`. */
const kafkaKey = (v: { tenantId: string; deviceId: string }) => `${v.tenantId}:${v.deviceId}`;

const NO_CONTEXT: DeviceContext = { name: null, kind: null, site: null, version: 0 };

/** The unit of a window's readings: the last one given (a device reports a metric in one unit). */
const unit: Aggregate<DeviceReading, string | null, string | null> = {
  init: () => null,
  add: (u, r) => r.unit ?? u,
  merge: (a, b) => b ?? a,
  result: (u) => u,
};

interface SilenceState extends DeviceContext {
  tenantId: string;
  deviceId: string;
  /** Event time of the latest reading. */
  last: number;
  /** Since when the device is reported silent; null while it reports. */
  silentSince: number | null;
}

/**
 * The device telemetry job: readings and registrations from the telemetry topic, deduplicated by eventId; each
 * reading gets its device's context (kept per device from the registrations on the same topic and key); then per
 * device and metric 1-minute min/max/mean/count, rolling z-score anomaly episodes, and per device silence.
 *
 * Idle partitions: silence is a fact about the absence of input, so it must not wait for input. The source uses
 * `idleWatermark: 'wall-clock'`: a partition with nothing to read for `idleTimeout` has its watermark follow the clock
 * (now - maxOutOfOrderness), so its devices' silence timers fire even when every device on it stopped. The price
 * (docs/telemetry.md): after an outage of the pipeline itself, the devices are reported silent until the backlog is
 * read, then `resumed`; their backlog readings older than the watermark update the closed minutes as revisions
 * within the allowed lateness (5 minutes) and go to the late side otherwise.
 */
export function deviceTelemetryJob(options: DeviceTelemetryOptions = {}): JobDefinition {
  const topics = {
    input: TELEMETRY_TOPIC,
    readings1m: ANALYTICS_TOPICS.deviceReadings1m,
    anomalies: ANALYTICS_TOPICS.deviceAnomalies,
    silence: ANALYTICS_TOPICS.deviceSilence,
    ...options.topics,
  };
  const silenceAfter = toMillis(options.silenceAfter ?? '2m', 'silenceAfter');
  return defineJob({
    name: options.name ?? 'device-telemetry',
    description: 'Device readings deduplicated: 1-minute aggregates, z-score anomalies with context, silence',
    ...(options.maxBatchRecords ? { maxBatchRecords: options.maxBatchRecords } : {}),
    build: (job) => {
      const readings = job
        .source(
          envelopes({
            topics: [topics.input],
            maxOutOfOrderness: options.maxOutOfOrderness ?? '30s',
            idleTimeout: options.idleTimeout ?? '30s',
            idleWatermark: 'wall-clock',
          }),
        )
        // A reading re-delivered by MQTT QoS 1 or an HTTP retry keeps its eventId (derived from its fields, the device
        // among them), and the topic is keyed by device: a duplicate is always on its original's partition, and so
        // is every record of a device and of each of its metrics. No repartition hop (and no watermark skew between
        // upstream tasks that a hop would bring); a record keyed otherwise is dead-lettered (KEY_NOT_COPARTITIONED).
        .dedupe({ ttl: '24h', scope: 'partition' })
        .keyBy((e) => deviceKey(e.tenantId, String((e.payload as { deviceId?: unknown }).deviceId)), {
          partitioning: 'co-partitioned',
          partitionedBy: (e) =>
            kafkaKey({ tenantId: e.tenantId, deviceId: String((e.payload as { deviceId?: unknown }).deviceId) }),
        })
        .process<DeviceReading, DeviceContext>({
          process(e: Envelope, ctx) {
            if (e.eventType === EVENT_TYPES.deviceRegistered || e.eventType === EVENT_TYPES.deviceUpdated) {
              const p = e.payload as unknown as DeviceRegisteredPayload;
              const known = ctx.state();
              // Registrations carry their version: an older one arriving late never overwrites a newer one.
              if (!known || p.version >= known.version)
                ctx.update({ name: p.name, kind: p.kind, site: p.site, version: p.version });
              return;
            }
            if (e.eventType !== EVENT_TYPES.deviceReading) return;
            const p = e.payload as unknown as DeviceReadingPayload;
            ctx.emit({
              tenantId: e.tenantId,
              deviceId: p.deviceId,
              metric: p.metric,
              value: p.value,
              unit: p.unit ?? null,
              seq: p.seq ?? null,
              recordedAt: p.recordedAt,
              eventId: e.eventId,
              ...(ctx.state() ?? NO_CONTEXT),
            });
          },
        });

      readings
        .process<DeviceSilence, SilenceState>({
          process(r, ctx) {
            const known = ctx.state();
            const t = ctx.timestamp;
            const last = known ? Math.max(known.last, t) : t;
            if (known && known.silentSince !== null) ctx.emit(silenceEvent(known, 'resumed', silenceAfter, t));
            ctx.update({
              tenantId: r.tenantId,
              deviceId: r.deviceId,
              name: r.name,
              kind: r.kind,
              site: r.site,
              version: r.version,
              last,
              silentSince: null,
            });
            ctx.timer(last + silenceAfter);
          },
          onTimer(time, ctx) {
            const known = ctx.state();
            if (!known || known.silentSince !== null) return;
            const silent = { ...known, silentSince: time };
            ctx.update(silent);
            ctx.emit(silenceEvent(silent, 'silent', silenceAfter, null));
          },
        })
        .to(kafkaSink(topics.silence, { key: kafkaKey }));

      const perMetric = readings.keyBy(metricKey, {
        partitioning: 'co-partitioned',
        partitionedBy: (r) => deviceKey(r.tenantId, r.deviceId),
      });
      perMetric
        .window(
          tumbling({ size: '1m' }),
          aggregates({
            count: count<DeviceReading>(),
            min: min<DeviceReading>((r) => r.value),
            max: max<DeviceReading>((r) => r.value),
            sum: sum<DeviceReading>((r) => r.value),
            unit,
          }),
          { allowedLateness: '5m' },
        )
        .map((w): DeviceReadingsMinute => {
          const [tenantId, deviceId, metric] = parseKey(w.key);
          const { count: n, min: lo, max: hi, sum: total, unit: u } = w.result;
          return {
            kind: 'device_readings_1m',
            tenantId,
            deviceId,
            metric,
            unit: u,
            windowStart: w.windowStart,
            windowEnd: w.windowEnd,
            revision: w.revision,
            count: n,
            // A window exists only with a reading in it: min and max are never null here.
            min: lo ?? Number.NaN,
            max: hi ?? Number.NaN,
            mean: total / n,
            sum: total,
          };
        })
        .to(kafkaSink(topics.readings1m, { key: kafkaKey }));

      perMetric
        .zScore({
          metric: 'device_reading',
          value: (r) => r.value,
          window: { points: 60 },
          minSamples: 20,
          alertAt: ANOMALY_DEFAULTS.alertAt,
          closeAfter: '5m',
          context: (r): DeviceContext => ({ name: r.name, kind: r.kind, site: r.site, version: r.version }),
        })
        .map((e): DeviceAnomalyEpisode => {
          const [tenantId, deviceId, metric] = parseKey(e.key);
          const context = (e.context as DeviceContext | undefined) ?? NO_CONTEXT;
          const { context: _, ...episode } = e;
          return {
            ...episode,
            metric,
            key: `${tenantId}:${deviceId}:${metric}`,
            episodeId: `${tenantId}:${deviceId}:${metric}:${Date.parse(e.start)}`,
            tenantId,
            deviceId,
            deviceName: context.name,
            deviceKind: context.kind,
            site: context.site,
          };
        })
        .to(kafkaSink(topics.anomalies, { key: kafkaKey }));
    },
  });
}

function silenceEvent(
  s: SilenceState,
  status: DeviceSilence['status'],
  silenceAfter: number,
  resumedAt: number | null,
): DeviceSilence {
  return {
    kind: 'device_silence',
    status,
    tenantId: s.tenantId,
    deviceId: s.deviceId,
    deviceName: s.name,
    deviceKind: s.kind,
    site: s.site,
    lastReadingAt: new Date(s.last).toISOString(),
    silentSince: new Date(s.silentSince ?? s.last + silenceAfter).toISOString(),
    resumedAt: resumedAt === null ? null : new Date(resumedAt).toISOString(),
    silenceAfterMs: silenceAfter,
  };
}

/** `bv jobs deploy streams/src/jobs/device-telemetry.ts`. */
export default deviceTelemetryJob();
