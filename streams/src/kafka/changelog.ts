import type { ChangelogEntry } from '../runtime/task.js';
import { type PartitionFetcher, partitionId } from './fetcher.js';

/** Reads a task's changelog partition from its start to its end: the state to restore, in order. */
export async function readChangelog(
  fetcher: PartitionFetcher,
  topic: string,
  partition: number,
): Promise<ChangelogEntry[]> {
  const entries: ChangelogEntry[] = [];
  let position = await fetcher.earliest(topic, partition);
  const end = await fetcher.end(topic, partition);
  while (position < end) {
    const fetched = (await fetcher.fetch([{ topic, partition, offset: position }], { maxWaitTime: 100 })).get(
      partitionId(topic, partition),
    );
    if (!fetched) break;
    for (const record of fetched.records) {
      if (record.offset >= end) break;
      if (!record.key) continue;
      entries.push({ key: record.key.toString('utf8'), value: record.value ? record.value.toString('utf8') : null });
    }
    if (fetched.nextOffset <= position) break;
    position = fetched.nextOffset;
  }
  fetcher.forget(topic, partition);
  return entries;
}
