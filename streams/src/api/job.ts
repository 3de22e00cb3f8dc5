import { BvError, type Envelope } from '@bitvelocity/core';
import { dedupeOperator } from '../operators/dedupe.js';
import type { OperatorFactory } from '../operators/operator.js';
import { type KeyedProcessFunction, PROCESS_STATE, processOperator } from '../operators/process.js';
import { coPartitionedKeyOperator, repartitionWriteOperator } from '../operators/repartition.js';
import {
  eventTimeOperator,
  filterOperator,
  flatMapOperator,
  keyByOperator,
  type MapFunction,
  mapOperator,
} from '../operators/stateless.js';
import type { Aggregate } from '../operators/windows/aggregates.js';
import type { WindowAssigner } from '../operators/windows/assigners.js';
import { finalOnly } from '../operators/windows/final-only.js';
import { LATE, type WindowResult } from '../operators/windows/result.js';
import { sessionWindowOperator } from '../operators/windows/session-operator.js';
import { fixedWindowOperator } from '../operators/windows/window-operator.js';
import {
  type AnomalyEpisode,
  type AnomalyScore,
  SCORES,
  ZSCORE_STATE,
  type ZScoreOptions,
  zScoreOperator,
} from '../operators/zscore.js';
import type { OffsetSkip } from '../runtime/skips.js';
import { type Duration, toMillis } from './duration.js';
import type { Origin } from './record.js';
import { repartitionSource, repartitionTopicOf } from './repartition.js';
import { windowSignature, zScoreSignature } from './shape.js';
import type { SinkSpec, TransactionalSystem } from './sinks.js';
import type { SourceSpec } from './sources.js';

export type GraphNode =
  | { id: string; kind: 'source'; source: SourceSpec<unknown> }
  | {
      id: string;
      kind: 'operator';
      parent: string;
      port: string;
      factory: OperatorFactory;
      /** The keyed state stores the operator keeps, declared up front (as Arroyo's operators list their tables). */
      state: readonly string[];
      /** What its state holds (e.g. `tumblingWindow(count)`): a restore into a different one is refused (api/shape.ts). */
      signature?: string;
    }
  | { id: string; kind: 'sink'; parent: string; port: string; sink: SinkSpec<unknown> };

export type DeliveryGuarantee = 'exactly-once' | 'at-least-once';

export interface JobOptions {
  guarantee: DeliveryGuarantee;
  /** Most records a task processes between two checkpoints (one Kafka transaction per task each time). */
  maxBatchRecords: number;
  /** Longest a worker waits for input before checkpointing what it has. */
  maxBatchWait: number;
  /**
   * How far past the wall clock an event time may be. A later one (e.g. microseconds read as milliseconds) goes to the
   * dead-letter topic as EVENT_TIME_OUT_OF_RANGE and never moves the watermark.
   */
  eventTimeTolerance: number;
}

export interface JobDefinition {
  name: string;
  description: string;
  options: JobOptions;
  /** Topologically ordered: a node always comes after its parent. */
  nodes: readonly GraphNode[];
  /** Offset ranges an operator told the job to skip (from the job registry; runtime/skips.ts). */
  skips?: readonly OffsetSkip[];
}

/** Builds a job's graph. Node ids are positional, so a job's state stays valid while its definition is unchanged. */
export class JobBuilder {
  readonly nodes: GraphNode[] = [];
  /**
   * Nodes whose records are not partitioned by their key: after dedupe's repartition by id the stream has its key
   * back, but its records are spread by id. A co-partitioned keyBy there is refused.
   */
  readonly spreadByOtherKey = new Set<string>();

  /** `jobName` names the job's internal repartition topics. */
  constructor(readonly jobName = 'job') {}

  source<T>(spec: SourceSpec<T>): Stream<T> {
    if (spec.topics.length === 0) throw new BvError('JOB_INVALID', 'a source needs at least one topic');
    const id = `${this.nodes.length}-source`;
    this.nodes.push({ id, kind: 'source', source: spec as SourceSpec<unknown> });
    return new Stream<T>(this, id, 'main');
  }

  /** @internal `state`: the stores the operator declares; it may use no other. */
  addOperator(
    parent: string,
    port: string,
    kind: string,
    factory: OperatorFactory,
    state: readonly string[] = [],
    identity: { uid?: string | undefined; signature?: string } = {},
  ): string {
    const id = identity.uid === undefined ? `${this.nodes.length}-${kind}` : this.checkedUid(identity.uid, kind);
    this.nodes.push({
      id,
      kind: 'operator',
      parent,
      port,
      factory,
      state,
      ...(identity.signature === undefined ? {} : { signature: identity.signature }),
    });
    if (this.spreadByOtherKey.has(parent)) this.spreadByOtherKey.add(id);
    return id;
  }

  /** @internal */
  addSink(parent: string, port: string, sink: SinkSpec<unknown>): void {
    this.nodes.push({ id: `${this.nodes.length}-sink`, kind: 'sink', parent, port, sink });
  }

  /**
   * @internal A repartition (api/repartition.ts): the operator `kind` writes each record, keyed by its partitioning
   * key, to the internal topic `<job>-<operator id>-repartition`; the graph goes on from a source reading that topic,
   * whose id is returned. The topic has the partition count of the job's source (kafka/topics.ts).
   */
  addRepartition(parent: string, port: string, kind: string, write: OperatorFactory): string {
    const upstream = this.rootSourceOf(parent);
    const operatorId = this.addOperator(parent, port, kind, write);
    const topic = repartitionTopicOf(this.jobName, operatorId);
    this.addSink(operatorId, 'main', {
      kind: 'kafka',
      topic,
      key: (record) => record.key,
      value: (value) => value as string,
      internal: true,
    });
    const id = `${this.nodes.length}-source`;
    this.nodes.push({ id, kind: 'source', source: repartitionSource(topic, upstream) });
    return id;
  }

  /**
   * A stateful operator's own id (Flink's `uid`): its state is found under it whatever comes before it in the graph,
   * so adding or removing a step upstream keeps the state. Positional ids (`<index>-<kind>`) shift instead.
   */
  private checkedUid(uid: string, kind: string): string {
    if (!OPERATOR_UID.test(uid))
      throw new BvError('JOB_INVALID', `${kind} uid "${uid}" must match ${OPERATOR_UID}`, { details: { uid } });
    if (this.nodes.some((n) => n.id === uid))
      throw new BvError('JOB_INVALID', `two operators have the uid "${uid}": each needs its own`, { details: { uid } });
    return uid;
  }

  private rootSourceOf(id: string): SourceSpec<unknown> {
    for (let node = this.nodes.find((n) => n.id === id); node; ) {
      if (node.kind === 'source') return node.source;
      const parent = node.parent;
      node = this.nodes.find((n) => n.id === parent);
    }
    throw new BvError('JOB_INVALID', `node ${id} has no source`);
  }
}

/**
 * How `keyBy` brings a key's records together. `'repartition'` (the default, Kafka Streams' model): through the job's
 * internal topic keyed by the new key, so keyed state downstream sees every record of a key whatever partition it
 * came from. `'co-partitioned'`: the new key is the Kafka key the input is partitioned by (Kafka Streams'
 * groupByKey), no hop; a record whose Kafka key differs is dead-lettered as KEY_NOT_COPARTITIONED, never counted in
 * a partial result. `'none'`: the key only names the output records' key; a stateful operator after it is refused.
 */
export type KeyPartitioning = 'repartition' | 'co-partitioned' | 'none';

export interface KeyByOptions<T = unknown> {
  partitioning?: KeyPartitioning;
  /**
   * With `'co-partitioned'`: the key each record must already be partitioned by, when the new key refines it rather
   * than equals it (per device and metric on a stream keyed by device). Default: the new key itself. A record whose key
   * differs is dead-lettered as KEY_NOT_COPARTITIONED.
   */
  partitionedBy?: (value: T) => string;
}

export interface DedupeSpec<T> {
  ttl: Duration;
  /** The operator's own id for its state (Flink's uid); see WindowSpecOptions.uid. */
  uid?: string;
  /** The identity of an event; by default the envelope's eventId. */
  id?: (value: T) => string;
  /**
   * `'topic'` (the default): an id is unique across its topic; records are repartitioned by id through the job's
   * internal topic, deduplicated there and go on keyed as before (their Kafka key). `'partition'`: only within each
   * input partition (no hop), for ids known to be partitioned with the Kafka key; copies in other partitions pass.
   */
  scope?: 'topic' | 'partition';
}

export class Stream<T> {
  constructor(
    protected readonly job: JobBuilder,
    protected readonly nodeId: string,
    protected readonly port: string,
  ) {}

  protected chain<U>(kind: string, factory: OperatorFactory, state: readonly string[] = []): Stream<U> {
    return new Stream<U>(this.job, this.job.addOperator(this.nodeId, this.port, kind, factory, state), 'main');
  }

  map<U>(fn: MapFunction<T, U>): Stream<U> {
    return this.chain('map', mapOperator(fn));
  }

  filter(predicate: (value: T, origin: Origin) => boolean): Stream<T> {
    return this.chain('filter', filterOperator(predicate));
  }

  /** Narrows the type with a type guard, e.g. envelopes of one eventType. */
  filterType<U extends T>(guard: (value: T) => value is U): Stream<U> {
    return this.chain('filter', filterOperator(guard));
  }

  flatMap<U>(fn: (value: T, origin: Origin) => Iterable<U>): Stream<U> {
    return this.chain('flatMap', flatMapOperator(fn));
  }

  /** Takes event time from the value instead of the source's. */
  withEventTime(timestampOf: (value: T) => number): Stream<T> {
    return this.chain('eventTime', eventTimeOperator(timestampOf));
  }

  /**
   * Drops events whose id (the envelope's eventId by default) was seen within the TTL, across the whole topic by
   * default (see DedupeSpec.scope). An envelope seen again with other content is dead-lettered as
   * CONFLICTING_DUPLICATE, never dropped silently.
   */
  dedupe(options: DedupeSpec<T>): Stream<T> {
    const scope = options.scope ?? 'topic';
    if (scope !== 'topic' && scope !== 'partition')
      throw new BvError('JOB_INVALID', `dedupe scope "${String(scope)}" must be 'topic' or 'partition'`);
    const identity = { uid: options.uid, signature: 'dedupe' };
    if (scope === 'partition')
      return new Stream<T>(
        this.job,
        this.job.addOperator(this.nodeId, this.port, 'dedupe', dedupeOperator(options), ['seen'], identity),
        'main',
      );
    const idOf = options.id;
    // Repartitioned by id, the stream keeps its key (the Kafka key, e.g. the aggregate id) after the hop.
    // No id: the record passes dedupe (as without a repartition), wherever it lands.
    const write = repartitionWriteOperator(
      (record) => (idOf ? idOf(record.value as T) : record.origin.eventId),
      'previous',
      'dedupe',
    );
    const source = this.job.addRepartition(this.nodeId, this.port, 'dedupe', write);
    this.job.spreadByOtherKey.add(source);
    return new Stream<T>(
      this.job,
      this.job.addOperator(source, 'main', 'dedupe', dedupeOperator(options), ['seen'], identity),
      'main',
    );
  }

  /**
   * Keys the stream for keyed state (windows, z-score). By default through a repartition topic, so every record of a
   * key meets in one task (see KeyPartitioning).
   */
  keyBy(keyOf: (value: T) => string, options: KeyByOptions<T> = {}): KeyedStream<T> {
    const partitioning = options.partitioning ?? 'repartition';
    if (partitioning === 'co-partitioned') {
      if (this.job.spreadByOtherKey.has(this.nodeId))
        throw new BvError(
          'JOB_INVALID',
          `keyBy with partitioning 'co-partitioned' after dedupe: dedupe repartitioned the stream by eventId, so a key's records are in several partitions; use keyBy(fn) (repartition)`,
          { details: { node: this.nodeId } },
        );
      return new KeyedStream<T>(
        this.job,
        this.job.addOperator(this.nodeId, this.port, 'keyBy', coPartitionedKeyOperator(keyOf, options.partitionedBy)),
        'main',
        partitioning,
      );
    }
    if (partitioning === 'none')
      return new KeyedStream<T>(
        this.job,
        this.job.addOperator(this.nodeId, this.port, 'keyBy', keyByOperator(keyOf)),
        'main',
        partitioning,
      );
    if (partitioning !== 'repartition')
      throw new BvError(
        'JOB_INVALID',
        `keyBy partitioning "${String(partitioning)}" must be 'repartition', 'co-partitioned' or 'none'`,
      );
    const write = repartitionWriteOperator((record) => keyOf(record.value as T), 'partition-key', 'keyBy');
    return new KeyedStream<T>(
      this.job,
      this.job.addRepartition(this.nodeId, this.port, 'keyBy', write),
      'main',
      partitioning,
    );
  }

  to(sink: SinkSpec<T>): this {
    this.job.addSink(this.nodeId, this.port, sink as SinkSpec<unknown>);
    return this;
  }
}

export interface WindowSpecOptions {
  /** How long after a window's end a late event is still taken in (default 0). */
  allowedLateness?: Duration;
  /**
   * What the window emits. `'revisions'` (the default): its result when the watermark passes its end (revision 0),
   * then an update with the next revision for each late event within the allowed lateness; the latest revision of
   * (key, windowStart) is the answer. `'final'`: one result per window (revision 0), when the watermark passes its end
   * plus the allowed lateness, late events within it folded in first (Kafka Streams' suppress untilWindowCloses);
   * later ones go to the `late` side output. Final results come `allowedLateness` later, and are never revised.
   */
  emit?: 'revisions' | 'final';
  /**
   * The operator's own id for its state (Flink's uid): keeps the state found when steps are added or removed before
   * it. Without one the id is positional. A redeploy whose operator under an id keeps different state (another
   * window kind, aggregate or emit mode) is refused while the job has state (`bv jobs reset` empties it).
   */
  uid?: string;
}

export class KeyedStream<T> extends Stream<T> {
  constructor(
    job: JobBuilder,
    nodeId: string,
    port: string,
    readonly partitioning: KeyPartitioning = 'co-partitioned',
  ) {
    super(job, nodeId, port);
  }

  /** Keyed state needs every record of a key in one task: refused after a keyBy that does not bring them together. */
  private requirePartitioned(operator: string): void {
    if (this.partitioning === 'none')
      throw new BvError(
        'JOB_INVALID',
        `${operator} keeps keyed state, but the keyBy before it (partitioning: 'none') does not bring a key's records into one partition: each partition would give its own partial result; use keyBy(fn) (repartition) or partitioning: 'co-partitioned'`,
        { details: { operator, partitioning: this.partitioning } },
      );
  }

  window<A, R>(
    assigner: WindowAssigner,
    aggregate: Aggregate<T, A, R>,
    options: WindowSpecOptions = {},
  ): WindowedStream<T, R> {
    this.requirePartitioned(`${assigner.kind} window`);
    const allowedLateness = toMillis(options.allowedLateness ?? 0, 'allowedLateness');
    const emit = options.emit ?? 'revisions';
    if (emit !== 'revisions' && emit !== 'final')
      throw new BvError('JOB_INVALID', `window emit must be 'revisions' or 'final', got ${JSON.stringify(emit)}`, {
        details: { emit },
      });
    // Final-only is the revisions operator without lateness, behind a watermark held back by the lateness.
    const operatorLateness = emit === 'final' ? 0 : allowedLateness;
    const revisions =
      assigner.kind === 'session'
        ? sessionWindowOperator(assigner.gap, aggregate, { allowedLateness: operatorLateness })
        : fixedWindowOperator(assigner, aggregate, { allowedLateness: operatorLateness });
    const factory = emit === 'final' ? finalOnly(revisions, allowedLateness) : revisions;
    const state = assigner.kind === 'session' ? ['sessions'] : ['windows'];
    const id = this.job.addOperator(this.nodeId, this.port, `${assigner.kind}Window`, factory, state, {
      uid: options.uid,
      signature: windowSignature(assigner, aggregate, emit),
    });
    return new WindowedStream<T, R>(this.job, id, 'main');
  }

  /**
   * A keyed process function (Flink's KeyedProcessFunction, reduced): per key one JSON state value and at most one
   * event-time timer, both checkpointed with the task; what it emits stays keyed by the same key.
   */
  process<U, S>(fn: KeyedProcessFunction<T, U, S>, options: { uid?: string } = {}): KeyedStream<U> {
    this.requirePartitioned('process');
    const id = this.job.addOperator(this.nodeId, this.port, 'process', processOperator(fn), PROCESS_STATE, {
      uid: options.uid,
      signature: 'process',
    });
    return new KeyedStream<U>(this.job, id, 'main');
  }

  /**
   * Rolling z-score per key: emits anomaly episodes (one `open` and one `closed` event per episode, the alerts);
   * `.scores()` is every scored point. The options are checked here (BvError `ANOMALY_BAD_OPTION`).
   */
  zScore(options: ZScoreOptions<T>): AnomalyStream {
    this.requirePartitioned('zScore');
    const id = this.job.addOperator(this.nodeId, this.port, 'zScore', zScoreOperator(options), ZSCORE_STATE, {
      uid: options.uid,
      signature: zScoreSignature(options),
    });
    return new AnomalyStream(this.job, id, 'main');
  }
}

export class AnomalyStream extends Stream<AnomalyEpisode> {
  /** Every scored point, anomalous or not, with its raw z and calibrated score. */
  scores(): Stream<AnomalyScore> {
    return new Stream<AnomalyScore>(this.job, this.nodeId, SCORES);
  }
}

export class WindowedStream<T, R> extends Stream<WindowResult<R>> {
  /** Events that arrived after their windows' allowed lateness. */
  lateEvents(): Stream<T> {
    return new Stream<T>(this.job, this.nodeId, LATE);
  }
}

export interface JobSpec {
  /** Lowercase letters, digits and dashes; names the consumer group, transactional ids and the changelog. */
  name: string;
  description?: string;
  guarantee?: DeliveryGuarantee;
  maxBatchRecords?: number;
  maxBatchWait?: Duration;
  /** How far ahead of the wall clock an event time may be (default 1 h); later ones are dead-lettered. */
  eventTimeTolerance?: Duration;
  build: (job: JobBuilder) => void;
}

export const JOB_NAME = /^[a-z][a-z0-9-]{1,62}$/;
/** A stateful operator's uid: a letter, then letters, digits and dashes (no leading digit, unlike positional ids). */
export const OPERATOR_UID = /^[a-z][a-z0-9-]{0,62}$/;

export function defineJob(spec: JobSpec): JobDefinition {
  if (!JOB_NAME.test(spec.name)) throw new BvError('JOB_INVALID', `job name "${spec.name}" must match ${JOB_NAME}`);
  const builder = new JobBuilder(spec.name);
  spec.build(builder);
  if (!builder.nodes.some((n) => n.kind === 'source'))
    throw new BvError('JOB_INVALID', `job ${spec.name} has no source`);
  if (!builder.nodes.some((n) => n.kind === 'sink')) throw new BvError('JOB_INVALID', `job ${spec.name} has no sink`);
  const topics = builder.nodes.flatMap((n) => (n.kind === 'source' ? n.source.topics : []));
  const repeated = topics.filter((topic, i) => topics.indexOf(topic) !== i);
  if (repeated.length > 0) {
    // A task runs the graph of its partition's one source: branch one source's stream instead.
    throw new BvError(
      'JOB_INVALID',
      `job ${spec.name} reads ${repeated.join(', ')} from more than one source; use one source and branch it`,
    );
  }
  const systems = new Set(
    builder.nodes.flatMap((n) => (n.kind === 'sink' && n.sink.kind === 'transactional' ? [n.sink.system] : [])),
  );
  if (systems.size > 0) {
    // Output and offsets commit in one transaction of one system: a second system, or Kafka sinks beside it, could not
    // be part of that commit.
    if (systems.size > 1 || builder.nodes.some((n) => n.kind === 'sink' && n.sink.kind === 'kafka' && !n.sink.internal))
      throw new BvError(
        'JOB_INVALID',
        `job ${spec.name} mixes sinks of different systems; a job commits into one system`,
      );
    // State is checkpointed to a Kafka changelog and the output to the other system: the two cannot commit together.
    const stateful = builder.nodes.filter((n) => n.kind === 'operator' && n.state.length > 0).map((n) => n.id);
    if (stateful.length > 0)
      throw new BvError(
        'JOB_INVALID',
        `job ${spec.name} writes into ${[...systems][0]?.name} and keeps keyed state (${stateful.join(', ')}): state is checkpointed to Kafka, the output to ${[...systems][0]?.name}, and the two cannot commit together; split it into a Kafka-to-Kafka job and a stateless landing job`,
        { details: { job: spec.name, statefulOperators: stateful } },
      );
    if (spec.guarantee === 'at-least-once')
      throw new BvError(
        'JOB_INVALID',
        `job ${spec.name}: a transactional sink commits its offsets itself, always exactly-once`,
      );
    const internal = builder.nodes.flatMap((n) =>
      n.kind === 'source' && n.source.repartitionOf ? n.source.topics : [],
    );
    if (internal.length > 0)
      throw new BvError(
        'JOB_INVALID',
        `job ${spec.name} writes into ${[...systems][0]?.name} and repartitions through ${internal.join(', ')}: the repartition topic commits with Kafka, the output with ${[...systems][0]?.name}; repartition in a Kafka-to-Kafka job and land its output in a stateless job`,
        { details: { job: spec.name, repartitionTopics: internal } },
      );
  }
  return {
    name: spec.name,
    description: spec.description ?? '',
    options: {
      guarantee: spec.guarantee ?? 'exactly-once',
      maxBatchRecords: spec.maxBatchRecords ?? 5000,
      maxBatchWait: toMillis(spec.maxBatchWait ?? '100ms', 'maxBatchWait'),
      eventTimeTolerance: toMillis(spec.eventTimeTolerance ?? '1h', 'eventTimeTolerance'),
    },
    nodes: builder.nodes,
  };
}

/** The job's internal repartition topics (it writes and reads them). */
export function repartitionTopics(job: JobDefinition): string[] {
  return job.nodes.flatMap((n) => (n.kind === 'source' && n.source.repartitionOf ? n.source.topics : []));
}

/** The topics a job reads, its internal repartition topics included. */
export function sourceTopics(job: JobDefinition): string[] {
  return job.nodes.flatMap((n) => (n.kind === 'source' ? n.source.topics : []));
}

/** The topics a job writes (not counting dead-letter topics). */
export function sinkTopics(job: JobDefinition): string[] {
  return [
    ...new Set(
      job.nodes.flatMap((n) =>
        n.kind === 'sink' && n.sink.kind === 'kafka' && !n.sink.internal ? [n.sink.topic] : [],
      ),
    ),
  ];
}

/** The transactional system a job's sinks write into, when they are not Kafka topics. */
export function transactionalSystemOf(job: JobDefinition): TransactionalSystem | undefined {
  for (const node of job.nodes) if (node.kind === 'sink' && node.sink.kind === 'transactional') return node.sink.system;
  return undefined;
}

export type { Envelope };
