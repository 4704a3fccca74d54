import { describe, expect, it } from 'vitest';
import { MinMaxDownsampler } from '../../src/plot/downsample.ts';
import { noise } from './helpers.ts';

/** Pushes `values` in chunks of `chunk` rows, as the plot's read loop does. */
function downsample(values: Float64Array, columns: number, chunk = 65_536): MinMaxDownsampler {
  const d = new MinMaxDownsampler(values.length, columns);
  for (let at = 0; at < values.length; at += chunk) {
    const part = values.slice(at, at + chunk);
    d.push(part, part.length);
  }
  return d;
}

describe('MinMaxDownsampler', () => {
  it('keeps a single spike among 1e6 rows, in the pixel column of its row', () => {
    const rows = 1_000_000;
    const values = new Float64Array(rows).fill(0);
    values[654_321] = 1e9;
    values[17] = -1e9;
    const d = downsample(values, 777);
    const up = d.columnOf(654_321);
    const down = d.columnOf(17);
    expect(d.max[up]).toBe(1e9);
    expect(d.min[down]).toBe(-1e9);
    expect(d.startOf(up)).toBeLessThanOrEqual(654_321);
    expect(d.startOf(up + 1)).toBeGreaterThan(654_321);
    // Every other column is flat at 0: the spikes are exactly where they happened.
    for (let c = 0; c < d.columns; c++) {
      if (c !== up) expect(d.max[c]).toBe(0);
      if (c !== down) expect(d.min[c]).toBe(0);
    }
  });

  it('gives each column the first, min, max and last of exactly its rows, for any chunking', () => {
    const values = noise(100_003, 7);
    for (const columns of [1, 2, 641, 1000, 4096]) {
      const d = downsample(values, columns, 997);
      const whole = downsample(values, columns, values.length);
      expect(d.columns).toBe(columns);
      let covered = 0;
      for (let c = 0; c < columns; c++) {
        const [a, b] = [d.startOf(c), d.startOf(c + 1)];
        expect(b).toBeGreaterThan(a);
        expect(a).toBe(covered);
        covered = b;
        const rows = values.subarray(a, b);
        expect([d.first[c], d.min[c], d.max[c], d.last[c], d.count[c]]).toEqual([
          rows[0],
          Math.min(...rows),
          Math.max(...rows),
          rows[rows.length - 1],
          rows.length,
        ]);
        expect(d.columnOf(a)).toBe(c);
        expect(d.columnOf(b - 1)).toBe(c);
        expect([whole.min[c], whole.max[c]]).toEqual([d.min[c], d.max[c]]);
      }
      expect(covered).toBe(values.length);
    }
  });

  it('gives every row its own column when there are fewer rows than columns', () => {
    const values = Float64Array.of(3, -1, 4, 1, -5);
    const d = downsample(values, 800);
    expect(d.columns).toBe(5);
    expect([...d.min]).toEqual([...values]);
    expect([...d.max]).toEqual([...values]);
  });

  it('skips NaN and infinities, counts them, and leaves a column of only those empty', () => {
    const values = Float64Array.of(Number.NaN, Number.NaN, 1, Number.POSITIVE_INFINITY, 2, Number.NEGATIVE_INFINITY);
    const d = downsample(values, 3);
    expect(d.skipped).toEqual({ nan: 2, posInf: 1, negInf: 1 });
    expect(d.first[0]).toBeNaN();
    expect(d.count[0]).toBe(0);
    expect([d.min[1], d.max[1], d.count[1]]).toEqual([1, 1, 1]);
    expect([d.first[2], d.last[2], d.count[2]]).toEqual([2, 2, 1]);
  });

  it('refuses more rows than it was made for', () => {
    const d = new MinMaxDownsampler(3, 10);
    expect(() => d.push(Float64Array.of(1, 2, 3, 4), 4)).toThrow(RangeError);
  });
});
