import { BvError } from '@bitvelocity/core';
import type { GraphNode, JobDefinition } from '../api/job.js';
import type { OutputRecord, RawRecord, StreamRecord } from '../api/record.js';
import type { RepartitionDecoded } from '../api/repartition.js';
import { toJson } from '../api/sinks.js';
import { DecodeError, type SourceSpec } from '../api/sources.js';
import {
  type Collector,
  type DeadLetter,
  type Operator,
  type OperatorCounters,
  scopedContext,
} from '../operators/operator.js';
import { type KeyValueStore, StateStores } from '../state/store.js';
import { DeadLetterError, deadLetterOf, fitSinkOutput } from './dead-letter.js';
import { eventTimeProblem, isRepresentableTime } from './event-time.js';
import { skipOf } from './skips.js';

/** A record read from a repartition topic, as it was before the hop (with the key after it). */
function repartitionedRecord(
  decoded: RepartitionDecoded<unknown>,
  traceparent: string | undefined,
): StreamRecord<unknown> {
  return {
    value: decoded.value,
    timestamp: decoded.timestamp,
    key: decoded.key,
    origin: { ...decoded.origin, traceparent },
  };
}

/** The input record a repartitioned record came from, for its dead letter: coordinates, Kafka key, value (JSON). */
function originalRecordOf(record: StreamRecord<unknown>, read: RawRecord): RawRecord {
  const headers = new Map(read.headers);
  headers.delete('bv-job');
  return {
    topic: record.origin.topic,
    partition: record.origin.partition,
    offset: record.origin.offset,
    timestamp: read.timestamp,
    key: record.origin.key === undefined ? undefined : Buffer.from(record.origin.key),
    value: Buffer.from(toJson(record.value)),
    headers,
  };
}

/** One changelog entry: `store\u0000key` -> JSON, or null for a deletion (a tombstone in the compacted topic). */
export interface ChangelogEntry {
  key: string;
  value: string | null;
}

export interface TaskCounters extends OperatorCounters {
  processed: number;
  deadLettered: number;
}

interface TaskProgress {
  /** Highest event time seen. */
  maxTimestamp: number;
  watermark: number;
}

const PROGRESS_STORE = '__task';
const SEP = '\u0000';

interface Node {
  operator?: Operator;
  sink?: GraphNode & { kind: 'sink' };
  collector: Collector;
}

/**
 * Runs a job's graph for one input partition: decodes records, pushes them through the operators, tracks the
 * partition's watermark, and collects what must be committed together: sink records, dead letters and state changes.
 * Everything in it is deterministic given the input sequence (and, with idle handling, the clock).
 */
export class Task {
  readonly counters: TaskCounters = {
    processed: 0,
    deadLettered: 0,
    late: 0,
    tooLate: 0,
    dedupeHits: 0,
    anomalies: 0,
  };
  private readonly stores = new StateStores();
  private readonly progressStore: KeyValueStore<TaskProgress>;
  private readonly nodes: Node[] = [];
  private readonly entry: Node['collector'];
  private readonly source: SourceSpec<unknown>;
  private outputs: OutputRecord[] = [];
  private transactionalRecords = new Map<string, StreamRecord<unknown>[]>();
  private progress: TaskProgress = {
    maxTimestamp: Number.NEGATIVE_INFINITY,
    watermark: Number.NEGATIVE_INFINITY,
  };
  private lastInputAt: number;

  constructor(
    readonly job: JobDefinition,
    readonly topic: string,
    readonly partition: number,
    private readonly now: () => number = Date.now,
    /** The job's reprocessing epoch (the registry's; 0 until the first `bv jobs reset`): window results carry it. */
    readonly epoch = 0,
  ) {
    const sourceNode = job.nodes.find((n) => n.kind === 'source' && n.source.topics.includes(topic));
    if (sourceNode?.kind !== 'source') throw new Error(`job ${job.name} does not read ${topic}`);
    this.source = sourceNode.source;
    this.progressStore = this.stores.declare<TaskProgress>(PROGRESS_STORE);
    this.lastInputAt = now();

    // Instantiate the subgraph reachable from this source, parents before children.
    const reachable = new Set([sourceNode.id]);
    const children = new Map<string, Map<string, Node[]>>();
    const childrenOf = (id: string, port: string) => {
      let ports = children.get(id);
      if (!ports) {
        ports = new Map();
        children.set(id, ports);
      }
      let list = ports.get(port);
      if (!list) {
        list = [];
        ports.set(port, list);
      }
      return list;
    };
    const collectorFor = (id: string): Collector => ({
      emit: (record) => {
        for (const child of childrenOf(id, 'main')) this.deliver(child, record);
      },
      side: (tag, record) => {
        for (const child of childrenOf(id, tag)) this.deliver(child, record);
      },
      deadLetter: (letter) => this.operatorDeadLetter(letter),
    });
    this.entry = collectorFor(sourceNode.id);
    for (const node of job.nodes) {
      if (node.kind === 'source' || !reachable.has(node.parent)) continue;
      reachable.add(node.id);
      const instance: Node =
        node.kind === 'sink'
          ? { sink: node, collector: collectorFor(node.id) }
          : {
              operator: node.factory(scopedContext(this.stores, node.id, node.state, this.counters, epoch)),
              collector: collectorFor(node.id),
            };
      childrenOf(node.parent, node.port).push(instance);
      this.nodes.push(instance);
    }
  }

  get watermark(): number {
    return this.progress.watermark;
  }

  get stateSize(): number {
    return this.stores.size;
  }

  /** Decodes one record and runs it through the graph; bad input becomes a dead letter, never an exception. */
  process(record: RawRecord): void {
    this.lastInputAt = this.now();
    const skip = skipOf(this.job.skips, record);
    if (skip) {
      const range = `${skip.fromOffset}-${skip.toOffset}`;
      this.deadLetter(record, 'SKIPPED_BY_OPERATOR', `offsets ${range} skipped at ${skip.requestedAt}: ${skip.reason}`);
      return;
    }
    let decoded: ReturnType<SourceSpec<unknown>['decode']>;
    try {
      decoded = this.source.decode(record);
    } catch (error) {
      const code = error instanceof DecodeError ? error.code : 'UNDECODABLE';
      this.deadLetter(record, code, (error as Error).message);
      return;
    }
    const now = this.now();
    const timeProblem = eventTimeProblem(decoded.timestamp, now, this.job.options.eventTimeTolerance);
    if (timeProblem) {
      // Never into the graph and never into the watermark: one bad time would make every later event too late.
      this.deadLetter(record, 'EVENT_TIME_OUT_OF_RANGE', timeProblem);
      return;
    }
    this.counters.processed++;
    const traceparent = record.headers.get('traceparent')?.toString('utf8');
    const streamRecord: StreamRecord<unknown> = this.source.repartitionOf
      ? repartitionedRecord(decoded as RepartitionDecoded<unknown>, traceparent)
      : {
          value: decoded.value,
          timestamp: decoded.timestamp,
          key: record.key?.toString('utf8'),
          origin: {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            eventId: decoded.eventId,
            traceparent,
          },
        };
    try {
      this.entry.emit(streamRecord);
    } catch (error) {
      // An operator's BvError names the reason (e.g. ANOMALY_VALUE_INVALID); anything else is a processing failure.
      const code = error instanceof DeadLetterError || error instanceof BvError ? error.code : 'PROCESSING_FAILED';
      // After a repartition the dead letter is the input record's (its topic's dead-letter topic, its coordinates).
      this.deadLetter(
        this.source.repartitionOf ? originalRecordOf(streamRecord, record) : record,
        code,
        (error as Error).message,
      );
      return;
    }
    if (decoded.timestamp > this.progress.maxTimestamp) {
      this.progress.maxTimestamp = decoded.timestamp;
      this.progressStore.set('progress', this.progress);
      try {
        // Flink's bounded out-of-orderness: everything up to maxTimestamp - bound - 1 is assumed to have arrived.
        this.advanceWatermark(decoded.timestamp - this.source.maxOutOfOrderness - 1);
      } catch (error) {
        // A window that fails to fire (e.g. a throwing aggregate) must not crash the worker into a restart loop: the
        // record that moved the watermark goes to the dead-letter topic with the reason.
        this.deadLetter(record, 'PROCESSING_FAILED', `firing windows failed: ${(error as Error).message}`);
      }
    }
  }

  /**
   * Called when the partition had nothing to read. After the idle timeout the partition is idle: by default (Flink's
   * rule) its watermark holds; with `idleWatermark: 'wall-clock'` it follows the clock so open windows close. Moving
   * the watermark alone is not a change worth a commit: the progress is written only when something fired or expired.
   * A partition that has never had an event holds in either mode: it has no windows to close, and following the clock
   * before its first event (a repartition topic whose upstream has not committed yet, a replay that has not reached
   * it) would make every event of a replay late.
   */
  idle(): void {
    if (this.source.idleTimeout <= 0 || this.source.idleWatermark !== 'wall-clock') return;
    if (this.progress.maxTimestamp === Number.NEGATIVE_INFINITY) return;
    const now = this.now();
    if (now - this.lastInputAt < this.source.idleTimeout) return;
    const target = now - this.source.maxOutOfOrderness - 1;
    if (target <= this.progress.watermark) return;
    this.progress.watermark = target;
    try {
      for (const node of this.nodes) node.operator?.onWatermark?.(target, node.collector);
    } catch {
      // Windows fire each in their own try; nothing here may crash the worker.
    }
    const changed = this.outputs.length > 0 || this.transactionalRecords.size > 0 || this.stores.changed;
    if (changed) this.progressStore.set('progress', this.progress);
  }

  private advanceWatermark(watermark: number): void {
    if (watermark <= this.progress.watermark) return;
    this.progress.watermark = watermark;
    this.progressStore.set('progress', this.progress);
    for (const node of this.nodes) node.operator?.onWatermark?.(watermark, node.collector);
  }

  private deliver(node: Node, record: StreamRecord<unknown>): void {
    if (node.operator) {
      node.operator.process(record, node.collector);
      return;
    }
    const sink = node.sink?.sink;
    if (!sink) return;
    if (sink.kind === 'transactional') {
      let records = this.transactionalRecords.get(sink.target);
      if (!records) {
        records = [];
        this.transactionalRecords.set(sink.target, records);
      }
      records.push(record);
      return;
    }
    const headers: Record<string, string> = { 'bv-job': this.job.name };
    if (record.origin.traceparent) headers.traceparent = record.origin.traceparent;
    // A record too large for Kafka goes to the dead-letter topic instead of failing every checkpoint.
    const output = fitSinkOutput(
      {
        topic: sink.topic,
        key: sink.key(record),
        value: sink.value(record.value),
        timestamp: record.timestamp,
        headers,
      },
      record.origin,
      this.job.name,
    );
    if (output.topic !== sink.topic) this.counters.deadLettered++;
    this.outputs.push(output);
  }

  private operatorDeadLetter(letter: DeadLetter): void {
    let value: string;
    try {
      value = JSON.stringify(letter.value) ?? 'null';
    } catch (error) {
      value = JSON.stringify({ unserialisable: (error as Error).message });
    }
    const raw: RawRecord = {
      topic: letter.origin.topic || this.topic,
      partition: letter.origin.partition < 0 ? this.partition : letter.origin.partition,
      offset: letter.origin.offset,
      timestamp: this.now(),
      key: letter.key === undefined ? undefined : Buffer.from(letter.key),
      value: Buffer.from(value),
      headers: new Map(),
    };
    this.deadLetter(raw, letter.code, letter.reason);
  }

  private deadLetter(record: RawRecord, code: string, reason: string): void {
    this.counters.deadLettered++;
    this.outputs.push(deadLetterOf(record, { job: this.job.name, code, reason }));
  }

  /** Sink records and dead letters produced since the last call. */
  takeOutputs(): OutputRecord[] {
    const outputs = this.outputs;
    this.outputs = [];
    return outputs;
  }

  /** Records for the job's transactional sinks since the last call, by target. */
  takeTransactionalRecords(): Map<string, StreamRecord<unknown>[]> {
    const records = this.transactionalRecords;
    this.transactionalRecords = new Map();
    return records;
  }

  /** State changes since the last checkpoint, for the changelog. */
  takeChangelog(): ChangelogEntry[] {
    const entries: ChangelogEntry[] = [];
    for (const store of this.stores.all()) {
      for (const [key, value] of store.takeChanges()) {
        entries.push({ key: `${store.name}${SEP}${key}`, value: value === undefined ? null : JSON.stringify(value) });
      }
    }
    return entries;
  }

  /** Rebuilds state from changelog entries (oldest first), then lets operators rebuild their timers. */
  restore(entries: Iterable<ChangelogEntry>): void {
    for (const entry of entries) {
      const at = entry.key.indexOf(SEP);
      const store = this.stores.get(entry.key.slice(0, at));
      if (!store) continue; // state of an operator the job no longer has
      store.restore(entry.key.slice(at + 1), entry.value === null ? undefined : JSON.parse(entry.value));
    }
    const progress = this.progressStore.get('progress');
    // JSON has no -Infinity: a stored null means "not yet". A progress saved by an older version from a far-future
    // event time is clamped to the wall clock plus the tolerance, so it cannot make every later event too late again.
    if (progress) {
      const ceiling = this.now() + this.job.options.eventTimeTolerance;
      const clamp = (t: number | null | undefined) =>
        typeof t !== 'number' || Number.isNaN(t)
          ? Number.NEGATIVE_INFINITY
          : isRepresentableTime(t) || t < 0
            ? Math.min(t, ceiling)
            : ceiling;
      this.progress = { maxTimestamp: clamp(progress.maxTimestamp), watermark: clamp(progress.watermark) };
    }
    for (const node of this.nodes) node.operator?.restored?.();
    const watermark = this.progress.watermark;
    if (watermark > Number.NEGATIVE_INFINITY) {
      for (const node of this.nodes) {
        try {
          node.operator?.onWatermark?.(watermark, node.collector);
        } catch {
          // A restore never throws (the worker would reopen the task forever): windows fire each in their own try,
          // and what an operator could not redo here it redoes at the next watermark advance.
        }
      }
    }
    // Anything that replay re-emitted is already in the committed output.
    this.outputs = [];
    this.transactionalRecords = new Map();
    for (const store of this.stores.all()) store.takeChanges();
  }
}
