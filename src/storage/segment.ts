import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MmrunError } from '../errors.ts';
import { crashPoint } from '../faults.ts';
import { fsyncDir, isFileExists, perProcessTemporary, writeFileAtomically } from './atomic-file.ts';
import { descrOf, type RowLayout } from './dtype.ts';
import { type Mode, mapFile, PAGE_SIZE, syncRange } from './mmap.ts';
import { encodeHeader, layoutFromDescr, readHeader } from './npy.ts';
import { formatDescr } from './py-literal.ts';

/** What a segment file must hold; checked on every open (DESIGN invariant 4). */
export interface SegmentExpectation {
  readonly layout: RowLayout;
  readonly rows: number;
  /** Who declares the expectation, for messages, e.g. "experiment 'walk'". */
  readonly source: string;
}

/** Rows [from, to) of a segment: what one shard's worker maps of a segment it shares. */
export interface RowWindow {
  readonly from: number;
  readonly to: number;
}

/**
 * One `.npy` file of a run, mapped whole or as a window of its rows. The file holds a
 * header and exactly `fileRows` rows of `layout`; `data` views the mapped rows, starting
 * at row `firstRow` of the file.
 */
export class Segment {
  readonly path: string;
  readonly mode: Mode;
  /** Rows in `data` (all of the file's rows unless a window was mapped). */
  readonly rows: number;
  /** The file row `data` starts at (0 unless a window was mapped). */
  readonly firstRow: number;
  /** Byte offset of the file's first row. */
  readonly dataOffset: number;
  /** The mapped row bytes: `rows * itemsize` bytes starting at row `firstRow`. */
  readonly data: Buffer;
  // The mapping (page-aligned); `data` is a view into it, so this keeps the mapping alive.
  readonly #mapping: Buffer;
  // Where `data` starts inside the mapping.
  readonly #dataStart: number;

  private constructor(
    file: string,
    mode: Mode,
    window: RowWindow,
    dataOffset: number,
    mapping: Buffer,
    dataStart: number,
    itemsize: number,
  ) {
    this.path = file;
    this.mode = mode;
    this.rows = window.to - window.from;
    this.firstRow = window.from;
    this.dataOffset = dataOffset;
    this.#mapping = mapping;
    this.#dataStart = dataStart;
    this.data = mapping.subarray(dataStart, dataStart + this.rows * itemsize);
  }

  /**
   * Opens an existing segment in mode `r`, `r+` or `c` after validating magic, dtype,
   * shape and file size against `expected`. Nothing is written. With `window`, only the
   * pages holding rows [from, to) are mapped: a shard's worker maps its own rows of a
   * segment it shares with a neighbour, and two workers' writes never overlap.
   */
  static open(file: string, mode: Exclude<Mode, 'w+'>, expected: SegmentExpectation, window?: RowWindow): Segment {
    const { dataOffset } = validateSegment(file, expected);
    const rows = window ?? { from: 0, to: expected.rows };
    if (!(Number.isSafeInteger(rows.from) && rows.from >= 0 && rows.from < rows.to && rows.to <= expected.rows)) {
      throw new RangeError(`row window ${rows.from}:${rows.to} is not inside the ${expected.rows} rows of ${file}`);
    }
    const { itemsize } = expected.layout;
    const start = dataOffset + rows.from * itemsize;
    const mapStart = Math.floor(start / PAGE_SIZE) * PAGE_SIZE;
    const end = dataOffset + rows.to * itemsize;
    const fd = openOrThrow(file, mode === 'r+' ? 'r+' : 'r');
    try {
      // A copy-on-write mapping needs PROT_WRITE, which the kernel allows on a read-only fd
      // only for MAP_PRIVATE: exactly mode `c`.
      const mapping = mapFile(fd, end - mapStart, mode, file, mapStart);
      return new Segment(file, mode, rows, dataOffset, mapping, start - mapStart, itemsize);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Creates a new segment (mode `w+`): header written, the whole file's space allocated
   * before it is mapped (a full disk fails here, not as SIGBUS in the loop), fsynced, then
   * linked into place atomically; an existing file is never overwritten.
   */
  static create(file: string, expected: SegmentExpectation): Segment {
    Segment.write(file, expected);
    return Segment.open(file, 'r+', expected);
  }

  /**
   * Writes a new segment file without mapping it, the way {@link create} does, with `fill`
   * writing rows into the temporary file first (`fd`, and the byte offset of row 0): the
   * file appears under its name complete and durable, or not at all.
   */
  static write(file: string, expected: SegmentExpectation, fill?: (fd: number, dataOffset: number) => void): void {
    const header = encodeHeader(expected.layout, expected.rows);
    const size = header.length + expected.rows * expected.layout.itemsize;
    try {
      writeFileAtomically(
        file,
        (fd, tmp) => {
          fs.writeSync(fd, header, 0, header.length, 0);
          allocate(fd, tmp, size);
          fill?.(fd, header.length);
        },
        { overwrite: false, temporary: 'per-process', beforePlace: () => crashPoint('segment-create') },
      );
    } catch (cause) {
      if (isFileExists(cause)) {
        throw new MmrunError('SEGMENT_EXISTS', `${file} already exists; mmrun never overwrites a segment`, {
          cause,
          remedy: 'open it with mode r+ to continue it, or remove it yourself if it is garbage',
        });
      }
      throw asIoError(cause, file, 'create');
    }
  }

  /**
   * Grows a segment to hold `rows` rows (a run extended with more iterations): a new file
   * with the new header, the old rows copied and the rest allocated is fsynced and renamed
   * over the old one, so a crash leaves either the old or the new file, never a mix.
   */
  static grow(file: string, old: SegmentExpectation, rows: number): void {
    const { dataOffset } = validateSegment(file, old);
    const header = encodeHeader(old.layout, rows);
    const src = fs.openSync(file, 'r');
    try {
      writeFileAtomically(
        file,
        (fd, tmp) => {
          fs.writeSync(fd, header, 0, header.length, 0);
          const chunk = Buffer.alloc(1 << 22);
          const bytes = old.rows * old.layout.itemsize;
          for (let done = 0; done < bytes; ) {
            const n = fs.readSync(src, chunk, 0, Math.min(chunk.length, bytes - done), dataOffset + done);
            fs.writeSync(fd, chunk, 0, n, header.length + done);
            done += n;
          }
          allocate(fd, tmp, header.length + rows * old.layout.itemsize);
        },
        { overwrite: true, temporary: 'per-process' },
      );
    } catch (cause) {
      throw asIoError(cause, file, 'grow');
    } finally {
      fs.closeSync(src);
    }
  }

  /**
   * Makes rows [fromRow, toRow) of `data` durable: msync MS_SYNC of just the pages holding
   * them. Meaningless for `c` (never persists) and impossible for `r`.
   */
  sync(fromRow: number, toRow: number, itemsize: number): void {
    if (this.mode === 'c' || this.mode === 'r') {
      throw new MmrunError('MODE_READONLY', `${this.path} is mapped with mode '${this.mode}', which never persists`, {
        remedy: "open it with mode 'r+' to write",
      });
    }
    if (toRow <= fromRow) return;
    syncRange(this.#mapping, this.#dataStart + fromRow * itemsize, this.#dataStart + toRow * itemsize, this.path);
  }
}

/**
 * Matches the temporaries {@link Segment.write} and {@link Segment.grow} write before a
 * segment takes its name (atomic-file.ts, `temporary: 'per-process'`): `.<segment>.npy.<pid>.tmp`.
 */
const TEMPORARY = perProcessTemporary('\\d+\\.npy');

/**
 * Removes the segment temporaries a killed process left in `dir` (see {@link Segment.write},
 * {@link Segment.grow}). Only the owner of the run in `dir` may call this: another live
 * process may be writing one.
 */
export function removeSegmentTemporaries(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (TEMPORARY.test(name)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/** The rows a segment file's header declares, or undefined if there is no such file. */
export function rowsInHeader(file: string): number | undefined {
  if (!fs.existsSync(file)) return undefined;
  return readHeader(file).shape[0];
}

/**
 * Checks a segment file against what the catalog and the experiment expect, reading only
 * its header and size. Every mismatch names both values.
 */
export function validateSegment(file: string, expected: SegmentExpectation): { dataOffset: number } {
  const name = path.basename(file);
  if (!fs.existsSync(file)) {
    throw new MmrunError('SEGMENT_MISSING', `segment ${file} is missing; ${expected.source} expects it`, {
      remedy: 'restore the file from a backup, or start a new run',
    });
  }
  const header = readHeader(file);
  let actual: RowLayout;
  try {
    actual = layoutFromDescr(header.descr, file);
  } catch (cause) {
    throw new MmrunError(
      'DTYPE_MISMATCH',
      `segment ${name} has dtype ${formatDescr(header.descr)} but ${expected.source} declares ${descrOf(expected.layout)}`,
      { cause, remedy: 'resume with the experiment version that created the run, or start a new run' },
    );
  }
  const mismatch = describeLayoutMismatch(actual, expected.layout, `segment ${name}`, expected.source);
  if (mismatch) {
    throw new MmrunError('DTYPE_MISMATCH', mismatch, {
      remedy: 'resume with the experiment version that created the run, or start a new run',
    });
  }
  if (header.fortranOrder || header.shape.length !== 1 || header.shape[0] !== expected.rows) {
    throw new MmrunError(
      'SHAPE_MISMATCH',
      `segment ${name} has shape (${header.shape.join(', ')}${header.shape.length === 1 ? ',' : ''})` +
        `${header.fortranOrder ? ' in Fortran order' : ''} but ${expected.source} expects (${expected.rows},)`,
      { remedy: 'the segment was changed or belongs to another run; restore it or start a new run' },
    );
  }
  const want = header.dataOffset + expected.rows * expected.layout.itemsize;
  const size = fs.statSync(file).size;
  if (size !== want) {
    throw new MmrunError(
      'SIZE_MISMATCH',
      `segment ${name} is ${size} bytes but header ${header.dataOffset} + ${expected.rows} rows × ` +
        `${expected.layout.itemsize} bytes = ${want} (${size < want ? 'truncated' : 'extra bytes at the end'})`,
      { remedy: 'the file was truncated or appended to; restore it from a backup or start a new run' },
    );
  }
  return { dataOffset: header.dataOffset };
}

/** Names the first difference between two layouts, or returns undefined if they agree. */
export function describeLayoutMismatch(
  actual: RowLayout,
  expected: RowLayout,
  actualSource: string,
  expectedSource: string,
): string | undefined {
  const typeOf = (f: RowLayout['fields'][number]) => (f.vector ? `[${f.dtype}, ${f.length}]` : f.dtype);
  const n = Math.max(actual.fields.length, expected.fields.length);
  for (let k = 0; k < n; k++) {
    const a = actual.fields[k];
    const e = expected.fields[k];
    if (a && e && a.name === e.name && typeOf(a) === typeOf(e)) continue;
    if (a && e && a.name === e.name) {
      return `${actualSource} has ${typeOf(a)} for column '${a.name}' but ${expectedSource} declares ${typeOf(e)} (dtype ${descrOf(actual)} vs ${descrOf(expected)})`;
    }
    return `${actualSource} has dtype ${descrOf(actual)} but ${expectedSource} declares ${descrOf(expected)}`;
  }
  return undefined;
}

function openOrThrow(file: string, flags: string): number {
  try {
    return fs.openSync(file, flags);
  } catch (cause) {
    throw asIoError(cause, file, 'open');
  }
}

/**
 * Below this size a segment's blocks are reserved by writing zeros, not by spawning
 * fallocate(1). Small on purpose: written zeros are pages in the cache and bytes the disk
 * writes back, which fallocate's reserved blocks are not (the page helper relies on a new
 * segment's pages not being resident).
 */
export const ZERO_FILL_BELOW = 1 << 20;

/**
 * Reserves real blocks for the whole file. A small file is written with zeros in one
 * `pwrite` (no child process: a sweep of many small points paid ~1 ms of fork and exec per
 * segment); a large one by fallocate(1), else by writing zeros. Either way a full disk
 * fails here, with ENOSPC, before anything is mapped.
 */
function allocate(fd: number, file: string, size: number): void {
  const start = fs.fstatSync(fd).size;
  if (size - start < ZERO_FILL_BELOW) {
    writeZeros(fd, start, size);
    return;
  }
  const r = spawnSync('fallocate', ['-l', String(size), file], { encoding: 'utf8' });
  if (r.status === 0) return;
  const err = `${r.stderr ?? ''}`;
  if (/No space left/i.test(err)) throw Object.assign(new Error(err.trim()), { code: 'ENOSPC' });
  // fallocate missing or unsupported by the file system: allocate by writing zeros.
  writeZeros(fd, start, size);
}

/** Writes zeros over [start, size) of the file, in chunks of at most {@link ZERO_FILL_BELOW}. */
function writeZeros(fd: number, start: number, size: number): void {
  if (size <= start) return;
  const zeros = Buffer.alloc(Math.min(ZERO_FILL_BELOW, size - start));
  for (let pos = start; pos < size; ) {
    const n = fs.writeSync(fd, zeros, 0, Math.min(zeros.length, size - pos), pos);
    pos += n;
  }
}

/** fsync a directory so a new entry in it survives power loss. */
export { fsyncDir };

/** Wraps a system error: ENOSPC/EDQUOT become DISK_FULL, others IO_ERROR; MmrunErrors pass. */
export function asIoError(cause: unknown, file: string, action: string): MmrunError {
  if (cause instanceof MmrunError) return cause;
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new MmrunError('DISK_FULL', `no space left to ${action} ${file}`, {
      cause,
      remedy: 'free disk space (every flushed row is kept), then `mmrun resume <run>`',
    });
  }
  return new MmrunError('IO_ERROR', `cannot ${action} ${file}: ${(cause as Error).message}`, {
    cause,
    remedy: 'check the path and its permissions',
  });
}
