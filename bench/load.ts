/**
 * A small HTTP load generator for the bench scripts.
 * - openLoop: requests leave at evenly spaced scheduled times (rate/s), whatever the answers do; latency counts from
 *   the scheduled time, so a stalled server shows up in the tail instead of slowing the load (no coordinated omission).
 * - closedLoop: N workers send back to back: the maximum rate the server sustains at that concurrency.
 */
import { Agent, request as httpRequest } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import * as hdr from 'hdr-histogram-js';

/** A numeric `--name value` flag of a bench script, or the fallback. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: () => string;
}

export interface LoadResult {
  label: string;
  seconds: number;
  requests: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  /** The generator's own event-loop delay (p99 / max, ms): a stall here inflates the latencies it reports. */
  generatorLag: string;
}

function send(agent: Agent, base: URL, request: LoadRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = request.body?.();
    const req = httpRequest(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: request.method,
        path: request.path,
        headers: request.headers,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

type LoopDelay = ReturnType<typeof monitorEventLoopDelay>;

function summary(
  label: string,
  histogram: hdr.Histogram,
  started: number,
  non2xx: number,
  errors: number,
  lag: LoopDelay,
): LoadResult {
  lag.disable();
  const seconds = (performance.now() - started) / 1000;
  const ms = (p: number) => Math.round(histogram.getValueAtPercentile(p) / 10) / 100;
  return {
    label,
    seconds: Math.round(seconds * 10) / 10,
    requests: histogram.totalCount,
    perSecond: Math.round(histogram.totalCount / seconds),
    p50: ms(50),
    p95: ms(95),
    p99: ms(99),
    max: Math.round(histogram.maxValue / 10) / 100,
    non2xx,
    errors,
    generatorLag: `${(lag.percentile(99) / 1e6).toFixed(1)} / ${(lag.max / 1e6).toFixed(1)}`,
  };
}

function watchLag(): LoopDelay {
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  return lag;
}

const newHistogram = () =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });

export async function openLoop(
  label: string,
  baseUrl: string,
  request: LoadRequest,
  rate: number,
  seconds: number,
): Promise<LoadResult> {
  const base = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const histogram = newHistogram();
  let non2xx = 0;
  let errors = 0;
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const lag = watchLag();
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const scheduled = started + i * interval;
    const wait = scheduled - performance.now();
    if (wait > 1) await sleep(wait);
    inFlight.push(
      send(agent, base, request).then(
        (status) => {
          histogram.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000)));
          if (status < 200 || status >= 300) non2xx++;
        },
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  agent.destroy();
  return summary(label, histogram, started, non2xx, errors, lag);
}

export async function closedLoop(
  label: string,
  baseUrl: string,
  request: LoadRequest,
  workers: number,
  seconds: number,
): Promise<LoadResult> {
  const base = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: workers });
  const histogram = newHistogram();
  let non2xx = 0;
  let errors = 0;
  const lag = watchLag();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        try {
          const status = await send(agent, base, request);
          histogram.recordValue(Math.max(1, Math.round((performance.now() - sent) * 1000)));
          if (status < 200 || status >= 300) non2xx++;
        } catch {
          errors++;
        }
      }
    }),
  );
  agent.destroy();
  return summary(label, histogram, started, non2xx, errors, lag);
}
