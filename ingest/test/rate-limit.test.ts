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

  it('grants the readings of one message at once as many as one-by-one takes would', () => {
    let now = 0;
    const limiter = new DeviceRateLimiter({ ratePerSecond: 10, burst: 5 }, () => now);
    expect(limiter.takeUpTo('t:batch', 3)).toBe(3);
    expect(limiter.takeUpTo('t:batch', 100)).toBe(2);
    expect(limiter.takeUpTo('t:batch', 100)).toBe(0);
    now += 250; // 2.5 tokens back: two whole readings
    expect(limiter.takeUpTo('t:batch', 100)).toBe(2);
    expect(limiter.take('t:batch')).toBe(false);
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
