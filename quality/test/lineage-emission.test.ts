import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTransport, LineageClient, loadPlatformConfig, OpenLineageValidator } from '@bitvelocity/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { reportQualityRun, type SuiteRun } from '../src/index.js';

const config = loadPlatformConfig();

describe('a quality run in lineage', () => {
  it('is a BATCH run of quality.<suite> whose input is the checked table with assertions and metrics', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bv-quality-lineage-')), 'events.ndjson');
    const client = new LineageClient({ transport: new FileTransport(file), registry: new Registry() });
    const result = (type: string, column: string | null, success: boolean) => ({
      type,
      kwargs: {},
      severity: 'critical' as const,
      column,
      success,
      observedValue: null,
      unexpectedCount: success ? 0 : 2,
      unexpectedPercent: success ? 0 : 50,
    });
    const run = {
      runId: 'r1',
      suite: 'silver_orders',
      table: 'silver.orders',
      scope: 'increment',
      engine: 'native',
      rowCount: 4,
      success: false,
      criticalSuccess: false,
      results: [
        result('expect_column_values_to_not_be_null', 'order_id', true),
        result('expect_column_values_to_be_between', 'amount', false),
      ],
      startedAt: '2026-12-02T01:00:00.000Z',
      durationMs: 12,
    } as SuiteRun;
    reportQualityRun(run, undefined, { client, config });
    await client.close(2_000);
    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const validator = OpenLineageValidator.load();
    for (const e of events) expect(validator.violations(e, { facets: true })).toEqual([]);
    expect(events.map((e) => e.eventType)).toEqual(['START', 'COMPLETE']);
    expect(events[0].eventTime).toBe('2026-12-02T01:00:00.000Z');
    expect(events[1].job).toMatchObject({ namespace: 'bitvelocity', name: 'quality.silver_orders' });
    expect(events[1].job.facets.jobType).toMatchObject({ processingType: 'BATCH', jobType: 'QUALITY' });
    const [input] = events[1].inputs;
    expect(input.namespace).toMatch(/^ducklake:\/\//);
    expect(input.name).toBe('silver.orders');
    expect(input.inputFacets.dataQualityAssertions.assertions).toEqual([
      { assertion: 'expect_column_values_to_not_be_null', success: true, column: 'order_id' },
      { assertion: 'expect_column_values_to_be_between', success: false, column: 'amount' },
    ]);
    expect(input.inputFacets.dataQualityMetrics.rowCount).toBe(4);
  });
});
