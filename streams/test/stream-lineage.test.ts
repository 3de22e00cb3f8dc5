import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diagnostics, FileTransport, LineageClient, loadPlatformConfig, OpenLineageValidator } from '@bitvelocity/core';
import { Admin } from '@platformatic/kafka';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { sinkTopics, sourceTopics } from '../src/api/job.js';
import { StreamRunProgress } from '../src/deploy/lineage.js';
import { defineJob, jsonRecords, kafkaSink, runWorker } from '../src/index.js';
import { ensureJobTopics } from '../src/kafka/topics.js';
import { createTopic, produce, waitFor } from './kafka.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;

describe("a running stream job's lineage", () => {
  it('reports RUNNING with the records and bytes each output received since the previous report', async () => {
    const input = await createTopic(brokers, 'lin-in', 1);
    const output = `${input}.out`;
    const job = defineJob({
      name: `test-lin-${input.slice(-8)}`,
      maxBatchRecords: 50,
      build: (j) =>
        j
          .source(jsonRecords<{ n: number }>({ topics: [input], maxOutOfOrderness: '1s', idleTimeout: 0 }))
          .to(kafkaSink(output)),
    });
    const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
    await ensureJobTopics(admin, job, { sinkPartitions: 1 });
    await admin.close();
    const values = Array.from({ length: 120 }, (_, n) => ({ key: `k${n % 5}`, value: JSON.stringify({ n }) }));
    await produce(brokers, input, values);

    const file = join(mkdtempSync(join(tmpdir(), 'bv-stream-running-')), 'events.ndjson');
    const client = new LineageClient({ transport: new FileTransport(file), registry: new Registry() });
    const runId = '0190b1a2-0000-7000-8000-00000000abcd';
    const progress = StreamRunProgress.install(
      { name: job.name, sourceTopics: sourceTopics(job), sinkTopics: sinkTopics(job) },
      'lin-0',
      { client, config, intervalMs: 3_600_000, runId },
    );
    expect(progress).toBeDefined();
    const stop = new AbortController();
    let committed = 0n;
    const worker = runWorker({
      job,
      bootstrapServers: brokers,
      workerId: 'lin-0',
      signal: stop.signal,
      onStatus: () => {},
    });
    const off = diagnostics.checkpointCommitted.subscribe((e) => {
      for (const o of e.offsets) if (o.nextOffset > committed) committed = o.nextOffset;
    });
    try {
      await waitFor('the input checkpointed', async () => (committed === 120n ? true : undefined));
    } finally {
      stop.abort();
      await worker;
      off();
    }
    progress?.report(); // what the timer does every interval
    progress?.report(); // nothing new since: zero
    await progress?.close();
    await client.close(2_000);

    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const validator = OpenLineageValidator.load();
    for (const e of events) expect(validator.violations(e, { facets: true })).toEqual([]);
    expect(events.map((e) => e.eventType)).toEqual(['RUNNING', 'RUNNING']);
    const [first, second] = events;
    expect(first.run.runId).toBe(runId);
    expect(first.job).toMatchObject({ namespace: 'bitvelocity', name: `stream.${job.name}` });
    expect(first.job.facets.jobType).toMatchObject({ processingType: 'STREAMING', jobType: 'STREAM_JOB' });
    expect(first.inputs).toEqual([
      expect.objectContaining({ name: input, namespace: expect.stringMatching(/^kafka:\/\//) }),
    ]);
    const out = first.outputs.find((d: { name: string }) => d.name === output);
    const bytes = values.reduce((sum, v) => sum + Buffer.byteLength(v.key) + Buffer.byteLength(v.value), 0);
    expect(out.outputFacets.outputStatistics.rowCount).toBe(120);
    expect(out.outputFacets.outputStatistics.size).toBe(bytes);
    expect(second.outputs[0].outputFacets.outputStatistics.rowCount).toBe(0);
  }, 90_000);
});
