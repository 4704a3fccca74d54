// The column views of a run's rows read in place (what openRun's RunReader hands out):
// typed element readers over aligned strided views, DataView readers for unaligned
// layouts, per-segment views, and rows compiled per layout.
import { MmrunError, show } from '../errors.ts';
import { type ColumnSpec, type ColumnsSpec, DTYPE_SIZE, type Field, type RowLayout } from '../storage/dtype.ts';
import {
  dataViewReadSource,
  type NumericArray,
  readElement,
  type StridedColumn,
  stridedColumn,
  TYPED_ARRAY,
  type TypedArrayOf,
} from './strided.ts';

/**
 * What reading a column of this spec gives: a number (bool: a boolean) for a scalar column;
 * for a vector column a typed array of its elements (bool: an array of booleans).
 */
export type ReadValue<S extends ColumnSpec> = S extends readonly [infer D, number]
  ? D extends 'bool'
    ? boolean[]
    : D extends keyof TypedArrayOf
      ? TypedArrayOf[D]
      : never
  : S extends 'bool'
    ? boolean
    : number;

/** One row as {@link RunReader.rows} yields it. */
export type ReadRow<C extends ColumnsSpec> = { -readonly [K in keyof C]: ReadValue<C[K]> };

/** A column of a run's flushed rows, read in place from the read-only mappings. */
export interface ColumnView<T> extends Iterable<T> {
  readonly name: string;
  readonly dtype: Field['dtype'];
  /** Elements per row: the vector length, 1 for a scalar column. */
  readonly elements: number;
  readonly vector: boolean;
  /** Rows: the run's flushed rows when it was opened. */
  readonly length: number;
  /**
   * Whether the column is read through aligned typed arrays (its offset and the row size are
   * multiples of its element size). If not, values are read through a DataView and `get` of
   * a numeric vector column returns a copy.
   */
  readonly aligned: boolean;
  /**
   * The value of row `i`. For a numeric vector column of an aligned layout this is a
   * typed-array view into the mapping (no copy; `subarray` of the segment's column), for a
   * bool vector a new `boolean[]`.
   * @throws RangeError unless `0 <= i < length` is an integer.
   */
  get(i: number): T;
}

/** One segment's flushed rows, for reading at full speed without any per-value call. */
export interface SegmentView {
  /** The segment's number; its file is `path`. */
  readonly index: number;
  readonly path: string;
  /** Index in the run of its first row. */
  readonly firstRow: number;
  /** Its flushed rows. */
  readonly rows: number;
  /** `rows × itemsize` bytes of packed rows, a view into the mapping. */
  readonly data: Buffer;
  /**
   * A column of this segment in place: `{ aligned: true, array, stride }` (element `e` of row
   * `r` is `array[r * stride + e]`) or, for an unaligned layout, `{ aligned: false, view,
   * byteOffset, byteStride }` (read with the DataView's little-endian getters).
   * @throws MmrunError `UNKNOWN_COLUMN`
   * @example
   * for (const seg of reader.segments()) {
   *   const c = seg.column('position');
   *   if (c.aligned) for (let r = 0; r < c.rows; r++) total += c.array[r * c.stride];
   * }
   */
  column(name: string): StridedColumn;
}

export function fieldOf(layout: RowLayout, name: string, runId: string): Field {
  const field = layout.fields.find((f) => f.name === name);
  if (!field) {
    throw new MmrunError(
      'UNKNOWN_COLUMN',
      `run '${runId}' has no column ${show(name)}; its columns are ${layout.fields.map((f) => f.name).join(', ')}`,
      { remedy: 'pass one of those names' },
    );
  }
  return field;
}

export function segmentView(
  slice: { index: number; path: string; firstRow: number; rows: number; data: Buffer },
  layout: RowLayout,
  runId: string,
): SegmentView {
  const cache = new Map<string, StridedColumn>();
  return {
    index: slice.index,
    path: slice.path,
    firstRow: slice.firstRow,
    rows: slice.rows,
    data: slice.data,
    column(name: string): StridedColumn {
      let c = cache.get(name);
      if (!c) {
        const field = fieldOf(layout, name, runId);
        c = stridedColumn(slice.data, layout, field);
        cache.set(name, c);
      }
      return c;
    },
  };
}

/** Reads element `e` of row `r` of a column part as a number (bool as 0/1). */
export function elementReader(part: StridedColumn): (r: number, e: number) => number {
  if (part.aligned) {
    const { array, stride } = part;
    return (r, e) => array[r * stride + e]!;
  }
  const { view, byteOffset, byteStride, field } = part;
  const size = DTYPE_SIZE[field.dtype];
  return (r, e) => readElement(view, byteOffset + r * byteStride + e * size, field.dtype);
}

/** The value of row `r` of a column part, as ColumnView.get returns it. */
export function valueReader(part: StridedColumn): (r: number) => unknown {
  const { field } = part;
  const n = field.length;
  if (!field.vector) {
    if (part.aligned) {
      const { array, stride } = part;
      return field.dtype === 'bool' ? (r) => array[r * stride] !== 0 : (r) => array[r * stride];
    }
    const read = elementReader(part);
    return field.dtype === 'bool' ? (r) => read(r, 0) !== 0 : (r) => read(r, 0);
  }
  const read = elementReader(part);
  if (field.dtype === 'bool') {
    return (r) => {
      const out = new Array<boolean>(n);
      for (let e = 0; e < n; e++) out[e] = read(r, e) !== 0;
      return out;
    };
  }
  if (part.aligned) {
    const { array, stride } = part;
    return (r) => array.subarray(r * stride, r * stride + n);
  }
  const Ctor = TYPED_ARRAY[field.dtype] as unknown as new (length: number) => NumericArray;
  return (r) => {
    const out = new Ctor(n);
    for (let e = 0; e < n; e++) out[e] = read(r, e);
    return out;
  };
}

export function makeColumnView(
  field: Field,
  parts: readonly StridedColumn[],
  length: number,
  segmentRows: number,
): ColumnView<unknown> {
  const readers = parts.map(valueReader);
  const aligned = parts.every((p) => p.aligned);
  const only = readers.length === 1 ? readers[0]! : undefined;
  return {
    name: field.name,
    dtype: field.dtype,
    elements: field.length,
    vector: field.vector,
    length,
    aligned,
    get(i: number): unknown {
      if (!(i >= 0 && i < length && Math.floor(i) === i)) {
        throw new RangeError(`row ${i} is not an integer in [0, ${length})`);
      }
      if (only) return only(i);
      const k = Math.floor(i / segmentRows);
      return readers[k]!(i - k * segmentRows);
    },
    *[Symbol.iterator]() {
      for (let k = 0; k < parts.length; k++) {
        const read = readers[k]!;
        const rows = parts[k]!.rows;
        for (let r = 0; r < rows; r++) yield read(r);
      }
    },
  };
}

/**
 * Generates the row iterator of a layout: one object literal per row, built by straight-line
 * code (a fixed shape, no per-column dispatch).
 */
export function compileRows<C extends ColumnsSpec>(
  layout: RowLayout,
): (segments: readonly SegmentView[]) => Generator<ReadRow<C>, void, undefined> {
  const setup: string[] = [];
  const props: string[] = [];
  layout.fields.forEach((f, c) => {
    setup.push(`const p${c} = seg.column(${JSON.stringify(f.name)});`);
    // `__proto__` as a plain key would set the prototype; a computed key never does.
    const key = f.name === '__proto__' ? `[${JSON.stringify(f.name)}]` : JSON.stringify(f.name);
    let value: string;
    if (f.vector) {
      setup.push(`const v${c} = valueReader(p${c});`);
      value = `v${c}(r)`;
    } else {
      setup.push(
        `const a${c} = p${c}.aligned ? p${c}.array : null, s${c} = p${c}.aligned ? p${c}.stride : 0;`,
        `const d${c} = p${c}.aligned ? null : p${c}.view, o${c} = p${c}.aligned ? 0 : p${c}.byteOffset;`,
      );
      const dv = dataViewReadSource(f.dtype, `d${c}`, `o${c} + r * ${layout.itemsize}`);
      const direct = `a${c}[r * s${c}]`;
      value =
        f.dtype === 'bool' ? `(a${c} !== null ? ${direct} : ${dv}) !== 0` : `(a${c} !== null ? ${direct} : ${dv})`;
    }
    props.push(`${key}: ${value}`);
  });
  const source = `return function* rows(segments) {
  for (const seg of segments) {
    ${setup.join('\n    ')}
    const n = seg.rows;
    for (let r = 0; r < n; r++) yield { ${props.join(', ')} };
  }
};`;
  return new Function('valueReader', source)(valueReader) as (
    segments: readonly SegmentView[],
  ) => Generator<ReadRow<C>, void, undefined>;
}
