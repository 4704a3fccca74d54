// The partial aggregates of mmrun stats against an exact two-pass reference: blocks of
// shifted sums merged (in any grouping) with Chan's formula.
import { describe, expect, it } from 'vitest';
import {
  addBlock,
  clearRecord,
  emptyRecord,
  finishRecord,
  histogramMoments,
  MAX,
  MIN,
  mergeRecord,
  NAN,
  POS_INF,
  RECORD,
} from '../../src/stats/moments.ts';
import { close, fsum, reference } from './reference.ts';

/** A small seeded generator (mulberry32) and a normal deviate from it. */
function rng(seed: number): { random(): number; normal(): number } {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { random, normal: () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()) };
}

/** The record of finite `values`, as the scan builds it: blocks of shifted sums (shift: the previous block's mean). */
function recordOf(values: readonly number[], blockSizes: () => number): Float64Array {
  const r = emptyRecord();
  let shift = Number.NaN;
  for (let at = 0; at < values.length; ) {
    const n = Math.min(values.length - at, blockSizes());
    if (Number.isNaN(shift)) shift = values[at]!;
    let s = 0;
    let s2 = 0;
    for (let k = at; k < at + n; k++) {
      const d = values[k]! - shift;
      s += d;
      s2 += d * d;
      if (values[k]! < r[MIN]!) r[MIN] = values[k]!;
      if (values[k]! > r[MAX]!) r[MAX] = values[k]!;
    }
    addBlock(r, 0, n, shift, s, s2);
    shift += s / n;
    at += n;
  }
  return r;
}

/** Splits values at random points into records, then merges them left to right. */
function split(values: readonly number[], parts: number, seed: number): Float64Array[] {
  const g = rng(seed);
  const cuts = [
    0,
    ...Array.from({ length: parts - 1 }, () => Math.floor(g.random() * values.length)).sort((a, b) => a - b),
    values.length,
  ];
  return cuts.slice(1).map((end, k) => recordOf(values.slice(cuts[k], end), () => 1 + Math.floor(g.random() * 2000)));
}

const merged = (records: readonly Float64Array[]): Float64Array => {
  const r = emptyRecord();
  for (const x of records) mergeRecord(r, 0, x, 0);
  return r;
};

const DATA: Record<string, (g: ReturnType<typeof rng>, i: number) => number> = {
  'large offset, tiny spread (1e9 ± 1e-3)': (g) => 1e9 + g.normal() * 1e-3,
  'offset 1e6, spread 1e-6': (g) => 1e6 + g.normal() * 1e-6,
  'a trend (i / 4)': (_g, i) => i / 4,
  'an outlier first, then N(0, 1)': (g, i) => (i === 0 ? 1e8 : g.normal()),
  'mixed magnitudes': (g, i) => (i % 2 ? 1e-300 : 1) * g.normal() * 10 ** ((i % 9) - 4),
  'u4 extremes': (g, i) => (i % 3 === 0 ? 4294967295 : i % 3 === 1 ? 0 : Math.floor(g.random() * 2 ** 32)),
};

describe('moments: shifted blocks merged with Chan’s formula', () => {
  for (const [name, make] of Object.entries(DATA)) {
    it(`${name}: mean and std within 1e-13 of an exact two-pass reference, min and max exact`, () => {
      const g = rng(7);
      const values = Array.from({ length: 30_000 }, (_, i) => make(g, i));
      const want = reference(values);
      const got = finishRecord(merged(split(values, 5, 1)));
      expect(got.count).toBe(values.length);
      expect([got.min, got.max]).toEqual([want.min, want.max]);
      expect(close(got.mean, want.mean, 1e-13), `mean ${got.mean} vs ${want.mean}`).toBe(true);
      expect(close(got.std, want.std, 1e-13), `std ${got.std} vs ${want.std}`).toBe(true);
    });
  }

  it('merging is associative up to rounding: every grouping and split agrees within 1e-14', () => {
    const g = rng(3);
    const values = Array.from({ length: 12_000 }, () => 1e7 + g.normal() * 0.01);
    const want = reference(values);
    for (let seed = 1; seed <= 6; seed++) {
      const [a, b, c] = split(values, 3, seed) as [Float64Array, Float64Array, Float64Array];
      const left = merged([merged([a, b]), c]);
      const right = merged([a, merged([b, c])]);
      for (const r of [left, right]) {
        const got = finishRecord(r);
        expect(close(got.mean, want.mean, 1e-14)).toBe(true);
        expect(close(got.std, want.std, 1e-14)).toBe(true);
      }
    }
  });

  it('the same blocks merged in the same order give the same bits', () => {
    const g = rng(11);
    const values = Array.from({ length: 5000 }, () => g.normal());
    const once = finishRecord(merged(split(values, 4, 9)));
    const again = finishRecord(merged(split(values, 4, 9)));
    expect(again).toEqual(once);
  });

  it('a single value: mean is the value, std 0', () => {
    const got = finishRecord(recordOf([-2.5], () => 1024));
    expect(got).toMatchObject({ count: 1, mean: -2.5, std: 0, min: -2.5, max: -2.5 });
  });

  it('empty: count 0 and every statistic null; an empty record merges as nothing', () => {
    expect(finishRecord(emptyRecord())).toEqual({
      count: 0,
      nan: 0,
      inf: 0,
      mean: null,
      std: null,
      min: null,
      max: null,
    });
    const r = recordOf([1, 2, 3], () => 2);
    mergeRecord(r, 0, emptyRecord(), 0);
    expect(finishRecord(r)).toMatchObject({ count: 3, mean: 2, min: 1, max: 3 });
  });

  it('NaN is counted apart; infinities make the mean infinite (NaN for both signs) and the std NaN', () => {
    const r = recordOf([1, 2, 3], () => 1024);
    const nan = emptyRecord();
    nan[NAN] = 4;
    mergeRecord(r, 0, nan, 0);
    expect(finishRecord(r)).toMatchObject({ count: 3, nan: 4, mean: 2, std: Math.sqrt(2 / 3) });
    const inf = emptyRecord();
    inf[POS_INF] = 1;
    inf[MAX] = Number.POSITIVE_INFINITY;
    inf[MIN] = Number.POSITIVE_INFINITY;
    mergeRecord(r, 0, inf, 0);
    expect(finishRecord(r)).toMatchObject({
      count: 4,
      inf: 1,
      mean: Number.POSITIVE_INFINITY,
      max: Number.POSITIVE_INFINITY,
    });
    expect(finishRecord(r).std).toBeNaN();
    const neg = emptyRecord();
    neg[POS_INF + 1] = 1;
    neg[MIN] = Number.NEGATIVE_INFINITY;
    neg[MAX] = Number.NEGATIVE_INFINITY;
    mergeRecord(r, 0, neg, 0);
    expect(finishRecord(r).mean).toBeNaN();
    expect(finishRecord(r).min).toBe(Number.NEGATIVE_INFINITY);
  });

  it('records live side by side in one array (units of a batch)', () => {
    const units = new Float64Array(3 * RECORD);
    for (let u = 0; u < 3; u++) clearRecord(units, u * RECORD);
    addBlock(units, RECORD, 2, 10, 1, 1);
    const r = emptyRecord();
    for (let u = 0; u < 3; u++) mergeRecord(r, 0, units, u * RECORD);
    expect(finishRecord(r)).toMatchObject({ count: 2, mean: 10.5 });
  });
});

describe('histogramMoments: 8/16-bit integers and bool, exactly', () => {
  it('i2 extremes: mean and std equal the exact reference', () => {
    const values = [-32768, 32767, 0, 5, -7, 32767, 32767];
    const counts = new Float64Array(65536);
    for (const v of values) counts[v + 32768]! += 1;
    const want = reference(values);
    const got = histogramMoments(counts, 32768);
    expect(got).toMatchObject({ count: 7, nan: 0, min: -32768, max: 32767 });
    expect(got.mean).toBe(fsum(values) / 7);
    expect(close(got.std, want.std, 1e-15)).toBe(true);
  });

  it('bool: the mean is the fraction true, the std sqrt(p(1 − p))', () => {
    const got = histogramMoments(Float64Array.from([7, 3]), 0);
    expect(got).toMatchObject({ count: 10, mean: 0.3, min: 0, max: 1 });
    expect(close(got.std, Math.sqrt(0.3 * 0.7), 1e-15)).toBe(true);
    expect(histogramMoments(new Float64Array(2), 0)).toMatchObject({ count: 0, mean: null, std: null });
  });
});
