import { BvError } from '@bitvelocity/core';

/**
 * Where a subscriber stands in the feed: for each partition of the topics it reads, the offset of the next record it
 * has not been shown. Everything of interest to it before that offset has been delivered; nothing at or after it has.
 * Its text form is the resume token: `<topic>:<partition>:<next offset>` per partition, comma-separated.
 */
export type Cursor = Map<string, bigint>;

export const partitionKey = (topic: string, partition: number) => `${topic}:${partition}`;

/** The resume token of a cursor over `topics`; a topic without partitions yet is written as partition 0 at 0. */
export function encodeCursor(cursor: Cursor, topics: readonly string[]): string {
  const parts = [...cursor].map(([partition, offset]) => `${partition}:${offset}`);
  for (const topic of topics)
    if (![...cursor.keys()].some((key) => key.startsWith(`${topic}:`))) parts.push(`${topic}:0:0`);
  return parts.join(',');
}

const PART = /^([A-Za-z0-9._-]+):(\d{1,6}):(\d{1,19})$/;

/**
 * Parses a resume token against the topics the subscription reads. Every subscribed topic must appear (a token of
 * another subscription would silently skip a topic); a partition the token does not name was created after it and
 * is read from its start.
 */
export function decodeCursor(
  token: string,
  topics: readonly string[],
  partitionsOf: (topic: string) => number,
): Cursor {
  const invalid = (why: string) =>
    new BvError('NOTIFY_RESUME_INVALID', `the resume token is not valid: ${why}; subscribe without one to start over`);
  if (token.length > 8192) throw invalid('it is longer than 8192 characters');
  const named = new Map<string, bigint>();
  for (const part of token.split(',')) {
    const match = PART.exec(part);
    if (!match) throw invalid(`"${part.slice(0, 80)}" is not <topic>:<partition>:<offset>`);
    const [, topic = '', partition = '0', offset = '0'] = match;
    if (!topics.includes(topic)) throw invalid(`it names ${topic}, which this subscription does not read`);
    // Offset 0 of a partition the feed does not know yet is the start of a topic created after the token.
    if (Number(partition) >= partitionsOf(topic) && offset !== '0')
      throw invalid(`${topic} has no partition ${partition}`);
    named.set(partitionKey(topic, Number(partition)), BigInt(offset));
  }
  const cursor: Cursor = new Map();
  for (const topic of topics) {
    if (![...named.keys()].some((key) => key.startsWith(`${topic}:`)))
      throw invalid(`it does not cover ${topic}, which this subscription reads`);
    for (let partition = 0; partition < partitionsOf(topic); partition++) {
      const key = partitionKey(topic, partition);
      cursor.set(key, named.get(key) ?? 0n);
    }
  }
  return cursor;
}
