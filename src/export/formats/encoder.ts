import type { Field } from '../../storage/dtype.ts';
import type { RowChunk } from '../rows.ts';

/** Bytes or text, written to the output in order. */
export type OutputChunk = Uint8Array | string;

/** What an encoder is told once, before the first row. */
export interface EncoderContext {
  /** The columns to write, in order, with their offsets inside the run's rows. */
  readonly fields: readonly Field[];
  /** Bytes per row of the run (the stride of a chunk's data). */
  readonly itemsize: number;
  /** Rows that will be encoded in all. */
  readonly rows: number;
}

/**
 * Turns rows into one output format. Its methods return what to write; the caller writes
 * each result completely (with backpressure) before asking for more, so an encoder holds
 * at most one chunk's worth of output.
 */
export interface Encoder {
  /** What comes before the rows: a header, a schema. */
  begin(): OutputChunk[];
  /** The encoding of one chunk of rows. */
  encode(chunk: RowChunk): OutputChunk[];
  /** What comes after the rows: a footer. */
  end(): OutputChunk[];
}

/** A DataView over a chunk's bytes. */
export const viewOf = (data: Buffer): DataView => new DataView(data.buffer, data.byteOffset, data.byteLength);
