import { describe, expect, it } from 'vitest';
import { waitFor } from '../src/index.js';

describe('waitFor', () => {
  it('returns the first value the probe gives', async () => {
    let calls = 0;
    const value = await waitFor('the third probe', async () => (++calls >= 3 ? calls : undefined), { intervalMs: 5 });
    expect(value).toBe(3);
  });

  it('throws WAIT_TIMED_OUT naming what it waited for once the time is up', async () => {
    await expect(waitFor('nothing', async () => undefined, { timeoutMs: 30, intervalMs: 5 })).rejects.toMatchObject({
      code: 'WAIT_TIMED_OUT',
      message: expect.stringContaining('waiting for nothing'),
    });
  });

  it('ends with the error of a probe that throws, and with the caller’s own timeout error', async () => {
    await expect(waitFor('x', async () => Promise.reject(new Error('broken')))).rejects.toThrow('broken');
    await expect(
      waitFor('x', async () => undefined, { timeoutMs: 10, intervalMs: 5, timeoutError: () => new Error('own') }),
    ).rejects.toThrow('own');
  });
});
