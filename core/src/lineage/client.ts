import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Counter, register as defaultRegistry, Gauge, type Registry } from 'prom-client';
import type { Env } from '../config.js';
import { ConsoleTransport, FileTransport, HttpTransport, type LineageTransport, NoopTransport } from './transport.js';
import type { LineageEvent } from './types.js';

export interface LineageClientOptions {
  transport: LineageTransport;
  /** Most events held while the service is unreachable; beyond it the oldest are dropped (and counted). */
  bufferSize?: number;
  /**
   * A file that holds the undelivered events, so a process that restarts sends them after all. Events may then be
   * delivered twice; the lineage service is idempotent on (runId, eventType, eventTime).
   */
  spoolFile?: string | undefined;
  retry?: { initialMs?: number; maxMs?: number };
  /** Where the counters go (prom-client's default registry unless given). */
  registry?: Registry;
  /** Events per transport call. */
  batchSize?: number;
  onError?: (error: unknown) => void;
}

export interface LineageClientStats {
  emitted: number;
  delivered: number;
  dropped: number;
  buffered: number;
  failedAttempts: number;
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * Sends OpenLineage events without ever holding up the caller: `emit` queues and returns; a background loop
 * delivers, retrying with exponential backoff (with jitter) while the service is down. The queue is bounded; what
 * had to be dropped is counted in `bv_lineage_events_dropped_total`.
 */
export class LineageClient {
  private readonly queue: LineageEvent[] = [];
  private readonly bufferSize: number;
  private readonly batchSize: number;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly counters: LineageClientStats = {
    emitted: 0,
    delivered: 0,
    dropped: 0,
    buffered: 0,
    failedAttempts: 0,
  };
  private readonly droppedTotal: Counter<'reason'>;
  private readonly deliveredTotal: Counter;
  private spoolLines = 0;
  private pump: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(private readonly options: LineageClientOptions) {
    this.bufferSize = options.bufferSize ?? 10_000;
    this.batchSize = options.batchSize ?? 100;
    this.initialMs = options.retry?.initialMs ?? 200;
    this.maxMs = options.retry?.maxMs ?? 30_000;
    const registry = options.registry ?? defaultRegistry;
    this.droppedTotal = metric(
      registry,
      'bv_lineage_events_dropped_total',
      () =>
        new Counter({
          name: 'bv_lineage_events_dropped_total',
          help: 'Lineage events given up on (buffer full, rejected by the service, or still undelivered at exit)',
          labelNames: ['reason'],
          registers: [registry],
        }),
    );
    this.deliveredTotal = metric(
      registry,
      'bv_lineage_events_delivered_total',
      () =>
        new Counter({
          name: 'bv_lineage_events_delivered_total',
          help: 'Lineage events delivered to the transport',
          registers: [registry],
        }),
    );
    const self = this;
    metric(
      registry,
      'bv_lineage_events_buffered',
      () =>
        new Gauge({
          name: 'bv_lineage_events_buffered',
          help: 'Lineage events waiting for delivery',
          registers: [registry],
          collect() {
            this.set(self.queue.length);
          },
        }),
    );
    if (options.spoolFile) this.restoreSpool(options.spoolFile);
  }

  /** A client from BV_LINEAGE_URL (+ BV_LINEAGE_TOKEN), or BV_LINEAGE_FILE, or BV_LINEAGE_CONSOLE=1; off otherwise. */
  static fromEnv(env: Env = process.env, options: Partial<LineageClientOptions> = {}): LineageClient {
    const transport = env.BV_LINEAGE_URL
      ? new HttpTransport({ url: env.BV_LINEAGE_URL, token: env.BV_LINEAGE_TOKEN })
      : env.BV_LINEAGE_FILE
        ? new FileTransport(env.BV_LINEAGE_FILE)
        : env.BV_LINEAGE_CONSOLE === '1'
          ? new ConsoleTransport()
          : new NoopTransport();
    return new LineageClient({
      transport,
      spoolFile: env.BV_LINEAGE_SPOOL,
      ...(env.BV_LINEAGE_BUFFER ? { bufferSize: Number(env.BV_LINEAGE_BUFFER) } : {}),
      ...options,
    });
  }

  get transportName(): string {
    return this.options.transport.name;
  }

  stats(): LineageClientStats {
    return { ...this.counters, buffered: this.queue.length };
  }

  /** Queues the event and returns at once; never throws. */
  emit(event: LineageEvent): void {
    if (this.closed) {
      this.drop(1, 'closed');
      return;
    }
    this.counters.emitted += 1;
    this.queue.push(event);
    if (this.options.spoolFile) this.appendSpool(event);
    if (this.queue.length > this.bufferSize) {
      const excess = this.queue.length - this.bufferSize;
      this.queue.splice(0, excess);
      this.drop(excess, 'buffer_full');
      if (this.options.spoolFile && this.spoolLines > 2 * this.bufferSize) this.rewriteSpool();
    }
    this.kick();
  }

  /** Resolves once every queued event has been delivered, or after `timeoutMs` (false: some are still queued). */
  async flush(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 && Date.now() < deadline) {
      this.kick(true);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.queue.length === 0;
  }

  /**
   * Delivers what it can within `timeoutMs`, then stops. Undelivered events stay in the spool file when there is
   * one (sent by the next process), otherwise they are counted as dropped.
   */
  async close(timeoutMs = 5_000): Promise<LineageClientStats> {
    await this.flush(timeoutMs);
    this.closed = true;
    this.wake?.();
    await this.pump;
    if (this.queue.length && !this.options.spoolFile) {
      this.drop(this.queue.length, 'shutdown');
      this.queue.length = 0;
    }
    return this.stats();
  }

  private drop(count: number, reason: string): void {
    this.counters.dropped += count;
    this.droppedTotal.inc({ reason }, count);
  }

  private kick(skipBackoff = false): void {
    if (skipBackoff) this.wake?.();
    if (this.pump) return;
    this.pump = this.deliver().finally(() => {
      this.pump = undefined;
      if (this.queue.length && !this.closed) this.kick();
    });
  }

  private async deliver(): Promise<void> {
    let attempt = 0;
    while (this.queue.length && !this.closed) {
      const batch = this.queue.slice(0, this.batchSize);
      try {
        await this.options.transport.send(batch);
        this.queue.splice(0, batch.length);
        this.counters.delivered += batch.length;
        this.deliveredTotal.inc(batch.length);
        attempt = 0;
        if (this.options.spoolFile && this.queue.length === 0) this.rewriteSpool();
      } catch (error) {
        this.counters.failedAttempts += 1;
        this.options.onError?.(error);
        if ((error as { retriable?: boolean }).retriable === false) {
          // The service refused the batch for what it is; resending cannot help.
          this.queue.splice(0, batch.length);
          this.drop(batch.length, 'rejected');
          continue;
        }
        attempt += 1;
        const backoff = Math.min(this.maxMs, this.initialMs * 2 ** (attempt - 1));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoff / 2 + Math.random() * (backoff / 2));
          timer.unref();
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  private restoreSpool(file: string): void {
    if (!existsSync(file)) return;
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    for (const line of lines) {
      try {
        this.queue.push(JSON.parse(line) as LineageEvent);
      } catch {
        this.drop(1, 'spool_corrupt');
      }
    }
    if (this.queue.length > this.bufferSize) {
      const excess = this.queue.length - this.bufferSize;
      this.queue.splice(0, excess);
      this.drop(excess, 'buffer_full');
    }
    this.rewriteSpool();
    if (this.queue.length) this.kick();
  }

  private appendSpool(event: LineageEvent): void {
    try {
      appendFileSync(this.options.spoolFile as string, `${JSON.stringify(event)}\n`);
      this.spoolLines += 1;
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  private rewriteSpool(): void {
    const file = this.options.spoolFile as string;
    try {
      mkdirSync(dirname(file), { recursive: true });
      const tmp = `${file}.tmp`;
      writeFileSync(tmp, this.queue.map((e) => `${JSON.stringify(e)}\n`).join(''));
      renameSync(tmp, file);
      this.spoolLines = this.queue.length;
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}
