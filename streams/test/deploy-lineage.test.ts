import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTransport, LineageClient, OpenLineageValidator } from '@bitvelocity/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { StreamJobLineage } from '../src/deploy/lineage.js';

describe("a deployed stream job's lineage", () => {
  it('is START on deploy, FAIL on a worker crash, a new run on restart and COMPLETE on stop', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bv-stream-lineage-')), 'events.ndjson');
    const client = new LineageClient({ transport: new FileTransport(file), registry: new Registry() });
    const lineage = new StreamJobLineage('orders-enrich', client);
    const job = { sourceTopics: ['ecommerce.order'], sinkTopics: ['analytics.order_enriched'] };
    lineage.workerStarted(job);
    const env: NodeJS.ProcessEnv = {};
    lineage.exportRun(env); // what the workers spawned next inherit
    lineage.workerStarted(job); // a second worker of the same run
    lineage.workerCrashed(0, null, 'SIGKILL');
    lineage.workerStarted(job);
    await lineage.stopped();
    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => e.eventType)).toEqual(['START', 'FAIL', 'START', 'COMPLETE']);
    const validator = OpenLineageValidator.load();
    for (const e of events) expect(validator.violations(e, { facets: true })).toEqual([]);
    expect(events[1].run.facets.errorMessage.message).toMatch(/SIGKILL/);
    expect(events[0].run.runId).toBe(events[1].run.runId);
    expect(env).toEqual({ BV_LINEAGE_RUN_ID: events[0].run.runId, BV_LINEAGE_JOB: 'stream.orders-enrich' });
    expect(events[2].run.runId).not.toBe(events[0].run.runId);
    expect(events[0].job.facets.jobType.processingType).toBe('STREAMING');
    expect(events[0].inputs[0].name).toBe('ecommerce.order');
  });
});
