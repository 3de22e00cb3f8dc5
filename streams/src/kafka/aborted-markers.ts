import { subscribe } from 'node:diagnostics_channel';

/**
 * Works around a crash in @platformatic/kafka 1.35's read_committed fetch: when a fetched partition lists aborted
 * transactions and also holds an abort marker of a producer the list does not name (a transaction that added the
 * partition and was aborted before it wrote anything there, as a fenced or killed task's can be), the client's own
 * filter throws a TypeError inside the socket callback and the worker process dies, on every restart. Repartition
 * topics, written by transactions that are aborted when a worker dies, meet it.
 *
 * Before the client sees a fetch response (the `connections:api` tracing channel's asyncStart), each such marker's
 * producer is added to the partition's aborted list with the marker's own offset: an empty range, which filters
 * nothing. PartitionFetcher filters aborted records itself (kafka/fetcher.ts), and stays right with it.
 */
interface Batch {
  firstOffset: bigint;
  attributes: number;
  producerId: bigint;
  records?: { key?: Buffer | null }[];
}
interface FetchPartition {
  abortedTransactions?: { producerId: bigint; firstOffset: bigint }[] | null;
  records?: Batch[] | null;
}

const IS_CONTROL = 0b10_0000;

export function repairAbortedTransactions(result: unknown): void {
  const responses = (result as { responses?: { partitions?: FetchPartition[] }[] } | null)?.responses;
  if (!Array.isArray(responses)) return;
  for (const topic of responses) {
    for (const partition of topic.partitions ?? []) {
      const aborted = partition.abortedTransactions;
      if (!Array.isArray(aborted) || aborted.length === 0 || !Array.isArray(partition.records)) continue;
      const listed = new Set(aborted.map((a) => a.producerId));
      for (const batch of partition.records) {
        if (!(batch.attributes & IS_CONTROL) || listed.has(batch.producerId)) continue;
        if (batch.records?.[0]?.key?.readInt16BE(2) !== 0) continue; // a commit marker
        aborted.push({ producerId: batch.producerId, firstOffset: batch.firstOffset });
        listed.add(batch.producerId);
      }
    }
  }
}

let installed = false;

export function installAbortedTransactionsRepair(): void {
  if (installed) return;
  installed = true;
  subscribe('tracing:plt:kafka:connections:api:asyncStart', (message) => {
    const context = message as { result?: unknown };
    if (context.result) repairAbortedTransactions(context.result);
  });
}
