// Just enough of the .npy format to find how far a killed run got, read independently of
// src/ so a bug there cannot hide itself.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where the row bytes of a .npy file start (versions 1.0, 2.0 and 3.0). */
export function npyDataOffset(fd: number): number {
  const head = Buffer.alloc(12);
  fs.readSync(fd, head, 0, 12, 0);
  if (head.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error('not a .npy file');
  const major = head[6]!;
  return major === 1 ? 10 + head.readUInt16LE(8) : 12 + head.readUInt32LE(8);
}

/**
 * How many rows a run's segments hold that were written, given that the row's first column
 * is an f8 that is non-zero exactly for written rows (the bench fixtures store i + 1 there)
 * and that rows are written in order, so the written ones form a prefix. Unwritten space
 * was allocated with fallocate and reads as zeros. Binary search: O(log rows) reads.
 */
export function writtenRows(runDir: string, itemsize: number): number {
  const files = fs
    .readdirSync(runDir)
    .filter((f) => /^\d+\.npy$/.test(f))
    .sort();
  let total = 0;
  const cell = Buffer.alloc(8);
  for (const name of files) {
    const fd = fs.openSync(path.join(runDir, name), 'r');
    try {
      const offset = npyDataOffset(fd);
      const rows = Math.floor((fs.fstatSync(fd).size - offset) / itemsize);
      const first = (row: number) => {
        fs.readSync(fd, cell, 0, 8, offset + row * itemsize);
        return cell.readDoubleLE(0);
      };
      // Invariant: rows [0, lo) are written, rows [hi, rows) are not.
      let lo = 0;
      let hi = rows;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (first(mid) !== 0) lo = mid + 1;
        else hi = mid;
      }
      if (lo > 0 && first(lo - 1) !== total + lo) {
        throw new Error(`${name}: row ${lo - 1} holds ${first(lo - 1)}, expected ${total + lo} (i + 1)`);
      }
      total += lo;
      if (lo < rows) break;
    } finally {
      fs.closeSync(fd);
    }
  }
  return total;
}
