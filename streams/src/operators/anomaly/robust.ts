/** Median and MAD (scaled by 1.4826, the normal-consistent factor) of a window, for heavy-tailed series. */

export const MAD_SCALE = 1.4826;

let scratch = new Float64Array(1024);

/** Median and scaled MAD of `values[start..]`; O(n) expected (quickselect on a scratch copy). */
export function medianAndMad(values: readonly number[], start = 0): { median: number; mad: number } {
  const n = values.length - start;
  if (n === 0) return { median: Number.NaN, mad: Number.NaN };
  if (scratch.length < n) scratch = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) scratch[i] = values[start + i] as number;
  const median = medianInPlace(scratch, n);
  for (let i = 0; i < n; i++) scratch[i] = Math.abs((values[start + i] as number) - median);
  return { median, mad: MAD_SCALE * medianInPlace(scratch, n) };
}

function medianInPlace(a: Float64Array, n: number): number {
  const mid = n >> 1;
  const upper = select(a, n, mid);
  if (n % 2 === 1) return upper;
  // The lower middle is the largest of the left part after selection.
  let lower = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < mid; i++) if ((a[i] as number) > lower) lower = a[i] as number;
  return lower / 2 + upper / 2;
}

/** Hoare's quickselect: a[k] is the k-th smallest of a[0..n) afterwards, with smaller values to its left. */
function select(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const pivot = median3(a[lo] as number, a[(lo + hi) >> 1] as number, a[hi] as number);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k] as number;
}

function median3(a: number, b: number, c: number): number {
  return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
}
