import type { RowChunk } from '../../read/rows.ts';
import type { Field } from '../../storage/dtype.ts';

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

// Output buffers of this size: big enough for few writes, small enough to stay cache-warm.
const TEXT_BUFFER_BYTES = 256 << 10;

/**
 * Collects lines of ASCII text (numbers, identifiers, JSON punctuation: every character
 * of a CSV or JSONL export) into Buffers. Each line is copied out as soon as it is built,
 * so the strings die young; holding a chunk's lines until a `join` instead makes the GC
 * promote them all and costs several times the formatting itself.
 */
export class LineBuffer {
  #parts: Buffer[] = [];
  #buffer: Buffer | undefined;
  #pos = 0;

  /** Appends `line` and a `\n`. */
  push(line: string): void {
    const need = line.length + 1;
    if (this.#buffer === undefined || this.#pos + need > this.#buffer.length) {
      this.#cut();
      this.#buffer = Buffer.allocUnsafe(Math.max(TEXT_BUFFER_BYTES, need));
    }
    const buffer = this.#buffer;
    this.#pos += buffer.write(line, this.#pos, 'latin1');
    buffer[this.#pos++] = 0x0a;
  }

  /** The text so far, as Buffers the caller now owns. */
  take(): Buffer[] {
    this.#cut();
    const parts = this.#parts;
    this.#parts = [];
    return parts;
  }

  #cut(): void {
    if (this.#buffer !== undefined && this.#pos > 0) this.#parts.push(this.#buffer.subarray(0, this.#pos));
    this.#buffer = undefined;
    this.#pos = 0;
  }
}
