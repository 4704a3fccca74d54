import { crc32c } from '@node-rs/crc32';
import type { SegmentedArray } from './segmented-array.ts';

/** CRC32C (hardware-accelerated, from @node-rs/crc32) of some bytes, continuing `initial`. */
export function crc32cOf(bytes: Uint8Array, initial = 0): number {
  return crc32c(bytes, initial) >>> 0;
}

/**
 * CRC32C of the row bytes [startRow, endRow) of a run, read through read-only mappings
 * (each segment validated on open), in order.
 */
export function checksumRows(array: SegmentedArray, startRow: number, endRow: number): number {
  let crc = 0;
  const itemsize = array.layout.itemsize;
  for (let row = startRow; row < endRow; ) {
    const k = array.segmentOf(row);
    const first = array.firstRow(k);
    const stop = Math.min(endRow, first + array.rowsIn(k));
    const segment = array.openForRead(k);
    crc = crc32cOf(segment.data.subarray((row - first) * itemsize, (stop - first) * itemsize), crc);
    row = stop;
  }
  return crc;
}
