import { MmrunError, show } from '../errors.ts';

/** The scalar dtypes a column may have (NumPy type codes, little-endian on disk). */
export const SCALAR_DTYPES = ['f8', 'f4', 'i1', 'i2', 'i4', 'u1', 'u2', 'u4', 'bool'] as const;
export type ScalarDtype = (typeof SCALAR_DTYPES)[number];

/** A column declaration: a scalar dtype, or `[dtype, length]` for a fixed-length vector. */
export type ColumnSpec = ScalarDtype | readonly [ScalarDtype, number];
export type ColumnsSpec = Readonly<Record<string, ColumnSpec>>;

/** Bytes per element of each scalar dtype. */
export const DTYPE_SIZE: Readonly<Record<ScalarDtype, number>> = {
  f8: 8,
  f4: 4,
  i1: 1,
  i2: 2,
  i4: 4,
  u1: 1,
  u2: 2,
  u4: 4,
  bool: 1,
};

/** NumPy's `descr` type string for each scalar dtype (explicit little-endian). */
export const NUMPY_TYPESTR: Readonly<Record<ScalarDtype, string>> = {
  f8: '<f8',
  f4: '<f4',
  i1: '|i1',
  i2: '<i2',
  i4: '<i4',
  u1: '|u1',
  u2: '<u2',
  u4: '<u4',
  bool: '|b1',
};

/** One field of a packed structured dtype. */
export interface Field {
  readonly name: string;
  readonly dtype: ScalarDtype;
  /** Elements per row: 1 for a scalar column, the vector length otherwise. */
  readonly length: number;
  /** Whether the column was declared as a vector (`[dtype, n]`), even of length 1. */
  readonly vector: boolean;
  /** Byte offset of the field inside a row. */
  readonly offset: number;
  /** Bytes the field takes in a row: `DTYPE_SIZE[dtype] * length`. */
  readonly size: number;
}

/** A packed (no padding) structured dtype: one field per column, in declaration order. */
export interface RowLayout {
  readonly fields: readonly Field[];
  /** Bytes per row. */
  readonly itemsize: number;
}

const isScalarDtype = (value: unknown): value is ScalarDtype =>
  typeof value === 'string' && (SCALAR_DTYPES as readonly string[]).includes(value);

const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Validates a `columns` declaration and computes its packed row layout.
 * @throws MmrunError `UNKNOWN_DTYPE` or `EXPERIMENT_INVALID`, naming the column.
 */
export function layoutOf(columns: unknown, where = 'experiment'): RowLayout {
  if (columns === null || typeof columns !== 'object' || Array.isArray(columns)) {
    throw new MmrunError('EXPERIMENT_INVALID', `${where}: 'columns' must be an object, got ${show(columns)}`, {
      remedy: "declare columns like { x: 'f8', v: ['f4', 16] }",
    });
  }
  const entries = Object.entries(columns as Record<string, unknown>);
  if (entries.length === 0) {
    throw new MmrunError('EXPERIMENT_INVALID', `${where}: 'columns' is empty`, {
      remedy: "declare at least one column, like { x: 'f8' }",
    });
  }
  const fields: Field[] = [];
  let offset = 0;
  for (const [name, spec] of entries) {
    if (!COLUMN_NAME.test(name)) {
      throw new MmrunError('EXPERIMENT_INVALID', `${where}: column name ${show(name)} is not an identifier`, {
        remedy: 'use letters, digits and underscores, starting with a letter or underscore',
      });
    }
    let dtype: unknown = spec;
    let length = 1;
    let vector = false;
    if (Array.isArray(spec)) {
      [dtype, length] = spec as [unknown, number];
      vector = true;
      if (spec.length !== 2 || !Number.isSafeInteger(length) || length < 1) {
        throw new MmrunError(
          'EXPERIMENT_INVALID',
          `${where}: column '${name}' is ${show(spec)}; a vector column is [dtype, length] with length >= 1`,
          { remedy: "write it like ['f4', 16]" },
        );
      }
    }
    if (!isScalarDtype(dtype)) {
      throw new MmrunError('UNKNOWN_DTYPE', `${where}: column '${name}' has unknown dtype ${show(dtype)}`, {
        remedy: `use one of ${SCALAR_DTYPES.join(', ')}`,
      });
    }
    const size = DTYPE_SIZE[dtype] * length;
    fields.push({ name, dtype, length, vector, offset, size });
    offset += size;
  }
  return { fields, itemsize: offset };
}

/** The `columns` declaration that produces this layout (for storing in the catalog). */
export function columnsOf(layout: RowLayout): Record<string, ColumnSpec> {
  const out: Record<string, ColumnSpec> = {};
  for (const f of layout.fields) out[f.name] = f.vector ? [f.dtype, f.length] : f.dtype;
  return out;
}

/** NumPy's `descr` of the layout as Python source, e.g. `[('x', '<f8'), ('v', '<f4', (16,))]`. */
export function descrOf(layout: RowLayout): string {
  const parts = layout.fields.map((f) => {
    const t = NUMPY_TYPESTR[f.dtype];
    return f.vector ? `('${f.name}', '${t}', (${f.length},))` : `('${f.name}', '${t}')`;
  });
  return `[${parts.join(', ')}]`;
}
