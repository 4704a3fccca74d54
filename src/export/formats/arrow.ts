import {
  AsyncByteQueue,
  Bool,
  type Data,
  type DataType,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  makeData,
  RecordBatch,
  RecordBatchFileWriter,
  Schema,
  Struct,
  Uint8,
  Uint16,
  Uint32,
} from 'apache-arrow';
import type { RowChunk } from '../../read/rows.ts';
import type { Field as Column, ScalarDtype } from '../../storage/dtype.ts';
import { elementOffsets } from '../text.ts';
import { type Encoder, type EncoderContext, type OutputChunk, viewOf } from './encoder.ts';

/** Copies the elements at `offsets` of every row of a chunk into one Arrow array of `type`. */
type Gather = (type: DataType, dv: DataView, itemsize: number, rows: number, offsets: readonly number[]) => Data;

const numeric =
  (Ctor: new (n: number) => { [i: number]: number }, get: (dv: DataView, at: number) => number): Gather =>
  (type, dv, itemsize, rows, offsets) => {
    const n = offsets.length;
    const values = new Ctor(rows * n);
    for (let r = 0, base = 0, i = 0; r < rows; r++, base += itemsize) {
      for (let k = 0; k < n; k++) values[i++] = get(dv, base + (offsets[k] as number));
    }
    return makeData({ type, length: rows * n, nullCount: 0, data: values } as never);
  };

// Arrow booleans are bits, least significant first.
const bits: Gather = (type, dv, itemsize, rows, offsets) => {
  const n = offsets.length;
  const packed = new Uint8Array(Math.ceil((rows * n) / 8));
  for (let r = 0, base = 0, i = 0; r < rows; r++, base += itemsize) {
    for (let k = 0; k < n; k++, i++) {
      if (dv.getUint8(base + (offsets[k] as number)) !== 0) packed[i >> 3]! |= 1 << (i & 7);
    }
  }
  return makeData({ type: type as Bool, length: rows * n, nullCount: 0, data: packed });
};

const COLUMN: Readonly<Record<ScalarDtype, { type: () => DataType; gather: Gather }>> = {
  f8: { type: () => new Float64(), gather: numeric(Float64Array, (dv, at) => dv.getFloat64(at, true)) },
  f4: { type: () => new Float32(), gather: numeric(Float32Array, (dv, at) => dv.getFloat32(at, true)) },
  i1: { type: () => new Int8(), gather: numeric(Int8Array, (dv, at) => dv.getInt8(at)) },
  i2: { type: () => new Int16(), gather: numeric(Int16Array, (dv, at) => dv.getInt16(at, true)) },
  i4: { type: () => new Int32(), gather: numeric(Int32Array, (dv, at) => dv.getInt32(at, true)) },
  u1: { type: () => new Uint8(), gather: numeric(Uint8Array, (dv, at) => dv.getUint8(at)) },
  u2: { type: () => new Uint16(), gather: numeric(Uint16Array, (dv, at) => dv.getUint16(at, true)) },
  u4: { type: () => new Uint32(), gather: numeric(Uint32Array, (dv, at) => dv.getUint32(at, true)) },
  bool: { type: () => new Bool(), gather: bits },
};

/** The Arrow field of a column: its scalar type, or a FixedSizeList of it for a vector. */
function arrowField(column: Column): Field {
  const scalar = COLUMN[column.dtype].type();
  return column.vector
    ? new Field(column.name, new FixedSizeList(column.length, new Field('item', scalar, false)), false)
    : new Field(column.name, scalar, false);
}

// Collects what the Arrow writer emits, so that it can be written with backpressure. The
// writer would otherwise queue its whole output in memory until someone reads it.
class Collector extends AsyncByteQueue {
  chunks: Uint8Array[] = [];
  override write(value: Uint8Array): void {
    if (value.byteLength > 0) this.chunks.push(value);
  }
  take(): Uint8Array[] {
    const out = this.chunks;
    this.chunks = [];
    return out;
  }
}

/**
 * An Arrow IPC file (Feather v2): one record batch per chunk of rows, non-nullable fields,
 * f8/f4 as Float64/Float32, integers as their own width and signedness, bool as Bool, a
 * vector column as a FixedSizeList of its type. pandas (`read_feather`), Polars, DuckDB and
 * pyarrow read it without NumPy.
 */
export function arrowEncoder({ fields, itemsize }: EncoderContext): Encoder {
  const schema = new Schema(fields.map(arrowField));
  const sink = new Collector();
  const writer = new RecordBatchFileWriter();
  const offsets = fields.map(elementOffsets);
  return {
    begin() {
      writer.reset(sink, schema);
      return sink.take();
    },
    encode(chunk: RowChunk): OutputChunk[] {
      const dv = viewOf(chunk.data);
      const children = fields.map((f, i) => {
        const type = schema.fields[i]!.type;
        if (!f.vector) return COLUMN[f.dtype].gather(type, dv, itemsize, chunk.rows, offsets[i]!);
        const list = type as FixedSizeList;
        const values = COLUMN[f.dtype].gather(list.valueType, dv, itemsize, chunk.rows, offsets[i]!);
        return makeData({ type: list, length: chunk.rows, nullCount: 0, child: values });
      });
      const data = makeData({ type: new Struct(schema.fields), length: chunk.rows, nullCount: 0, children });
      writer.write(new RecordBatch(schema, data));
      return sink.take();
    },
    end() {
      writer.finish();
      return sink.take();
    },
  };
}
