import { readFileSync } from 'node:fs';
import { GOLD_VIEWS } from '@bitvelocity/lakehouse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAMED_AGGREGATES } from '../src/http/aggregates.js';
import { SERVING_API_ERRORS } from '../src/http/errors.js';
import { type ServingHarness, startServingHarness } from './serving-harness.js';

let h: ServingHarness;
beforeAll(async () => {
  h = await startServingHarness();
});
afterAll(() => h?.close());

const get = async (
  user: Parameters<ServingHarness['token']>[0] | null,
  url: string,
  headers: Record<string, string> = {},
) =>
  h.serving.app.inject({
    method: 'GET',
    url,
    headers: { ...(user ? { authorization: `Bearer ${await h.token(user)}` } : {}), ...headers },
  });
const query = async (user: Parameters<ServingHarness['token']>[0], payload: object) =>
  h.serving.app.inject({
    method: 'POST',
    url: '/v1/query',
    headers: { authorization: `Bearer ${await h.token(user)}` },
    payload,
  });

/** What tenant A's latest revisions add up to per minute, from what the spec landed. */
function expectedPerMinute(products: string[]) {
  const totals = new Map<number, { orders: number; units: number }>();
  for (const product of products)
    for (const [minute, w] of h.perMinute.get(product) ?? []) {
      const t = totals.get(minute) ?? { orders: 0, units: 0 };
      totals.set(minute, { orders: t.orders + w.orders, units: t.units + w.units });
    }
  return [...totals]
    .sort(([a], [b]) => a - b)
    .map(([m, t]) => ({ minute: new Date(m).toISOString().replace('.000', ''), ...t }));
}

describe('the query API', () => {
  it('answers only a services token with the dashboard or analyst role', async () => {
    expect((await get(null, '/v1/metrics/orders-per-minute')).json().error.code).toBe('TOKEN_MISSING');
    const forged = await get(null, '/v1/metrics/orders-per-minute', { authorization: 'Bearer abc.def.ghi' });
    expect([forged.statusCode, forged.json().error.code]).toEqual([401, 'TOKEN_INVALID']);
    const writer = await get('writerA', '/v1/metrics/orders-per-minute');
    expect([writer.statusCode, writer.json().error.code]).toEqual([403, 'FORBIDDEN']);
  });

  it("sums a tenant's own products per minute, latest revision of each window, and none of another tenant's", async () => {
    const response = await get('dashboardA', '/v1/metrics/orders-per-minute');
    expect(response.statusCode).toBe(200);
    const rows = response.json().rows.map((r: Record<string, string>) => ({
      minute: r.minute,
      orders: Number(r.orders),
      units: Number(r.units),
    }));
    expect(rows).toEqual(expectedPerMinute(h.products.a));
    const b = await get('dashboardB', '/v1/metrics/orders-per-minute');
    expect(b.json().rows.map((r: { orders: string }) => Number(r.orders))).toEqual(
      expectedPerMinute(h.products.b).map((r) => r.orders),
    );
    const pen = await get('dashboardA', `/v1/metrics/orders-per-minute?product=${h.products.a[1]}`);
    expect(pen.json().rows.length).toBe(expectedPerMinute([h.products.a[1] as string]).length);
    const foreign = await get('dashboardA', `/v1/metrics/orders-per-minute?product=${h.products.b[0]}`);
    expect(foreign.json().rows).toEqual([]);
  });

  it("computes revenue per 5 minutes from the tenant's Silver orders, and ranks its top products", async () => {
    const revenue = (await get('dashboardA', '/v1/metrics/revenue-5m')).json().rows;
    const total = revenue.reduce((n: number, r: { revenue: string }) => n + Number(r.revenue), 0);
    // 3 orders: Book 12.50 x (1, 2, 3) + Pen 0.99 x 2 each
    expect(total.toFixed(2)).toBe((12.5 * 6 + 0.99 * 6).toFixed(2));
    expect(new Set(revenue.map((r: { currency: string }) => r.currency))).toEqual(new Set(['EUR']));
    const top = (await get('dashboardA', '/v1/metrics/top-products?limit=5')).json().rows;
    expect(top.map((r: { product_id: string }) => r.product_id)).toEqual(h.products.a);
    expect(top[0].name).toBe('Book');
  });

  it("lists the tenant's anomalies and customer sessions only", async () => {
    const anomalies = (await get('dashboardA', '/v1/metrics/anomalies-latest')).json().rows;
    expect(anomalies.map((a: { key: string }) => a.key)).toEqual([h.products.a[0]]);
    const sessions = (await get('dashboardA', '/v1/metrics/customer-sessions')).json().rows;
    expect(sessions.map((s: { customer_id: string; events: string }) => [s.customer_id, Number(s.events)])).toEqual([
      [h.customers.a, 6],
    ]);
  });

  it('answers every named aggregate from its per-snapshot index exactly as straight from the lake', async () => {
    const schemas = h.lake.schemas;
    const now = Date.now();
    const hour = 3_600_000;
    const ranges = [
      {},
      // whole hours and 5-minute buckets with partial edges on both sides, within one bucket, and none
      { from: new Date(now - 5 * hour - 1_234_567).toISOString(), to: new Date(now - 77_777).toISOString() },
      { from: new Date(now - 400_000).toISOString(), to: new Date(now - 100_000).toISOString() },
      {
        from: new Date(Math.floor(now / hour) * hour - 2 * hour).toISOString(),
        to: new Date(Math.floor(now / hour) * hour).toISOString(),
      },
      { to: '2020-01-02T00:00:00Z' },
    ];
    const queries = [...ranges, { product: h.products.a[1] }, { currency: 'EUR' }, { limit: 1 }];
    for (const aggregate of NAMED_AGGREGATES)
      for (const tenant of [h.tenantA, h.tenantB, 'no-such-tenant'])
        for (const raw of queries) {
          const q = { to: new Date(now).toISOString(), ...raw };
          if ('product' in raw && aggregate.name !== 'orders-per-minute') continue;
          if ('currency' in raw && aggregate.name !== 'revenue-5m') continue;
          const lake = aggregate.sql(schemas, q, tenant);
          const version = h.serving.watcher.versionOf(aggregate.reads(schemas));
          const expected = await h.serving.reader.read(lake.sql, lake.params, {
            timeoutMs: 10_000,
            maxRows: 10_000,
            atLeast: version,
          });
          const json = await aggregate.answer(q, tenant, 10_000)(h.serving.mirror, version);
          expect(JSON.parse(json), `${aggregate.name} ${tenant} ${JSON.stringify(raw)}`).toEqual(expected.rows);
        }
  });

  it('caches an answer per version of what it reads: an unrelated commit keeps the ETag, one to a table read moves it', async () => {
    const url = '/v1/metrics/top-products?limit=3';
    const first = await get('dashboardA', url);
    const second = await get('dashboardA', url);
    expect(second.headers['x-cache']).toBe('hit');
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(first.headers.etag).toBe(`"${first.json().snapshotId}"`);
    const unchanged = await get('dashboardA', url, { 'if-none-match': String(first.headers.etag) });
    expect([unchanged.statusCode, unchanged.body]).toEqual([304, '']);
    // A commit to a relation top-products does not read: once the watcher has seen it, still the same answer.
    await h.lake.lake.run(`CREATE OR REPLACE VIEW ${h.lake.schemas.gold}.touch AS SELECT 1 AS one`);
    const [touched] = await h.lake.lake.rows<{ id: bigint }>('SELECT id FROM current_snapshot()');
    const seen = Date.now() + 10_000;
    while (h.serving.watcher.snapshotId < Number(touched?.id) && Date.now() < seen)
      await new Promise((r) => setTimeout(r, 100));
    expect(h.serving.watcher.snapshotId).toBeGreaterThanOrEqual(Number(touched?.id));
    const still = await get('dashboardA', url, { 'if-none-match': String(first.headers.etag) });
    expect([still.statusCode, still.headers['x-cache']]).toEqual([304, 'hit']);
    // Redefining the Gold view it reads (same rows) is a change to what it reads: a new version, a new ETag.
    const view = GOLD_VIEWS.find((v) => v.name === 'orders_per_product_1m');
    await h.lake.lake.run(
      `CREATE OR REPLACE VIEW ${h.lake.schemas.gold}.orders_per_product_1m AS ${view?.sql.replaceAll('gold.', `${h.lake.schemas.gold}.`)}`,
    );
    const deadline = Date.now() + 10_000;
    let changed = await get('dashboardA', url, { 'if-none-match': String(first.headers.etag) });
    while (changed.statusCode === 304 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      changed = await get('dashboardA', url, { 'if-none-match': String(first.headers.etag) });
    }
    expect(changed.statusCode).toBe(200);
    expect(Number(changed.json().snapshotId)).toBeGreaterThan(Number(touched?.id));
    expect(changed.json().rows).toEqual(first.json().rows);
  });

  it('refuses bad parameters with 400 and a code', async () => {
    const bad = async (url: string) => {
      const response = await get('dashboardA', url);
      return [response.statusCode, response.json().error?.code ?? response.body];
    };
    expect(await bad('/v1/metrics/orders-per-minute?from=yesterday')).toEqual([400, 'VALIDATION_FAILED']);
    expect(await bad('/v1/metrics/orders-per-minute?colour=red')).toEqual([400, 'VALIDATION_FAILED']);
    expect(await bad('/v1/metrics/top-products?limit=0')).toEqual([400, 'VALIDATION_FAILED']);
    expect(await bad('/v1/metrics/revenue-5m?currency=euro')).toEqual([400, 'VALIDATION_FAILED']);
    expect(await bad('/v1/metrics/orders-per-minute?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z')).toEqual([
      400,
      'BAD_RANGE',
    ]);
    expect(await bad('/v1/metrics/orders-per-minute?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z')).toEqual([
      400,
      'BAD_RANGE',
    ]);
  });

  it("runs an analyst's parameterised SELECT over the tenant's relations only", async () => {
    const response = await query('analystA', {
      sql: 'SELECT count(*) AS n, sum(amount) AS revenue FROM orders WHERE event_type = $type',
      params: { type: 'ecommerce.order.created.v1' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().rows).toEqual([{ n: '3', revenue: '80.94' }]);
    const joined = await query('analystA', {
      sql: `WITH mine AS (SELECT DISTINCT product_id FROM order_lines)
            SELECT count(DISTINCT g.product_id) AS products FROM orders_per_product_1m g JOIN mine USING (product_id)`,
    });
    expect(joined.json().rows).toEqual([{ products: '2' }]);
    const limited = await query('analystA', { sql: 'SELECT * FROM range(50) t(i)', maxRows: 10 });
    expect([limited.json().rows.length, limited.json().truncated]).toEqual([10, true]);
  });

  it('refuses a statement that names the lake, a file, a write, or runs too long', async () => {
    const refused = async (payload: object) => {
      const response = await query('analystA', payload);
      return [response.statusCode, response.json().error.code];
    };
    expect(await refused({ sql: `SELECT * FROM ${h.lake.schemas.silver}.orders` })).toEqual([400, 'QUERY_REFUSED']);
    expect(await refused({ sql: `SELECT * FROM lake.${h.lake.schemas.silver}.orders` })).toEqual([
      400,
      'QUERY_REFUSED',
    ]);
    expect(await refused({ sql: "SELECT * FROM read_parquet('s3://bv-lake/x.parquet')" })).toEqual([
      400,
      'QUERY_REFUSED',
    ]);
    expect(await refused({ sql: "SELECT * FROM 'data.csv'" })).toEqual([400, 'QUERY_REFUSED']);
    expect(await refused({ sql: "SELECT * FROM ducklake_snapshots('lake')" })).toEqual([400, 'QUERY_REFUSED']);
    expect(await refused({ sql: 'DELETE FROM orders' })).toEqual([400, 'QUERY_REFUSED']);
    expect(await refused({ sql: 'SELECT 1; SELECT 2' })).toEqual([400, 'QUERY_REFUSED']);
    expect(await refused({ sql: 'SELECT $bv_tenant', params: { bv_tenant: 'other' } })).toEqual([400, 'QUERY_REFUSED']);
    expect(await refused({ sql: 'SELECT no_such_column FROM orders' })).toEqual([400, 'QUERY_FAILED']);
    expect(await refused({ sql: 'SELECT sum(hash(i)) FROM range(100000000000) t(i)', timeoutMs: 200 })).toEqual([
      408,
      'QUERY_TIMEOUT',
    ]);
    const dashboard = await h.serving.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: { authorization: `Bearer ${await h.token('dashboardA')}` },
      payload: { sql: 'SELECT 1' },
    });
    expect(dashboard.json().error.code).toBe('FORBIDDEN');
  });

  it('is read-only by the engine: the lake connection itself refuses writes, settings and files', async () => {
    const run = (sql: string) =>
      h.serving.reader.read(sql, {}, { timeoutMs: 5000, maxRows: 1 }).then(
        () => 'ran',
        (error: Error) => error.message,
      );
    expect(await run(`CREATE TABLE ${h.lake.schemas.gold}.x (i INTEGER)`)).toMatch(/read-only|read only/i);
    expect(await run(`DELETE FROM ${h.lake.schemas.silver}.orders`)).toMatch(/read-only|read only/i);
    expect(await run('SET enable_external_access = true')).toMatch(/locked|lock/i);
    expect(await run("SELECT * FROM read_csv('/etc/passwd')")).toMatch(/disabled|external/i);
  });

  it('documents every route in its OpenAPI document, and every error code in docs/serving.md', async () => {
    const openapi = (await get(null, '/openapi.json')).json();
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/v1/metrics/orders-per-minute',
        '/v1/metrics/revenue-5m',
        '/v1/metrics/top-products',
        '/v1/metrics/anomalies-latest',
        '/v1/metrics/customer-sessions',
        '/v1/metrics/freshness',
        '/v1/query',
        '/v1/live',
      ]),
    );
    const docs = readFileSync(new URL('../../docs/serving.md', import.meta.url), 'utf8');
    const documented = [...docs.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(documented)).toEqual(SERVING_API_ERRORS);
  });

  it("reports the pipeline's freshness from the lake", async () => {
    const fresh = (await get('dashboardA', '/v1/metrics/freshness')).json();
    expect(fresh.snapshotId).toBeGreaterThan(0);
    expect(fresh.latestGoldWindowEnd).not.toBeNull();
    expect(typeof fresh.goldLagSeconds).toBe('number');
  });
});
