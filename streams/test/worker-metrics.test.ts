import { diagnostics } from '@bitvelocity/core';
import { afterAll, describe, expect, it } from 'vitest';
import { WorkerMetrics } from '../src/deploy/metrics.js';

// The worker's metrics server as a deployed worker serves it (worker-process.ts subscribes it to the lake commits).
const metrics = new WorkerMetrics('metrics-spec');
const served = metrics.serve(0);
const unsubscribe = diagnostics.lakeCommit.subscribe((commit) => metrics.observeLakeCommit(commit));

afterAll(async () => {
  unsubscribe();
  (await served).server.close();
});

describe('a stream or lake job worker /metrics', () => {
  it('has consumer lag, watermark delay, late and dead-lettered counts, lake commit time and freshness per table', async () => {
    diagnostics.lakeCommit.publish({ writer: 'metrics-spec', written: { 'bronze.envelopes': 3 }, durationMs: 120 });
    const { port } = await served;
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    const body = await response.text();
    const names = [...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    expect(names).toEqual(
      expect.arrayContaining([
        'bv_stream_lag_records',
        'bv_stream_watermark_delay_seconds',
        'bv_stream_late_events_total',
        'bv_stream_too_late_events_total',
        'bv_stream_dead_letters_total',
        'bv_stream_checkpoint_seconds',
        'bv_lake_commit_seconds',
        'bv_lake_freshness_seconds',
      ]),
    );
    expect(body).toMatch(/^bv_lake_commit_seconds_count\{worker="\d+",job="metrics-spec"\} 1$/m);
    expect(body).toMatch(
      /^bv_lake_freshness_seconds\{job="metrics-spec",table="bronze.envelopes",worker="\d+"\} [\d.]+$/m,
    );
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });
});
