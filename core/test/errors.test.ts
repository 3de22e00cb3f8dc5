import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BvError, retry } from '../src/index.js';
import { isRetriable } from '../src/retry.js';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');

/** The members of the ErrorCode union, read from its source (types do not exist at run time). */
function codesInUnion(): string[] {
  const union = /export type ErrorCode =([^;]*);/.exec(read('../src/errors.ts'))?.[1] ?? '';
  return [...union.matchAll(/'([A-Z0-9_]+)'/g)].map((m) => m[1] as string);
}

/** The first cell of every table row of docs/errors.md that holds a code. */
function codesInDocs(): string[] {
  return [...read('../../docs/errors.md').matchAll(/^\|\s*`?([A-Z][A-Z0-9_]+)`?\s*\|/gm)].map((m) => m[1] as string);
}

describe('error codes', () => {
  it('every code of the ErrorCode union is documented in docs/errors.md, once, and every documented code exists', () => {
    const union = codesInUnion();
    const documented = codesInDocs();
    expect(union.length).toBeGreaterThan(20);
    expect(documented.filter((code, i) => documented.indexOf(code) !== i)).toEqual([]);
    expect([...documented].sort()).toEqual([...new Set(union)].sort());
  });
});

describe('retry', () => {
  it('retries an error made retriable until it succeeds, with growing waits', async () => {
    const waits: number[] = [];
    let attempts = 0;
    const result = await retry(
      async () => {
        attempts++;
        if (attempts < 4) throw new BvError('LAKE_COMMIT_CONFLICT', 'conflict', { retriable: true });
        return 'done';
      },
      { initialRetryTime: 5, factor: 0, onRetry: (_e, _n, wait) => waits.push(wait) },
    );
    expect(result).toBe('done');
    expect(attempts).toBe(4);
    expect(waits).toEqual([5, 10, 20]);
  });

  it('does not retry an error that is not retriable, whatever its message says', async () => {
    let attempts = 0;
    const failing = retry(async () => {
      attempts++;
      throw new BvError('LAKE_FENCED', 'transaction conflict (words alone decide nothing)');
    });
    await expect(failing).rejects.toMatchObject({ code: 'LAKE_FENCED' });
    expect(attempts).toBe(1);
    expect(isRetriable(new Error('conflict'))).toBe(false);
  });

  it('gives up after `retries` and rethrows the last error; no wait is longer than maxRetryTime', async () => {
    const waits: number[] = [];
    let attempts = 0;
    const failing = retry(
      async () => {
        attempts++;
        throw new BvError('CONNECT_REQUEST_FAILED', `attempt ${attempts}`, { retriable: true });
      },
      {
        retries: 3,
        initialRetryTime: 4,
        multiplier: 10,
        maxRetryTime: 50,
        onRetry: (_e, _n, wait) => waits.push(wait),
      },
    );
    await expect(failing).rejects.toThrow('attempt 4');
    expect(attempts).toBe(4);
    expect(waits.every((w) => w <= 50)).toBe(true);
    expect(waits[2]).toBe(50);
  });
});
