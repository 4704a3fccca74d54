// A slow, straightforward reference for the statistics: exact sums (Shewchuk), a two-pass
// variance, and quantiles as NumPy's default defines them.
import type { RowLayout } from '../../src/storage/dtype.ts';
import { decodeRows } from '../export/helpers.ts';

/** The correctly rounded sum of `values` (Shewchuk's algorithm, Python's math.fsum). */
export function fsum(values: Iterable<number>): number {
  const partials: number[] = [];
  for (let x of values) {
    let i = 0;
    for (let y of partials) {
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  // Sum the partials from the top, with the half-way correction of math.fsum.
  let n = partials.length;
  let hi = 0;
  if (n > 0) {
    hi = partials[--n]!;
    let lo = 0;
    while (n > 0) {
      const x = hi;
      const y = partials[--n]!;
      hi = x + y;
      lo = y - (hi - x);
      if (lo !== 0) break;
    }
    if (n > 0 && ((lo < 0 && partials[n - 1]! < 0) || (lo > 0 && partials[n - 1]! > 0))) {
      const y = lo * 2;
      const x = hi + y;
      if (y === x - hi) hi = x;
    }
  }
  return hi;
}

export interface Reference {
  count: number;
  nan: number;
  inf: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  /** Sorted values that are not NaN. */
  sorted: Float64Array;
}

/** Statistics of `values` with NaN left out, computed the slow way. */
export function reference(values: readonly number[]): Reference {
  const kept = values.filter((x) => !Number.isNaN(x));
  const sorted = Float64Array.from(kept).sort();
  const finite = kept.filter(Number.isFinite);
  const pos = kept.filter((x) => x === Number.POSITIVE_INFINITY).length;
  const neg = kept.filter((x) => x === Number.NEGATIVE_INFINITY).length;
  const base = { count: kept.length, nan: values.length - kept.length, inf: pos + neg, sorted };
  if (kept.length === 0) return { ...base, mean: null, std: null, min: null, max: null };
  let mean: number;
  let std: number;
  if (pos + neg > 0) {
    mean = pos && neg ? Number.NaN : pos ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    std = Number.NaN;
  } else {
    mean = fsum(finite) / finite.length;
    const d = finite.map((x) => x - mean);
    const m2 = fsum(d.map((x) => x * x)) - fsum(d) ** 2 / finite.length;
    std = Math.sqrt(Math.max(0, m2) / finite.length);
  }
  return { ...base, mean, std, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** The q-quantile of ascending values: (n − 1)q between neighbours (NumPy's 'linear'). */
export function linearQuantile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)]!;
  return a === b ? a : a + (h - lo) * (b - a);
}

/** The values of a column (all elements of a vector column, or one), bool as 0/1, in row order. */
export function columnValues(layout: RowLayout, data: Buffer, name: string, element?: number): number[] {
  const field = layout.fields.find((f) => f.name === name)!;
  const out: number[] = [];
  for (const row of decodeRows(layout, data, [field])) {
    row.forEach((cell, e) => {
      if (element === undefined || e === element) out.push(typeof cell.value === 'boolean' ? +cell.value : cell.value);
    });
  }
  return out;
}

/** |a − b| ≤ rel · |b|, with NaN equal to NaN and infinities equal only to themselves. */
export function close(a: number | null, b: number | null, rel: number): boolean {
  if (a === null || b === null) return a === b;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= rel * Math.abs(b);
}
