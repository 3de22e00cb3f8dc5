/**
 * Event-time timers, in process (no server):
 *   npx tsx bench/timers.ts [--timers 1000000] [--quick]
 * (a) the TimerIndex alone: add N timers with distinct times in random order, then fire them all at one watermark;
 * (b) a session-window task with N keys (one pending session each), then one record whose watermark fires all N:
 *     the time that one record blocks the task.
 * `--quick` uses 100k.
 */
import { count, defineJob, jsonRecords, kafkaSink, session } from '@bitvelocity/streams';
import { TimerIndex } from '../streams/src/operators/timers.js';
import { Task } from '../streams/src/runtime/task.js';
import { numberArg } from './load.js';

const N = process.argv.includes('--quick') ? 100_000 : numberArg('timers', 1_000_000);
/** Wall ms and CPU ms since a mark (the machine is shared: CPU time is the steadier figure). */
const mark = () => ({ wall: performance.now(), cpu: process.cpuUsage() });
const since = (from: ReturnType<typeof mark>) => {
  const cpu = process.cpuUsage(from.cpu);
  return `${(performance.now() - from.wall).toFixed(0)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU`;
};

function timerIndexAlone(): void {
  const times = Array.from({ length: N }, (_, i) => i * 10);
  for (let i = times.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [times[i], times[j]] = [times[j] as number, times[i] as number];
  }
  const index = new TimerIndex();
  let started = mark();
  for (const [i, time] of times.entries()) index.add(time, `k${i}`);
  const addMs = since(started);
  started = mark();
  let fired = 0;
  for (const _ of index.due(Number.MAX_SAFE_INTEGER)) fired++;
  console.log(`TimerIndex: add ${N} timers ${addMs}; fire ${fired} timers ${since(started)}`);
}

function sessionTask(): void {
  const job = defineJob({
    name: 'bench-timers',
    eventTimeTolerance: '1000d',
    build: (j) =>
      j
        .source(
          jsonRecords<{ k: string; t: number }>({
            topics: ['input'],
            maxOutOfOrderness: 10 * N,
            idleTimeout: 0,
            eventTime: (e) => e.t,
          }),
        )
        .keyBy((e) => e.k)
        .window(session({ gap: '1s' }), count())
        .to(kafkaSink('sessions')),
  });
  const task = new Task(job, 'input', 0);
  const record = (offset: number, k: string, t: number) => ({
    topic: 'input',
    partition: 0,
    offset: BigInt(offset),
    timestamp: t,
    key: Buffer.from(k),
    value: Buffer.from(JSON.stringify({ k, t })),
    headers: new Map<string, Buffer>(),
  });
  // Distinct end times, arriving out of order (the watermark stays below every session's end).
  let started = mark();
  for (let i = 0; i < N; i++) task.process(record(i, `k${i}`, 1_000_000 + ((i * 7919) % N)));
  console.log(`session task: ${N} pending sessions opened in ${since(started)}`);
  task.takeOutputs();
  started = mark();
  task.process(record(N, 'last', 1_000_000 + 12 * N));
  const outputs = task.takeOutputs().length;
  console.log(`session task: one record fired ${outputs} sessions in ${since(started)}`);
}

timerIndexAlone();
sessionTask();
