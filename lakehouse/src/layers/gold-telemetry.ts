import { ANALYTICS_TOPICS } from '@bitvelocity/core';
import {
  type DeviceAnomalyEpisode,
  type DeviceReadingsMinute,
  type DeviceSilence,
  defineJob,
  type JobDefinition,
  jsonRecords,
} from '@bitvelocity/streams';
import type { LakeSystem } from '../sink/lake-sink.js';
import type { LakeColumn, LakeTable, LakeView } from '../tables.js';
import { infinite, latest, SOURCE, source, WINDOW, window } from './gold.js';

const col = (name: string, type: LakeColumn['type'], description: string): LakeColumn => ({ name, type, description });

const DEVICE: LakeColumn[] = [
  col('tenant_id', 'VARCHAR', 'The device’s tenant'),
  col('device_id', 'VARCHAR', 'The device’s id, unique within its tenant'),
];

/** The device's context as the telemetry job knew it from the registrations when the row was computed. */
const CONTEXT: LakeColumn[] = [
  col('device_name', 'VARCHAR', 'Device name from its latest registration or update; null if none was seen'),
  col('device_kind', 'VARCHAR', 'Device kind (e.g. thermometer) from its registration; null if none was seen'),
  col('site', 'VARCHAR', 'Where the device is installed, from its registration; null when unknown'),
];

export const GOLD_TELEMETRY_TABLES = {
  deviceReadings1m: {
    schema: 'gold',
    name: 'device_readings_1m_revisions',
    description:
      'Per device and metric, the readings of each minute (tumbling, event time), deduplicated by eventId: every revision',
    columns: [
      ...DEVICE,
      col('metric', 'VARCHAR', 'What was measured, e.g. temperature'),
      col('unit', 'VARCHAR', 'Unit the device reported the metric in; null if it gave none'),
      col('readings', 'BIGINT', 'Distinct readings in the minute'),
      col('min_value', 'DOUBLE', 'Smallest reading of the minute'),
      col('max_value', 'DOUBLE', 'Largest reading of the minute'),
      col('mean_value', 'DOUBLE', 'Mean of the minute’s readings'),
      col('sum_value', 'DOUBLE', 'Sum of the minute’s readings'),
      ...WINDOW,
      ...SOURCE,
    ],
    partitionedBy: ['year(window_start)', 'month(window_start)'],
  },
  deviceAnomalies: {
    schema: 'gold',
    name: 'device_anomaly_events',
    description:
      "Anomaly episodes of a device's metric (rolling z-score over its last 60 readings): an 'open' row when one starts, a 'closed' row with its final peak, end and points",
    columns: [
      col('episode_id', 'VARCHAR', '<tenant>:<device>:<metric>:<start in ms>, stable across restarts'),
      col('status', 'VARCHAR', "'open' or 'closed'"),
      ...DEVICE,
      col('metric', 'VARCHAR', 'The metric whose readings were anomalous'),
      ...CONTEXT,
      col('start_time', 'TIMESTAMP WITH TIME ZONE', 'Event time of the reading that opened the episode'),
      col('end_time', 'TIMESTAMP WITH TIME ZONE', 'Event time of the latest anomalous reading'),
      col('points', 'INTEGER', 'Anomalous readings in the episode'),
      col('peak_calibrated', 'DOUBLE', 'In [0, 1]: 1 minus the two-sided Student-t tail of the peak z'),
      col('peak_score', 'DOUBLE', 'The peak raw z; +/-infinity for a zero-spread peak'),
      col('peak_value', 'DOUBLE', 'The reading at the peak'),
      col('peak_at', 'TIMESTAMP WITH TIME ZONE', 'Event time of the peak'),
      col('reason', 'VARCHAR', "'z' or 'zero_spread' (a value unlike a window of equal values)"),
      col('event_id', 'VARCHAR', 'The reading that opened the episode'),
      ...SOURCE,
    ],
    partitionedBy: ['year(start_time)', 'month(start_time)'],
  },
  deviceSilence: {
    schema: 'gold',
    name: 'device_silence',
    description:
      "Devices that went silent (no reading for the configured time, by the watermark) and resumed: a 'silent' and a 'resumed' row per silence",
    columns: [
      ...DEVICE,
      col('status', 'VARCHAR', "'silent' or 'resumed'"),
      ...CONTEXT,
      col('last_reading_at', 'TIMESTAMP WITH TIME ZONE', 'Event time of the last reading before the silence'),
      col('silent_since', 'TIMESTAMP WITH TIME ZONE', 'The last reading plus the silence threshold'),
      col(
        'resumed_at',
        'TIMESTAMP WITH TIME ZONE',
        "Event time of the reading that ended the silence ('resumed' rows)",
      ),
      col('silence_after_ms', 'BIGINT', 'The silence threshold in milliseconds'),
      ...SOURCE,
    ],
    partitionedBy: ['year(silent_since)', 'month(silent_since)'],
  },
} satisfies Record<string, LakeTable>;

export const GOLD_TELEMETRY_VIEWS: LakeView[] = [
  latest('device_readings_1m', ['tenant_id', 'device_id', 'metric', 'window_start']),
  {
    schema: 'gold',
    name: 'device_anomalies',
    // One row per episode: the closed row once there is one, the open row until then.
    sql: `SELECT * EXCLUDE (_source_topic, _source_partition, _source_offset) FROM gold.device_anomaly_events
          QUALIFY row_number() OVER (PARTITION BY episode_id ORDER BY (status = 'closed') DESC, _source_offset DESC) = 1`,
  },
];

export interface GoldTelemetryJobOptions {
  lake: LakeSystem;
  name?: string;
  topics?: Partial<Record<'deviceReadings1m' | 'deviceAnomalies' | 'deviceSilence', string>>;
}

/** Lands the device telemetry job's minutes, anomaly episodes and silences in Gold, exactly once. */
export function goldTelemetryJob(options: GoldTelemetryJobOptions): JobDefinition {
  const topics = {
    deviceReadings1m: ANALYTICS_TOPICS.deviceReadings1m,
    deviceAnomalies: ANALYTICS_TOPICS.deviceAnomalies,
    deviceSilence: ANALYTICS_TOPICS.deviceSilence,
    ...options.topics,
  };
  const json = <T>(topic: string) => jsonRecords<T>({ topics: [topic], maxOutOfOrderness: 0, idleTimeout: 0 });
  const { lake } = options;
  const tables = GOLD_TELEMETRY_TABLES;
  return defineJob({
    name: options.name ?? 'lake-gold-telemetry',
    description: 'Lands device minutes, anomaly episodes and silences in gold.device_*, exactly once',
    maxBatchWait: '500ms',
    build: (job) => {
      job.source(json<DeviceReadingsMinute>(topics.deviceReadings1m)).to(
        lake.sink(tables.deviceReadings1m, (r, c) => ({
          tenant_id: r.value.tenantId,
          device_id: r.value.deviceId,
          metric: r.value.metric,
          unit: r.value.unit,
          readings: r.value.count,
          min_value: r.value.min,
          max_value: r.value.max,
          mean_value: r.value.mean,
          sum_value: r.value.sum,
          ...window(r.value),
          ...source(r, c),
        })),
      );
      job.source(json<DeviceAnomalyEpisode>(topics.deviceAnomalies)).to(
        lake.sink(tables.deviceAnomalies, (r, c) => {
          const e = r.value;
          return {
            episode_id: e.episodeId,
            status: e.status,
            tenant_id: e.tenantId,
            device_id: e.deviceId,
            metric: e.metric,
            device_name: e.deviceName,
            device_kind: e.deviceKind,
            site: e.site,
            start_time: e.start,
            end_time: e.end,
            points: e.points,
            peak_calibrated: e.peakCalibrated,
            peak_score: e.peakScore ?? infinite(e.peakDirection),
            peak_value: e.peakValue,
            peak_at: e.peakAt,
            reason: e.reason,
            event_id: e.eventId,
            ...source(r, c),
          };
        }),
      );
      job.source(json<DeviceSilence>(topics.deviceSilence)).to(
        lake.sink(tables.deviceSilence, (r, c) => ({
          tenant_id: r.value.tenantId,
          device_id: r.value.deviceId,
          status: r.value.status,
          device_name: r.value.deviceName,
          device_kind: r.value.deviceKind,
          site: r.value.site,
          last_reading_at: r.value.lastReadingAt,
          silent_since: r.value.silentSince,
          resumed_at: r.value.resumedAt,
          silence_after_ms: r.value.silenceAfterMs,
          ...source(r, c),
        })),
      );
    },
  });
}
