import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { layoutOf } from '../../src/storage/dtype.ts';
import { MAX_MAPPING_BYTES } from '../../src/storage/mmap.ts';
import { readHeader } from '../../src/storage/npy.ts';
import {
  checkGeometry,
  DEFAULT_SEGMENT_BYTES,
  defaultSegmentRows,
  SegmentedArray,
  segmentName,
} from '../../src/storage/segmented-array.ts';
import { fileHash, tmpDir } from '../helpers/tmp.ts';

// 8 + 2 = 10 bytes per row.
const LAYOUT = layoutOf({ value: 'f8', tag: 'u2' });

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

function array(dir: string, totalRows = 30, segmentRows = 7): SegmentedArray {
  return new SegmentedArray(dir, LAYOUT, { totalRows, segmentRows }, "run 'geo'");
}

/** Writes row r as value = r * 1.5, tag = r into every segment, synced. */
function fill(a: SegmentedArray): void {
  for (let k = 0; k < a.segmentCount; k++) {
    const seg = a.openForWrite(k);
    for (let r = 0; r < seg.rows; r++) {
      const row = a.firstRow(k) + r;
      seg.data.writeDoubleLE(row * 1.5, r * LAYOUT.itemsize);
      seg.data.writeUInt16LE(row, r * LAYOUT.itemsize + 8);
    }
    seg.sync(0, seg.rows, LAYOUT.itemsize);
  }
}

describe('SegmentedArray geometry', () => {
  it('splits 30 rows at 7 per segment into 5 segments, the last with 2 rows', () => {
    const a = array(tmpDir('mmrun-array-'));
    expect(a.segmentCount).toBe(5);
    expect([0, 1, 2, 3, 4].map((k) => a.rowsIn(k))).toEqual([7, 7, 7, 7, 2]);
    expect([0, 1, 2, 3, 4].map((k) => a.firstRow(k))).toEqual([0, 7, 14, 21, 28]);
    expect([0, 6, 7, 13, 14, 27, 28, 29].map((r) => a.segmentOf(r))).toEqual([0, 0, 1, 1, 2, 3, 4, 4]);
  });

  it('has one segment when the run fits, and none for zero rows', () => {
    const dir = tmpDir('mmrun-array-');
    expect(array(dir, 5, 7).segmentCount).toBe(1);
    expect(array(dir, 5, 7).rowsIn(0)).toBe(5);
    expect(array(dir, 7, 7).segmentCount).toBe(1);
    expect(array(dir, 0, 7).segmentCount).toBe(0);
  });

  it('names segments so that sorting by name is row order', () => {
    const names = Array.from({ length: 120 }, (_, k) => segmentName(k));
    expect(names[0]).toBe('000000.npy');
    expect(names[11]).toBe('000011.npy');
    expect([...names].reverse().sort()).toEqual(names);
    const dir = tmpDir('mmrun-array-');
    expect(array(dir).path(3)).toBe(path.join(dir, '000003.npy'));
  });

  it('creates the segment files on demand; sorted and concatenated they hold the rows in order', () => {
    const dir = tmpDir('mmrun-array-');
    const a = array(dir);
    fill(a);
    const files = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.npy'))
      .sort();
    expect(files).toEqual(['000000.npy', '000001.npy', '000002.npy', '000003.npy', '000004.npy']);
    const data = Buffer.concat(
      files.map((f) => {
        const file = path.join(dir, f);
        return fs.readFileSync(file).subarray(readHeader(file).dataOffset);
      }),
    );
    expect(data.length).toBe(30 * LAYOUT.itemsize);
    for (let row = 0; row < 30; row++) {
      expect(data.readDoubleLE(row * LAYOUT.itemsize)).toBe(row * 1.5);
      expect(data.readUInt16LE(row * LAYOUT.itemsize + 8)).toBe(row);
    }
    expect(files.map((f) => readHeader(path.join(dir, f)).shape[0])).toEqual([7, 7, 7, 7, 2]);
  });

  it('reopens an existing segment for writing (r+) without losing its rows', () => {
    const dir = tmpDir('mmrun-array-');
    const a = array(dir);
    fill(a);
    const seg = a.openForWrite(2);
    expect(seg.mode).toBe('r+');
    expect(seg.data.readUInt16LE(3 * LAYOUT.itemsize + 8)).toBe(17);
  });

  it('maps segments read-only or copy-on-write with the right row count', () => {
    const dir = tmpDir('mmrun-array-');
    const a = array(dir);
    fill(a);
    const last = a.openForRead(4);
    expect(last.mode).toBe('r');
    expect(last.rows).toBe(2);
    expect(last.data.readUInt16LE(LAYOUT.itemsize + 8)).toBe(29);
    const before = fileHash(a.path(4));
    const cow = a.openForRead(4, 'c');
    cow.data.fill(0xff);
    expect(fileHash(a.path(4))).toBe(before);
  });
});

describe('SegmentedArray.validateUpTo', () => {
  it('passes when every segment holding the rows is valid, and for zero rows', () => {
    const dir = tmpDir('mmrun-array-');
    const a = array(dir);
    expect(() => a.validateUpTo(0)).not.toThrow();
    fill(a);
    expect(() => a.validateUpTo(30)).not.toThrow();
  });

  it('catches a missing segment (SEGMENT_MISSING) naming it, but only if it holds wanted rows', () => {
    const dir = tmpDir('mmrun-array-');
    const a = array(dir);
    fill(a);
    fs.rmSync(a.path(2));
    expect(() => a.validateUpTo(14)).not.toThrow();
    const e = thrown(() => a.validateUpTo(15));
    expect(e.code).toBe('SEGMENT_MISSING');
    expect(e.message).toContain('000002.npy');
    expect(e.message).toContain("run 'geo'");
  });

  it('catches a segment with a different row count or size', () => {
    const dir = tmpDir('mmrun-array-');
    fill(array(dir));
    expect(thrown(() => array(dir, 30, 8).validateUpTo(1)).code).toBe('SHAPE_MISMATCH');
    const a = array(dir);
    fs.truncateSync(a.path(1), fs.statSync(a.path(1)).size - 1);
    expect(thrown(() => a.validateUpTo(8)).code).toBe('SIZE_MISMATCH');
  });
});

describe('checkGeometry', () => {
  it('accepts the default segment size', () => {
    const rows = defaultSegmentRows(LAYOUT);
    expect(rows).toBe(Math.floor(DEFAULT_SEGMENT_BYTES / LAYOUT.itemsize));
    expect(() => checkGeometry(LAYOUT, { totalRows: 10 * rows, segmentRows: rows })).not.toThrow();
    expect(defaultSegmentRows(layoutOf({ big: ['f8', 2 ** 28] }))).toBe(1);
  });

  it('refuses segments that do not fit in one mapping (MAPPING_TOO_LARGE) naming the sizes', () => {
    const f8 = layoutOf({ x: 'f8' });
    const rows = 2 ** 28; // 2^31 bytes
    const e = thrown(() => checkGeometry(f8, { totalRows: rows, segmentRows: rows }));
    expect(e.code).toBe('MAPPING_TOO_LARGE');
    expect(e.message).toContain(String(rows));
    expect(e.message).toContain(String(MAX_MAPPING_BYTES));
    expect(e.remedy).toMatch(/at most \d+ rows per segment/);
    const most = Number(/at most (\d+)/.exec(e.remedy ?? '')![1]);
    expect(() => checkGeometry(f8, { totalRows: rows, segmentRows: most })).not.toThrow();
    expect(thrown(() => checkGeometry(f8, { totalRows: rows, segmentRows: most + 1 })).code).toBe('MAPPING_TOO_LARGE');
    // The constructor checks too, before touching the disk.
    const dir = tmpDir('mmrun-array-');
    const sub = path.join(dir, 'run');
    expect(thrown(() => new SegmentedArray(sub, f8, { totalRows: rows, segmentRows: rows }, 'x')).code).toBe(
      'MAPPING_TOO_LARGE',
    );
    expect(fs.existsSync(sub)).toBe(false);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses %s rows per segment (BAD_OPTION) naming the value', (segmentRows) => {
    const e = thrown(() => checkGeometry(LAYOUT, { totalRows: 10, segmentRows }));
    expect(e.code).toBe('BAD_OPTION');
    expect(e.message).toContain(String(segmentRows));
  });

  it.each([-1, 2.5, Number.NaN])('refuses a total of %s rows (BAD_ITERATIONS) naming the value', (totalRows) => {
    const e = thrown(() => checkGeometry(LAYOUT, { totalRows, segmentRows: 7 }));
    expect(e.code).toBe('BAD_ITERATIONS');
    expect(e.message).toContain(String(totalRows));
  });
});
