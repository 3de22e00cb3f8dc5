import { randomFillSync } from 'node:crypto';

/**
 * W3C trace and span ids drawn from a pool of random bytes refilled 4 KiB at a time: a `randomBytes(16)` call per
 * MQTT message cost more CPU than validating its reading.
 */
export class TraceIds {
  private readonly pool = Buffer.allocUnsafe(4096);
  private offset = this.pool.length;

  /** 32 hex digits, never all zero (W3C: an all-zero trace id is invalid). */
  traceId(): string {
    return this.hex(16);
  }

  /** 16 hex digits for the traceparent's parent id. */
  spanId(): string {
    return this.hex(8);
  }

  /** `00-<traceId>-<spanId>-01` (sampled). */
  traceparent(traceId: string): string {
    return `00-${traceId}-${this.spanId()}-01`;
  }

  private hex(bytes: number): string {
    for (;;) {
      if (this.offset + bytes > this.pool.length) {
        randomFillSync(this.pool);
        this.offset = 0;
      }
      const start = this.offset;
      this.offset += bytes;
      const id = this.pool.toString('hex', start, this.offset);
      if (!/^0+$/.test(id)) return id;
    }
  }
}
