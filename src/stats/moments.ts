// Count, mean, variance, min and max of float64 values, as partial aggregates that merge.
//
// Accuracy. A block of up to 1024 rows is summed in one pass of shifted sums: S = Σ(x − K)
// and S2 = Σ(x − K)², with K the previous block's mean (the first finite value for the
// first block of a unit), so M2 = S2 − S²/n loses nothing to cancellation unless the block
// mean lies many block standard deviations from K. Blocks and units merge with Chan's
// parallel formula, each partial holding its mean as K + μ with μ small, so the difference
// of two means is exact even when the mean is large against the spread (1e9 ± 1e-3).
// M2 and the sum behind the mean are accumulated with Neumaier's compensated summation.
//
// Determinism. Blocks and units are fixed ranges of the flushed rows, independent of how
// many workers there are or where chunks end, and partials merge in row order; so the
// results are identical, bit for bit, for any number of workers.

/** Fields of a partial aggregate record (a slice of a Float64Array). */
export const N = 0; // finite values
export const NAN = 1;
export const POS_INF = 2;
export const NEG_INF = 3;
export const MIN = 4; // over every value that is not NaN (infinities included)
export const MAX = 5;
export const SUM_HI = 6; // Σx of the finite values, compensated: SUM_HI + SUM_LO
export const SUM_LO = 7;
export const SHIFT = 8; // the mean is SHIFT + MU, with MU small
export const MU = 9;
export const M2 = 10; // Σ(x − mean)² of the finite values, compensated: M2 + M2_LO
export const M2_LO = 11;
export const RECORD = 12;

/** Writes an empty aggregate at `at`. */
export function clearRecord(r: Float64Array, at = 0): void {
  r.fill(0, at, at + RECORD);
  r[at + MIN] = Number.POSITIVE_INFINITY;
  r[at + MAX] = Number.NEGATIVE_INFINITY;
}

/** A new empty aggregate. */
export function emptyRecord(): Float64Array {
  const r = new Float64Array(RECORD);
  clearRecord(r);
  return r;
}

/** (hi, lo) += x, Neumaier's variant of Kahan summation; lo collects the rounding errors. */
function addCompensated(r: Float64Array, hi: number, x: number): void {
  const s = r[hi]!;
  const t = s + x;
  r[hi + 1]! += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
  r[hi] = t;
}

// Veltkamp's splitter for 53-bit doubles.
const SPLIT = 134217729;

/** a·b as an unevaluated sum hi + lo, exact unless it overflows (Dekker's TwoProduct). */
function addProduct(r: Float64Array, hi: number, a: number, b: number): void {
  const p = a * b;
  const ca = SPLIT * a;
  const cb = SPLIT * b;
  if (!Number.isFinite(ca) || !Number.isFinite(cb)) {
    addCompensated(r, hi, p);
    return;
  }
  const ah = ca - (ca - a);
  const al = a - ah;
  const bh = cb - (cb - b);
  const bl = b - bh;
  const e = ah * bh - p + ah * bl + al * bh + al * bl;
  addCompensated(r, hi, p);
  addCompensated(r, hi, e);
}

/**
 * Merges the moments of `nB` finite values with mean `shiftB + muB` and M2 `m2B + m2LoB`
 * into record `r` at `at` (which holds the values before them). Chan et al.'s formula:
 * M2 = M2a + M2b + δ²·na·nb/n, with δ taken as (Kb − Ka) + (μb − μa).
 */
function mergeMoments(
  r: Float64Array,
  at: number,
  nB: number,
  shiftB: number,
  muB: number,
  m2B: number,
  m2LoB: number,
): void {
  if (nB === 0) return;
  const nA = r[at + N]!;
  if (nA === 0) {
    r[at + N] = nB;
    r[at + SHIFT] = shiftB;
    r[at + MU] = muB;
    r[at + M2] = m2B;
    r[at + M2_LO] = m2LoB;
    return;
  }
  const n = nA + nB;
  const shift = r[at + SHIFT]!;
  const delta = shiftB - shift + (muB - r[at + MU]!);
  const mu = r[at + MU]! + delta * (nB / n);
  // Re-centre: the new shift is the mean rounded, μ what rounding left (exact when the shift
  // and the mean are within a factor of two of each other).
  const center = shift + mu;
  r[at + SHIFT] = center;
  r[at + MU] = shift - center + mu;
  addCompensated(r, at + M2, m2B);
  addCompensated(r, at + M2, m2LoB);
  addCompensated(r, at + M2, delta * delta * nA * (nB / n));
  r[at + N] = n;
}

/**
 * Adds a block of `n` finite values given as shifted sums s = Σ(x − shift) and
 * s2 = Σ(x − shift)² to record `r` at `at`. Counts, min and max are added separately.
 */
export function addBlock(r: Float64Array, at: number, n: number, shift: number, s: number, s2: number): void {
  if (n === 0) return;
  const mu = s / n;
  const m2 = Math.max(0, s2 - s * mu);
  addProduct(r, at + SUM_HI, n, shift);
  addCompensated(r, at + SUM_HI, s);
  mergeMoments(r, at, n, shift, mu, m2, 0);
}

/** Merges record `b` (values after those of `a`) into record `a`. */
export function mergeRecord(a: Float64Array, at: number, b: Float64Array, bt: number): void {
  a[at + NAN]! += b[bt + NAN]!;
  a[at + POS_INF]! += b[bt + POS_INF]!;
  a[at + NEG_INF]! += b[bt + NEG_INF]!;
  if (b[bt + MIN]! < a[at + MIN]!) a[at + MIN] = b[bt + MIN]!;
  if (b[bt + MAX]! > a[at + MAX]!) a[at + MAX] = b[bt + MAX]!;
  addCompensated(a, at + SUM_HI, b[bt + SUM_HI]!);
  addCompensated(a, at + SUM_HI, b[bt + SUM_LO]!);
  mergeMoments(a, at, b[bt + N]!, b[bt + SHIFT]!, b[bt + MU]!, b[bt + M2]!, b[bt + M2_LO]!);
}

/** The statistics an aggregate stands for. */
export interface Moments {
  /** Values that are not NaN (infinities included). */
  readonly count: number;
  readonly nan: number;
  /** Values that are +Infinity or -Infinity (part of `count`). */
  readonly inf: number;
  /** Arithmetic mean: ±Infinity if there are infinities of one sign, NaN if of both. */
  readonly mean: number | null;
  /** Population standard deviation (ddof = 0); NaN if there are infinities. */
  readonly std: number | null;
  readonly min: number | null;
  readonly max: number | null;
}

/** The statistics of an aggregate; `null` where there is no value (count 0). */
export function finishRecord(r: Float64Array, at = 0): Moments {
  const finite = r[at + N]!;
  const pos = r[at + POS_INF]!;
  const neg = r[at + NEG_INF]!;
  const count = finite + pos + neg;
  const base = { count, nan: r[at + NAN]!, inf: pos + neg };
  if (count === 0) return { ...base, mean: null, std: null, min: null, max: null };
  let mean: number;
  let std: number;
  if (pos > 0 || neg > 0) {
    mean = pos > 0 && neg > 0 ? Number.NaN : pos > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    // NumPy: x − mean is inf − inf for the infinite values.
    std = Number.NaN;
  } else {
    mean = (r[at + SUM_HI]! + r[at + SUM_LO]!) / finite;
    std = Math.sqrt(Math.max(0, r[at + M2]! + r[at + M2_LO]!) / finite);
  }
  return { ...base, mean, std, min: r[at + MIN]!, max: r[at + MAX]! };
}

/**
 * The statistics of integer values given as a histogram (`counts[b]` values equal to
 * `b − bias`), exactly: no NaN or infinity, an integer sum, M2 as a compensated sum.
 */
export function histogramMoments(counts: Float64Array, bias: number): Moments {
  const r = new Float64Array(RECORD);
  let count = 0;
  let min = -1;
  let max = -1;
  for (let b = 0; b < counts.length; b++) {
    const c = counts[b]!;
    if (c === 0) continue;
    if (min < 0) min = b;
    max = b;
    count += c;
    addProduct(r, SUM_HI, c, b - bias);
  }
  if (count === 0) return { count: 0, nan: 0, inf: 0, mean: null, std: null, min: null, max: null };
  const mean = (r[SUM_HI]! + r[SUM_LO]!) / count;
  for (let b = min; b <= max; b++) {
    const c = counts[b]!;
    if (c === 0) continue;
    const d = b - bias - mean;
    addCompensated(r, M2, c * d * d);
  }
  const std = Math.sqrt((r[M2]! + r[M2_LO]!) / count);
  return { count, nan: 0, inf: 0, mean, std, min: min - bias, max: max - bias };
}
