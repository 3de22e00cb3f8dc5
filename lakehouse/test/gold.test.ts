import { createLogger, deadLetterTopicOf, loadPlatformConfig } from '@bitvelocity/core';
import { createTopic, produce, waitFor } from '@bitvelocity/infra/testing';
import { ensureJobTopics, runWorker } from '@bitvelocity/streams';
import { readAll } from '@bitvelocity/streams/testing';
import { Admin } from '@platformatic/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { type DuckDb, GOLD_VIEWS, goldJob, lakeSystem, offsetsTableOf, openLake, qualifiedName } from '../src/index.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;

const minute = (m: number) => new Date(Date.parse('2026-11-20T10:00:00Z') + m * 60_000).toISOString();
const windowResult = (key: string, m: number, result: object, revision = 0, epoch?: number) =>
  JSON.stringify({
    key,
    windowStart: minute(m),
    windowEnd: minute(m + 1),
    result,
    revision,
    ...(epoch ? { epoch } : {}),
  });

describe('Gold from the stream jobs', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('lands window results (every revision, the latest in the view), anomaly episodes, scores and anomalous points exactly once; bad records to the DLQ', async () => {
    const perProduct = await createTopic(brokers, 'gold-ppm', 2);
    const revenue = await createTopic(brokers, 'gold-rev', 1);
    const sessions = await createTopic(brokers, 'gold-ses', 1);
    const anomalies = await createTopic(brokers, 'gold-ano', 1);
    const anomalyScores = await createTopic(brokers, 'gold-asc', 1);
    const job = goldJob({
      lake: lakeSystem({ views: GOLD_VIEWS }),
      name: `test-gold-${perProduct.slice(-8)}`,
      topics: {
        ordersPerProductMinute: perProduct,
        revenue5m: revenue,
        customerSessions: sessions,
        anomalies,
        anomalyScores,
      },
    });
    const p1 = `p1-${perProduct.slice(-8)}`;
    const p2 = `p2-${perProduct.slice(-8)}`;
    const admin = new Admin({ clientId: 'gold-test', bootstrapBrokers: brokers });
    await ensureJobTopics(admin, job);
    await admin.close();

    await produce(brokers, perProduct, [
      { key: p1, value: windowResult(p1, 0, { orders: 3, units: 5 }) },
      { key: p1, value: windowResult(p1, 0, { orders: 4, units: 6 }, 1) }, // a late event updated the minute
      { key: p2, value: windowResult(p2, 0, { orders: 7, units: 7 }) },
      { key: p2, value: windowResult(p2, 0, { orders: 8, units: 8 }, 1) },
      // After `bv jobs reset` the job reprocessed in epoch 1: its revision 0 supersedes epoch 0's revision 1.
      { key: p2, value: windowResult(p2, 0, { orders: 1, units: 1 }, 0, 1) },
      { key: p2, value: '{"broken' },
    ]);
    await produce(brokers, revenue, [
      { key: 'EUR', value: windowResult('EUR', 0, { orders: 2, revenueCents: 12345 }) },
    ]);
    // A session at minute 1 fires, then a late event merges it into the one of minute 0: the runtime emits the merged
    // session and a retraction of the merged-away one.
    const c1 = `c1-${sessions.slice(-8)}`;
    const retraction = JSON.parse(windowResult(c1, 1, {}, 1));
    await produce(brokers, sessions, [
      { key: c1, value: windowResult(c1, 0, { events: 7, orders: 2 }) },
      { key: c1, value: windowResult(c1, 1, { events: 1, orders: 0 }) },
      { key: c1, value: windowResult(c1, 0, { events: 9, orders: 2 }, 1) },
      { key: c1, value: JSON.stringify({ ...retraction, result: null, retracted: true }) },
    ]);
    const episode = {
      kind: 'anomaly_episode',
      metric: 'order_amount_cents',
      key: 'EUR',
      episodeId: `order_amount_cents:EUR:${Date.parse(minute(3))}:${perProduct.slice(-8)}`,
      start: minute(3),
      peakDirection: 1,
      reason: 'z',
      eventId: 'e-2',
    };
    await produce(brokers, anomalies, [
      // A per-point anomaly as the topic carried them before episodes: it still lands in gold.anomalies.
      {
        key: 'order_amount_cents:EUR',
        value: JSON.stringify({
          metric: 'order_amount_cents',
          key: 'EUR',
          value: 990000,
          mean: 4200,
          stddev: 1300,
          score: 758.3,
          samples: 500,
          eventId: 'e-1',
          eventTime: minute(3),
        }),
      },
      {
        key: 'order_amount_cents:EUR',
        value: JSON.stringify({
          ...episode,
          status: 'open',
          end: minute(3),
          points: 1,
          peakCalibrated: 0.99999,
          peakScore: 9.5,
          peakValue: 88000,
          peakAt: minute(3),
        }),
      },
      {
        key: 'order_amount_cents:EUR',
        value: JSON.stringify({
          ...episode,
          status: 'closed',
          end: minute(5),
          points: 3,
          peakCalibrated: 1,
          peakScore: 12.5,
          peakValue: 99000,
          peakAt: minute(4),
        }),
      },
    ]);
    const score = (eventId: string, fields: object) =>
      JSON.stringify({
        metric: 'product_orders_per_minute',
        key: p1,
        value: 3,
        mean: 3,
        stddev: 0,
        score: 0,
        calibrated: 0,
        direction: 0,
        samples: 60,
        anomalous: false,
        reason: null,
        season: null,
        episodeId: null,
        eventId,
        eventTime: minute(7),
        ...fields,
      });
    await produce(brokers, anomalyScores, [
      { key: `m:${p1}`, value: score('s-1', {}) },
      // A zero-spread anomaly: JSON carries its infinite z as null with the direction.
      {
        key: `m:${p1}`,
        value: score('s-2', {
          value: 40,
          score: null,
          calibrated: 1,
          direction: 1,
          anomalous: true,
          reason: 'zero_spread',
          episodeId: 'ep-1',
        }),
      },
    ]);

    const stop = new AbortController();
    const worker = runWorker({
      job,
      bootstrapServers: brokers,
      workerId: 'gold-test',
      signal: stop.signal,
      logger: createLogger('test', 'warn'),
    });
    cleanups.push(async () => {
      stop.abort();
      await worker;
    });
    const lake: DuckDb = await openLake(config);
    cleanups.push(() => lake.close());
    cleanups.push(async () => {
      await lake.run(`DROP TABLE IF EXISTS ${qualifiedName(offsetsTableOf(job.name))}`).catch(() => {});
    });
    const count = async (table: string, topic: string) => {
      try {
        const [row] = await lake.rows<{ n: bigint }>(
          `SELECT count(*) AS n FROM gold.${table} WHERE _source_topic = $1`,
          [topic],
        );
        return Number(row?.n ?? 0n);
      } catch {
        return 0; // not created yet
      }
    };
    await waitFor(
      'every Gold table',
      async () =>
        (await count('orders_per_product_1m_revisions', perProduct)) === 5 &&
        (await count('revenue_5m_revisions', revenue)) === 1 &&
        (await count('customer_sessions_revisions', sessions)) === 4 &&
        (await count('anomalies', anomalies)) === 1 &&
        (await count('anomalies', anomalyScores)) === 1 &&
        (await count('anomaly_scores', anomalyScores)) === 2 &&
        (await count('anomaly_episode_events', anomalies)) === 2
          ? true
          : undefined,
      60_000,
    );
    const latest = await lake.rows(
      `SELECT product_id, orders, units, revision, epoch FROM gold.orders_per_product_1m
        WHERE product_id IN ($1, $2) ORDER BY product_id`,
      [p1, p2],
    );
    expect(latest).toEqual([
      { product_id: p1, orders: 4n, units: 6n, revision: 1, epoch: 0 },
      { product_id: p2, orders: 1n, units: 1n, revision: 0, epoch: 1 },
    ]);
    expect(
      await lake.rows(
        `SELECT currency, revenue::VARCHAR AS revenue FROM gold.revenue_5m_revisions WHERE _source_topic = $1`,
        [revenue],
      ),
    ).toEqual([{ currency: 'EUR', revenue: '123.45' }]);
    expect(
      await lake.rows(`SELECT metric, key, score, event_id FROM gold.anomalies WHERE _source_topic = $1`, [anomalies]),
    ).toEqual([{ metric: 'order_amount_cents', key: 'EUR', score: 758.3, event_id: 'e-1' }]);
    expect(
      await lake.rows(
        `SELECT event_id, score, calibrated, anomalous, reason FROM gold.anomaly_scores WHERE _source_topic = $1 ORDER BY event_id`,
        [anomalyScores],
      ),
    ).toEqual([
      { event_id: 's-1', score: 0, calibrated: 0, anomalous: false, reason: null },
      { event_id: 's-2', score: Number.POSITIVE_INFINITY, calibrated: 1, anomalous: true, reason: 'zero_spread' },
    ]);
    expect(
      await lake.rows(`SELECT event_id, reason, episode_id FROM gold.anomalies WHERE _source_topic = $1`, [
        anomalyScores,
      ]),
    ).toEqual([{ event_id: 's-2', reason: 'zero_spread', episode_id: 'ep-1' }]);
    // The view: one row per episode, the closed one.
    expect(
      await lake.rows(
        `SELECT status, points, peak_score, peak_value, end_time::VARCHAR AS end_time FROM gold.anomaly_episodes WHERE episode_id = $1`,
        [episode.episodeId],
      ),
    ).toEqual([
      { status: 'closed', points: 3, peak_score: 12.5, peak_value: 99000, end_time: expect.stringContaining(':05:00') },
    ]);
    // The retraction is applied: the view holds only the merged session.
    expect(
      await lake.rows(
        `SELECT window_start::VARCHAR AS start, events, orders, revision FROM gold.customer_sessions WHERE customer_id = $1`,
        [c1],
      ),
    ).toEqual([{ start: expect.stringContaining('10:00:00'), events: 9n, orders: 2n, revision: 1 }]);
    expect(
      await lake.rows(
        `SELECT retracted, events FROM gold.customer_sessions_revisions WHERE customer_id = $1 AND revision = 1 ORDER BY window_start`,
        [c1],
      ),
    ).toEqual([
      { retracted: false, events: 9n },
      { retracted: true, events: null },
    ]);
    const dead = await readAll(brokers, deadLetterTopicOf(perProduct));
    expect(dead.map((r) => r.headers.get('bv-dlq-code')?.toString())).toEqual(['UNDECODABLE']);
  }, 120_000);
});
