import type { RowChunk } from '../../read/rows.ts';
import { CSV_CELL, elementOffsets } from '../text.ts';
import { type Encoder, type EncoderContext, LineBuffer, type OutputChunk, viewOf } from './encoder.ts';

/**
 * CSV with a header row; a vector column `v` of length n becomes columns `v[0]` … `v[n-1]`.
 * Floats are the shortest decimals that read back to the same bits (see formatFloat64 and
 * formatFloat32), always with a `.` or an exponent so readers type them as floats;
 * booleans are `true`/`false`; `\n` ends every line. Names are identifiers: nothing is quoted.
 */
export function csvEncoder({ fields, itemsize }: EncoderContext): Encoder {
  const names: string[] = [];
  const cells: { read: (dv: DataView, at: number) => string; at: number }[] = [];
  for (const f of fields) {
    const offsets = elementOffsets(f);
    offsets.forEach((at, k) => {
      names.push(f.vector ? `${f.name}[${k}]` : f.name);
      cells.push({ read: CSV_CELL[f.dtype], at });
    });
  }
  return {
    begin: () => [`${names.join(',')}\n`],
    encode(chunk: RowChunk): OutputChunk[] {
      const dv = viewOf(chunk.data);
      const out = new LineBuffer();
      for (let r = 0, base = 0; r < chunk.rows; r++, base += itemsize) {
        let line = '';
        for (let c = 0; c < cells.length; c++) {
          const cell = cells[c]!;
          line += c === 0 ? cell.read(dv, base + cell.at) : `,${cell.read(dv, base + cell.at)}`;
        }
        out.push(line);
      }
      return out.take();
    },
    end: () => [],
  };
}
