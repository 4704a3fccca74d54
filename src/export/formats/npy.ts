import type { RowChunk } from '../../read/rows.ts';
import { encodeHeader } from '../../storage/npy.ts';
import { packedLayout } from '../select.ts';
import type { Encoder, EncoderContext, OutputChunk } from './encoder.ts';

/**
 * One `.npy` file: a 1-D array of the selected columns' structured dtype (packed,
 * little-endian, in the order asked for) with exactly the exported row count, so
 * `np.load(path, mmap_mode='r')` maps it. With every column in the run's order the rows
 * are written as they are, without a copy.
 */
export function npyEncoder({ fields, itemsize, rows }: EncoderContext): Encoder {
  const layout = packedLayout(fields);
  const whole = layout.itemsize === itemsize;
  return {
    begin: () => [encodeHeader(layout, rows)],
    encode(chunk: RowChunk): OutputChunk[] {
      if (whole) return [chunk.data];
      const out = Buffer.allocUnsafe(chunk.rows * layout.itemsize);
      const src = chunk.data;
      let o = 0;
      for (let r = 0, base = 0; r < chunk.rows; r++, base += itemsize) {
        for (const f of fields) {
          const from = base + f.offset;
          if (f.size <= 16) for (let b = 0; b < f.size; b++) out[o++] = src[from + b] as number;
          else o += src.copy(out, o, from, from + f.size);
        }
      }
      return [out];
    },
    end: () => [],
  };
}
