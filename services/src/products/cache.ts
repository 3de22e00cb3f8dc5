import type { Redis } from 'ioredis';
import type { ServiceMetrics } from '../http/metrics.js';
import type { Product } from './repository.js';

/** Stores `value` only if the cached version is older (or absent): a slow reader can never put an old version back. */
const SET_IF_NEWER = `
local current = redis.call('GET', KEYS[1])
if current then
  local cached = cjson.decode(current)
  if tonumber(cached.version) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1`;

export type CachedProduct = Product | { deleted: true; version: number };

/**
 * Read-through cache of products in Redis. Writers store the committed version after commit; readers fill misses.
 * Both go through a version guard. Redis failures degrade to the database (counted), never fail a request.
 */
export class ProductCache {
  constructor(
    private readonly redis: Redis,
    private readonly metrics: ServiceMetrics,
    private readonly ttlSeconds = 300,
  ) {}

  private key(tenantId: string, productId: string): string {
    return `bv:product:${tenantId}:${productId}`;
  }

  async get(tenantId: string, productId: string): Promise<CachedProduct | undefined> {
    try {
      const value = await this.redis.get(this.key(tenantId, productId));
      this.metrics.cacheRequests.inc({ result: value ? 'hit' : 'miss' });
      return value ? (JSON.parse(value) as CachedProduct) : undefined;
    } catch {
      this.metrics.cacheRequests.inc({ result: 'error' });
      return undefined;
    }
  }

  async put(tenantId: string, productId: string, value: CachedProduct): Promise<void> {
    try {
      await this.redis.eval(
        SET_IF_NEWER,
        1,
        this.key(tenantId, productId),
        JSON.stringify(value),
        value.version,
        this.ttlSeconds,
      );
    } catch {
      this.metrics.cacheRequests.inc({ result: 'error' });
    }
  }
}
