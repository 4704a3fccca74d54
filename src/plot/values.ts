// One plotted quantity of a run: a scalar column, or one element of a vector column, read
// out of row chunks as float64 (bool as 0/1), with its non-finite values counted apart.
import { MmrunError, show } from '../errors.ts';
import type { RowChunk } from '../read/rows.ts';
import type { Field, RowLayout, ScalarDtype } from '../storage/dtype.ts';

/** What `--column` picked: a field, and the element of it when it is a vector. */
export interface ColumnSelection {
  readonly field: Field;
  /** Index of the element inside the field: 0 for a scalar column. */
  readonly element: number;
  /** As the user names it, in titles and axes: `position`, `v[2]`. */
  readonly label: string;
  /** Whether every value is an integer (integer and bool dtypes). */
  readonly integer: boolean;
}

const SELECTOR = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[\s*(\d+)\s*\])?$/;

/** Every way to name a plottable column of `layout`: `x, n, v[0]…v[15]`. */
export function columnForms(layout: RowLayout): string {
  return layout.fields
    .map((f) => (f.vector ? (f.length === 1 ? `${f.name}[0]` : `${f.name}[0]…${f.name}[${f.length - 1}]`) : f.name))
    .join(', ');
}

/**
 * Resolves `--column`: a scalar column by name, or a vector column's element as `v[2]`.
 * @throws MmrunError `UNKNOWN_COLUMN` for a name the run does not have, `BAD_COLUMN_INDEX`
 * for a vector without an index, an index out of range, or an index on a scalar; both
 * list the valid forms.
 * @example selectColumn(layout, 'features[3]', "run 'walk-1'").label // 'features[3]'
 */
export function selectColumn(layout: RowLayout, text: string, source: string): ColumnSelection {
  const forms = columnForms(layout);
  const match = SELECTOR.exec(text.trim());
  const field = match && layout.fields.find((f) => f.name === match[1]);
  if (!match || !field) {
    throw new MmrunError('UNKNOWN_COLUMN', `${source} has no column ${show(text)}; its columns are ${forms}`, {
      remedy: 'pass --column with one of them (an element of a vector column as v[2])',
    });
  }
  const integer = field.dtype !== 'f4' && field.dtype !== 'f8';
  const index = match[2];
  if (!field.vector) {
    if (index !== undefined) {
      throw new MmrunError('BAD_COLUMN_INDEX', `${source}: column '${field.name}' is a scalar and takes no index`, {
        remedy: `pass --column ${field.name}; the valid forms are ${forms}`,
      });
    }
    return { field, element: 0, label: field.name, integer };
  }
  const element = index === undefined ? Number.NaN : Number(index);
  if (!(element < field.length)) {
    const what =
      index === undefined
        ? `is a vector of ${field.length} ${field.dtype}: name one element`
        : `has elements 0 to ${field.length - 1}, not ${index}`;
    throw new MmrunError('BAD_COLUMN_INDEX', `${source}: column '${field.name}' ${what}`, {
      remedy: `pass --column ${field.name}[0] through ${field.name}[${field.length - 1}]; the valid forms are ${forms}`,
    });
  }
  return { field, element, label: `${field.name}[${element}]`, integer };
}

type Reader = (dv: DataView, at: number) => number;

const READ: Readonly<Record<ScalarDtype, Reader>> = {
  f8: (dv, at) => dv.getFloat64(at, true),
  f4: (dv, at) => dv.getFloat32(at, true),
  i1: (dv, at) => dv.getInt8(at),
  i2: (dv, at) => dv.getInt16(at, true),
  i4: (dv, at) => dv.getInt32(at, true),
  u1: (dv, at) => dv.getUint8(at),
  u2: (dv, at) => dv.getUint16(at, true),
  u4: (dv, at) => dv.getUint32(at, true),
  // NumPy's bool is one byte; any non-zero byte is true.
  bool: (dv, at) => (dv.getUint8(at) === 0 ? 0 : 1),
};

/**
 * Copies the selected values of a chunk's rows into `out` (which must hold `chunk.rows`)
 * and returns how many were copied.
 */
export function readColumn(chunk: RowChunk, itemsize: number, column: ColumnSelection, out: Float64Array): number {
  const { data, rows } = chunk;
  if (out.length < rows) throw new RangeError(`buffer of ${out.length} values is too small for ${rows} rows`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const read = READ[column.field.dtype];
  let at = column.field.offset + (column.field.size / column.field.length) * column.element;
  for (let r = 0; r < rows; r++, at += itemsize) out[r] = read(dv, at);
  return rows;
}

/** Values left out of a chart because they are not finite. */
export interface NonFinite {
  nan: number;
  posInf: number;
  negInf: number;
}

export const noNonFinite = (): NonFinite => ({ nan: 0, posInf: 0, negInf: 0 });

/** Counts one non-finite value. */
export function countNonFinite(v: number, into: NonFinite): void {
  if (v === Number.POSITIVE_INFINITY) into.posInf++;
  else if (v === Number.NEGATIVE_INFINITY) into.negInf++;
  else into.nan++;
}

/** Total of {@link NonFinite}. */
export const nonFiniteTotal = (s: NonFinite): number => s.nan + s.posInf + s.negInf;

/** Count, min and max of the finite values seen, and a count of the others. */
export class ValueStats {
  finite = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  readonly skipped: NonFinite = noNonFinite();

  add(values: Float64Array, n: number): void {
    let { min, max, finite } = this;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (v - v === 0) {
        finite++;
        if (v < min) min = v;
        if (v > max) max = v;
      } else {
        countNonFinite(v, this.skipped);
      }
    }
    this.min = min;
    this.max = max;
    this.finite = finite;
  }
}
