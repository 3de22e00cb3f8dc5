import { describe, expect, it } from 'vitest';
import { LakeVersions } from '../src/http/lake-versions.js';

const names = [
  { id: 1, name: 'gold' },
  { id: 10, name: 'gold.orders_per_product_1m_revisions' },
  { id: 11, name: 'gold.orders_per_product_1m' },
  { id: 20, name: 'silver.orders' },
];

describe('lake versions from the catalog change list', () => {
  it('moves only the versions of what a commit changed; unrelated commits leave them', () => {
    const v = new LakeVersions();
    v.learn(names);
    v.apply([
      { snapshotId: 5, changesMade: 'inserted_into_table:10' },
      { snapshotId: 6, changesMade: 'inserted_into_table:20,deleted_from_table:20' },
      { snapshotId: 7, changesMade: 'created_schema:"other",created_table:"other"."t"' },
    ]);
    expect(v.snapshotId).toBe(7);
    expect(v.versionOf(['gold.orders_per_product_1m', 'gold.orders_per_product_1m_revisions'])).toBe(5);
    expect(v.versionOf(['silver.orders'])).toBe(6);
    v.apply([{ snapshotId: 8, changesMade: 'created_view:"gold"."orders_per_product_1m",dropped_view:11' }]);
    expect(v.versionOf(['gold.orders_per_product_1m'])).toBe(8);
    expect(v.versionOf(['silver.orders'])).toBe(6);
  });

  it('asks for the names of ids it has not seen, and moves every version on a change it cannot read', () => {
    const v = new LakeVersions();
    v.learn(names);
    const changes = [
      { snapshotId: 3, changesMade: 'inserted_into_table:20' },
      { snapshotId: 4, changesMade: 'compacted_table:99' },
    ];
    expect(v.unknownIds(changes)).toEqual([99]);
    v.apply(changes);
    expect(v.versionOf(['silver.orders'])).toBe(4);
    v.apply([{ snapshotId: 9, changesMade: 'a change in a format not known here' }]);
    expect(v.versionOf(['gold.orders_per_product_1m'])).toBe(9);
  });

  it('reads quoted names with dots and doubled quotes', () => {
    const v = new LakeVersions();
    v.apply([{ snapshotId: 2, changesMade: 'created_table:"we""ird"."a.b"' }]);
    expect(v.versionOf(['we"ird.a.b'])).toBe(2);
    expect(v.versionOf(['silver.orders'])).toBe(0);
  });
});
