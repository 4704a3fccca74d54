// Drop-behind: the pages of flushed rows older than the lag leave the page cache (data kept);
// the lag's worth of the latest flushed rows and every unflushed row stay.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { layoutOf } from '../../src/storage/dtype.ts';
import { mapFile, PAGE_SIZE } from '../../src/storage/mmap.ts';
import { DropBehind } from '../../src/storage/paging/drop-behind.ts';
import { Segment } from '../../src/storage/segment.ts';
import { tmpDir } from '../helpers/tmp.ts';

const addon = createRequire(import.meta.url)('@riaskov/mmap-io') as { incore(buffer: Buffer): [number, number] };
const ITEMSIZE = 32;
const MiB = 1 << 20;

/** Pages of the file's bytes [from, to) (page-aligned) in the page cache. */
function resident(file: string, from: number, to: number): number {
  const fd = fs.openSync(file, 'r');
  try {
    return addon.incore(mapFile(fd, to - from, 'r', file, from))[1];
  } finally {
    fs.closeSync(fd);
  }
}

describe('DropBehind', () => {
  it('reclaims whole pages of flushed rows older than the lag; the data stays', () => {
    const dir = tmpDir('mmrun-drop-');
    const layout = layoutOf({ n: 'f8', x: 'f8', y: 'f8', r2: 'f8' });
    const rows = (32 * MiB) / ITEMSIZE;
    const segment = Segment.create(path.join(dir, '000000.npy'), { layout, rows, source: 'test' });
    const f64 = new Float64Array(segment.data.buffer, segment.data.byteOffset, rows * 4);
    for (let k = 0; k < rows * 4; k++) f64[k] = k + 1;
    const flushed = (24 * MiB) / ITEMSIZE; // 24 MiB flushed, 8 MiB written but not flushed
    segment.sync(0, flushed, ITEMSIZE);

    const drop = new DropBehind({ use: 'on', lag: 8 * MiB });
    drop.follow(segment, ITEMSIZE, 0);
    drop.flushed(flushed);

    // File offsets: the data starts after the header, inside page 0.
    const page = (bytes: number) => Math.ceil((segment.dataOffset + bytes) / PAGE_SIZE) * PAGE_SIZE;
    const pages = (bytes: number) => bytes / PAGE_SIZE;
    // Flushed and older than the lag (16 MiB): gone, but for the page holding the header.
    expect(resident(segment.path, page(0), page(15 * MiB))).toBe(0);
    // The lag's 8 MiB of flushed rows and the 8 MiB not flushed: all still cached.
    expect(resident(segment.path, page(16 * MiB), page(31 * MiB))).toBe(pages(page(31 * MiB) - page(16 * MiB)));
    // The data is intact (read back from the disk for the reclaimed part).
    for (let k = 0; k < rows * 4; k += 4099) expect(f64[k]).toBe(k + 1);
    const copy = fs.readFileSync(segment.path);
    expect(copy.readDoubleLE(segment.dataOffset + 8 * MiB)).toBe((8 * MiB) / 8 + 1);
  });

  it('by default drops behind only where a probe finds fresh pages slow (or never, if refused)', () => {
    const dir = tmpDir('mmrun-drop-');
    const layout = layoutOf({ n: 'f8', x: 'f8', y: 'f8', r2: 'f8' });
    const rows = (32 * MiB) / ITEMSIZE;
    const outcomes: Record<string, number> = {};
    for (const [name, rate] of [
      ['slow', 0.5e9],
      ['fast', 8e9],
      ['refused', undefined],
    ] as const) {
      const segment = Segment.create(path.join(dir, `${name}.npy`), { layout, rows, source: 'test' });
      segment.data.fill(3);
      segment.sync(0, rows, ITEMSIZE);
      const probed: number[] = [];
      const drop = new DropBehind({ use: 'auto', lag: 8 * MiB }, 4 * MiB, (_s, _o, from, to) => {
        probed.push(from, to);
        return rate;
      });
      drop.follow(segment, ITEMSIZE, 0);
      expect(probed).toEqual([0, 2 * MiB]); // the first 2 MiB the loop writes
      expect(drop.dropping).toBe(name === 'slow');
      drop.flushed(rows);
      const start = Math.ceil(segment.dataOffset / PAGE_SIZE) * PAGE_SIZE;
      outcomes[name] = resident(segment.path, start, start + 16 * MiB);
    }
    expect(outcomes).toEqual({ slow: 0, fast: (16 * MiB) / PAGE_SIZE, refused: (16 * MiB) / PAGE_SIZE });
  });

  it('does nothing until a step of flushed rows is older than the lag', () => {
    const dir = tmpDir('mmrun-drop-');
    const layout = layoutOf({ n: 'f8', x: 'f8', y: 'f8', r2: 'f8' });
    const rows = (8 * MiB) / ITEMSIZE;
    const segment = Segment.create(path.join(dir, '000000.npy'), { layout, rows, source: 'test' });
    segment.data.fill(1);
    segment.sync(0, rows, ITEMSIZE);
    const drop = new DropBehind({ use: 'on', lag: 6 * MiB });
    drop.follow(segment, ITEMSIZE, 0);
    drop.flushed(rows); // only 2 MiB older than the lag: below one step
    const start = Math.ceil(segment.dataOffset / PAGE_SIZE) * PAGE_SIZE;
    expect(resident(segment.path, start, start + 7 * MiB)).toBe((7 * MiB) / PAGE_SIZE);
  });
});
