/**
 * The demo's load, planned from a seed: the same seed and order count give the same plan, so a run can be repeated and
 * its ground truth (which orders are spikes, how many defects of each kind) is known before anything is sent.
 *
 * The plan spreads the activity over simulated days: each day has its price changes, segment changes, new orders and
 * the payments, shipments and cancellations of that day's orders, in that order. The services stamp every event with
 * the time they handle it (the outbox's occurred_at), so the simulated days set the order of events, not their event
 * times; the late and out-of-order defects are the events whose event times are set here.
 */

export type Segment = 'consumer' | 'small_business' | 'enterprise';
export const SEGMENTS: readonly Segment[] = ['consumer', 'small_business', 'enterprise'];

/** What becomes of an order after it is created, within its day. */
export type OrderFate = 'open' | 'paid' | 'shipped' | 'cancelled' | 'paid-then-cancelled';

export interface PlannedProduct {
  name: string;
  category: string;
  /** Decimal EUR price, e.g. "24.90". */
  price: string;
}

export interface PlannedOrder {
  index: number;
  day: number;
  customer: number;
  lines: { product: number; quantity: number }[];
  /** A planted value spike: its amount is far beyond the run's usual order amounts. */
  spike: boolean;
  fate: OrderFate;
}

export interface PlannedDay {
  day: number;
  priceChanges: { product: number; price: string }[];
  segmentChanges: { customer: number; segment: Segment }[];
  /** Indexes into LoadPlan.orders, in creation order. */
  orders: number[];
}

/** The defects planted next to the API load, produced straight to the topics the CDC publishes. */
export interface PlannedDefects {
  /** Order events re-sent as they are (same key, value, headers: the same eventId). */
  duplicates: number[];
  /** Customer updates whose event time is this far behind the run (beyond every job's allowed lateness). */
  late: { customer: number; segment: Segment; behindMs: number }[];
  /** Pairs of customer updates sent in the reverse of their event-time order. */
  outOfOrder: { customer: number; first: Segment; second: Segment }[];
  /** Records on the order topic that are not JSON. */
  notJson: number;
  /** Order-created envelopes that break their eventType's schema. */
  schemaViolations: number;
}

export interface LoadPlan {
  seed: number;
  days: PlannedDay[];
  products: PlannedProduct[];
  customers: { segment: Segment }[];
  orders: PlannedOrder[];
  defects: PlannedDefects;
}

/** Orders scored before the first spike: the order-amount detector needs 30 samples, and orders go 8 at a time. */
export const SPIKE_WARM_UP = 40;

/** A small, fast, seedable generator (mulberry32): the plan must not depend on Math.random. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CATALOG: readonly [string, string][] = [
  ['Espresso beans', 'coffee'],
  ['Filter coffee', 'coffee'],
  ['Hand grinder', 'equipment'],
  ['Pour-over kettle', 'equipment'],
  ['Ceramic mug', 'tableware'],
  ['Filter papers', 'supplies'],
  ['Milk jug', 'equipment'],
  ['Green tea', 'tea'],
];

const cents = (n: number) => `${Math.floor(n / 100)}.${String(n % 100).padStart(2, '0')}`;

/**
 * The plan for `orders` orders. Usual orders have 1-2 lines of 1-2 units at 18-45 EUR, so their amounts sit within a
 * factor of ten; a spike has 3 lines of several thousand units. Spikes start after SPIKE_WARM_UP orders and are spread
 * evenly, a few per run, so the detector's window is never dominated by them.
 */
export function planLoad(options: { seed: number; orders: number }): LoadPlan {
  const { seed, orders: orderCount } = options;
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));

  const products: PlannedProduct[] = CATALOG.slice(0, 6).map(([name, category]) => ({
    name,
    category,
    price: cents(between(18, 45) * 100 + pick([0, 50, 90])),
  }));
  const customers = Array.from({ length: Math.min(50, Math.max(10, Math.ceil(orderCount / 6))) }, () => ({
    segment: pick(['consumer', 'consumer', 'consumer', 'small_business', 'enterprise'] as const),
  }));
  const dayCount = Math.min(14, Math.max(3, Math.ceil(orderCount / 40)));

  const spikeCount =
    orderCount < SPIKE_WARM_UP + 10
      ? 0
      : Math.min(1 + Math.floor(orderCount / 50), Math.floor((orderCount - SPIKE_WARM_UP) / 10));
  const spikeAt = new Set(
    Array.from(
      { length: spikeCount },
      (_, k) => SPIKE_WARM_UP + Math.floor(((k + 0.5) * (orderCount - SPIKE_WARM_UP)) / spikeCount),
    ),
  );

  const orders: PlannedOrder[] = Array.from({ length: orderCount }, (_, index) => {
    const spike = spikeAt.has(index);
    const lineCount = spike ? 3 : between(1, 2);
    const first = between(0, products.length - 1);
    const lines = Array.from({ length: lineCount }, (_, k) => ({
      product: (first + k) % products.length,
      quantity: spike ? between(4000, 9000) : random() < 0.75 ? 1 : 2,
    }));
    const roll = random();
    const fate: OrderFate =
      roll < 0.06
        ? 'cancelled'
        : roll < 0.1
          ? 'paid-then-cancelled'
          : roll < 0.4
            ? 'paid'
            : roll < 0.75
              ? 'shipped'
              : 'open';
    return {
      index,
      day: Math.floor((index * dayCount) / orderCount),
      customer: between(0, customers.length - 1),
      lines,
      spike,
      fate,
    };
  });

  const days: PlannedDay[] = Array.from({ length: dayCount }, (_, day) => ({
    day,
    priceChanges: [],
    segmentChanges: [],
    orders: orders.filter((o) => o.day === day).map((o) => o.index),
  }));
  const price = products.map((p) => Math.round(Number(p.price) * 100));
  const segment = customers.map((c) => c.segment);
  for (const plannedDay of days.slice(1)) {
    const product = between(0, products.length - 1);
    const before = price[product] as number;
    const after = Math.max(100, Math.round((before * between(90, 112)) / 100));
    // A price set to what it is already is no change (and no event): nudge it.
    price[product] = after === before ? after + 10 : after;
    plannedDay.priceChanges.push({ product, price: cents(price[product] as number) });
    for (let n = Math.max(1, Math.round(customers.length / (4 * dayCount))); n > 0; n--) {
      const customer = between(0, customers.length - 1);
      const next = pick(SEGMENTS.filter((s) => s !== segment[customer]));
      segment[customer] = next;
      plannedDay.segmentChanges.push({ customer, segment: next });
    }
  }

  const usual = orders.filter((o) => !o.spike).map((o) => o.index);
  const duplicates = [...new Set(Array.from({ length: Math.max(2, Math.floor(orderCount / 20)) }, () => pick(usual)))];
  const defects: PlannedDefects = {
    duplicates: duplicates.sort((a, b) => a - b),
    late: Array.from({ length: 2 }, () => ({
      customer: between(0, customers.length - 1),
      segment: pick(SEGMENTS),
      behindMs: between(2, 6) * 3_600_000,
    })),
    outOfOrder: [{ customer: between(0, customers.length - 1), first: pick(SEGMENTS), second: pick(SEGMENTS) }],
    notJson: 2,
    schemaViolations: 2,
  };
  return { seed, days, products, customers, orders, defects };
}

/** What the plan amounts to, in events and planted defects, for the summary. */
export function planTotals(plan: LoadPlan) {
  const fates = (...wanted: OrderFate[]) => plan.orders.filter((o) => wanted.includes(o.fate)).length;
  const paid = fates('paid', 'shipped', 'paid-then-cancelled');
  const shipped = fates('shipped');
  const cancelled = fates('cancelled', 'paid-then-cancelled');
  const priceChanges = plan.days.reduce((n, d) => n + d.priceChanges.length, 0);
  const segmentChanges = plan.days.reduce((n, d) => n + d.segmentChanges.length, 0);
  return {
    products: plan.products.length,
    customers: plan.customers.length,
    orders: plan.orders.length,
    lines: plan.orders.reduce((n, o) => n + o.lines.length, 0),
    paid,
    shipped,
    cancelled,
    priceChanges,
    segmentChanges,
    spikes: plan.orders.filter((o) => o.spike).length,
    apiEvents:
      plan.products.length +
      plan.customers.length +
      plan.orders.length +
      paid +
      shipped +
      cancelled +
      priceChanges +
      segmentChanges,
  };
}
