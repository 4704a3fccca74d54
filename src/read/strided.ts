// One column of consecutive rows in a run's packed row layout, as the fastest way to read it
// in place: an aligned typed array with a stride where the layout allows, else a DataView.
import { DTYPE_SIZE, type Field, type RowLayout, type ScalarDtype } from '../storage/dtype.ts';

/** The typed array each dtype reads through (bool: one byte, non-zero is true). */
export interface TypedArrayOf {
  f8: Float64Array;
  f4: Float32Array;
  i1: Int8Array;
  i2: Int16Array;
  i4: Int32Array;
  u1: Uint8Array;
  u2: Uint16Array;
  u4: Uint32Array;
  bool: Uint8Array;
}

/** Any of the typed arrays a column is read through. */
export type NumericArray = TypedArrayOf[ScalarDtype];

type TypedArrayConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => NumericArray;

/** The typed array constructor of each dtype. */
export const TYPED_ARRAY: Readonly<Record<ScalarDtype, TypedArrayConstructor>> = {
  f8: Float64Array,
  f4: Float32Array,
  i1: Int8Array,
  i2: Int16Array,
  i4: Int32Array,
  u1: Uint8Array,
  u2: Uint16Array,
  u4: Uint32Array,
  bool: Uint8Array,
};

/** The DataView getter of each dtype, for generated code (see {@link dataViewReadSource}). */
const DATAVIEW_GETTER: Readonly<Record<ScalarDtype, string>> = {
  f8: 'getFloat64',
  f4: 'getFloat32',
  i1: 'getInt8',
  i2: 'getInt16',
  i4: 'getInt32',
  u1: 'getUint8',
  u2: 'getUint16',
  u4: 'getUint32',
  bool: 'getUint8',
};

/**
 * Source text of an expression that reads a `dtype` value, little-endian, from DataView
 * `view` at byte `offset` (both source text), for the generated readers and kernels.
 */
export function dataViewReadSource(dtype: ScalarDtype, view: string, offset: string): string {
  return `${view}.${DATAVIEW_GETTER[dtype]}(${offset}${DTYPE_SIZE[dtype] > 1 ? ', true' : ''})`;
}

/** Typed arrays use the platform's byte order; the files are little-endian. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A column of `rows` consecutive rows read through a typed array over the mapping (no copy):
 * element `e` of row `r` is `array[r * stride + e]`.
 */
export interface AlignedColumn<D extends ScalarDtype = ScalarDtype> {
  readonly aligned: true;
  readonly field: Field;
  readonly rows: number;
  /** Starts at the column's first element in the first row. */
  readonly array: TypedArrayOf[D];
  /** Elements of the array from one row to the next: itemsize / BYTES_PER_ELEMENT. */
  readonly stride: number;
}

/**
 * A column of `rows` consecutive rows of a layout whose row size or field offset is not a
 * multiple of the element size: element `e` of row `r` is at byte
 * `byteOffset + r * byteStride + e * elementSize` of `view`, little-endian.
 */
export interface UnalignedColumn {
  readonly aligned: false;
  readonly field: Field;
  readonly rows: number;
  readonly view: DataView;
  /** Byte of the column's first element in the first row. */
  readonly byteOffset: number;
  /** Bytes from one row to the next: the layout's itemsize. */
  readonly byteStride: number;
}

export type StridedColumn = AlignedColumn | UnalignedColumn;

/**
 * Whether a field can be read through an aligned typed array in every row of a data region
 * that starts at `byteOffset` of its ArrayBuffer: the field's first byte and the row size
 * must both be multiples of the element size (and the platform little-endian).
 */
export function isAligned(field: Field, itemsize: number, byteOffset: number): boolean {
  const size = DTYPE_SIZE[field.dtype];
  return LITTLE_ENDIAN && (byteOffset + field.offset) % size === 0 && itemsize % size === 0;
}

/**
 * Views one column of `data`, which holds whole rows of `layout` (e.g. a {@link RowChunk}'s
 * bytes or a segment's rows), in place.
 */
export function stridedColumn(data: Buffer, layout: RowLayout, field: Field): StridedColumn {
  const { itemsize } = layout;
  const rows = Math.floor(data.length / itemsize);
  if (isAligned(field, itemsize, data.byteOffset)) {
    const size = DTYPE_SIZE[field.dtype];
    // Up to the last element of the last row: never past `data`, even for the last column.
    const length = rows === 0 ? 0 : ((rows - 1) * itemsize + field.size) / size;
    const array = new TYPED_ARRAY[field.dtype](data.buffer, data.byteOffset + field.offset, length);
    return { aligned: true, field, rows, array, stride: itemsize / size };
  }
  return {
    aligned: false,
    field,
    rows,
    view: new DataView(data.buffer, data.byteOffset, rows * itemsize),
    byteOffset: field.offset,
    byteStride: itemsize,
  };
}

/** Reads one element of a DataView column (little-endian); bool as 0/1. */
export function readElement(view: DataView, at: number, dtype: ScalarDtype): number {
  switch (dtype) {
    case 'f8':
      return view.getFloat64(at, true);
    case 'f4':
      return view.getFloat32(at, true);
    case 'i1':
      return view.getInt8(at);
    case 'i2':
      return view.getInt16(at, true);
    case 'i4':
      return view.getInt32(at, true);
    case 'u1':
      return view.getUint8(at);
    case 'u2':
      return view.getUint16(at, true);
    case 'u4':
      return view.getUint32(at, true);
    case 'bool':
      return view.getUint8(at) === 0 ? 0 : 1;
  }
}
