import { describe, expect, it } from 'vitest';
import { formatFloat32, formatFloat64 } from '../../src/export/text.ts';
import { bits32, bits64 } from './helpers.ts';

// Deterministic pseudo-random bit patterns (xorshift32), so a failure reproduces.
function* randomWords(n: number, seed = 0x9e3779b9): Generator<number> {
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    yield x;
  }
}

const dv = new DataView(new ArrayBuffer(8));
const randomFloat64s = (n: number): number[] => {
  const words = [...randomWords(2 * n)];
  return Array.from({ length: n }, (_, i) => {
    dv.setUint32(0, words[2 * i] as number);
    dv.setUint32(4, words[2 * i + 1] as number);
    return dv.getFloat64(0);
  });
};
const randomFloat32s = (n: number): number[] =>
  [...randomWords(n, 12345)].map((w) => {
    dv.setUint32(0, w);
    return dv.getFloat32(0);
  });

describe('formatFloat64', () => {
  it.each([
    [0.1, '0.1'],
    [2, '2.0'],
    [-0, '-0.0'],
    [0, '0.0'],
    [1 / 3, '0.3333333333333333'],
    [1e16, '1e+16'],
    [1.5e16, '1.5e+16'],
    [9999999999999998, '9999999999999998.0'],
    [1e-4, '0.0001'],
    [1e-5, '1e-05'],
    [-1e-7, '-1e-07'],
    [1e21, '1e+21'],
    [Number.MAX_VALUE, '1.7976931348623157e+308'],
    [Number.MIN_VALUE, '5e-324'],
    [2 ** 53 + 2, '9007199254740994.0'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
  ])('%s → %s (as Python repr writes it)', (x, text) => {
    expect(formatFloat64(x)).toBe(text);
  });

  it('reads back bit-identical for 100,000 random bit patterns, and always looks like a float', () => {
    const bad: string[] = [];
    for (const x of randomFloat64s(100_000)) {
      const s = formatFloat64(x);
      const back = s === 'NaN' ? Number.NaN : Number(s);
      if (bits64(back) !== bits64(x) || !(/[.e]/.test(s) || !Number.isFinite(x))) bad.push(`${bits64(x)} → ${s}`);
    }
    expect(bad).toEqual([]);
  });
});

describe('formatFloat32', () => {
  it.each([
    [Math.fround(0.1), '0.1'],
    [Math.fround(1 / 3), '0.33333334'],
    [Math.fround(-0.7), '-0.7'],
    [Math.fround(16777217), '16777216.0'],
    [Math.fround(1e20), '1e+20'],
    [3.4028234663852886e38, '3.4028235e+38'],
    [1.401298464324817e-45, '1e-45'],
    [1.1754943508222875e-38, '1.1754944e-38'],
    [-0, '-0.0'],
    [Number.NaN, 'NaN'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
  ])('%s → %s', (x, text) => {
    expect(formatFloat32(x)).toBe(text);
  });

  it('reads back as the same float32 for 100,000 random bit patterns, with no digit to spare', () => {
    const bad: string[] = [];
    for (const x of randomFloat32s(100_000)) {
      const s = formatFloat32(x);
      const back = Math.fround(s === 'NaN' ? Number.NaN : Number(s));
      if (bits32(back) !== bits32(x)) bad.push(`${bits32(x)} → ${s} → ${bits32(back)}`);
      if (!Number.isFinite(x) || x === 0) continue;
      // One significant digit fewer never reads back (the shortest decimal).
      const digits = s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
      if (digits.length > 1 && Math.fround(Number(x.toPrecision(digits.length - 1))) === x)
        bad.push(`${s} is not shortest`);
    }
    expect(bad).toEqual([]);
  });
});
