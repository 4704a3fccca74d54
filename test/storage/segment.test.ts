import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { descrOf, layoutOf } from '../../src/storage/dtype.ts';
import { encodeHeader, layoutFromDescr, readHeader } from '../../src/storage/npy.ts';
import { formatDescr } from '../../src/storage/py-literal.ts';
import {
  removeSegmentTemporaries,
  rowsInHeader,
  Segment,
  type SegmentExpectation,
  ZERO_FILL_BELOW,
} from '../../src/storage/segment.ts';
import { fileHash, tmpDir } from '../helpers/tmp.ts';

const LAYOUT = layoutOf({ x: 'f8', y: 'u4' });
const ROWS = 10;
const EXPECT: SegmentExpectation = { layout: LAYOUT, rows: ROWS, source: "experiment 'test'" };

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

/** A created segment at `<tmp>/000000.npy`. */
function created(): { file: string; dir: string } {
  const dir = tmpDir('mmrun-segment-');
  const file = path.join(dir, '000000.npy');
  Segment.create(file, EXPECT);
  return { file, dir };
}

/** Overwrites bytes at `offset` without changing the file's length. */
function patch(file: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

describe('Segment.create', () => {
  it('writes a valid .npy file of exactly header + rows × itemsize bytes, all of it allocated', () => {
    const { file } = created();
    const header = readHeader(file);
    expect(header.version).toEqual([1, 0]);
    expect(header.shape).toEqual([ROWS]);
    expect(header.fortranOrder).toBe(false);
    expect(formatDescr(header.descr)).toBe("[('x', '<f8'), ('y', '<u4')]");
    expect(layoutFromDescr(header.descr, file)).toEqual(LAYOUT);
    expect(header.dataOffset % 64).toBe(0);
    expect(header.dataOffset).toBe(encodeHeader(LAYOUT, ROWS).length);

    const size = header.dataOffset + ROWS * LAYOUT.itemsize;
    const stat = fs.statSync(file);
    expect(stat.size).toBe(size);
    expect(stat.blocks * 512).toBeGreaterThanOrEqual(size);
  });

  it('returns a writable (r+) segment whose data covers exactly the rows', () => {
    const dir = tmpDir('mmrun-segment-');
    const seg = Segment.create(path.join(dir, '000000.npy'), EXPECT);
    expect(seg.mode).toBe('r+');
    expect(seg.rows).toBe(ROWS);
    expect(seg.data.length).toBe(ROWS * LAYOUT.itemsize);
    expect(seg.dataOffset).toBe(readHeader(seg.path).dataOffset);
  });

  it('leaves no temporary file behind', () => {
    const { dir } = created();
    expect(fs.readdirSync(dir)).toEqual(['000000.npy']);
  });

  it('refuses to overwrite an existing file (SEGMENT_EXISTS) and leaves it byte-identical', () => {
    const { file, dir } = created();
    patch(file, 200, Buffer.from([1, 2, 3, 4]));
    const before = fileHash(file);
    const e = thrown(() => Segment.create(file, EXPECT));
    expect(e.code).toBe('SEGMENT_EXISTS');
    expect(e.message).toContain(file);
    expect(fileHash(file)).toBe(before);
    expect(fs.readdirSync(dir)).toEqual(['000000.npy']);
  });

  it('refuses to overwrite a file that is not a segment at all', () => {
    const dir = tmpDir('mmrun-segment-');
    const file = path.join(dir, '000000.npy');
    fs.writeFileSync(file, 'precious notes\n');
    const e = thrown(() => Segment.create(file, EXPECT));
    expect(e.code).toBe('SEGMENT_EXISTS');
    expect(fs.readFileSync(file, 'utf8')).toBe('precious notes\n');
  });

  it('reserves a small segment by writing zeros, spawning fallocate(1) only for a large one', () => {
    // A fake fallocate on PATH records each call and fails (as on a file system without it),
    // so the large segment falls back to zeros too and both end fully allocated.
    const dir = tmpDir('mmrun-segment-');
    const bin = path.join(dir, 'bin');
    const calls = path.join(dir, 'calls');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'fallocate'), `#!/bin/sh\necho "$@" >> ${calls}\nexit 1\n`, { mode: 0o755 });
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      const small = path.join(dir, 'small.npy');
      Segment.create(small, EXPECT);
      expect(fs.existsSync(calls)).toBe(false);
      expect(fs.statSync(small).blocks * 512).toBeGreaterThanOrEqual(fs.statSync(small).size);
      const rows = Math.ceil(ZERO_FILL_BELOW / LAYOUT.itemsize) + 1;
      const large = path.join(dir, 'large.npy');
      Segment.create(large, { ...EXPECT, rows });
      expect(fs.readFileSync(calls, 'utf8')).toContain(String(fs.statSync(large).size));
      expect(fs.statSync(large).blocks * 512).toBeGreaterThanOrEqual(fs.statSync(large).size);
    } finally {
      process.env.PATH = saved;
    }
  });

  it('reports a missing directory as IO_ERROR naming the file', () => {
    const dir = tmpDir('mmrun-segment-');
    const file = path.join(dir, 'nope', '000000.npy');
    const e = thrown(() => Segment.create(file, EXPECT));
    expect(e.code).toBe('IO_ERROR');
    expect(e.message).toContain(file);
  });
});

describe('Segment.open validates before it maps', () => {
  it('opens a matching segment in every read mode', () => {
    const { file } = created();
    for (const mode of ['r', 'r+', 'c'] as const) {
      const seg = Segment.open(file, mode, EXPECT);
      expect(seg.mode).toBe(mode);
      expect(seg.data.length).toBe(ROWS * LAYOUT.itemsize);
    }
  });

  it('refuses a different dtype (DTYPE_MISMATCH) naming both dtypes, file untouched', () => {
    const { file } = created();
    const other = encodeHeader(layoutOf({ x: 'f4', y: 'u4' }), ROWS);
    expect(other.length).toBe(encodeHeader(LAYOUT, ROWS).length);
    patch(file, 0, other);
    const before = fileHash(file);
    const e = thrown(() => Segment.open(file, 'r+', EXPECT));
    expect(e.code).toBe('DTYPE_MISMATCH');
    expect(e.message).toContain('000000.npy');
    expect(e.message).toContain("'x'");
    expect(e.message).toContain('<f4');
    expect(e.message).toContain('<f8');
    expect(e.message).toContain("experiment 'test'");
    expect(e.remedy).toBeTruthy();
    expect(fileHash(file)).toBe(before);
  });

  it('refuses renamed columns (DTYPE_MISMATCH) naming both descrs', () => {
    const { file } = created();
    patch(file, 0, encodeHeader(layoutOf({ z: 'f8', y: 'u4' }), ROWS));
    const e = thrown(() => Segment.open(file, 'r', EXPECT));
    expect(e.code).toBe('DTYPE_MISMATCH');
    expect(e.message).toContain("[('z', '<f8'), ('y', '<u4')]");
    expect(e.message).toContain(descrOf(LAYOUT));
  });

  it('refuses a big-endian dtype it cannot read as DTYPE_MISMATCH naming both', () => {
    const { file } = created();
    const header = encodeHeader(LAYOUT, ROWS);
    const text = header.toString('latin1').replace("'<f8'", "'>f8'");
    patch(file, 0, Buffer.from(text, 'latin1'));
    const before = fileHash(file);
    const e = thrown(() => Segment.open(file, 'r', EXPECT));
    expect(e.code).toBe('DTYPE_MISMATCH');
    expect(e.message).toContain('>f8');
    expect(e.message).toContain('<f8');
    expect(fileHash(file)).toBe(before);
  });

  it('refuses a truncated file (SIZE_MISMATCH) naming both sizes, file untouched', () => {
    const { file } = created();
    const full = fs.statSync(file).size;
    fs.truncateSync(file, full - 3);
    const before = fileHash(file);
    const e = thrown(() => Segment.open(file, 'r+', EXPECT));
    expect(e.code).toBe('SIZE_MISMATCH');
    expect(e.message).toContain(`${full - 3} bytes`);
    expect(e.message).toContain(`${full}`);
    expect(e.message).toContain('truncated');
    expect(fileHash(file)).toBe(before);
  });

  it('refuses extra bytes at the end (SIZE_MISMATCH) naming both sizes, file untouched', () => {
    const { file } = created();
    const full = fs.statSync(file).size;
    fs.appendFileSync(file, Buffer.from([9, 9, 9, 9, 9]));
    const before = fileHash(file);
    const e = thrown(() => Segment.open(file, 'r', EXPECT));
    expect(e.code).toBe('SIZE_MISMATCH');
    expect(e.message).toContain(`${full + 5} bytes`);
    expect(e.message).toContain(`${full}`);
    expect(e.message).toContain('extra bytes');
    expect(fileHash(file)).toBe(before);
  });

  it('refuses a different row count (SHAPE_MISMATCH) naming both shapes, file untouched', () => {
    const { file } = created();
    const before = fileHash(file);
    const e = thrown(() => Segment.open(file, 'r+', { ...EXPECT, rows: 12 }));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toContain('(10,)');
    expect(e.message).toContain('(12,)');
    expect(fileHash(file)).toBe(before);
  });

  it('refuses a 2-D shape (SHAPE_MISMATCH)', () => {
    const { file } = created();
    const text = encodeHeader(LAYOUT, ROWS).toString('latin1').replace('(10,)', '(5,2)');
    patch(file, 0, Buffer.from(text, 'latin1'));
    const before = fileHash(file);
    const e = thrown(() => Segment.open(file, 'r', EXPECT));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toContain('(5, 2)');
    expect(e.message).toContain('(10,)');
    expect(fileHash(file)).toBe(before);
  });

  it('refuses a file without the .npy magic (NPY_BAD_MAGIC), file untouched', () => {
    const { file } = created();
    patch(file, 1, Buffer.from('X'));
    const before = fileHash(file);
    const e = thrown(() => Segment.open(file, 'r+', EXPECT));
    expect(e.code).toBe('NPY_BAD_MAGIC');
    expect(e.message).toContain(file);
    expect(e.message).toContain('93 58 55 4d 50 59');
    expect(e.message).toContain('93 4e 55 4d 50 59');
    expect(fileHash(file)).toBe(before);
  });

  it('refuses a missing file (SEGMENT_MISSING) naming it', () => {
    const dir = tmpDir('mmrun-segment-');
    const file = path.join(dir, '000003.npy');
    const e = thrown(() => Segment.open(file, 'r', EXPECT));
    expect(e.code).toBe('SEGMENT_MISSING');
    expect(e.message).toContain(file);
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('Segment modes', () => {
  const pattern = () => Buffer.from(Array.from({ length: ROWS * LAYOUT.itemsize }, (_, k) => (k * 7 + 3) & 0xff));

  it("r+: written rows are in the file after sync and a fresh 'r' open sees them", () => {
    const { file } = created();
    const seg = Segment.open(file, 'r+', EXPECT);
    pattern().copy(seg.data);
    seg.sync(0, ROWS, LAYOUT.itemsize);

    const reader = Segment.open(file, 'r', EXPECT);
    expect(Buffer.compare(reader.data, pattern())).toBe(0);
    const bytes = fs.readFileSync(file);
    expect(Buffer.compare(bytes.subarray(seg.dataOffset), pattern())).toBe(0);
    // The header is untouched by writing rows.
    expect(readHeader(file).shape).toEqual([ROWS]);
  });

  it('r+: a partial sync of a row range succeeds, an empty range is a no-op', () => {
    const { file } = created();
    const seg = Segment.open(file, 'r+', EXPECT);
    seg.data.fill(0x5a, 3 * LAYOUT.itemsize, 5 * LAYOUT.itemsize);
    seg.sync(3, 5, LAYOUT.itemsize);
    seg.sync(5, 5, LAYOUT.itemsize);
    seg.sync(6, 2, LAYOUT.itemsize);
    const data = fs.readFileSync(file).subarray(seg.dataOffset);
    expect(data.subarray(3 * LAYOUT.itemsize, 5 * LAYOUT.itemsize).every((b) => b === 0x5a)).toBe(true);
    expect(data.subarray(0, 3 * LAYOUT.itemsize).every((b) => b === 0)).toBe(true);
  });

  it('c: writes are visible in the mapping but never reach the file; sync throws MODE_READONLY', () => {
    const { file } = created();
    const before = fileHash(file);
    const seg = Segment.open(file, 'c', EXPECT);
    pattern().copy(seg.data);
    expect(Buffer.compare(seg.data, pattern())).toBe(0);

    const e = thrown(() => seg.sync(0, ROWS, LAYOUT.itemsize));
    expect(e.code).toBe('MODE_READONLY');
    expect(e.message).toContain("'c'");
    expect(e.message).toContain(file);

    expect(fileHash(file)).toBe(before);
    const reader = Segment.open(file, 'r', EXPECT);
    expect(reader.data.every((b) => b === 0)).toBe(true);
  });

  it('r: sync throws MODE_READONLY naming the mode', () => {
    const { file } = created();
    const seg = Segment.open(file, 'r', EXPECT);
    const e = thrown(() => seg.sync(0, 1, LAYOUT.itemsize));
    expect(e.code).toBe('MODE_READONLY');
    expect(e.message).toContain("'r'");
  });
});

describe('Segment windows', () => {
  it('maps only rows [from, to): writes land in those rows, sync works, neighbours are untouched', () => {
    const { file } = created();
    const whole = Segment.open(file, 'r+', EXPECT);
    whole.data.fill(0xee);
    whole.sync(0, ROWS, LAYOUT.itemsize);
    const window = Segment.open(file, 'r+', EXPECT, { from: 3, to: 7 });
    expect([window.firstRow, window.rows, window.data.length]).toEqual([3, 4, 4 * LAYOUT.itemsize]);
    // The mapping starts at a page boundary before row 3, not at row 3 itself.
    expect(window.data.byteOffset).toBe(whole.dataOffset + 3 * LAYOUT.itemsize);
    window.data.fill(0x11);
    window.sync(0, 4, LAYOUT.itemsize);
    const bytes = fs.readFileSync(file).subarray(whole.dataOffset);
    for (let r = 0; r < ROWS; r++) {
      const row = bytes.subarray(r * LAYOUT.itemsize, (r + 1) * LAYOUT.itemsize);
      expect(row.every((b) => b === (r >= 3 && r < 7 ? 0x11 : 0xee))).toBe(true);
    }
  });

  it('refuses a window outside the segment', () => {
    const { file } = created();
    expect(() => Segment.open(file, 'r', EXPECT, { from: 5, to: ROWS + 1 })).toThrow(RangeError);
    expect(() => Segment.open(file, 'r', EXPECT, { from: 4, to: 4 })).toThrow(RangeError);
  });
});

describe('segment files left behind', () => {
  it('removeSegmentTemporaries removes the temporaries of killed writers and nothing else', () => {
    const { dir } = created();
    const stale = ['.000001.npy.4242.tmp', '.000000.npy.17.tmp'];
    const kept = ['000000.npy', 'run.log', '.000001.npy.tmp', 'x.npy.4242.tmp', '.000001.npy.4242.tmp.bak'];
    for (const name of [...stale, ...kept.slice(1)]) fs.writeFileSync(path.join(dir, name), 'x');
    removeSegmentTemporaries(dir);
    expect(fs.readdirSync(dir).sort()).toEqual([...kept].sort());
  });

  it('rowsInHeader reads the rows a segment declares, undefined for no file', () => {
    const { file, dir } = created();
    expect(rowsInHeader(file)).toBe(ROWS);
    expect(rowsInHeader(path.join(dir, '000001.npy'))).toBeUndefined();
  });
});
