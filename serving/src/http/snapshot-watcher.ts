import { EventEmitter } from 'node:events';
import { type CatalogName, LakeVersions, type SnapshotChanges } from './lake-versions.js';

export interface SnapshotChange {
  snapshotId: number;
  seenAt: string;
}

/** Where the watcher reads the lake's commits: the catalog's change list and its object names. */
export interface ChangeSource {
  changesSince(snapshotId: number): Promise<SnapshotChanges[]>;
  catalogNames(ids: readonly number[]): Promise<CatalogName[]>;
}

/**
 * Polls the catalog for new commits (one small catalog read a second) and keeps, in memory, the latest snapshot that
 * changed each table: requests read versions from here and never touch the catalog themselves. Emits `change` when
 * the lake moves, so browsers are pushed new data instead of polling.
 */
export class SnapshotWatcher extends EventEmitter<{ change: [SnapshotChange] }> {
  readonly versions = new LakeVersions();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  private constructor(private readonly source: ChangeSource) {
    super();
  }

  static async start(source: ChangeSource, intervalMs = 1000): Promise<SnapshotWatcher> {
    const watcher = new SnapshotWatcher(source);
    await watcher.catchUp();
    watcher.timer = setInterval(() => void watcher.poll(), intervalMs);
    watcher.timer.unref();
    return watcher;
  }

  /** The lake's newest snapshot id seen. */
  get snapshotId(): number {
    return this.versions.snapshotId;
  }

  /** The highest snapshot that changed any of `relations` (`schema.name`): the version of an answer read from them. */
  versionOf(relations: readonly string[]): number {
    return this.versions.versionOf(relations);
  }

  stop(): void {
    clearInterval(this.timer);
    this.removeAllListeners();
  }

  /** Reads the commits since the last one seen; resolves once they are applied. */
  async catchUp(): Promise<void> {
    const changes = await this.source.changesSince(this.versions.snapshotId);
    if (changes.length === 0) return;
    const unknown = this.versions.unknownIds(changes);
    if (unknown.length > 0) this.versions.learn(await this.source.catalogNames(unknown));
    if (this.versions.apply(changes))
      this.emit('change', { snapshotId: this.versions.snapshotId, seenAt: new Date().toISOString() });
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.catchUp();
    } catch {
      // The catalog is briefly unreachable: the next poll tries again; the last known versions stay valid.
    } finally {
      this.polling = false;
    }
  }
}
