import { crc32c } from '@node-rs/crc32';
import type { Segment } from './segment.ts';
import type { SegmentedArray } from './segmented-array.ts';

/** CRC32C (hardware-accelerated, from @node-rs/crc32) of some bytes, continuing `initial`. */
export function crc32cOf(bytes: Uint8Array, initial = 0): number {
  return crc32c(bytes, initial) >>> 0;
}

/**
 * CRC32C of the row bytes [startRow, endRow) of a run, segment after segment, in order: the
 * one checksum of flushed ranges (the catalog's, resume's check, verify). Segments are
 * read through `open` — by default a read-only mapping of each, validated on open; verify
 * passes one that keeps the current segment mapped.
 */
export function checksumRows(
  array: SegmentedArray,
  startRow: number,
  endRow: number,
  open: (segment: number) => Segment = (k) => array.openForRead(k),
): number {
  let crc = 0;
  const itemsize = array.layout.itemsize;
  for (let row = startRow; row < endRow; ) {
    const k = array.segmentOf(row);
    const first = array.firstRow(k);
    const stop = Math.min(endRow, first + array.rowsIn(k));
    crc = crc32cOf(open(k).data.subarray((row - first) * itemsize, (stop - first) * itemsize), crc);
    row = stop;
  }
  return crc;
}
