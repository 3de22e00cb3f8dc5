import { EventEmitter } from 'node:events';

export interface SnapshotChange {
  snapshotId: number;
  seenAt: string;
}

/**
 * Polls the lake's latest snapshot id (a catalog read of a few ms) and emits `change` when it moves, so browsers are
 * pushed new data instead of polling. A query that reads a newer snapshot than the last poll reports it too.
 */
export class SnapshotWatcher extends EventEmitter<{ change: [SnapshotChange] }> {
  private current = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  private constructor(private readonly probe: () => Promise<number>) {
    super();
  }

  static async start(probe: () => Promise<number>, intervalMs = 1000): Promise<SnapshotWatcher> {
    const watcher = new SnapshotWatcher(probe);
    watcher.observe(await probe());
    watcher.timer = setInterval(() => void watcher.poll(), intervalMs);
    watcher.timer.unref();
    return watcher;
  }

  get snapshotId(): number {
    return this.current;
  }

  observe(snapshotId: number): void {
    if (snapshotId <= this.current) return;
    this.current = snapshotId;
    this.emit('change', { snapshotId, seenAt: new Date().toISOString() });
  }

  stop(): void {
    clearInterval(this.timer);
    this.removeAllListeners();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      this.observe(await this.probe());
    } catch {
      // The catalog is briefly unreachable: the next poll tries again; the last known snapshot stays valid.
    } finally {
      this.polling = false;
    }
  }
}
