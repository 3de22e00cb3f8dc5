import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { pipelineFreshnessProbe } from '../src/platform/components.js';

/** A port free right now (the OS picks it), for a process that takes its port on the command line. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });

const started: ChildProcess[] = [];

/** Starts `bv <args>` as `bv up` does and waits until GET <path> answers 200. */
async function startBv(args: string[], port: number, ready: string): Promise<string> {
  const child = spawn('node', ['cli/bin/bv.js', ...args, '--host', '127.0.0.1', '--port', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  started.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`bv ${args.join(' ')} exited ${child.exitCode}: ${stderr}`);
    const ok = await fetch(`${base}${ready}`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return base;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`bv ${args.join(' ')} not ready in 60 s: ${stderr}`);
}

/** The metric names a Prometheus text body declares (its TYPE lines), and the body. */
async function scrape(base: string): Promise<{ names: string[]; body: string }> {
  const response = await fetch(`${base}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  const body = await response.text();
  return { names: [...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string), body };
}

afterAll(async () => {
  await Promise.all(
    started.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
});

describe('/metrics of the processes bv up starts', () => {
  it('the services: HTTP latency, outbox events, the outbox lag and the CDC slot lag', async () => {
    const base = await startBv(['services', 'start'], await freePort(), '/ready');
    await fetch(`${base}/health`);
    const { names, body } = await scrape(base);
    expect(names).toEqual(
      expect.arrayContaining([
        'bv_http_request_duration_seconds',
        'bv_outbox_events_total',
        'bv_cdc_slot_lag_bytes',
        'bv_cdc_slot_active',
        'bv_outbox_lag_seconds',
      ]),
    );
    expect(body).toMatch(/^bv_http_request_duration_seconds_count\{method="GET",route="\/health",status="200"\} 1$/m);
    // The shared stack's outbox connector holds the slot: its lag is a number of bytes, and someone streams from it.
    expect(body).toMatch(/^bv_cdc_slot_lag_bytes\{slot="bv_outbox"\} \d+$/m);
    expect(body).toMatch(/^bv_outbox_lag_seconds\{slot="bv_outbox"\} [\d.]+$/m);
  }, 90_000);

  it('the lineage service: HTTP latency, without a token', async () => {
    const base = await startBv(['lineage', 'serve'], await freePort(), '/healthz');
    await fetch(`${base}/healthz`);
    const { names, body } = await scrape(base);
    expect(names).toEqual(expect.arrayContaining(['bv_http_request_duration_seconds']));
    expect(body).toMatch(
      /^bv_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} \d+$/m,
    );
  }, 90_000);

  it("the query API and dashboard: HTTP latency and the pipeline's freshness and lag end to end", async () => {
    const base = await startBv(['serve', '--no-pg'], await freePort(), '/openapi.json');
    const { names, body } = await scrape(base);
    expect(names).toEqual(
      expect.arrayContaining([
        'bv_http_request_duration_seconds',
        'bv_pipeline_freshness_seconds',
        'bv_pipeline_lag_seconds',
        'bv_pipeline_job_lag_records',
        'bv_pipeline_job_watermark_delay_seconds',
      ]),
    );
    // The shared lake has had rows in every layer since the platform first ran.
    for (const layer of ['bronze', 'silver', 'gold'])
      expect(body).toMatch(new RegExp(`^bv_pipeline_freshness_seconds\\{layer="${layer}"\\} [\\d.]+$`, 'm'));
    // `bv status` shows the same figures in serve's row: the lake layers' freshness, Gold's as the row's lag.
    const row = await pipelineFreshnessProbe(base);
    expect(row).toMatchObject({
      detail: expect.stringMatching(
        /^newest rows: bronze [\d.]+ s, silver [\d.]+ s, gold [\d.]+ s old; behind: silver /,
      ),
      lag: expect.any(Number),
    });
  }, 90_000);
});
