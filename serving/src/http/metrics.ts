import { serveHttpMetrics } from '@bitvelocity/core';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Freshness } from './freshness.js';

/**
 * The query API's Prometheus metrics on GET /metrics (no token; it holds no tenant's data): HTTP latency by route, and
 * the pipeline's freshness end to end as the dashboard's freshness panel shows it, read from the lake at scrape time:
 * `bv_pipeline_freshness_seconds{layer}` (now minus the newest Bronze / Silver / Gold row's landing time),
 * `bv_pipeline_lag_seconds{stage}` (Silver behind Bronze, Gold's closed windows behind Silver's newest order) and each
 * stream job's consumer lag and watermark delay.
 */
export function registerServingMetrics(app: FastifyInstance, freshness: { read(): Promise<Freshness> }): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bv_serve_' });
  // One freshness read per scrape, shared by the gauges (prom-client collects them one after the other).
  let reading: Promise<Freshness | undefined> | undefined;
  const read = () => {
    reading ??= freshness
      .read()
      .catch(() => undefined)
      .finally(() => setTimeout(() => (reading = undefined), 100).unref());
    return reading;
  };
  const age = (at: string | null, now: number) => (at ? Math.max(0, (now - Date.parse(at)) / 1000) : undefined);
  new Gauge({
    name: 'bv_pipeline_freshness_seconds',
    help: "Seconds since the layer's newest row landed (bronze, silver, gold)",
    labelNames: ['layer'] as const,
    registers: [registry],
    async collect() {
      const f = await read();
      this.reset();
      if (!f) return;
      const now = Date.now();
      for (const [layer, at] of [
        ['bronze', f.latestBronzeAt],
        ['silver', f.latestSilverAt],
        ['gold', f.latestGoldLandedAt],
      ] as const) {
        const seconds = age(at, now);
        if (seconds !== undefined) this.set({ layer }, seconds);
      }
    },
  });
  new Gauge({
    name: 'bv_pipeline_lag_seconds',
    help: "Silver behind Bronze (ingest time) and Gold's closed windows behind Silver's newest order (event time)",
    labelNames: ['stage'] as const,
    registers: [registry],
    async collect() {
      const f = await read();
      this.reset();
      if (f?.silverLagSeconds != null) this.set({ stage: 'silver' }, f.silverLagSeconds);
      if (f?.goldLagSeconds != null) this.set({ stage: 'gold' }, f.goldLagSeconds);
    },
  });
  new Gauge({
    name: 'bv_pipeline_job_lag_records',
    help: "Records each stream job's consumer group is behind its source topics' ends",
    labelNames: ['job'] as const,
    registers: [registry],
    async collect() {
      const f = await read();
      this.reset();
      for (const job of f?.jobs ?? []) this.set({ job: job.name }, job.consumerLag);
    },
  });
  new Gauge({
    name: 'bv_pipeline_job_watermark_delay_seconds',
    help: "Wall clock minus each stream job's lowest partition watermark",
    labelNames: ['job'] as const,
    registers: [registry],
    async collect() {
      const f = await read();
      this.reset();
      const now = Date.now();
      for (const job of f?.jobs ?? []) {
        const seconds = age(job.watermark, now);
        if (seconds !== undefined) this.set({ job: job.name }, seconds);
      }
    },
  });
  serveHttpMetrics(app, registry);
  return registry;
}
