import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import { launchChromium } from '@bitvelocity/infra';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLineageServer } from '../src/index.js';
import type { LineageServer } from '../src/server.js';
import { pipelineEvents } from './fixtures.js';

const ownerUrl = postgresUrl(loadPlatformConfig().postgres);
const schema = `lineage_ui_${randomUUID().slice(0, 8)}`;
const artifacts = join(import.meta.dirname, '../../test-artifacts/lineage');
let server: LineageServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  server = await startLineageServer({ postgresUrl: ownerUrl, jwtSecret: 'y'.repeat(48), schema, port: 0 });
  const token = server.app.jwt.sign({ sub: 'ci', tenant: 'acme', roles: ['writer'] });
  for (const event of pipelineEvents().events) {
    const response = await fetch(`${server.url}/api/v1/lineage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(event),
    });
    expect(response.status).toBe(201);
  }
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  await page.goto(`${server.url}/?token=${token}#/`);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  const client = new pg.Client(ownerUrl);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

const graphNodes = async () => Number(await page.locator('.graph svg').getAttribute('data-nodes'));

describe('the lineage browser', () => {
  it('opens a dataset from search and shows its schema, quality, owners, versions and column lineage', async () => {
    await page.locator('#search').fill('silver');
    await page.locator('.results a', { hasText: 'silver.orders' }).first().waitFor();
    await page.locator('.results a', { hasText: 'DATASET' }).first().click();
    await page.locator('.graph svg').waitFor();
    await expect.poll(() => page.locator('#schema td').first().textContent()).toBe('order_id');
    expect(await page.locator('#quality').textContent()).toMatch(/row_count_between.*failed/);
    expect(await page.locator('body').textContent()).toContain('team:orders');
    expect(await page.locator('#versions').textContent()).toContain('+ created_at TIMESTAMP');
    expect(await page.locator('#column-lineage').textContent()).toContain('bronze.orders.total_amount');
    await page.screenshot({ path: join(artifacts, 'dataset.png'), fullPage: true });
  });

  it('expands upstream until the outbox table appears in the graph', async () => {
    const before = await graphNodes();
    await page.locator('button.expand-up').click();
    await page.locator('.graph .node', { hasText: 'ecommerce.order.created.v1' }).waitFor();
    await page.locator('button.expand-up').click();
    await page.locator('.graph .node', { hasText: 'bitvelocity.public.outbox' }).waitFor();
    expect(await graphNodes()).toBeGreaterThan(before);
    await page.locator('.graph').screenshot({ path: join(artifacts, 'graph-upstream.png') });
  });

  it('clicks through to a job from the graph and opens its failed run with the error', async () => {
    await page.locator('.graph .node[data-id="job:bitvelocity:silver.orders"]').click();
    await page.locator('#runs .run-link').first().waitFor();
    expect(await page.locator('#runs').textContent()).toMatch(/FAILED.*catalog conflict/s);
    expect(await page.locator('#runs').textContent()).toContain('1180 rows');
    await page.screenshot({ path: join(artifacts, 'job.png'), fullPage: true });
    await page.locator('#runs tr', { hasText: 'FAILED' }).locator('.run-link').click();
    await page.locator('#run .badge').waitFor();
    expect(await page.locator('#run').textContent()).toContain('LAKE_COMMIT_FAILED');
    await page.screenshot({ path: join(artifacts, 'run.png'), fullPage: true });
  });
});
