/**
 * An offset range an operator told a job to skip (`bv jobs skip`): the runtime sends each record in it to the
 * dead-letter topic with code SKIPPED_BY_OPERATOR instead of processing it, so nothing is lost and the skip is on record.
 */
export interface OffsetSkip {
  topic: string;
  partition: number;
  /** Inclusive. */
  fromOffset: bigint;
  /** Inclusive. */
  toOffset: bigint;
  reason: string;
  requestedAt: string;
}

/** The skip covering this record, if any. */
export function skipOf(
  skips: readonly OffsetSkip[] | undefined,
  record: { topic: string; partition: number; offset: bigint },
): OffsetSkip | undefined {
  if (!skips) return undefined;
  return skips.find(
    (s) =>
      s.topic === record.topic &&
      s.partition === record.partition &&
      record.offset >= s.fromOffset &&
      record.offset <= s.toOffset,
  );
}
