import * as fs from 'node:fs';
import * as path from 'node:path';
import { MmrunError } from '../errors.ts';
import type { RowLayout } from './dtype.ts';
import { MAX_MAPPING_BYTES } from './mmap.ts';
import { type RowWindow, Segment, type SegmentExpectation, validateSegment } from './segment.ts';

/** How a run's rows are split over segment files. */
export interface Geometry {
  /** Rows of the whole run (its iteration count). */
  readonly totalRows: number;
  /** Rows per segment; the last segment holds the remainder. */
  readonly segmentRows: number;
}

/** Default data bytes per segment: 1 GiB, well inside one mapping's 2 GiB limit. */
export const DEFAULT_SEGMENT_BYTES = 2 ** 30;

// Room for the largest header we write (v2.0 headers of very wide dtypes are larger).
const HEADER_ALLOWANCE = 1 << 16;

/** Rows per segment for a layout: as many as fit in `targetBytes` (at least one). */
export function defaultSegmentRows(layout: RowLayout, targetBytes = DEFAULT_SEGMENT_BYTES): number {
  return Math.max(1, Math.floor(targetBytes / layout.itemsize));
}

/**
 * Checks that every segment fits in one mapping.
 * @throws MmrunError BAD_OPTION naming the segment size and the limit.
 */
export function checkGeometry(layout: RowLayout, geometry: Geometry): void {
  const { segmentRows, totalRows } = geometry;
  if (!Number.isSafeInteger(segmentRows) || segmentRows < 1) {
    throw new MmrunError('BAD_OPTION', `segment rows must be a positive integer, got ${segmentRows}`, {
      remedy: 'pass --segment-rows N with N >= 1',
    });
  }
  if (!Number.isSafeInteger(totalRows) || totalRows < 0) {
    throw new MmrunError('BAD_ITERATIONS', `iterations must be a non-negative integer, got ${totalRows}`, {
      remedy: 'pass --iterations N, e.g. 1e6 or 1_000_000',
    });
  }
  const bytes = segmentRows * layout.itemsize + HEADER_ALLOWANCE;
  if (bytes > MAX_MAPPING_BYTES) {
    throw new MmrunError(
      'MAPPING_TOO_LARGE',
      `${segmentRows} rows × ${layout.itemsize} bytes per segment exceeds one mapping's limit of ${MAX_MAPPING_BYTES} bytes`,
      {
        remedy: `use at most ${Math.floor((MAX_MAPPING_BYTES - HEADER_ALLOWANCE) / layout.itemsize)} rows per segment`,
      },
    );
  }
}

/** File name of segment k; names sort in row order. */
export function segmentName(k: number): string {
  return `${String(k).padStart(6, '0')}.npy`;
}

/**
 * A run's results: rows split over `.npy` segment files in one directory, each mapped on
 * its own. Segments are created on demand (mode `w+`), reopened for writing (`r+`), or
 * mapped read-only (`r`) or copy-on-write (`c`); each open validates the file first.
 */
export class SegmentedArray {
  readonly dir: string;
  readonly layout: RowLayout;
  readonly geometry: Geometry;
  readonly #source: string;
  // Segments whose file holds fewer rows than the geometry says, until they are grown.
  readonly #sizeOnDisk = new Map<number, number>();

  constructor(dir: string, layout: RowLayout, geometry: Geometry, source: string) {
    checkGeometry(layout, geometry);
    this.dir = dir;
    this.layout = layout;
    this.geometry = geometry;
    this.#source = source;
  }

  /** Number of segments the whole run needs. */
  get segmentCount(): number {
    return Math.ceil(this.geometry.totalRows / this.geometry.segmentRows);
  }

  /** Index of the segment holding row `row`. */
  segmentOf(row: number): number {
    return Math.floor(row / this.geometry.segmentRows);
  }

  /** First row of segment k. */
  firstRow(k: number): number {
    return k * this.geometry.segmentRows;
  }

  /** Rows in segment k. */
  rowsIn(k: number): number {
    return Math.min(this.geometry.segmentRows, this.geometry.totalRows - this.firstRow(k));
  }

  path(k: number): string {
    return path.join(this.dir, segmentName(k));
  }

  expectation(k: number): SegmentExpectation {
    return { layout: this.layout, rows: this.#sizeOnDisk.get(k) ?? this.rowsIn(k), source: this.#source };
  }

  /**
   * Records that segment k still holds `rows` rows on disk (an extended run whose segment
   * has not grown yet): opens expect that size until {@link grow} makes it `rowsIn(k)`.
   */
  expectSizeOnDisk(k: number, rows: number): void {
    this.#sizeOnDisk.set(k, rows);
  }

  /** Grows segment k to `rowsIn(k)` rows (see {@link Segment.grow}). */
  grow(k: number): void {
    Segment.grow(this.path(k), this.expectation(k), this.rowsIn(k));
    this.#sizeOnDisk.delete(k);
  }

  /** Validates (headers and sizes only, no mapping) every segment holding rows [0, rows). */
  validateUpTo(rows: number): void {
    this.validateRange(0, rows);
  }

  /** Validates (headers and sizes only, no mapping) every segment holding rows [from, to). */
  validateRange(from: number, to: number): void {
    if (to <= from) return;
    for (let k = this.segmentOf(from); k <= this.segmentOf(to - 1); k++)
      validateSegment(this.path(k), this.expectation(k));
  }

  /** Validates segment k if it exists (a segment the loop will continue in). */
  validateIfPresent(k: number): void {
    if (fs.existsSync(this.path(k))) validateSegment(this.path(k), this.expectation(k));
  }

  /**
   * Opens segment k for writing: `r+` if it exists (validated), else created with `w+`.
   * With `window` (rows of the segment), only those rows are mapped; a shared segment must
   * exist already (see {@link ensure}), since two creators would race.
   */
  openForWrite(k: number, window?: RowWindow): Segment {
    const file = this.path(k);
    if (!fs.existsSync(file)) {
      const created = Segment.create(file, this.expectation(k));
      if (!window) return created;
    }
    return Segment.open(file, 'r+', this.expectation(k), window);
  }

  /** Creates segment k (mode `w+`) unless it exists; an existing one is validated. */
  ensure(k: number): void {
    if (fs.existsSync(this.path(k))) validateSegment(this.path(k), this.expectation(k));
    else Segment.create(this.path(k), this.expectation(k));
  }

  /** Maps segment k read-only (`r`) or copy-on-write (`c`). */
  openForRead(k: number, mode: 'r' | 'c' = 'r'): Segment {
    return Segment.open(this.path(k), mode, this.expectation(k));
  }
}
