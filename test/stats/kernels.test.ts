// The generated per-dtype loops: the fast kernel and the careful one agree bit for bit on
// finite data (so which ran never shows), typed arrays and DataViews agree, and the careful
// kernel counts NaN and infinities apart.
import { describe, expect, it } from 'vitest';
import { TYPED_ARRAY } from '../../src/read/strided.ts';
import {
  B_MAX,
  B_MIN,
  B_N,
  B_NAN,
  B_NEG_INF,
  B_POS_INF,
  B_S,
  B_SHIFT,
  histogramKernel,
  momentKernel,
  STATE,
} from '../../src/stats/kernels.ts';
import { DTYPE_SIZE, type ScalarDtype } from '../../src/storage/dtype.ts';

const SETTERS: Record<ScalarDtype, keyof DataView> = {
  f8: 'setFloat64',
  f4: 'setFloat32',
  i1: 'setInt8',
  i2: 'setInt16',
  i4: 'setInt32',
  u1: 'setUint8',
  u2: 'setUint16',
  u4: 'setUint32',
  bool: 'setUint8',
};

const fresh = (): Float64Array => {
  const st = new Float64Array(STATE);
  st[B_SHIFT] = Number.NaN;
  st[B_MIN] = Number.POSITIVE_INFINITY;
  st[B_MAX] = Number.NEGATIVE_INFINITY;
  return st;
};

/** `rows` rows of `stride` elements with the column at element 1, as a typed array and as bytes of 13-byte rows. */
function layouts(dtype: ScalarDtype, values: readonly number[], L: number) {
  const rows = values.length / L;
  const stride = L + 2;
  const typed = new TYPED_ARRAY[dtype](new ArrayBuffer(rows * stride * DTYPE_SIZE[dtype]), 0, rows * stride);
  const size = DTYPE_SIZE[dtype];
  const itemsize = L * size + 5;
  const bytes = new DataView(new ArrayBuffer(rows * itemsize));
  values.forEach((v, k) => {
    const r = Math.floor(k / L);
    const e = k % L;
    typed[r * stride + 1 + e] = v;
    (bytes[SETTERS[dtype]] as (at: number, v: number, le: boolean) => void).call(
      bytes,
      r * itemsize + 3 + e * size,
      v,
      true,
    );
  });
  return { rows, stride, typed, itemsize, bytes };
}

const CASES: [ScalarDtype, number[]][] = [
  ['f8', [1e9 + 0.001, 1e9 - 0.002, 1e9, -0, 5e-324, 1e150, 3.25, -1e-300]],
  ['f4', [Math.fround(0.1), Math.fround(-3.4e38), Math.fround(1e-45), 7, -0, 2.5, 1e6, Math.fround(1 / 3)]],
  ['i4', [-2147483648, 2147483647, 0, -1, 1, 123456789, -987654321, 42]],
  ['u4', [4294967295, 0, 1, 2147483648, 4294967294, 7, 65536, 3]],
];

describe('moment kernels', () => {
  for (const [dtype, values] of CASES) {
    for (const L of [1, 2]) {
      it(`${dtype}${L > 1 ? ` vector of ${L}` : ''}: fast = careful = DataView, bit for bit, in two calls or one`, () => {
        const { rows, stride, typed, itemsize, bytes } = layouts(dtype, values, L);
        const vector = L > 1;
        const run = (aligned: boolean, careful: boolean, parts: number[]) => {
          const st = fresh();
          const k = momentKernel(dtype, aligned, vector, careful);
          let r = 0;
          for (const n of parts) {
            const ok = aligned
              ? k(typed, r * stride + 1, stride, n, L, st)
              : k(bytes, r * itemsize + 3, itemsize, n, L, st);
            expect(ok).toBe(true);
            r += n;
          }
          return [...st];
        };
        const want = run(true, true, [rows]);
        expect(want[B_N]).toBe(values.length);
        expect(want[B_MIN]).toBe(Math.min(...values.map((v) => (dtype === 'f4' ? Math.fround(v) : v))));
        for (const aligned of [true, false]) {
          for (const careful of [false, true]) {
            expect(run(aligned, careful, [rows])).toEqual(want);
            expect(run(aligned, careful, [1, rows - 1])).toEqual(want);
          }
        }
      });
    }
  }

  it('the fast kernel declines NaN and ±Infinity (state untouched); the careful one counts them apart', () => {
    const values = [1, Number.NaN, 3, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 2];
    const a = Float64Array.from(values);
    const st = fresh();
    const before = [...st];
    expect(momentKernel('f8', true, false, false)(a, 0, 1, a.length, 1, st)).toBe(false);
    expect([...st]).toEqual(before);
    expect(momentKernel('f8', true, false, true)(a, 0, 1, a.length, 1, st)).toBe(true);
    expect(st[B_N]).toBe(3);
    expect([st[B_NAN], st[B_POS_INF], st[B_NEG_INF]]).toEqual([2, 1, 1]);
    expect([st[B_MIN], st[B_MAX]]).toEqual([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
    // Shift: the first finite value; sums of x − 1 over 1, 3, 2.
    expect([st[B_SHIFT], st[B_S]]).toEqual([1, 3]);
  });

  it('a NaN first value: the fast kernel declines, the careful one shifts by the first finite value', () => {
    const a = Float64Array.from([Number.NaN, 4, 6]);
    const st = fresh();
    expect(momentKernel('f8', true, false, false)(a, 0, 1, 3, 1, st)).toBe(false);
    momentKernel('f8', true, false, true)(a, 0, 1, 3, 1, st);
    expect([st[B_SHIFT], st[B_N], st[B_S]]).toEqual([4, 2, 2]);
  });
});

describe('histogram kernels', () => {
  it('i2, u1, i1 and bool: every value in its bin, typed array and DataView alike', () => {
    for (const [dtype, values, bias] of [
      ['i2', [-32768, 32767, 0, -1, 32767], 32768],
      ['u1', [0, 255, 7, 7], 0],
      ['i1', [-128, 127, 0], 128],
      ['bool', [0, 1, 2, 255, 0], 0],
    ] as [ScalarDtype, number[], number][]) {
      const { rows, stride, typed, itemsize, bytes } = layouts(dtype, values, 1);
      const bins = dtype === 'bool' ? 2 : dtype[1] === '2' ? 65536 : 256;
      const a = new Float64Array(bins);
      const b = new Float64Array(bins);
      histogramKernel(dtype, true, false)(typed, 1, stride, rows, 1, a);
      histogramKernel(dtype, false, false)(bytes, 3, itemsize, rows, 1, b);
      expect([...b]).toEqual([...a]);
      const want = new Float64Array(bins);
      for (const v of values) want[dtype === 'bool' ? (v === 0 ? 0 : 1) : v + bias]! += 1;
      expect([...a]).toEqual([...want]);
    }
  });
});
