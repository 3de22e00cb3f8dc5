/**
 * The HTTP clients of bench/lineage.ts, in a process of their own so the service's CPU per event can be told apart
 * from theirs. Forked by the bench: argv = events file (NDJSON, one request body a line), service URL, bearer token,
 * concurrency. Keep-alive node:http clients POST every line to /api/v1/lineage; any answer but 201 fails the run.
 * Prints one JSON line: { startedAt (epoch ms), seconds, cpuMicros, requests }.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

const [file, url, token, concurrencyArg] = process.argv.slice(2) as [string, string, string, string];
const bodies = readFileSync(file, 'utf8').split('\n').filter(Boolean);
const concurrency = Number(concurrencyArg);
const base = new URL(url);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

function post(body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: 'POST',
        path: '/api/v1/lineage',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 201
            ? resolve()
            : reject(new Error(`POST answered ${res.statusCode}: ${Buffer.concat(chunks).toString()}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const cpuBefore = process.cpuUsage();
const startedAt = Date.now();
const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < bodies.length) await post(bodies[next++] as string);
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
agent.destroy();
process.stdout.write(
  `${JSON.stringify({ startedAt, seconds, cpuMicros: cpu.user + cpu.system, requests: bodies.length })}\n`,
);
