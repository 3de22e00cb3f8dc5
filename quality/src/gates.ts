import { BvError, loadPlatformConfig, type PlatformConfig } from '@bitvelocity/core';
import type { DuckDb, PublishHook } from '@bitvelocity/lakehouse';
import { kafkaAlerts, QUALITY_ALERTS_TOPIC } from './alerts.js';
import { type GateCheck, type QualityGateOptions, qualityGate } from './gate.js';
import { ensureQualityStore } from './store.js';
import { loadSuites, type QualitySuite } from './suite.js';

/**
 * The gates the platform's own transforms run with: Silver's refresh (`bv lake silver`, `bv lake rebuild silver`, the
 * deployed job lakehouse/src/jobs/silver.ts, the demo) and the warehouse build (`bv warehouse build`).
 *
 * Switches (environment):
 * - `BV_QUALITY_GATES`: `on` (default) or `off` (`0`, `false`, `no` too): off publishes every increment unchecked;
 * - `BV_QUALITY_SCHEMA`: where the quality tables live (`bv_meta`; tests use their own);
 * - `BV_QUALITY_ALERTS_TOPIC`: the alert topic (`bv.quality.alerts`).
 */
export type GatedLayer = 'silver' | 'gold';

export function gatesEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = (env.BV_QUALITY_GATES ?? 'on').trim().toLowerCase();
  if (['on', '1', 'true', 'yes', ''].includes(value)) return true;
  if (['off', '0', 'false', 'no'].includes(value)) return false;
  throw new BvError('QUALITY_BAD_OPTION', `BV_QUALITY_GATES is on or off, got "${env.BV_QUALITY_GATES}"`);
}

/** The schema of the quality tables (results, metrics, held batches, failing rows). */
export const qualitySchema = (env: NodeJS.ProcessEnv = process.env): string => env.BV_QUALITY_SCHEMA || 'bv_meta';

/**
 * The suites that gate a layer: its suite files (quality/suites/<layer>/) that are not marked `meta.gate: false`.
 * Silver's quarantine suite is so marked: quarantined rows are the bad input Silver exists to set aside, so they never
 * hold Silver; the gate checks the typed tables' increments (the quarantine suite still runs in `bv quality run`).
 */
export function gateSuites(layer: GatedLayer, suites: readonly QualitySuite[] = loadSuites()): QualitySuite[] {
  return suites.filter((s) => s.meta.table.startsWith(`${layer}.`) && s.meta.gate !== false && !s.meta.pending);
}

export interface LayerGateOptions extends Omit<QualityGateOptions, 'suites' | 'metaSchema' | 'alerts'> {
  config?: PlatformConfig;
  env?: NodeJS.ProcessEnv;
  /** Overrides the layer's suite files. */
  suites?: readonly QualitySuite[];
}

/**
 * The publish hook of a layer's transform, or undefined when gates are off: creates the quality tables, and sends
 * alerts of held batches to Kafka.
 */
export async function layerGate(
  lake: DuckDb,
  layer: GatedLayer,
  options: LayerGateOptions = {},
): Promise<(PublishHook & { checks: GateCheck[] }) | undefined> {
  const env = options.env ?? process.env;
  if (!gatesEnabled(env)) return undefined;
  const config = options.config ?? loadPlatformConfig();
  const metaSchema = qualitySchema(env);
  await ensureQualityStore(lake, metaSchema);
  const { config: _c, env: _e, suites, ...rest } = options;
  return qualityGate({
    ...rest,
    suites: suites ?? gateSuites(layer),
    metaSchema,
    alerts: kafkaAlerts({
      brokers: config.kafka.bootstrapServers,
      topic: env.BV_QUALITY_ALERTS_TOPIC || QUALITY_ALERTS_TOPIC,
    }),
  });
}
