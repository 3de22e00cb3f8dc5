/** Money as integer cents (bigint): no binary floating point between the API and Postgres numeric. */
export function toCents(amount: string): bigint {
  const [units = '0', fraction = ''] = amount.split('.');
  return BigInt(units) * 100n + BigInt(fraction.padEnd(2, '0').slice(0, 2));
}

export function fromCents(cents: bigint): string {
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** The largest order total orders.total_amount (numeric(14,2)) and the event's totalAmount (12 digits) can hold. */
export const MAX_ORDER_TOTAL_CENTS = 99_999_999_999_999n;
