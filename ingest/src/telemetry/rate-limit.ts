/** Per-device limits: `ratePerSecond` readings sustained, bursts of up to `burst`. */
export interface RateLimit {
  ratePerSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per device key (`<tenant>:<deviceId>`). Each device has its own bucket, so one flooding device
 * runs out of tokens while every other device keeps its own. Buckets that refilled completely are forgotten on
 * sweep(), so memory follows the number of recently active devices.
 */
export class DeviceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(limit.ratePerSecond > 0) || !(limit.burst >= 1))
      throw new Error('rate limit needs ratePerSecond > 0, burst >= 1');
  }

  /** Takes one token for the device; false when it has none left (the reading is over the limit). */
  take(key: string): boolean {
    return this.takeUpTo(key, 1) === 1;
  }

  /**
   * Takes up to `count` tokens for the device at once (the readings of one message, in order): how many it got; the
   * readings past that are over the limit. The same outcome as `count` calls of take(), for one clock read.
   */
  takeUpTo(key: string, count: number): number {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.limit.burst, updatedAt: now };
      this.buckets.set(key, bucket);
    } else {
      const refill = ((now - bucket.updatedAt) / 1000) * this.limit.ratePerSecond;
      bucket.tokens = Math.min(this.limit.burst, bucket.tokens + refill);
      bucket.updatedAt = now;
    }
    const granted = Math.max(0, Math.min(count, Math.floor(bucket.tokens)));
    bucket.tokens -= granted;
    return granted;
  }

  /** Forgets buckets that are full again; returns how many devices are still tracked. */
  sweep(): number {
    const now = this.now();
    for (const [key, bucket] of this.buckets) {
      const tokens = bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.limit.ratePerSecond;
      if (tokens >= this.limit.burst) this.buckets.delete(key);
    }
    return this.buckets.size;
  }
}
