// Quantiles: exact from a histogram (small integer and bool columns) or from a sorted list of
// all values (a column with at most `sampleSize` elements); otherwise from a stratified
// random sample whose positions depend only on the run's size and a fixed seed.
//
// The sample: the column's E elements (in row order, NaN included) are cut into strata of
// S = ceil(E / sampleSize) consecutive elements, and one position is drawn uniformly in each
// stratum by a hash of the stratum's index. The sample is the values at those positions,
// NaN dropped. It is the same whoever reads which rows (any number of workers).
//
// The error bound. For a fixed x, the fraction of sampled values ≤ x is a mean of n
// independent indicators whose expectation is the column's fraction ≤ x (one per stratum),
// so Hoeffding's inequality bounds its deviation: P(|F̂(x) − F(x)| ≥ ε) ≤ 2·exp(−2nε²).
// Applied at the two points p ± ε of each of the 7 quantiles (28 tails), every reported
// quantile's rank in the column is within p ± ε, ε = sqrt(ln(28/δ) / (2n)) + 2/n, with
// probability at least 1 − δ, δ = 10⁻⁶. For n = 65536: ε ≈ 0.0115; the typical (one
// standard error) rank error is far smaller, sqrt(p(1−p)/n): 0.002 at the median, 0.0004
// at p01. With NaN in the column, n counts the sampled values that are not NaN.

/** The quantiles reported, as fractions, and their names. */
export const QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99] as const;
export const QUANTILE_NAMES = ['p01', 'p05', 'p25', 'p50', 'p75', 'p95', 'p99'] as const;
export type QuantileName = (typeof QUANTILE_NAMES)[number];

/** Values per column that quantiles are computed from, by default. */
export const DEFAULT_SAMPLE_SIZE = 65536;

/** The failure probability of {@link rankErrorBound}. */
export const RANK_ERROR_DELTA = 1e-6;

/**
 * The bound on the rank error of every quantile estimated from `n` sampled values: with
 * probability ≥ 1 − 10⁻⁶ each reported p-quantile has a rank fraction within p ± this.
 */
export function rankErrorBound(n: number): number {
  if (n <= 0) return 1;
  return Math.min(1, Math.sqrt(Math.log((4 * QUANTILES.length) / RANK_ERROR_DELTA) / (2 * n)) + 2 / n);
}

/** NumPy's `_lerp`: a + (b − a)·t, computed from b's side when t ≥ 0.5 (float32 data: b − a in float32). */
function lerp(a: number, b: number, t: number, float32: boolean): number {
  const diff = float32 ? Math.fround(b - a) : b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/**
 * The quantiles of `n` sorted values, `at(j)` giving the j-th smallest, as NumPy's default
 * (`method='linear'`, Hyndman and Fan's type 7) computes them, operation for operation.
 */
function linearQuantiles(n: number, at: (j: number) => number, float32: boolean): number[] {
  return QUANTILES.map((q) => {
    // NumPy's 'linear' method: the virtual index (n − 1)·q.
    const virtual = (n - 1) * q;
    if (virtual >= n - 1) return lerp(at(n - 1), at(n - 1), 0, float32);
    if (virtual < 0) return lerp(at(0), at(0), 0, float32);
    const previous = Math.floor(virtual);
    return lerp(at(previous), at(previous + 1), virtual - previous, float32);
  });
}

/** The quantiles of ascending values (no NaN); null for none. */
export function quantilesOfSorted(sorted: Float64Array, float32 = false): number[] | null {
  if (sorted.length === 0) return null;
  return linearQuantiles(sorted.length, (j) => sorted[j]!, float32);
}

/**
 * The exact quantiles of integer values given as a histogram: `counts[b]` values equal to
 * `b − bias`. Null for an empty histogram.
 */
export function quantilesOfHistogram(counts: Float64Array, bias: number): number[] | null {
  const cumulative = new Float64Array(counts.length);
  let total = 0;
  for (let b = 0; b < counts.length; b++) {
    total += counts[b]!;
    cumulative[b] = total;
  }
  if (total === 0) return null;
  // The j-th smallest value: the first bin whose cumulative count exceeds j.
  const at = (j: number): number => {
    let lo = 0;
    let hi = counts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! > j) hi = mid;
      else lo = mid + 1;
    }
    return lo - bias;
  };
  return linearQuantiles(total, at, false);
}

/** lowbias32 (Chris Wellons' integer hash): a well-mixed 32-bit value of a 32-bit one. */
function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

// The sample's fixed seed: the same run always gives the same quantiles.
const SEED = 0x6d6d7275;

/** A uniform number in [0, 1) with 53 random bits, a function of `j` alone. */
function uniform(j: number): number {
  const a = hash32(hash32(j) ^ SEED);
  const b = hash32(hash32(j ^ 0x5bd1e995) + SEED);
  return (a * 2 ** 21 + (b >>> 11)) / 2 ** 53;
}

/** Elements per stratum for a column of `elements` elements: 1 (every value) up to `sampleSize` elements. */
export function stratumSize(elements: number, sampleSize: number): number {
  return Math.max(1, Math.ceil(elements / sampleSize));
}

/**
 * The sampled positions (element indices in the column's row order) that lie in [from, to),
 * ascending, for a column of `elements` elements cut into strata of `stratum`.
 */
export function samplePositions(from: number, to: number, elements: number, stratum: number): Float64Array {
  const first = Math.floor(from / stratum);
  const last = Math.ceil(Math.min(to, elements) / stratum);
  const out = new Float64Array(Math.max(0, last - first));
  let n = 0;
  for (let j = first; j < last; j++) {
    const start = j * stratum;
    const size = Math.min(stratum, elements - start);
    const at = stratum === 1 ? start : start + Math.floor(uniform(j) * size);
    if (at >= from && at < to) out[n++] = at;
  }
  return out.subarray(0, n);
}
