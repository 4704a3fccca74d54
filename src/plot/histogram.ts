// Histograms in two passes over the rows: the first finds the range of the finite values
// (ValueStats), the second counts them into bins over that range. Two sequential passes
// keep the counts exact and the memory constant, at the price of reading the rows twice.
import { MmrunError, show } from '../errors.ts';
import type { ValueStats } from './values.ts';

/** Bins when `--bins` is not given, for values that are not small integers. */
export const DEFAULT_BINS = 50;
/** The largest `--bins`. */
export const MAX_BINS = 10_000;
// Integer values spanning at most this many distinct values get one bin per integer.
const MAX_UNIT_BINS = 100;

/**
 * `bins + 1` equal-width edges from `min` to `max`, computed exactly as NumPy's
 * `np.histogram(values, bins)` computes them (`np.linspace`, and an empty range widened to
 * ±0.5), so the counts agree with NumPy's for the same float64 values.
 * @example histogramEdges(0, 1, 4) // [0, 0.25, 0.5, 0.75, 1]
 */
export function histogramEdges(min: number, max: number, bins: number): Float64Array {
  checkBins(bins);
  if (!(Number.isFinite(min) && Number.isFinite(max) && min <= max)) {
    throw new RangeError(`histogram range [${min}, ${max}] is not a finite range`);
  }
  let first = min;
  let last = max;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const edges = new Float64Array(bins + 1);
  const delta = last - first;
  const step = delta / bins;
  for (let k = 0; k < bins; k++) edges[k] = step === 0 ? (k / bins) * delta + first : k * step + first;
  edges[bins] = last;
  return edges;
}

/**
 * The edges for a column's values: `bins` equal bins over [min, max] when `bins` is given;
 * otherwise one bin per integer for integer values spanning at most 100 (a bool column gets
 * two bars, at 0 and 1), else {@link DEFAULT_BINS} bins.
 */
export function chooseEdges(stats: ValueStats, integer: boolean, bins?: number): Float64Array {
  if (bins !== undefined) return histogramEdges(stats.min, stats.max, bins);
  const span = stats.max - stats.min;
  if (integer && span < MAX_UNIT_BINS) {
    const edges = new Float64Array(span + 2);
    for (let k = 0; k < edges.length; k++) edges[k] = stats.min - 0.5 + k;
    return edges;
  }
  return histogramEdges(stats.min, stats.max, DEFAULT_BINS);
}

/** Throws `BAD_OPTION` unless `bins` is an integer in [1, MAX_BINS]. */
export function checkBins(bins: number): number {
  if (!Number.isSafeInteger(bins) || bins < 1 || bins > MAX_BINS) {
    throw new MmrunError('BAD_OPTION', `bins ${show(bins)} is not an integer from 1 to ${MAX_BINS}`, {
      remedy: 'pass --bins N, e.g. --bins 50',
    });
  }
  return bins;
}

/**
 * Counts values into bins with equal widths, the way NumPy does: bin k holds
 * edges[k] <= x < edges[k+1], the last bin also holds x == its right edge, and values
 * outside the edges or not finite are not counted.
 * @example
 * const h = new Histogram(histogramEdges(0, 10, 5));
 * h.add(Float64Array.of(0, 1, 2, 10), 4);
 * h.counts; // [2, 1, 0, 0, 1]
 */
export class Histogram {
  readonly edges: Float64Array;
  readonly counts: Float64Array;
  /** Values counted into some bin. */
  total = 0;
  readonly #first: number;
  readonly #span: number;

  constructor(edges: Float64Array) {
    if (edges.length < 2) throw new RangeError('a histogram needs at least two edges');
    this.edges = edges;
    this.counts = new Float64Array(edges.length - 1);
    this.#first = edges[0]!;
    this.#span = edges[edges.length - 1]! - this.#first;
  }

  add(values: Float64Array, n: number): void {
    const { edges, counts } = this;
    const bins = counts.length;
    const first = this.#first;
    const last = edges[bins]!;
    const span = this.#span;
    let total = this.total;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (!(v >= first && v <= last)) continue;
      // NumPy's index, then its correction of the rounding within an ulp of an edge.
      let k = Math.trunc(((v - first) / span) * bins);
      if (k === bins) k--;
      if (v < edges[k]!) k--;
      else if (v >= edges[k + 1]! && k !== bins - 1) k++;
      counts[k] = counts[k]! + 1;
      total++;
    }
    this.total = total;
  }
}
