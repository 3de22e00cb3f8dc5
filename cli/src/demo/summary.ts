import { EVENT_TYPES, type PlatformConfig } from '@bitvelocity/core';
import { type DuckDb, sqlLiteral } from '@bitvelocity/lakehouse';
import { platformComponents } from '../platform/components.js';
import type { Activity } from './activity.js';
import { ORDER_TOPIC, type PlantedDefects } from './defects.js';

/** What the demo prints at the end (and `--json` returns): the run against its ground truth. */
export interface DemoSummary {
  seed: number;
  currency: string;
  eventsIn: {
    api: number;
    duplicates: number;
    late: number;
    outOfOrder: number;
    malformed: number;
    total: number;
  };
  deadLettered: { total: number; byReason: Record<string, number> };
  quarantined: { total: number; byReason: Record<string, number> };
  anomalies: {
    metric: string;
    planted: number;
    found: number;
    truePositives: number;
    /** Found anomalies that are planted spikes; null when nothing was found. */
    precision: number | null;
    /** Planted spikes found; null when none were planted. */
    recall: number | null;
    /** Anomalies on the run's other metrics (per-product order rate), none planted. */
    otherFound: number;
  };
  /** The run's rows in each Gold table (the latest revision of each window), as far as their windows have closed. */
  gold: Record<string, number>;
  /** The run's order lines and units summed over its per-product minute windows in Gold. */
  goldOrderLines: { lines: number; units: number };
  freshness: {
    /** Seconds from the last event the run sent to Gold holding every check's rows. */
    loadToGoldSeconds: number | null;
    /** Seconds since the newest Gold row of the run landed, when the summary was taken. */
    newestGoldRowAgeSeconds: number | null;
  };
  quality: { state: 'passed' | 'failed' | 'not run'; detail: string };
  urls: { dashboard: string | null; lineage: string | null };
}

export const ORDER_AMOUNT_METRIC = 'order_amount_cents';
/** The order-amount detector's minSamples (streams/src/jobs/revenue.ts): a currency's first orders get no score. */
export const ORDER_AMOUNT_MIN_SAMPLES = 30;

/** The run's dead letters on the order topic's DLQ: the planted malformed records, by their Bronze coordinates. */
export async function deadLettersOfRun(
  config: PlatformConfig,
  lake: DuckDb,
  planted: PlantedDefects,
): Promise<Record<string, number>> {
  const coordinates = await lake.rows<{ partition: number; offset: bigint }>(
    `SELECT _source_partition AS partition, _source_offset AS offset FROM bronze.envelopes
      WHERE _source_topic = ${sqlLiteral(ORDER_TOPIC)}
        AND (event_id IN (${planted.schemaViolations.map(sqlLiteral).join(', ') || "''"})
             OR (event_id IS NULL AND envelope LIKE ${sqlLiteral(`%${planted.marker}%`)}))`,
  );
  const wanted = new Set(coordinates.map((c) => `${c.partition}:${c.offset}`));
  const { DeadLetterTopics } = await import('@bitvelocity/streams');
  const dlq = await DeadLetterTopics.create(config.kafka.bootstrapServers);
  try {
    const byReason: Record<string, number> = {};
    // Every job that reads the topic dead-letters a bad record once (with `bv up`, order-streams and
    // dedupe-envelopes both do): a record counts once per reason, whichever jobs refused it.
    const counted = new Set<string>();
    for (const letter of await dlq.list(`${ORDER_TOPIC}.dlq`)) {
      const at = `${letter.partition}:${letter.offset}`;
      if (letter.topic !== ORDER_TOPIC || !wanted.has(at) || counted.has(`${letter.code}|${at}`)) continue;
      counted.add(`${letter.code}|${at}`);
      byReason[letter.code] = (byReason[letter.code] ?? 0) + 1;
    }
    return Object.fromEntries(Object.entries(byReason).sort(([a], [b]) => a.localeCompare(b)));
  } finally {
    await dlq.close();
  }
}

/**
 * Anomalies found against those planted: the order-amount detector (revenue job, z-score per currency on a log scale)
 * scores every order of the run's currency; its anomalous scores are compared with the planted spikes' events.
 * Undefined until every order of the run past the detector's warm-up, and every spike, has its score in Gold.
 */
export async function anomaliesOfRun(
  lake: DuckDb,
  tenant: string,
  activity: Activity,
): Promise<DemoSummary['anomalies'] | undefined> {
  const t = sqlLiteral(tenant);
  const created = await lake.rows<{ order_id: string; event_id: string }>(
    `SELECT order_id, event_id FROM silver.orders WHERE tenant_id = ${t} AND event_type = ${sqlLiteral(EVENT_TYPES.orderCreated)}`,
  );
  const spikeOrders = new Set(activity.orders.filter((o) => o.spike).map((o) => o.orderId));
  const planted = new Set(created.filter((c) => spikeOrders.has(c.order_id)).map((c) => c.event_id));
  const scores = await lake.rows<{ event_id: string; anomalous: boolean }>(
    `SELECT event_id, bool_or(anomalous) AS anomalous FROM gold.anomaly_scores
      WHERE metric = ${sqlLiteral(ORDER_AMOUNT_METRIC)} AND key = ${sqlLiteral(activity.currency)} GROUP BY event_id`,
  );
  const scored = new Set(scores.map((s) => s.event_id));
  if (scores.length < activity.orders.length - ORDER_AMOUNT_MIN_SAMPLES || [...planted].some((id) => !scored.has(id)))
    return undefined;
  const found = scores.filter((s) => s.anomalous).map((s) => s.event_id);
  const truePositives = found.filter((id) => planted.has(id)).length;
  const products = activity.productIds.map(sqlLiteral).join(', ');
  const [other] = await lake.rows<{ n: bigint }>(
    `SELECT count(*) AS n FROM gold.anomaly_scores WHERE anomalous AND key IN (${products})`,
  );
  return {
    metric: ORDER_AMOUNT_METRIC,
    planted: planted.size,
    found: found.length,
    truePositives,
    precision: found.length > 0 ? truePositives / found.length : null,
    recall: planted.size > 0 ? truePositives / planted.size : null,
    otherFound: Number(other?.n ?? 0n),
  };
}

/** The run's rows per Gold table, and when the newest of them landed. */
export async function goldOfRun(
  lake: DuckDb,
  activity: Activity,
): Promise<{ counts: Record<string, number>; lines: number; units: number; newestLandedMs: number | null }> {
  const products = activity.productIds.map(sqlLiteral).join(', ');
  const customers = activity.customerIds.map(sqlLiteral).join(', ');
  const keys = `${sqlLiteral(activity.currency)}, ${products}`;
  const tables: [string, string][] = [
    ['orders_per_product_1m', `product_id IN (${products})`],
    ['revenue_5m', `currency = ${sqlLiteral(activity.currency)}`],
    ['customer_sessions', `customer_id IN (${customers})`],
    ['anomaly_scores', `key IN (${keys})`],
    ['anomaly_episodes', `key IN (${keys})`],
  ];
  const counts: Record<string, number> = {};
  let newest: number | null = null;
  for (const [table, where] of tables) {
    const [row] = await lake.rows<{ n: bigint; newest: number | null }>(
      `SELECT count(*) AS n, epoch_ms(max(_landed_at)) AS newest FROM gold.${table} WHERE ${where}`,
    );
    counts[`gold.${table}`] = Number(row?.n ?? 0n);
    if (row?.newest != null) newest = Math.max(newest ?? 0, Number(row.newest));
  }
  const [sums] = await lake.rows<{ lines: bigint | null; units: bigint | null }>(
    `SELECT sum(orders) AS lines, sum(units) AS units FROM gold.orders_per_product_1m WHERE product_id IN (${products})`,
  );
  return { counts, lines: Number(sums?.lines ?? 0n), units: Number(sums?.units ?? 0n), newestLandedMs: newest };
}

/** The dashboard's and lineage UI's addresses when `bv up` runs them (a health round trip says so), else null. */
export async function platformUrls(): Promise<DemoSummary['urls']> {
  const urlOf = async (name: string) => {
    const component = platformComponents().find((c) => c.name === name);
    if (component?.kind !== 'process') return null;
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 2000).unref());
    return Promise.race([
      component.probe().then(
        () => component.url,
        () => null,
      ),
      timeout,
    ]);
  };
  const [dashboard, lineage] = await Promise.all([urlOf('serve'), urlOf('lineage')]);
  return { dashboard, lineage };
}

const percent = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);
const counts = (byReason: Record<string, number>) =>
  Object.entries(byReason)
    .map(([code, n]) => `${n} ${code}`)
    .join(', ') || 'none';

/** The summary as the demo prints it. */
export function formatSummary(s: DemoSummary): string {
  const e = s.eventsIn;
  const a = s.anomalies;
  return [
    `events in        ${e.total} (${e.api} through the API; planted: ${e.duplicates} duplicates, ${e.late} late, ${e.outOfOrder} out of order, ${e.malformed} malformed)`,
    `dead-lettered    ${s.deadLettered.total} (${counts(s.deadLettered.byReason)})`,
    `quarantined      ${s.quarantined.total} (${counts(s.quarantined.byReason)})`,
    `anomalies        ${a.found} found, ${a.planted} planted, ${a.truePositives} of them right: precision ${percent(a.precision)}, recall ${percent(a.recall)} (${a.metric} in ${s.currency}; ${a.otherFound} on other metrics)`,
    `gold lines       ${s.goldOrderLines.lines} order lines, ${s.goldOrderLines.units} units in the run's product-minute windows`,
    `gold rows        ${Object.entries(s.gold)
      .map(([table, n]) => `${table} ${n}`)
      .join(', ')}`,
    `freshness        load to Gold ${s.freshness.loadToGoldSeconds ?? 'n/a'} s; newest Gold row ${s.freshness.newestGoldRowAgeSeconds ?? 'n/a'} s old`,
    `quality          ${s.quality.state}: ${s.quality.detail}`,
    `dashboard        ${s.urls.dashboard ?? 'not running (start it with `bv up`)'}`,
    `lineage UI       ${s.urls.lineage ?? 'not running (start it with `bv up`)'}`,
  ].join('\n');
}
