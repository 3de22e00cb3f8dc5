import { describe, expect, it } from 'vitest';
import { BvError, fromCents, multiplyDecimal, toCents } from '../src/index.js';

describe('money', () => {
  it('reads decimal amounts as exact cents', () => {
    expect(toCents('12.3')).toBe(1230n);
    expect(toCents('0.07')).toBe(7n);
    expect(toCents('-4')).toBe(-400n);
    expect(toCents('999999999999.99')).toBe(99_999_999_999_999n);
  });

  it('refuses what is not a decimal with at most two decimals, with MONEY_INVALID', () => {
    for (const bad of ['', '1.234', '1e3', 'abc', '1.']) {
      expect(() => toCents(bad)).toThrow(BvError);
      expect(() => toCents(bad)).toThrow(expect.objectContaining({ code: 'MONEY_INVALID' }));
    }
  });

  it('writes cents back with two decimals', () => {
    expect(fromCents(1230n)).toBe('12.30');
    expect(fromCents(7)).toBe('0.07');
    expect(fromCents(-405n)).toBe('-4.05');
    expect(fromCents(toCents('0.1') + toCents('0.2'))).toBe('0.30');
  });

  it('multiplies a decimal by a quantity on the text form, keeping its scale', () => {
    expect(multiplyDecimal('8.50', 3)).toBe('25.50');
    expect(multiplyDecimal('0.1', 3)).toBe('0.3');
    expect(multiplyDecimal('-0.05', 2)).toBe('-0.10');
    expect(multiplyDecimal('x', 2)).toBeUndefined();
  });
});
