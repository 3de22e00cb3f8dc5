import { mkdirSync } from 'node:fs';
import { launchChromium } from '@bitvelocity/infra';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServingHarness, startServingHarness } from './serving-harness.js';

const ARTIFACTS = new URL('../../test-artifacts/dashboard/', import.meta.url).pathname;

let h: ServingHarness;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  h = await startServingHarness({
    jobs: ['lake-gold', 'order-streams', 'product-metrics', 'revenue', 'customer-sessions'],
  });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const api = async (path: string) => {
  const response = await fetch(`${h.baseUrl}${path}`, {
    headers: { authorization: `Bearer ${await h.token('dashboardA')}` },
  });
  return (await response.json()) as { snapshotId: number; rows: Record<string, string>[] };
};
const sum = (rows: Record<string, string>[], key: string) => rows.reduce((n, r) => n + Number(r[key]), 0);
const text = async (id: string) => (await page.locator(`#${id}`).textContent()) ?? '';
const tableRows = (id: string) =>
  page.locator(`#${id} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));

describe('the dashboard', () => {
  it('loads with a dashboard token, with no console errors, showing the numbers the API answers', async () => {
    await page.goto(`${h.baseUrl}/#token=${await h.token('dashboardA')}`);
    await page.waitForSelector('body[data-snapshot]');
    await page.waitForFunction("document.querySelectorAll('#chart-orders canvas').length > 0");
    expect(page.url()).not.toContain('token='); // the fragment is dropped once read
    const perMinute = await api('/v1/metrics/orders-per-minute');
    expect(await text('kpi-orders')).toBe(sum(perMinute.rows, 'orders').toLocaleString('en-US'));
    expect(await text('kpi-units')).toBe(sum(perMinute.rows, 'units').toLocaleString('en-US'));
    const revenue = await api('/v1/metrics/revenue-5m');
    expect(await text('kpi-revenue')).toBe(`${sum(revenue.rows, 'revenue').toFixed(2)} EUR`);
    const top = await api('/v1/metrics/top-products?limit=10');
    expect((await tableRows('top-products')).map((r) => [r[0], r[1], r[2]])).toEqual(
      top.rows.map((r) => [r.name, r.orders, r.units]),
    );
    const anomalies = await api('/v1/metrics/anomalies-latest?limit=20');
    expect((await tableRows('anomalies')).length).toBe(anomalies.rows.length);
    expect(await text('kpi-anomalies')).toBe(String(anomalies.rows.length));
    // Others commit to the shared lake too, so the page may show an older snapshot than the API's latest answer.
    expect(Number(await text('snapshot'))).toBeGreaterThan(0);
    expect(Number(await text('snapshot'))).toBeLessThanOrEqual(perMinute.snapshotId);
    expect(await text('live')).toBe('live');
    await page.screenshot({ path: `${ARTIFACTS}dashboard-loaded.png`, fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it('shows an order placed through the services without a reload, pushed on the new snapshot', async () => {
    await page.evaluate("window.specMarker = 'still the same page'");
    const before = Number((await text('kpi-orders')).replaceAll(',', ''));
    const placedAt = new Date(Date.now() - 1000);
    await h.services_('writerA', 'POST', '/v1/orders', {
      customerId: h.customers.a,
      currency: 'EUR',
      lines: [
        { productId: h.products.a[0], quantity: 4 },
        { productId: h.products.a[1], quantity: 1 },
      ],
    });
    const events = await h.envelopes(h.tenantA, placedAt);
    expect(events.map((e) => e.eventType)).toContain('ecommerce.order.created.v1');
    await h.lake.landInSilver(events);
    await h.landOrdersInGold(events);
    const kpiIs = (id: string, expected: string) =>
      `document.getElementById(${JSON.stringify(id)})?.textContent === ${JSON.stringify(expected)}`;
    await page.waitForFunction(kpiIs('kpi-orders', (before + 2).toLocaleString('en-US')), undefined, {
      timeout: 20_000,
    });
    expect(await page.evaluate('window.specMarker')).toBe('still the same page');
    const perMinute = await api('/v1/metrics/orders-per-minute');
    expect(await text('kpi-orders')).toBe(sum(perMinute.rows, 'orders').toLocaleString('en-US'));
    const revenue = await api('/v1/metrics/revenue-5m');
    await page.waitForFunction(kpiIs('kpi-revenue', `${sum(revenue.rows, 'revenue').toFixed(2)} EUR`), undefined, {
      timeout: 10_000,
    });
    await page.screenshot({ path: `${ARTIFACTS}dashboard-after-order.png`, fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it('asks for a token when it has none, and refuses a token without the dashboard role', async () => {
    const fresh = await browser.newPage({ viewport: { width: 900, height: 500 } });
    await fresh.goto(`${h.baseUrl}/#token=${await h.token('writerA')}`);
    await fresh.waitForSelector('#login:not([hidden])');
    expect(await fresh.locator('#login-error').textContent()).toContain('dashboard');
    await fresh.screenshot({ path: `${ARTIFACTS}dashboard-login.png` });
    await fresh.close();
  });
});
