import { describe, expect, it } from 'vitest';
import { count, defineJob, jsonRecords, kafkaSink, tumbling } from '../src/index.js';
import { KafkaCheckpointer } from '../src/kafka/checkpointers.js';
import { type KafkaProducer, newRunner } from '../src/kafka/task-runner.js';
import { Task } from '../src/runtime/task.js';
import { type GoldenEvent, raw, values } from './golden.js';

const at = (seconds: number) => new Date(seconds * 1000).toISOString();
const jobWith = (idleWatermark?: 'hold' | 'wall-clock') =>
  defineJob({
    name: 'idle-partition',
    build: (j) =>
      j
        .source(
          jsonRecords<GoldenEvent>({
            topics: ['input'],
            maxOutOfOrderness: '1s',
            idleTimeout: '30s',
            ...(idleWatermark ? { idleWatermark } : {}),
            eventTime: (e) => e.t * 1000,
          }),
        )
        .keyBy(() => 'k', { partitioning: 'co-partitioned' })
        .window(tumbling({ size: '10s' }), count())
        .to(kafkaSink('counts')),
  });

describe('a replay of old data that pauses past the idle timeout no longer finds every later event too late', () => {
  it('holds the idle partition watermark by default (Flink), so the replay goes on on time', () => {
    // Wall clock: 2026; the replayed events are from 1970.
    let now = Date.UTC(2026, 0, 1);
    const task = new Task(jobWith(), 'input', 0, () => now);
    const input = raw([{ t: 1 }, { t: 2 }, { t: 12 }, { t: 13 }, { t: 25 }]);
    task.process(input[0] as never);
    task.process(input[1] as never);
    now += 31_000; // the replay pauses for 31 s
    task.idle();
    expect(task.watermark).toBe(1_000 - 1); // unchanged
    for (const record of input.slice(2)) task.process(record);
    expect(values(task.takeOutputs(), 'counts')).toEqual([
      { key: 'k', windowStart: at(0), windowEnd: at(10), result: 2, revision: 0 },
      { key: 'k', windowStart: at(10), windowEnd: at(20), result: 2, revision: 0 },
    ]);
    expect(task.counters.tooLate).toBe(0);
  });
});

describe('an idle partition no longer commits a transaction every cycle with nothing in it', () => {
  it("gives the checkpoint nothing when the clock moved and nothing fired, even with idleWatermark: 'wall-clock'", async () => {
    let now = 70_000;
    const task = new Task(jobWith('wall-clock'), 'input', 0, () => now);
    for (const record of raw([{ t: 100 }, { t: 101 }])) task.process(record);
    task.takeOutputs();
    task.takeChangelog();
    // The open window [100 s, 110 s) ends after the watermark the clock gives: the advance fires nothing.
    now += 35_000;
    task.idle();
    expect(task.watermark).toBe(105_000 - 1_000 - 1);
    expect(task.takeChangelog()).toEqual([]);
    expect(task.takeOutputs()).toEqual([]);

    // The Kafka checkpointer then returns before touching Kafka: a producer that fails on any call proves it.
    const untouchable = new Proxy({} as KafkaProducer, {
      get: (_target, name) => {
        throw new Error(`the checkpointer used the producer (${String(name)})`);
      },
    });
    const runner = newRunner(task, 2n, untouchable, true, undefined);
    const checkpointFailed: unknown[] = [];
    const checkpointer = new KafkaCheckpointer(
      {
        job: task.job,
        workerId: 'w',
        consumer: untouchable as never,
        log: { warn: () => {} } as never,
        closeTask: async () => {},
        checkpointFailed: (_t, _p, error) => checkpointFailed.push(error),
        progressed: () => {},
      },
      true,
      'group',
    );
    task.idle();
    await checkpointer.checkpoint(new Map([['input-0', runner]]));
    expect(checkpointFailed).toEqual([]);
    expect(runner.lastCheckpointAt).toBeUndefined();
  });

  it("commits the watermark with what it fired when the clock closes a window (idleWatermark: 'wall-clock')", () => {
    let now = 100_000;
    const task = new Task(jobWith('wall-clock'), 'input', 0, () => now);
    for (const record of raw([{ t: 100 }, { t: 101 }])) task.process(record);
    task.takeOutputs();
    task.takeChangelog();
    now += 40_000;
    task.idle();
    expect(values(task.takeOutputs(), 'counts')).toEqual([
      { key: 'k', windowStart: at(100), windowEnd: at(110), result: 2, revision: 0 },
    ]);
    const changelog = task.takeChangelog().map((e) => e.key.split('\u0000')[0]);
    expect([...new Set(changelog)].sort()).toEqual(['2-tumblingWindow.windows', '__task']);
  });
});
