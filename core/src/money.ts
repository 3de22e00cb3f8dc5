import { BvError } from './errors.js';

/**
 * Money on the text form and as integer cents: amounts never go through binary floating point between the API,
 * Postgres numeric, the stream jobs and the lake's DECIMAL columns.
 */

const AMOUNT = /^(-?)(\d+)(?:\.(\d{1,2}))?$/;

/** Exact cents of a decimal amount with at most two fraction digits ("12.3" -> 1230n). */
export function toCents(amount: string): bigint {
  const match = AMOUNT.exec(amount.trim());
  if (!match) throw new BvError('MONEY_INVALID', `"${amount}" is not a decimal amount with at most two decimals`);
  const cents = BigInt(match[2] ?? '0') * 100n + BigInt((match[3] ?? '').padEnd(2, '0'));
  return match[1] === '-' ? -cents : cents;
}

/** The decimal text of an amount in cents, always with two decimals (1230n -> "12.30"). */
export function fromCents(cents: bigint | number): string {
  const value = typeof cents === 'bigint' ? cents : BigInt(cents);
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** Exact decimal × integer on the text form, keeping the decimal's scale; undefined when it is not a decimal. */
export function multiplyDecimal(decimal: string, factor: number): string | undefined {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(decimal.trim());
  if (!match) return undefined;
  const scale = match[3]?.length ?? 0;
  const units = BigInt(`${match[1]}${match[2]}${match[3] ?? ''}`) * BigInt(factor);
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale > 0 ? `.${digits.slice(digits.length - scale)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}
