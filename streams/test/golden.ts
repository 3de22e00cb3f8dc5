import type { OutputRecord, RawRecord } from '../src/api/record.js';
import { type JobDefinition, jsonRecords } from '../src/index.js';
import { Task } from '../src/runtime/task.js';

/** An input event for a golden test: a JSON value with its event time in seconds (easy to read in expectations). */
export interface GoldenEvent {
  t: number;
  id?: string;
  key?: string;
  [field: string]: unknown;
}

/** The golden specs' source: JSON events of topic `input`, event time `t` seconds, in order unless told, never idle. */
export const goldenSource = <T extends { t: number } = GoldenEvent>(maxOutOfOrderness: `${number}s` = '0s') =>
  jsonRecords<T>({ topics: ['input'], maxOutOfOrderness, idleTimeout: 0, eventTime: (e) => e.t * 1000 });

export function raw(events: GoldenEvent[], topic = 'input', partition = 0): RawRecord[] {
  return events.map((event, i) => ({
    topic,
    partition,
    offset: BigInt(i),
    timestamp: event.t * 1000,
    key: event.key === undefined ? undefined : Buffer.from(event.key),
    value: Buffer.from(JSON.stringify(event)),
    headers: new Map(),
  }));
}

/** Runs the input through a fresh task; optionally checkpoints and restores into a new task after `restartAfter`. */
export function run(
  job: JobDefinition,
  input: RawRecord[],
  options: { restartAfter?: number[]; now?: () => number } = {},
): OutputRecord[] {
  const first = input[0];
  const topic = first?.topic ?? 'input';
  let task = new Task(job, topic, 0, options.now);
  const changelog: { key: string; value: string | null }[] = [];
  const outputs: OutputRecord[] = [];
  input.forEach((record, i) => {
    task.process(record);
    if (options.restartAfter?.includes(i)) {
      outputs.push(...task.takeOutputs());
      changelog.push(...task.takeChangelog());
      task = new Task(job, topic, 0, options.now);
      task.restore(changelog);
    }
  });
  outputs.push(...task.takeOutputs());
  return outputs;
}

/** Output values by topic, parsed. */
export function values(outputs: OutputRecord[], topic: string): unknown[] {
  return outputs.filter((o) => o.topic === topic).map((o) => JSON.parse(o.value.toString()));
}
