import { describe, expect, it } from 'vitest';
import { SERIES_BUCKETS, SeriesAccumulator } from '../../src/ui/series.ts';

// A deterministic wiggle with spikes and a few non-finite values.
function values(n: number): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i / 97) + (i % 7919 === 0 ? 50 : 0) - (i % 10007 === 5 ? 80 : 0);
  v[123] = Number.NaN;
  v[4567] = Number.POSITIVE_INFINITY;
  return v;
}

function pushIn(v: Float64Array, chunks: readonly number[]): SeriesAccumulator {
  const acc = new SeriesAccumulator();
  let at = 0;
  for (const size of chunks) {
    acc.push(v.subarray(at, at + size), size);
    at += size;
  }
  acc.push(v.subarray(at), v.length - at);
  return acc;
}

describe('SeriesAccumulator', () => {
  it('gives every row (null where not finite) while the rows fit', () => {
    const v = values(1000);
    const { x, y, downsampled } = pushIn(v, [10, 500]).points(2000);
    expect(downsampled).toBe(false);
    expect(x).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(y[123]).toBeNull();
    expect(y[500]).toBe(v[500]);
  });

  it('keeps every spike and the ends however the rows arrive, within the points asked', () => {
    const n = 50 * SERIES_BUCKETS + 17;
    const v = values(n);
    const finite = v.filter((a) => Number.isFinite(a));
    const top = finite.reduce((a, b) => Math.max(a, b));
    const bottom = finite.reduce((a, b) => Math.min(a, b));
    const whole = pushIn(v, []);
    const pieces = pushIn(v, [1, 4095, 3, 100_000, 7]);
    expect(pieces.points(800)).toEqual(whole.points(800));
    expect(pieces.skipped).toEqual({ nan: 1, posInf: 1, negInf: 0 });
    for (const points of [4, 40, 800, 20_000]) {
      const { x, y, downsampled } = whole.points(points);
      expect(downsampled).toBe(true);
      expect(x.length).toBeLessThanOrEqual(points);
      expect(Math.max(...(y as number[]))).toBe(top);
      expect(Math.min(...(y as number[]))).toBe(bottom);
      expect(x[0]).toBe(0);
      expect(x.at(-1)).toBe(n - 1);
      expect(y[0]).toBe(v[0]);
      expect(y.at(-1)).toBe(v[n - 1]);
      expect(x).toEqual([...x].sort((a, b) => a - b));
    }
  });
});
