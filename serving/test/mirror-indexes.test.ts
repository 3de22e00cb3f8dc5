import { describe, expect, it } from 'vitest';
import { centsText, lowerBound, TimeSeries } from '../src/http/mirror-indexes.js';

describe('the per-snapshot indexes', () => {
  it('groups rows per key in time order and picks a half-open range [from, to)', () => {
    const rows = [
      { tenant: 'a', t: 10, v: 'a10' },
      { tenant: 'a', t: 20, v: 'a20' },
      { tenant: 'a', t: 20, v: 'a20b' },
      { tenant: 'a', t: 30, v: 'a30' },
      { tenant: 'b', t: 15, v: 'b15' },
    ];
    const series = TimeSeries.group(
      rows,
      (r) => r.tenant,
      (r) => r.v,
    );
    const a = series.get('a') as TimeSeries<string>;
    expect(a.within(10, 30)).toEqual(['a10', 'a20', 'a20b']);
    expect(a.within(11, 31)).toEqual(['a20', 'a20b', 'a30']);
    expect(a.within(20, 20)).toEqual([]);
    expect(a.within(0, 5)).toEqual([]);
    expect(a.within(31, 100)).toEqual([]);
    expect(series.get('b')?.within(0, 100)).toEqual(['b15']);
    expect(lowerBound(Float64Array.from([]), 1)).toBe(0);
    expect(lowerBound(Float64Array.from([1, 2, 2, 3]), 2)).toBe(1);
    expect(lowerBound(Float64Array.from([1, 2, 2, 3]), 4)).toBe(4);
  });

  it('prints cents as DuckDB prints a DECIMAL(18,2)', () => {
    expect([0n, 5n, 50n, 100n, 1234n, -5n, -50n, -1234n, 999_999_999_999_999_999n].map(centsText)).toEqual([
      '0.00',
      '0.05',
      '0.50',
      '1.00',
      '12.34',
      '-0.05',
      '-0.50',
      '-12.34',
      '9999999999999999.99',
    ]);
  });
});
