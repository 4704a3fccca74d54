// The chart of a column over a growing run, kept up to date by reading only the rows flushed
// since the last request: an open page refreshing a live run costs in proportion to what the
// writer adds, not to everything it has written.
import { countNonFinite, type NonFinite, noNonFinite } from '../plot/values.ts';

/** Buckets an accumulator keeps: every row up to this many rows, then 2, 4, 8 … rows each. */
export const SERIES_BUCKETS = 4096;

/**
 * The M4 reduction of a column (per bucket of consecutive rows: the first, lowest, highest
 * and last finite value), grown one chunk of rows at a time in O(buckets) memory. Buckets
 * hold `width` rows; when the rows outgrow them, neighbours are merged and `width` doubles.
 * Any number of output points is then drawn from the buckets, so no spike is ever lost.
 * @example
 * const acc = new SeriesAccumulator();
 * acc.push(values, n); // rows 0..n-1, then the next rows, in order
 * const { x, y } = acc.points(2000);
 */
export class SeriesAccumulator {
  readonly #first = new Float64Array(SERIES_BUCKETS).fill(Number.NaN);
  readonly #min = new Float64Array(SERIES_BUCKETS).fill(Number.NaN);
  readonly #max = new Float64Array(SERIES_BUCKETS).fill(Number.NaN);
  readonly #last = new Float64Array(SERIES_BUCKETS).fill(Number.NaN);
  // Finite values per bucket.
  readonly #count = new Float64Array(SERIES_BUCKETS);
  readonly skipped: NonFinite = noNonFinite();
  /** Rows per bucket: 1, 2, 4, … */
  width = 1;
  /** Rows pushed so far: the next value pushed is row `rows`. */
  rows = 0;

  /** Adds the next `n` rows' values, in row order. */
  push(values: Float64Array, n: number): void {
    const first = this.#first;
    const min = this.#min;
    const max = this.#max;
    const last = this.#last;
    const count = this.#count;
    for (let i = 0; i < n; i++) {
      const row = this.rows++;
      let b = Math.floor(row / this.width);
      while (b >= SERIES_BUCKETS) {
        this.#halve();
        b = Math.floor(row / this.width);
      }
      const v = values[i]!;
      if (v - v !== 0) {
        countNonFinite(v, this.skipped);
        continue;
      }
      if (count[b] === 0) {
        first[b] = v;
        min[b] = v;
        max[b] = v;
      } else if (v < min[b]!) {
        min[b] = v;
      } else if (v > max[b]!) {
        max[b] = v;
      }
      last[b] = v;
      count[b]!++;
    }
  }

  /**
   * At most `maxPoints` points (x: row index, y: value, null where not finite): every row
   * while each bucket is one row and they fit, else per group of buckets its first, lowest,
   * highest and last value at its first, middle, middle and last row.
   */
  points(maxPoints: number): { x: number[]; y: (number | null)[]; downsampled: boolean } {
    const x: number[] = [];
    const y: (number | null)[] = [];
    const used = Math.ceil(this.rows / this.width);
    if (this.width === 1 && this.rows <= maxPoints) {
      for (let b = 0; b < used; b++) {
        x.push(b);
        y.push(this.#count[b] === 0 ? null : this.#first[b]!);
      }
      return { x, y, downsampled: false };
    }
    const group = Math.ceil(used / Math.max(1, Math.floor(maxPoints / 4)));
    for (let g = 0; g < used; g += group) {
      let f = Number.NaN;
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      let l = Number.NaN;
      for (let b = g; b < Math.min(used, g + group); b++) {
        if (this.#count[b] === 0) continue;
        if (Number.isNaN(f)) f = this.#first[b]!;
        lo = Math.min(lo, this.#min[b]!);
        hi = Math.max(hi, this.#max[b]!);
        l = this.#last[b]!;
      }
      if (Number.isNaN(f)) continue;
      const start = g * this.width;
      const end = Math.min(this.rows, (g + group) * this.width) - 1;
      const mid = Math.floor((start + end) / 2);
      x.push(start, mid, mid, end);
      y.push(f, lo, hi, l);
    }
    return { x, y, downsampled: true };
  }

  // Merges bucket pairs (2k, 2k+1) into k: each bucket now holds twice the rows.
  #halve(): void {
    const first = this.#first;
    const min = this.#min;
    const max = this.#max;
    const last = this.#last;
    const count = this.#count;
    const half = SERIES_BUCKETS / 2;
    for (let k = 0; k < half; k++) {
      const a = 2 * k;
      const b = a + 1;
      const ca = count[a]!;
      const cb = count[b]!;
      first[k] = ca > 0 ? first[a]! : first[b]!;
      last[k] = cb > 0 ? last[b]! : last[a]!;
      min[k] = ca === 0 ? min[b]! : cb === 0 ? min[a]! : Math.min(min[a]!, min[b]!);
      max[k] = ca === 0 ? max[b]! : cb === 0 ? max[a]! : Math.max(max[a]!, max[b]!);
      count[k] = ca + cb;
    }
    first.fill(Number.NaN, half);
    min.fill(Number.NaN, half);
    max.fill(Number.NaN, half);
    last.fill(Number.NaN, half);
    count.fill(0, half);
    this.width *= 2;
  }
}
