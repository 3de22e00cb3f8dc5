import { type Consumer, FetchIsolationLevels, ListOffsetTimestamps } from '@platformatic/kafka';
import type { RawRecord } from '../api/record.js';
import { installAbortedTransactionsRepair } from './aborted-markers.js';

const IS_TRANSACTIONAL = 1 << 4;
const IS_CONTROL = 1 << 5;
const OFFSET_OUT_OF_RANGE = 1;

export interface PartitionPosition {
  topic: string;
  partition: number;
  offset: bigint;
}

export interface FetchedPartition {
  records: RawRecord[];
  /** Where the next fetch should start (past control records too). */
  nextOffset: bigint;
  /** Last stable offset: the end of what read_committed may read. */
  lastStableOffset: bigint;
}

export const partitionId = (topic: string, partition: number) => `${topic}:${partition}`;

type BrokerConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;

/**
 * Reads partitions at explicit positions with read_committed semantics.
 *
 * The client's own read_committed filter keeps an aborted transaction's records when the fetch response ends before
 * the abort marker; this reader applies the Java client's rule instead (skip a producer's transactional batches from
 * the aborted transaction's first offset until its abort marker, carried across fetches).
 */
export class PartitionFetcher {
  /** Per partition: producer ids inside an aborted transaction we have not yet seen the end of. */
  private readonly aborting = new Map<string, Set<bigint>>();

  constructor(private readonly consumer: BrokerConsumer) {
    installAbortedTransactionsRepair();
  }

  forget(topic: string, partition: number): void {
    this.aborting.delete(partitionId(topic, partition));
  }

  async fetch(
    positions: PartitionPosition[],
    options: { maxWaitTime: number; maxBytes?: number; partitionMaxBytes?: number },
  ): Promise<Map<string, FetchedPartition>> {
    const result = new Map<string, FetchedPartition>();
    if (positions.length === 0) return result;
    const topics = [...new Set(positions.map((p) => p.topic))];
    const metadata = await this.consumer.metadata({ topics });
    const byLeader = new Map<number, Map<string, { topicId: string; partitions: PartitionPosition[] }>>();
    const topicNames = new Map<string, string>();
    for (const position of positions) {
      const topic = metadata.topics.get(position.topic);
      const partition = topic?.partitions[position.partition];
      if (!topic || !partition) throw new Error(`partition ${position.topic}[${position.partition}] does not exist`);
      topicNames.set(topic.id, position.topic);
      let requests = byLeader.get(partition.leader);
      if (!requests) {
        requests = new Map();
        byLeader.set(partition.leader, requests);
      }
      let request = requests.get(position.topic);
      if (!request) {
        request = { topicId: topic.id, partitions: [] };
        requests.set(position.topic, request);
      }
      request.partitions.push(position);
    }
    const offsetOf = new Map(positions.map((p) => [partitionId(p.topic, p.partition), p.offset]));
    await Promise.all(
      [...byLeader].map(async ([node, requests]) => {
        const response = await this.consumer.fetch({
          node,
          maxWaitTime: options.maxWaitTime,
          maxBytes: options.maxBytes ?? 16 * 1024 * 1024,
          minBytes: 1,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
          topics: [...requests.values()].map((r) => ({
            topicId: r.topicId,
            partitions: r.partitions.map((p) => ({
              partition: p.partition,
              fetchOffset: p.offset,
              partitionMaxBytes: options.partitionMaxBytes ?? 4 * 1024 * 1024,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            })),
          })),
        } as Parameters<BrokerConsumer['fetch']>[0]);
        for (const topicResponse of response.responses) {
          const topic = topicNames.get(topicResponse.topicId);
          if (topic === undefined) continue;
          for (const partitionResponse of topicResponse.partitions) {
            const id = partitionId(topic, partitionResponse.partitionIndex);
            const requested = offsetOf.get(id) ?? 0n;
            if (partitionResponse.errorCode === OFFSET_OUT_OF_RANGE) {
              // Retention removed what we wanted: resume at the earliest offset that still exists.
              const earliest = await this.earliest(topic, partitionResponse.partitionIndex);
              result.set(id, { records: [], nextOffset: earliest, lastStableOffset: earliest });
              continue;
            }
            if (partitionResponse.errorCode !== 0) {
              throw new Error(`fetch of ${id} failed with Kafka error ${partitionResponse.errorCode}`);
            }
            result.set(id, this.decode(topic, partitionResponse, requested));
          }
        }
      }),
    );
    return result;
  }

  private decode(
    topic: string,
    response: {
      partitionIndex: number;
      lastStableOffset: bigint;
      abortedTransactions: { producerId: bigint; firstOffset: bigint }[];
      records?: {
        firstOffset: bigint;
        lastOffsetDelta: number;
        attributes: number;
        producerId: bigint;
        firstTimestamp: bigint;
        records: {
          offsetDelta: number;
          timestampDelta: bigint;
          key: Buffer | null;
          value: Buffer | null;
          headers: [Buffer | null, Buffer | null][];
        }[];
      }[];
    },
    requested: bigint,
  ): FetchedPartition {
    const partition = response.partitionIndex;
    const id = partitionId(topic, partition);
    let aborting = this.aborting.get(id);
    if (!aborting) {
      aborting = new Set();
      this.aborting.set(id, aborting);
    }
    const aborted = [...(response.abortedTransactions ?? [])].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1));
    const records: RawRecord[] = [];
    let nextOffset = requested;
    for (const batch of response.records ?? []) {
      const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta);
      while (aborted.length > 0 && (aborted[0]?.firstOffset ?? 0n) <= lastOffset) {
        aborting.add((aborted.shift() as { producerId: bigint }).producerId);
      }
      if (lastOffset + 1n > nextOffset) nextOffset = lastOffset + 1n;
      if (batch.attributes & IS_CONTROL) {
        // Control record key: version (int16) then type (int16): 0 = abort, 1 = commit.
        const type = batch.records[0]?.key?.readInt16BE(2);
        if (type === 0) aborting.delete(batch.producerId);
        continue;
      }
      if (batch.attributes & IS_TRANSACTIONAL && aborting.has(batch.producerId)) continue;
      for (const record of batch.records) {
        const offset = batch.firstOffset + BigInt(record.offsetDelta);
        if (offset < requested) continue;
        const headers = new Map<string, Buffer>();
        for (const [key, value] of record.headers) if (key) headers.set(key.toString('utf8'), value ?? Buffer.alloc(0));
        records.push({
          topic,
          partition,
          offset,
          timestamp: Number(batch.firstTimestamp + record.timestampDelta),
          key: record.key ?? undefined,
          value: record.value ?? undefined,
          headers,
        });
      }
    }
    return { records, nextOffset, lastStableOffset: response.lastStableOffset };
  }

  async earliest(topic: string, partition: number): Promise<bigint> {
    const offsets = await this.consumer.listOffsets({
      topics: [topic],
      partitions: { [topic]: [partition] },
      timestamp: ListOffsetTimestamps.EARLIEST,
    });
    return offsets.get(topic)?.[partition] ?? 0n;
  }

  /** The last stable offset (read_committed end) of a partition. */
  async end(topic: string, partition: number): Promise<bigint> {
    const offsets = await this.consumer.listOffsets({
      topics: [topic],
      partitions: { [topic]: [partition] },
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    });
    return offsets.get(topic)?.[partition] ?? 0n;
  }
}
