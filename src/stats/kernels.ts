// The per-value loops of `mmrun stats`, generated once per dtype and access path, so that each
// is monomorphic (one typed array type, or a DataView with one getter), allocates nothing
// and has no per-value dispatch. Every kernel reads `rows` rows from element (or byte)
// index `p` on, `stride` elements (bytes) apart, `L` consecutive elements per row.

import { dataViewReadSource, type NumericArray } from '../read/strided.ts';
import { DTYPE_SIZE, type ScalarDtype } from '../storage/dtype.ts';

/** Fields of a kernel's state (a Float64Array per column), carried from call to call. */
export const B_N = 0; // finite values in the current block
export const B_SHIFT = 1; // K: NaN until the unit's first finite value
export const B_S = 2; // Σ(x − K) over the block
export const B_S2 = 3; // Σ(x − K)² over the block
export const B_MIN = 4; // over the unit, infinities included
export const B_MAX = 5;
export const B_NAN = 6; // over the unit
export const B_POS_INF = 7;
export const B_NEG_INF = 8;
export const STATE = 9;

/**
 * Adds rows to the moments in `state`. The fast kernel assumes every value is finite and
 * returns false, leaving `state` untouched, if one is not; the careful kernel then does the
 * same arithmetic in the same order, skipping (and counting) NaN and ±Infinity. So the
 * result does not depend on which of the two ran.
 */
export type MomentKernel = (
  a: NumericArray | DataView,
  p: number,
  stride: number,
  rows: number,
  L: number,
  state: Float64Array,
) => boolean;

/** Adds rows to a histogram of integer values (bool: bins 0 and 1). */
export type HistogramKernel = (
  a: NumericArray | DataView,
  p: number,
  stride: number,
  rows: number,
  L: number,
  counts: Float64Array,
) => void;

/** Histogram bins of the small integer dtypes: bin = value + bias. */
export const HISTOGRAM: Readonly<Partial<Record<ScalarDtype, { readonly bins: number; readonly bias: number }>>> = {
  i1: { bins: 256, bias: 128 },
  u1: { bins: 256, bias: 0 },
  i2: { bins: 65536, bias: 32768 },
  u2: { bins: 65536, bias: 0 },
  bool: { bins: 2, bias: 0 },
};

/** The loop over the values: `body` sees `x`; rows from `p`, `L` elements each. */
function loop(dtype: ScalarDtype, aligned: boolean, vector: boolean, body: string): string {
  const size = DTYPE_SIZE[dtype];
  const read = (index: string) => (aligned ? `a[${index}]` : dataViewReadSource(dtype, 'a', index));
  if (!vector) return `for (let q = p; q < end; q += stride) { const x = ${read('q')}; ${body} }`;
  const element = aligned ? 'q + e' : `q + e * ${size}`;
  return `for (let q = p; q < end; q += stride) { for (let e = 0; e < L; e++) { const x = ${read(element)}; ${body} } }`;
}

function momentSource(dtype: ScalarDtype, aligned: boolean, vector: boolean, careful: boolean): string {
  const first = aligned ? 'a[p]' : dataViewReadSource(dtype, 'a', 'p');
  const minmax = 'if (x < mn) mn = x; if (x > mx) mx = x;';
  const add = 'const d = x - K; s += d; s2 += d * d;';
  const body = careful
    ? `if (x !== x) { nan++; continue; } ${minmax}
       if (x === Infinity) { pos++; continue; } if (x === -Infinity) { neg++; continue; }
       if (K !== K) K = x; ${add} n++;`
    : `${add} ${minmax}`;
  return `
    let n = st[${B_N}], K = st[${B_SHIFT}], s = st[${B_S}], s2 = st[${B_S2}], mn = st[${B_MIN}], mx = st[${B_MAX}];
    ${careful ? `let nan = st[${B_NAN}], pos = st[${B_POS_INF}], neg = st[${B_NEG_INF}];` : ''}
    const end = p + rows * stride;
    ${careful ? '' : `if (rows > 0 && K !== K) { const x0 = ${first}; if (x0 - x0 !== 0) return false; K = x0; }`}
    ${loop(dtype, aligned, vector, body)}
    ${careful ? '' : 'if (!(s2 < Infinity)) return false;\n    n += rows * L;'}
    st[${B_N}] = n; st[${B_SHIFT}] = K; st[${B_S}] = s; st[${B_S2}] = s2; st[${B_MIN}] = mn; st[${B_MAX}] = mx;
    ${careful ? `st[${B_NAN}] = nan; st[${B_POS_INF}] = pos; st[${B_NEG_INF}] = neg;` : ''}
    return true;`;
}

function histogramSource(dtype: ScalarDtype, aligned: boolean, vector: boolean): string {
  if (dtype === 'bool') {
    return `let t = 0; const end = p + rows * stride;
      ${loop(dtype, aligned, vector, 't += x === 0 ? 0 : 1;')}
      h[1] += t; h[0] += rows * L - t;`;
  }
  const bias = HISTOGRAM[dtype]?.bias ?? 0;
  return `const end = p + rows * stride; ${loop(dtype, aligned, vector, `h[x${bias ? ` + ${bias}` : ''}] += 1;`)}`;
}

const cache = new Map<string, unknown>();

function compile<T>(key: string, params: string, source: () => string): T {
  let f = cache.get(key) as T | undefined;
  if (f === undefined) {
    f = new Function(params, `'use strict'; ${source()}`) as T;
    cache.set(key, f);
  }
  return f;
}

/** The moment kernel for a dtype and access path (`careful`: NaN and ±Infinity allowed). */
export function momentKernel(dtype: ScalarDtype, aligned: boolean, vector: boolean, careful: boolean): MomentKernel {
  return compile(`m/${dtype}/${aligned}/${vector}/${careful}`, 'a, p, stride, rows, L, st', () =>
    momentSource(dtype, aligned, vector, careful),
  );
}

/** The histogram kernel for a dtype of {@link HISTOGRAM} and an access path. */
export function histogramKernel(dtype: ScalarDtype, aligned: boolean, vector: boolean): HistogramKernel {
  return compile(`h/${dtype}/${aligned}/${vector}`, 'a, p, stride, rows, L, h', () =>
    histogramSource(dtype, aligned, vector),
  );
}
