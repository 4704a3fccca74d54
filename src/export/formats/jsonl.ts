import type { RowChunk } from '../../read/rows.ts';
import { elementOffsets, JSON_CELL } from '../text.ts';
import { type Encoder, type EncoderContext, LineBuffer, type OutputChunk, viewOf } from './encoder.ts';

/**
 * JSON Lines: one object per row, keys in column order, a vector column as an array.
 * Numbers are written as in CSV (exact round trip, floats with a `.`), booleans as
 * `true`/`false`, and the non-finite floats JSON cannot hold as the strings `"NaN"`,
 * `"Infinity"` and `"-Infinity"`.
 */
export function jsonlEncoder({ fields, itemsize }: EncoderContext): Encoder {
  const columns = fields.map((f, i) => ({
    key: `${i === 0 ? '{' : ','}${JSON.stringify(f.name)}:`,
    read: JSON_CELL[f.dtype],
    offsets: elementOffsets(f),
    vector: f.vector,
  }));
  return {
    begin: () => [],
    encode(chunk: RowChunk): OutputChunk[] {
      const dv = viewOf(chunk.data);
      const out = new LineBuffer();
      for (let r = 0, base = 0; r < chunk.rows; r++, base += itemsize) {
        let line = '';
        for (const c of columns) {
          line += c.key;
          if (!c.vector) {
            line += c.read(dv, base + (c.offsets[0] as number));
            continue;
          }
          line += '[';
          for (let k = 0; k < c.offsets.length; k++) {
            line +=
              k === 0 ? c.read(dv, base + (c.offsets[k] as number)) : `,${c.read(dv, base + (c.offsets[k] as number))}`;
          }
          line += ']';
        }
        out.push(`${line}}`);
      }
      return out.take();
    },
    end: () => [],
  };
}
