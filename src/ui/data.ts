// What the dashboard computes from a run's flushed rows: a downsampled series, a histogram
// and the tail of its log. Everything reads through RunRows (segments mapped read-only, mode
// `r`, validated before mapping) from a RunRecord that a read-only catalog returned, so only
// rows [0, flushedRows) of that snapshot are ever touched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RunRecord } from '../catalog/catalog.ts';
import { MmrunError, show } from '../errors.ts';
import { checkBins, chooseEdges, Histogram } from '../plot/histogram.ts';
import { type ColumnSelection, type NonFinite, readColumn, selectColumn, ValueStats } from '../plot/values.ts';
import { DEFAULT_CHUNK_BYTES, RunRows } from '../read/rows.ts';
import { stridedColumn } from '../read/strided.ts';
import { checkRunId } from '../runs-dir.ts';
import { SERIES_BUCKETS, SeriesAccumulator } from './series.ts';

/** The most points a series may ask for. */
export const MAX_POINTS = 20_000;
/** Points of a series when not asked. */
export const DEFAULT_POINTS = 2_000;
/** The most log lines a tail may ask for. */
export const MAX_TAIL = 1_000;
/** Bytes read from the end of a log for its tail, at most. */
const TAIL_BYTES = 1 << 20;

/** A column over the flushed rows, as points to draw: `x` row indices, `y` values (null: not finite). */
export interface Series {
  readonly runId: string;
  readonly column: string;
  readonly flushedRows: number;
  /** Rows drawn: rows [0, rows) of the flushed rows (fewer while catching up with a fast writer). */
  readonly rows: number;
  /** Whether `x, y` are a min/max reduction (else every row). */
  readonly downsampled: boolean;
  readonly x: number[];
  readonly y: (number | null)[];
  readonly skipped: NonFinite;
}

/**
 * A column of the run's flushed rows in at most `points` points: every row while there are
 * at most {@link SERIES_BUCKETS} rows and `points`, else the M4 reduction (each group's first,
 * lowest, highest and last value), so no spike is lost however many rows there are.
 * `accumulator`, kept by the caller between requests for the same run and column, makes a
 * request read only the rows flushed since the previous one; `budgetMs` stops reading after
 * the chunk that passes it (the next request goes on from there), so a dashboard following
 * a very fast writer lags behind it instead of taking its CPU.
 * @throws MmrunError `UNKNOWN_COLUMN`, `BAD_COLUMN_INDEX`, `BAD_OPTION` (points)
 */
export function series(
  run: RunRecord,
  runsDir: string,
  column: string,
  points: number,
  accumulator = new SeriesAccumulator(),
  budgetMs = Number.POSITIVE_INFINITY,
): Series {
  checkCount('points', points, 4, MAX_POINTS);
  const rows = RunRows.fromRecord(run, runsDir);
  const selection = selectColumn(rows.layout, column, `run '${run.id}'`);
  const n = rows.flushedRows;
  if (accumulator.rows > n) throw new RangeError(`the accumulator holds ${accumulator.rows} rows of ${n}`);
  const deadline = performance.now() + budgetMs;
  forEachValues(rows, selection, accumulator.rows, (values, count) => {
    accumulator.push(values, count);
    return performance.now() < deadline;
  });
  const { x, y, downsampled } = accumulator.points(points);
  return {
    runId: run.id,
    column: selection.label,
    flushedRows: n,
    rows: accumulator.rows,
    downsampled,
    x,
    y,
    skipped: accumulator.skipped,
  };
}

/** Counts of a column's finite values in equal bins, as `np.histogram` counts them. */
export interface HistogramData {
  readonly runId: string;
  readonly column: string;
  readonly flushedRows: number;
  /** `bins + 1` edges; empty when there is no finite value. */
  readonly edges: number[];
  readonly counts: number[];
  readonly total: number;
  readonly skipped: NonFinite;
}

/**
 * A histogram of a column's flushed rows in two passes (range, then counts); `bins` as
 * `mmrun plot --kind hist --bins` takes it (default: one bin per integer for a small
 * integer range, else 50).
 * @throws MmrunError `UNKNOWN_COLUMN`, `BAD_COLUMN_INDEX`, `BAD_OPTION` (bins)
 */
export function histogram(run: RunRecord, runsDir: string, column: string, bins?: number): HistogramData {
  const rows = RunRows.fromRecord(run, runsDir);
  const selection = selectColumn(rows.layout, column, `run '${run.id}'`);
  const range = new ValueStats();
  forEachValues(rows, selection, 0, (values, count) => {
    range.add(values, count);
    return true;
  });
  const base = { runId: run.id, column: selection.label, flushedRows: rows.flushedRows, skipped: range.skipped };
  if (range.finite === 0) {
    if (bins !== undefined) checkBins(bins);
    return { ...base, edges: [], counts: [], total: 0 };
  }
  const h = new Histogram(chooseEdges(range, selection.integer, bins));
  forEachValues(rows, selection, 0, (values, count) => {
    h.add(values, count);
    return true;
  });
  return { ...base, edges: Array.from(h.edges), counts: Array.from(h.counts), total: h.total };
}

/** The last lines of a run's `run.log`, each parsed as JSON where it is JSON. */
export interface LogTail {
  readonly runId: string;
  readonly lines: unknown[];
  /** Whether the log has more lines before these. */
  readonly truncated: boolean;
}

/**
 * The last `tail` lines of `<runsDir>/<run.id>/run.log` (none if it does not exist). The
 * path is built only from a run id the catalog returned, checked again against the run-id
 * pattern, so no request can reach outside the runs directory.
 */
export function logTail(run: RunRecord, runsDir: string, tail: number): LogTail {
  checkCount('tail', tail, 1, MAX_TAIL);
  const file = path.join(runsDir, checkRunId(run.id), 'run.log');
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return { runId: run.id, lines: [], truncated: false };
  }
  try {
    const size = fs.fstatSync(fd).size;
    const from = Math.max(0, size - TAIL_BYTES);
    const buffer = Buffer.alloc(size - from);
    const read = fs.readSync(fd, buffer, 0, buffer.length, from);
    let text = buffer.subarray(0, read).toString('utf8');
    // A read that starts inside the file starts inside a line: drop that partial line.
    if (from > 0) text = text.slice(text.indexOf('\n') + 1);
    const all = text.split('\n').filter((line) => line.length > 0);
    const lines = all.slice(-tail).map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        return line;
      }
    });
    return { runId: run.id, lines, truncated: from > 0 || all.length > tail };
  } finally {
    fs.closeSync(fd);
  }
}

/** Throws `BAD_OPTION` unless `value` is an integer in [min, max]. */
export function checkCount(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new MmrunError('BAD_OPTION', `${name} ${show(value)} is not an integer from ${min} to ${max}`, {
      remedy: `pass ${name}=N with ${min} <= N <= ${max}`,
    });
  }
  return value;
}

// Calls `fn` with the selected values of rows [from, flushedRows) in row order, a chunk at a
// time, until it returns false. An aligned numeric column is read through a typed array over the mapping (one load
// per value); others through a DataView.
function forEachValues(
  rows: RunRows,
  selection: ColumnSelection,
  from: number,
  fn: (values: Float64Array, count: number) => boolean | undefined,
): void {
  const { itemsize } = rows.layout;
  const values = new Float64Array(Math.max(1, Math.floor(DEFAULT_CHUNK_BYTES / itemsize)));
  for (const chunk of rows.chunks(from, rows.flushedRows, DEFAULT_CHUNK_BYTES)) {
    let more: boolean | undefined;
    const column =
      selection.field.dtype === 'bool' ? undefined : stridedColumn(chunk.data, rows.layout, selection.field);
    if (column?.aligned) {
      const { array, stride } = column;
      for (let r = 0, at = selection.element; r < chunk.rows; r++, at += stride) values[r] = array[at]!;
      more = fn(values, chunk.rows);
    } else {
      more = fn(values, readColumn(chunk, itemsize, selection, values));
    }
    if (more === false) return;
  }
}
