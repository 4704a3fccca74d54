// How numbers become text in the CSV and JSONL exports: every value reads back exactly.
import type { Field, ScalarDtype } from '../storage/dtype.ts';

/**
 * A float64 as the shortest decimal that reads back as the same float64, spelled exactly
 * as Python's `repr(float)`: `0.1`, `2.0` (never `2`, so readers type the column as float),
 * `-0.0` (the sign of zero kept), `1e+16`, `1e-05`. Non-finite values are `NaN`, `Infinity`
 * and `-Infinity`, which pandas, NumPy and Python's `float()` all read.
 * @example formatFloat64(0.1) // '0.1'; formatFloat64(2) // '2.0'; formatFloat64(1e300) // '1e+300'
 */
export function formatFloat64(x: number): string {
  const abs = Math.abs(x);
  // JavaScript's String() already matches repr() here: fixed notation, shortest digits.
  if (abs >= 1e-4 && abs < 1e16) return Number.isInteger(x) ? `${x}.0` : String(x);
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  if (!Number.isFinite(x)) return String(x);
  // Scientific notation as repr() writes it: the exponent signed and at least two digits.
  const [mantissa, exponent] = x.toExponential().split('e') as [string, string];
  const e = Number(exponent);
  return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/**
 * A float32 (given as the number it widens to) as the decimal with the fewest significant
 * digits (at most 9) that reads back as the same float32 when parsed as a float64 and
 * rounded to float32 (`Math.fround(Number(s))`, `np.float32(float(s))`, or pandas'
 * `astype('float32')`), spelled like {@link formatFloat64}: `0.1f` prints `0.1`, not its
 * float64 value `0.10000000149011612`; the digits are as few as NumPy's repr of the float32.
 * Parsed as a float64 without the rounding, it is the float64 nearest that short decimal.
 * @example formatFloat32(Math.fround(0.1)) // '0.1'; formatFloat32(Math.fround(1 / 3)) // '0.33333334'
 */
export function formatFloat32(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return formatFloat64(x);
  for (let p = 1; p < 9; p++) {
    const shortest = Number(x.toPrecision(p));
    if (Math.fround(shortest) === x) return formatFloat64(shortest);
  }
  // Nine significant digits identify every float32.
  return formatFloat64(Number(x.toPrecision(9)));
}

/** Reads one element at byte `at` of a chunk and renders it as text. */
export type Cell = (dv: DataView, at: number) => string;

/** How CSV renders each dtype. Booleans are `true`/`false`, which pandas reads as bool. */
export const CSV_CELL: Readonly<Record<ScalarDtype, Cell>> = {
  f8: (dv, at) => formatFloat64(dv.getFloat64(at, true)),
  f4: (dv, at) => formatFloat32(dv.getFloat32(at, true)),
  i1: (dv, at) => String(dv.getInt8(at)),
  i2: (dv, at) => String(dv.getInt16(at, true)),
  i4: (dv, at) => String(dv.getInt32(at, true)),
  u1: (dv, at) => String(dv.getUint8(at)),
  u2: (dv, at) => String(dv.getUint16(at, true)),
  u4: (dv, at) => String(dv.getUint32(at, true)),
  bool: (dv, at) => (dv.getUint8(at) !== 0 ? 'true' : 'false'),
};

/** JSON has no NaN or Infinity: they become the strings "NaN", "Infinity", "-Infinity" (as proto3's JSON mapping does). */
const jsonFloat =
  (format: (x: number) => string) =>
  (x: number): string =>
    Number.isFinite(x) ? format(x) : `"${x}"`;
const jsonF8 = jsonFloat(formatFloat64);
const jsonF4 = jsonFloat(formatFloat32);

/** How JSONL renders each dtype: numbers, `true`/`false`, and strings for non-finite floats. */
export const JSON_CELL: Readonly<Record<ScalarDtype, Cell>> = {
  ...CSV_CELL,
  f8: (dv, at) => jsonF8(dv.getFloat64(at, true)),
  f4: (dv, at) => jsonF4(dv.getFloat32(at, true)),
};

/** Byte offsets, inside a row, of every element of a field. */
export function elementOffsets(field: Field): number[] {
  const size = field.size / field.length;
  return Array.from({ length: field.length }, (_, k) => field.offset + k * size);
}
