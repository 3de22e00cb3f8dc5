import { serveHttpMetrics } from '@bitvelocity/core';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** The services' Prometheus metrics; one registry per app instance (no global state). */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly outboxEvents = new Counter({
    name: 'bv_outbox_events_total',
    help: 'Events written to the outbox, by event type',
    labelNames: ['event_type'] as const,
    registers: [this.registry],
  });
  readonly cacheRequests = new Counter({
    name: 'bv_product_cache_requests_total',
    help: 'Product cache look-ups by result (hit, miss, error)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'bv_services_' });
    const requests = this.cacheRequests;
    new Gauge({
      name: 'bv_product_cache_hit_ratio',
      help: 'Product cache hits / (hits + misses) since start',
      registers: [this.registry],
      // Computed at scrape time from the counters, so it always agrees with them.
      async collect() {
        const values = (await requests.get()).values;
        const count = (result: string) => values.find((v) => v.labels.result === result)?.value ?? 0;
        const total = count('hit') + count('miss');
        this.set(total ? count('hit') / total : 0);
      },
    });
  }

  /**
   * The CDC side of the outbox, read from Postgres at scrape time: the Debezium slot's lag in WAL bytes
   * (`bv_cdc_slot_lag_bytes`, `bv_cdc_slot_active`), and the outbox lag in seconds (`bv_outbox_lag_seconds`): how long
   * ago the WAL position the slot has now confirmed was the current one. Each scrape notes the current position and its
   * time, so the lag's resolution is the scrape interval; until a noted position is confirmed it is the age of the
   * oldest one kept (a lower bound). 0 when the slot has confirmed everything written.
   */
  watchCdc(pool: { query: pg.Pool['query'] }, slotName: string): void {
    const marks: { at: number; lsn: number }[] = [];
    let sampled: Promise<{ active: number; lagBytes: number; lagSeconds: number } | undefined> | undefined;
    const sample = async () => {
      const { rows } = await pool.query<{ current: string; confirmed: string | null; active: boolean }>(
        `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text AS current,
                pg_wal_lsn_diff(s.confirmed_flush_lsn, '0/0')::bigint::text AS confirmed, s.active
         FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = $1`,
        [slotName],
      );
      const row = rows[0];
      if (!row || row.confirmed === null) return undefined;
      const now = Date.now();
      const current = Number(row.current);
      const confirmed = Number(row.confirmed);
      marks.push({ at: now, lsn: current });
      let confirmedMark: { at: number; lsn: number } | undefined;
      while (marks[0] && marks[0].lsn <= confirmed) confirmedMark = marks.shift();
      if (confirmedMark) marks.unshift(confirmedMark);
      if (marks.length > 1_000) marks.splice(0, marks.length - 1_000);
      const oldest = marks[0] as { at: number; lsn: number };
      return {
        active: row.active ? 1 : 0,
        lagBytes: Math.max(0, current - confirmed),
        lagSeconds: confirmed >= current ? 0 : (now - oldest.at) / 1000,
      };
    };
    // One query per scrape for the three gauges (prom-client collects them one after the other).
    const once = () => {
      sampled ??= sample()
        .catch(() => undefined)
        .finally(() => setTimeout(() => (sampled = undefined), 100).unref());
      return sampled;
    };
    const gauge = (
      name: string,
      help: string,
      value: (s: { active: number; lagBytes: number; lagSeconds: number }) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['slot'] as const,
        registers: [this.registry],
        async collect() {
          const s = await once();
          this.reset();
          if (s) this.set({ slot: slotName }, value(s));
        },
      });
    gauge('bv_cdc_slot_lag_bytes', 'WAL bytes written that the CDC slot has not confirmed', (s) => s.lagBytes);
    gauge('bv_cdc_slot_active', 'Whether a CDC connector is streaming from the slot (1) or not (0)', (s) => s.active);
    gauge(
      'bv_outbox_lag_seconds',
      'How long ago the WAL position the CDC slot has confirmed was current (resolution: the scrape interval)',
      (s) => s.lagSeconds,
    );
  }

  /** The HTTP latency histogram and GET /metrics on `app`. */
  register(app: FastifyInstance): void {
    serveHttpMetrics(app, this.registry);
  }
}
