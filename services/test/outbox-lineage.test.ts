import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTransport, LineageClient, loadPlatformConfig, OpenLineageValidator } from '@bitvelocity/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { reportOutboxLineage } from '../src/lineage.js';

describe("the services' outbox writes in lineage", () => {
  it('are one job per service, from its domain tables to the outbox table', async () => {
    const config = loadPlatformConfig();
    const file = join(mkdtempSync(join(tmpdir(), 'bv-outbox-lineage-')), 'events.ndjson');
    const client = new LineageClient({ transport: new FileTransport(file), registry: new Registry() });
    await reportOutboxLineage(config, ['product', 'customer', 'order'], { client });
    await client.close(2_000);
    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const validator = OpenLineageValidator.load();
    for (const e of events) expect(validator.violations(e, { facets: true })).toEqual([]);
    expect(events.map((e) => `${e.eventType} ${e.job.name}`)).toEqual([
      'START outbox.products',
      'START outbox.customers',
      'START outbox.orders',
    ]);
    const db = config.postgres.database;
    expect(events[2].inputs.map((d: { name: string }) => d.name)).toEqual([
      `${db}.public.orders`,
      `${db}.public.order_lines`,
    ]);
    expect(events[2].outputs.map((d: { name: string }) => d.name)).toEqual([`${db}.public.outbox`]);
    expect(events[2].outputs[0].namespace).toMatch(/^postgres:\/\//);
    expect(events[0].job.facets.jobType).toMatchObject({ processingType: 'STREAMING', jobType: 'OUTBOX' });
  });
});
