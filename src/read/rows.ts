import * as path from 'node:path';
import type { RunRecord } from '../catalog/catalog.ts';
import { readRunOnce } from '../catalog/read-only.ts';
import { layoutOf, type RowLayout } from '../storage/dtype.ts';
import { SequentialPages } from '../storage/paging/pages.ts';
import type { Segment } from '../storage/segment.ts';
import { SegmentedArray } from '../storage/segmented-array.ts';

/** Consecutive rows of one segment, as raw bytes in the run's row layout. */
export interface RowChunk {
  /** Index of the first row in the run. */
  readonly firstRow: number;
  readonly rows: number;
  /**
   * `rows × itemsize` bytes, a view into a read-only mapping. Valid until the next chunk is
   * requested; copy what must outlive that.
   */
  readonly data: Buffer;
}

/** The rows of one segment that lie in a requested range, mapped read-only. */
export interface SegmentSlice {
  /** The segment's number: its file is `path`, named in row order. */
  readonly index: number;
  readonly path: string;
  /** Index in the run of the first row of `data`. */
  readonly firstRow: number;
  readonly rows: number;
  /**
   * `rows × itemsize` bytes, a view into the segment's read-only (mode `r`) mapping, which
   * lives as long as this Buffer (or any view of its ArrayBuffer) is reachable.
   */
  readonly data: Buffer;
}

/** Default bytes of rows per chunk: large enough to amortise per-chunk work, small beside RSS. */
export const DEFAULT_CHUNK_BYTES = 4 << 20;

/**
 * A run's flushed rows, read-only. Only rows [0, flushedRows) are ever read: the catalog
 * commits a flushed index only after those rows are on disk, and rows past it may hold
 * anything. The flushed index is taken once, when the reader is opened.
 */
export class RunRows {
  readonly run: RunRecord;
  readonly layout: RowLayout;
  /** Rows that may be read: the run's flushed index when opened. */
  readonly flushedRows: number;
  /**
   * Every range of rows on disk, `[start, end)` in row order. A run with one worker has one:
   * `[0, flushedRows)`. A sharded run (`--workers K`) has one per shard with flushed rows;
   * `flushedRows` is then the contiguous prefix, which ends where the first unfinished shard's
   * flushed rows end.
   */
  readonly flushedRanges: ReadonlyArray<readonly [number, number]>;
  readonly #array: SegmentedArray;

  private constructor(run: RunRecord, runsDir: string) {
    this.run = run;
    this.layout = layoutOf(run.columns, `run '${run.id}'`);
    this.flushedRows = run.flushedRows;
    this.flushedRanges = flushedRangesOf(run);
    this.#array = new SegmentedArray(
      path.join(runsDir, run.id),
      this.layout,
      { totalRows: run.iterations, segmentRows: run.segmentRows },
      `run '${run.id}'`,
    );
  }

  /**
   * Opens a snapshot of a run for reading: its flushed index as of one read transaction of
   * the catalog opened read-only (a live writer is never blocked or slowed); a `running`
   * run whose owner is gone is reported `crashed` (not recorded).
   * @throws MmrunError `RUN_NOT_FOUND`, or the catalog's errors.
   */
  static open(runsDir: string, runId: string): RunRows {
    return new RunRows(readRunOnce(runsDir, runId), runsDir);
  }

  /**
   * A reader of a run already looked up (e.g. passed to a worker thread, which then reads
   * exactly the rows its parent saw as flushed, however far a live run has moved since).
   */
  static fromRecord(run: RunRecord, runsDir: string): RunRows {
    return new RunRows(run, runsDir);
  }

  /**
   * Yields rows [start, end) in order, in chunks of at most `chunkBytes` bytes that never
   * span two segments. Each segment is opened with mode `r`, validated (magic, dtype,
   * shape, size) before it is mapped, read front to back (MADV_SEQUENTIAL), and its pages
   * are dropped from resident memory once read, so memory stays constant at any run size.
   * A reader of many ranges passes a `segments` map of its own: each segment is then mapped
   * once, kept in the map and reused by later calls (the mappings go with the map).
   * @throws RangeError if the range is not within the flushed rows.
   */
  *chunks(
    start: number,
    end: number,
    chunkBytes = DEFAULT_CHUNK_BYTES,
    segments?: Map<number, Segment>,
  ): Generator<RowChunk, void, undefined> {
    this.#checkRange(start, end);
    const { itemsize } = this.layout;
    const step = Math.max(1, Math.floor(chunkBytes / itemsize));
    let row = start;
    while (row < end) {
      const k = this.#array.segmentOf(row);
      const first = this.#array.firstRow(k);
      const stop = Math.min(end, first + this.#array.rowsIn(k));
      const segment = segments?.get(k) ?? this.#array.openForRead(k, 'r');
      segments?.set(k, segment);
      const pages = new SequentialPages(segment.data);
      try {
        while (row < stop) {
          const n = Math.min(step, stop - row);
          const from = (row - first) * itemsize;
          yield { firstRow: row, rows: n, data: segment.data.subarray(from, from + n * itemsize) };
          pages.releaseBefore(from + n * itemsize);
          row += n;
        }
      } finally {
        pages.releaseAll();
      }
    }
  }

  /**
   * Maps, read-only (mode `r`), every segment holding rows of [start, end), each validated
   * (magic, dtype, shape, size) before it is mapped; returns the part of each in the range.
   * Nothing is read: pages are faulted in when touched, without any read-ahead advice. A
   * reader of successive snapshots passes a `mapped` map of its own: a segment is then mapped
   * (and validated) once, and later calls reuse it.
   * @throws RangeError if the range is not within the flushed rows.
   */
  segments(start: number, end: number, mapped?: Map<number, Segment>): SegmentSlice[] {
    this.#checkRange(start, end);
    const { itemsize } = this.layout;
    const out: SegmentSlice[] = [];
    for (let row = start; row < end; ) {
      const k = this.#array.segmentOf(row);
      const first = this.#array.firstRow(k);
      const stop = Math.min(end, first + this.#array.rowsIn(k));
      // A mapping from an earlier snapshot of the same run serves while it holds the rows
      // (a segment's file only ever grows, when `resume --iterations` extends the run).
      const cached = mapped?.get(k);
      const segment = cached && cached.rows >= stop - first ? cached : this.#array.openForRead(k, 'r');
      mapped?.set(k, segment);
      const from = (row - first) * itemsize;
      out.push({
        index: k,
        path: segment.path,
        firstRow: row,
        rows: stop - row,
        data: segment.data.subarray(from, from + (stop - row) * itemsize),
      });
      row = stop;
    }
    return out;
  }

  #checkRange(start: number, end: number): void {
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end)) {
      throw new RangeError(`row range ${start}:${end} is not a range of non-negative integers`);
    }
    if (start === end || this.flushedRanges.some(([a, b]) => a <= start && end <= b)) return;
    throw new RangeError(
      `row range ${start}:${end} is not within the flushed rows (${this.flushedRanges.map(([a, b]) => `${a}:${b}`).join(', ') || 'none'})`,
    );
  }
}

/**
 * The rows of a run on disk, as ranges in row order: [0, flushedRows), or for a sharded
 * run each shard's flushed rows, neighbours joined (a finished shard meets the next).
 */
export function flushedRangesOf(run: RunRecord): [number, number][] {
  const parts =
    run.workers > 1 ? run.shards.map((s) => [s.startRow, s.flushedRows] as const) : [[0, run.flushedRows] as const];
  const out: [number, number][] = [];
  for (const [a, b] of parts) {
    if (b <= a) continue;
    const last = out.at(-1);
    if (last && last[1] === a) last[1] = b;
    else out.push([a, b]);
  }
  return out;
}
