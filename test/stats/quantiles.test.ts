// Quantiles as NumPy's default computes them, exact from histograms, and the stratified
// sample's positions: a function of the position alone, whoever reads which rows.
import { describe, expect, it } from 'vitest';
import {
  quantilesOfHistogram,
  quantilesOfSorted,
  rankErrorBound,
  samplePositions,
  stratumSize,
} from '../../src/stats/quantiles.ts';

describe('quantiles like np.quantile(x, [.01, .05, .25, .5, .75, .95, .99])', () => {
  // The expected values were printed by NumPy 1.24 (method 'linear').
  it('float64, operation for operation', () => {
    expect(quantilesOfSorted(Float64Array.from([1, 2, 3, 4]))).toEqual([
      1.03, 1.15, 1.75, 2.5, 3.25, 3.8499999999999996, 3.9699999999999998,
    ]);
    expect(quantilesOfSorted(Float64Array.from([-5, 0, 0, 1e9, 7.5]).sort())).toEqual([
      -4.8, -4.0, 0.0, 0.0, 7.5, 800000001.4999998, 960000000.3,
    ]);
  });

  it('float32 data: the difference of neighbours rounded to float32, as NumPy does', () => {
    const f4 = Float64Array.from([0.1, 0.7, 1e-3, 33.3].map(Math.fround)).sort();
    expect(quantilesOfSorted(f4, true)).toEqual([
      0.0039700000314041965, 0.01584999996703118, 0.07525000162422657, 0.4000000059604645, 8.849999606609344,
      28.40999946594237, 32.321999282836906,
    ]);
  });

  it('one value is every quantile; none gives null', () => {
    expect(quantilesOfSorted(Float64Array.from([7]))).toEqual([7, 7, 7, 7, 7, 7, 7]);
    expect(quantilesOfSorted(new Float64Array(0))).toBeNull();
  });

  it('a histogram gives the quantiles of its sorted values, exactly', () => {
    let seed = 5;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const n of [1, 2, 3, 10, 999]) {
      const values = Array.from({ length: n }, () => Math.floor(next() * 600) - 300);
      const counts = new Float64Array(65536);
      for (const v of values) counts[v + 32768]! += 1;
      const sorted = Float64Array.from(values).sort();
      expect(quantilesOfHistogram(counts, 32768)).toEqual(quantilesOfSorted(sorted));
    }
    expect(quantilesOfHistogram(new Float64Array(256), 128)).toBeNull();
  });
});

describe('the stratified sample', () => {
  it('one position per stratum, inside it; the last stratum may be short', () => {
    const elements = 1_000_003;
    const stratum = stratumSize(elements, 1000);
    expect(stratum).toBe(1001);
    const all = samplePositions(0, elements, elements, stratum);
    expect(all.length).toBe(Math.ceil(elements / stratum));
    all.forEach((p, j) => {
      expect(p).toBeGreaterThanOrEqual(j * stratum);
      expect(p).toBeLessThan(Math.min(elements, (j + 1) * stratum));
    });
    // Uniform in the stratum: ~(1 − 1/e)·1001 ≈ 633 distinct offsets of 1001, mean ≈ 500.
    const offsets = [...all].slice(0, -1).map((p, j) => p - j * stratum);
    expect(new Set(offsets).size).toBeGreaterThan(580);
    expect(Math.abs(offsets.reduce((a, b) => a + b, 0) / offsets.length - 500)).toBeLessThan(30);
  });

  it('the positions of a range are those of the whole that fall in it, however it is cut', () => {
    const elements = 123_457;
    const stratum = stratumSize(elements, 5000);
    const whole = [...samplePositions(0, elements, elements, stratum)];
    for (const cuts of [
      [0, 1, 77_777, elements],
      [0, 24, 25, 26, 100_000, elements],
    ]) {
      const pieces = cuts.slice(1).flatMap((end, k) => [...samplePositions(cuts[k]!, end, elements, stratum)]);
      expect(pieces).toEqual(whole);
    }
  });

  it('with at most sampleSize elements, every position (exact quantiles)', () => {
    expect(stratumSize(65_536, 65_536)).toBe(1);
    expect([...samplePositions(3, 9, 10, 1)]).toEqual([3, 4, 5, 6, 7, 8]);
  });

  it('the rank error bound: sqrt(ln(28/1e-6)/(2n)) + 2/n, about 1.15 % for 65,536 values', () => {
    expect(rankErrorBound(65_536)).toBeCloseTo(Math.sqrt(Math.log(28e6) / 131_072) + 2 / 65_536, 12);
    expect(rankErrorBound(65_536)).toBeGreaterThan(0.0114);
    expect(rankErrorBound(65_536)).toBeLessThan(0.0116);
    expect(rankErrorBound(262_144)).toBeLessThan(rankErrorBound(65_536) / 1.9);
    expect(rankErrorBound(0)).toBe(1);
  });
});
