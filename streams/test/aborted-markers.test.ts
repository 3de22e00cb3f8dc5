import { describe, expect, it } from 'vitest';
import { repairAbortedTransactions } from '../src/kafka/aborted-markers.js';

const marker = (type: number) => {
  const key = Buffer.alloc(4);
  key.writeInt16BE(type, 2);
  return [{ key }];
};

describe('regression: an abort marker of an unlisted producer crashed the worker in the client’s read_committed filter', () => {
  it('lists the marker’s producer with an empty range, and leaves commit markers and listed producers alone', () => {
    const partition = {
      abortedTransactions: [{ producerId: 1n, firstOffset: 10n }],
      records: [
        { firstOffset: 10n, attributes: 0b1_0000, producerId: 1n, records: [{ key: null }] },
        { firstOffset: 11n, attributes: 0b11_0000, producerId: 1n, records: marker(0) },
        { firstOffset: 12n, attributes: 0b11_0000, producerId: 2n, records: marker(0) }, // aborted, wrote nothing here
        { firstOffset: 13n, attributes: 0b11_0000, producerId: 3n, records: marker(1) }, // a commit
      ],
    };
    repairAbortedTransactions({ responses: [{ partitions: [partition] }] });
    expect(partition.abortedTransactions).toEqual([
      { producerId: 1n, firstOffset: 10n },
      { producerId: 2n, firstOffset: 12n },
    ]);
    // Other responses pass untouched.
    expect(() => repairAbortedTransactions({ throttleTimeMs: 0 })).not.toThrow();
    expect(() => repairAbortedTransactions(null)).not.toThrow();
  });
});
