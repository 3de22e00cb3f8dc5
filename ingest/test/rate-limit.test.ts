import { describe, expect, it } from 'vitest';
import { DeviceRateLimiter } from '../src/index.js';

describe('DeviceRateLimiter', () => {
  it('lets a device burst, then refills at its rate, and keeps every device apart', () => {
    let now = 0;
    const limiter = new DeviceRateLimiter({ ratePerSecond: 10, burst: 5 }, () => now);
    const take = (key: string, n: number) => Array.from({ length: n }, () => limiter.take(key)).filter(Boolean).length;
    expect(take('t:flood', 20)).toBe(5);
    expect(take('t:calm', 5)).toBe(5); // the flood did not use the other device's tokens
    now += 300; // 3 tokens back
    expect(take('t:flood', 20)).toBe(3);
    now += 10_000;
    expect(take('t:flood', 20)).toBe(5); // never more than the burst
  });

  it('forgets devices whose bucket is full again', () => {
    let now = 0;
    const limiter = new DeviceRateLimiter({ ratePerSecond: 1, burst: 2 }, () => now);
    limiter.take('a');
    limiter.take('b');
    now += 500;
    expect(limiter.sweep()).toBe(2);
    now += 1000;
    expect(limiter.sweep()).toBe(0);
  });
});
