/** One row of DuckLake's `ducklake_snapshot_changes`: what one commit changed, e.g. `inserted_into_table:12`. */
export interface SnapshotChanges {
  snapshotId: number;
  changesMade: string;
}

/** A catalog object id (schema, table or view: DuckLake gives all three ids from one counter) and its name. */
export interface CatalogName {
  id: number;
  /** `schema` for a schema, `schema.name` for a table or view. */
  name: string;
}

const CHANGE = /([a-z_]+):((?:"(?:[^"]|"")*"(?:\."(?:[^"]|"")*")?)|\d+)/g;
const unquote = (part: string) => part.slice(1, -1).replaceAll('""', '"');

/**
 * The latest snapshot that changed each lake table, view and schema, kept from the catalog's per-commit change list,
 * so an answer is invalidated only by commits to what it reads: its version is the highest snapshot among them (and
 * the ETag of the answer). Commits whose changes cannot be attributed (an unknown kind or id) move every version.
 */
export class LakeVersions {
  private latest = 0;
  /** Snapshot of the last change that could not be attributed to a name: a floor under every version. */
  private floor = 0;
  private readonly changed = new Map<string, number>();
  private readonly names = new Map<number, string>();

  get snapshotId(): number {
    return this.latest;
  }

  /** Learns catalog ids (`ducklake_schema`, `ducklake_table`, `ducklake_view`); later rows win. */
  learn(names: readonly CatalogName[]): void {
    for (const { id, name } of names) this.names.set(id, name);
  }

  /** The ids in `changes` that `learn` has not seen (the caller looks them up before `apply`). */
  unknownIds(changes: readonly SnapshotChanges[]): number[] {
    const unknown = new Set<number>();
    for (const { changesMade } of changes)
      for (const [, , target] of changesMade.matchAll(CHANGE))
        if (target && /^\d+$/.test(target) && !this.names.has(Number(target))) unknown.add(Number(target));
    return [...unknown];
  }

  /** Applies commits in snapshot order; returns whether any version moved. */
  apply(changes: readonly SnapshotChanges[]): boolean {
    const before = this.latest;
    for (const { snapshotId, changesMade } of changes) {
      if (snapshotId <= this.latest && this.latest > 0) continue;
      let attributed = true;
      let seen = 0;
      for (const [, kind, target] of changesMade.matchAll(CHANGE)) {
        seen++;
        const name = target?.startsWith('"')
          ? target
              .split(/(?<=")\.(?=")/)
              .map(unquote)
              .join('.')
          : this.names.get(Number(target));
        if (!kind || !name) attributed = false;
        else this.touch(name, snapshotId);
      }
      if (!attributed || seen === 0) this.floor = snapshotId;
      this.latest = Math.max(this.latest, snapshotId);
    }
    return this.latest > before;
  }

  /** The highest snapshot that changed any of `relations` (`schema.name`) or their schemas' existence. */
  versionOf(relations: readonly string[]): number {
    let version = this.floor;
    for (const relation of relations) {
      version = Math.max(version, this.changed.get(relation) ?? 0, this.changed.get(relation.split('.')[0] ?? '') ?? 0);
    }
    return version;
  }

  private touch(name: string, snapshotId: number): void {
    this.changed.set(name, Math.max(this.changed.get(name) ?? 0, snapshotId));
  }
}
