import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTransport, LineageClient, loadPlatformConfig, OpenLineageValidator } from '@bitvelocity/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { reportConnectorLineage } from '../src/lineage.js';

describe('the Debezium connector in lineage', () => {
  it('is a STREAMING job from the outbox table to the aggregate topics, valid OpenLineage', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bv-cdc-lineage-')), 'events.ndjson');
    const client = new LineageClient({ transport: new FileTransport(file), registry: new Registry() });
    const config = loadPlatformConfig();
    await reportConnectorLineage(config, 'bv-outbox', { client });
    await client.close();
    const [event, ...rest] = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rest).toEqual([]);
    expect(OpenLineageValidator.load().violations(event, { facets: true })).toEqual([]);
    expect(event.eventType).toBe('START');
    expect(event.job).toMatchObject({ namespace: 'bitvelocity', name: 'debezium.bv-outbox' });
    expect(event.job.facets.jobType).toMatchObject({ processingType: 'STREAMING', jobType: 'CDC_CONNECTOR' });
    expect(event.inputs).toEqual([
      {
        namespace: `postgres://${config.postgres.host}:${config.postgres.port}`,
        name: `${config.postgres.database}.public.outbox`,
      },
    ]);
    expect(event.outputs.length).toBeGreaterThan(0);
    for (const output of event.outputs) expect(output.namespace).toMatch(/^kafka:\/\/[^/]+:\d+$/);
  });
});
