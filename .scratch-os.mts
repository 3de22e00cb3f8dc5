import { createLogger, loadPlatformConfig } from '@bitvelocity/core';
import { runWorker } from '@bitvelocity/streams';
import orderStreams from '@bitvelocity/streams/jobs/order-streams';
const stop = new AbortController();
const t0 = performance.now();
let last = 0;
const done = runWorker({ job: orderStreams, bootstrapServers: loadPlatformConfig().kafka.bootstrapServers, workerId: 'probe', signal: stop.signal, logger: createLogger('probe', 'info'),
  onStatus: (s) => { const now = performance.now(); if (now - last > 5000) { last = now; console.log(Math.round((now - t0) / 1000), 's rate', s.inputRate, 'lag', s.tasks.map((t) => t.lag).join('/'), 'state', s.tasks.map((t) => t.stateEntries).join('/')); } } });
setTimeout(() => stop.abort(), 40_000);
await done;
