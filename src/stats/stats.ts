import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { RunRecord, RunStatus } from '../catalog/catalog.ts';
import { MmrunError, show } from '../errors.ts';
import { DEFAULT_CHUNK_BYTES, RunRows } from '../read/rows.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import type { ScalarDtype } from '../storage/dtype.ts';
import { selectColumns } from './columns.ts';
import { HISTOGRAM } from './kernels.ts';
import { emptyRecord, finishRecord, histogramMoments, type Moments, mergeRecord, RECORD } from './moments.ts';
import { PROGRESS_MS, readAll } from './parallel-read.ts';
import {
  DEFAULT_SAMPLE_SIZE,
  QUANTILE_NAMES,
  type QuantileName,
  quantilesOfHistogram,
  quantilesOfSorted,
  rankErrorBound,
  stratumSize,
} from './quantiles.ts';
import { BLOCK_ROWS, type ScanPlan, type ThreadResult } from './scan.ts';

/** Options of {@link summarizeRun}. */
export interface StatsOptions {
  readonly runId: string;
  /**
   * Where runs live.
   * @default $MMRUN_RUNS_DIR, else ./runs
   */
  readonly runsDir?: string;
  /**
   * The run as already looked up (e.g. through a read-only catalog): exactly its flushed
   * rows are read, and the catalog is not opened again.
   * @default looked up by `runId`
   */
  readonly run?: RunRecord;
  /**
   * Columns to summarise, in this order: a name (a vector column: all its elements together)
   * or one element of a vector column as `v[2]`.
   * @default every column, in the run's order
   */
  readonly columns?: readonly string[];
  /**
   * Threads that read: the calling thread and up to `workers − 1` worker threads, which
   * start only if the calling thread, at its pace once warm, would otherwise read for more
   * than 0.6 s (with `callerReads: false`, `workers` worker threads at once). The results
   * are identical, bit for bit, for every count.
   * @default the number of CPUs, but at most one per GiB of rows
   */
  readonly workers?: number;
  /**
   * Whether the calling thread reads too. It starts at once while worker threads take ~0.2 s
   * to start, but its event loop is blocked until the reading is done; pass false to keep it
   * free (only worker threads read, the calling thread merges).
   * @default true
   */
  readonly callerReads?: boolean;
  /**
   * Bytes of rows a thread claims at a time (rounded to whole units of the merge).
   * @default 8 MiB
   */
  readonly batchBytes?: number;
  /**
   * Values the quantiles of a float or 32-bit integer column are computed from: exact for a
   * column with at most this many elements, else a stratified sample of this size.
   * @default 65536
   */
  readonly sampleSize?: number;
  /**
   * Bytes of rows read per chunk, after which read pages are dropped from memory.
   * @default 4 MiB
   */
  readonly chunkBytes?: number;
  /** Called once the work is planned, before anything is read. */
  readonly onStart?: (plan: StatsPlan) => void;
  /** Called as rows are read, at most every 100 ms, and once at the end. */
  readonly onProgress?: (progress: StatsProgress) => void;
}

/** What a summary will read. */
export interface StatsPlan {
  readonly runId: string;
  /** The run's status when the summary began: rows past its flushed index are not read. */
  readonly status: RunStatus;
  readonly iterations: number;
  readonly flushedRows: number;
  /** Rows read: every flushed row. */
  readonly rows: number;
  /** Bytes of those rows. */
  readonly bytes: number;
  readonly columns: readonly string[];
  /**
   * Threads that may read them (the calling thread and worker threads; see
   * {@link StatsResult.rowsByThread} for those that did); 0 for no rows.
   */
  readonly workers: number;
  /** Whether the run is not complete, so only part of its rows exist to read. */
  readonly partial: boolean;
}

export interface StatsProgress {
  readonly runId: string;
  readonly rows: number;
  readonly totalRows: number;
  readonly bytes: number;
  readonly totalBytes: number;
  readonly elapsedMs: number;
}

/**
 * The summary of one column over the flushed rows. NaN values are counted in `nan` and left
 * out of everything else; ±Infinity are values (in `count`, `min`, `max` and the quantiles)
 * that make the mean infinite (NaN if both signs occur) and the std NaN, as in NumPy. Every
 * statistic is computed in float64, whatever the dtype; bool is 0/1 (mean: the fraction true).
 * A statistic with no value to compute it from (count 0) is null.
 */
export interface ColumnStats extends Moments {
  /** As selected: `position`, `features` (all its elements), `features[3]`. */
  readonly column: string;
  readonly dtype: ScalarDtype;
  /** Elements summarised per row: 1, or the vector length for a whole vector column. */
  readonly elements: number;
  /** p01 … p99, computed like NumPy's default (`np.quantile(x, q)`, method 'linear'). */
  readonly quantiles: Readonly<Record<QuantileName, number>> | null;
  /**
   * `exact`: from every value (a histogram for 8/16-bit integers and bool, else all values
   * when there are at most `sampleSize`). `sample`: from a stratified random sample.
   */
  readonly quantileMethod: 'exact' | 'sample';
  /** Values the quantiles come from (not NaN): `count` when exact. */
  readonly quantileValues: number;
  /**
   * 0 when exact; else a bound ε such that, with probability ≥ 1 − 10⁻⁶, every reported
   * p-quantile has a rank fraction within p ± ε among the column's values.
   */
  readonly rankError: number;
}

/** What a summary found. */
export interface StatsResult extends StatsPlan {
  readonly stats: readonly ColumnStats[];
  readonly elapsedMs: number;
  /**
   * Rows each thread read: the calling thread (0 if it did not read), then each worker thread
   * (0 for one that was not needed).
   */
  readonly rowsByThread: readonly number[];
}

/** Units of the merge are at least this many rows. */
const MIN_UNIT_ROWS = 4 * BLOCK_ROWS;
const BATCH_BYTES = 8 << 20;
/**
 * By default, at most one thread per this many bytes of rows: a worker thread takes 0.2–0.3 s
 * to start, in which the calling thread reads 0.5 GB or more itself.
 */
const BYTES_PER_DEFAULT_THREAD = 1 << 30;
/**
 * Summarises the columns of a run's flushed rows: count, NaN count, mean, std (population,
 * ddof = 0, like NumPy's default), min, max and quantiles p01 … p99.
 *
 * Up to `workers` threads read: the calling thread and `workers − 1` worker threads. Each
 * maps the segments it reads itself, read-only (mode `r`), and reads them front to back in
 * batches of whole units that it claims from a shared counter, dropping read pages so memory
 * stays small at any run size; the calling thread merges the partial results in row order.
 * Claiming, rather than a fixed share each, lets the calling thread start at once while the
 * worker threads take their time to start (an isolate and mmrun's modules); they are started only if the
 * calling thread alone would read for more than 0.6 s. Mean and std are accurate to a few
 * units in the last place, min and max exact, and nothing depends on the number of threads
 * or on which read what. Quantiles: see {@link ColumnStats.quantileMethod}.
 * @throws MmrunError `RUN_NOT_FOUND`, `UNKNOWN_COLUMN`, `BAD_COLUMN_INDEX`, `BAD_OPTION`,
 * or a segment's validation error.
 * @example
 * const { stats } = await summarizeRun({ runId: 'walk-1', columns: ['position'] });
 * console.log(stats[0].mean, stats[0].std, stats[0].quantiles?.p99);
 */
export async function summarizeRun(options: StatsOptions): Promise<StatsResult> {
  const began = performance.now();
  const sampleSize = positiveInteger('sampleSize', options.sampleSize ?? DEFAULT_SAMPLE_SIZE, '--sample-size');
  const chunkBytes = positiveInteger('chunkBytes', options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const batchBytes = positiveInteger('batchBytes', options.batchBytes ?? BATCH_BYTES);
  const callerReads = options.callerReads ?? true;
  if (options.workers !== undefined) positiveInteger('workers', options.workers, '--workers');
  const runsDir = resolveRunsDir(options.runsDir);
  const source = options.run ? RunRows.fromRecord(options.run, runsDir) : RunRows.open(runsDir, options.runId);
  const { run, layout } = source;
  const selections = selectColumns(layout, options.columns, `run '${run.id}'`);
  const ranges = source.flushedRanges;
  const rows = ranges.reduce((sum, [start, end]) => sum + (end - start), 0);
  const bytes = rows * layout.itemsize;
  const unitRows = Math.max(MIN_UNIT_ROWS, Math.ceil(rows / 4096 / BLOCK_ROWS) * BLOCK_ROWS);
  const units = Math.ceil(rows / unitRows);
  const batchUnits = Math.max(1, Math.floor(batchBytes / (unitRows * layout.itemsize)));
  const batches = Math.ceil(units / batchUnits);
  const wanted =
    options.workers ?? Math.min(os.availableParallelism(), Math.max(1, Math.floor(bytes / BYTES_PER_DEFAULT_THREAD)));
  const threads = Math.min(wanted, batches);
  const plan: ScanPlan = {
    columns: selections.map((s) => ({
      fieldIndex: s.fieldIndex,
      element: s.element,
      elements: s.elements,
      dtype: s.field.dtype,
      totalElements: rows * s.elements,
      stratum: stratumSize(rows * s.elements, sampleSize),
    })),
    ranges,
    rows,
    unitRows,
    batchUnits,
    batches,
    chunkBytes,
  };
  const summary: StatsPlan = {
    runId: run.id,
    status: run.status,
    iterations: run.iterations,
    flushedRows: source.flushedRows,
    rows,
    bytes,
    columns: selections.map((s) => s.label),
    workers: threads,
    partial: run.status !== 'completed',
  };
  options.onStart?.(summary);
  const progress = progressReporter(summary, began, layout.itemsize, options.onProgress);
  const { results, rowsByThread } =
    threads > 0
      ? await readAll(source, runsDir, plan, threads, callerReads, progress)
      : { results: [], rowsByThread: [] };
  const stats = selections.map((s, c) => summarizeColumn(s.label, s.field.dtype, s.elements, c, results, plan));
  return { ...summary, stats, elapsedMs: performance.now() - began, rowsByThread };
}

function positiveInteger(name: string, value: unknown, flag?: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new MmrunError('BAD_OPTION', `${name} must be a positive integer, got ${show(value)}`, {
      remedy: flag ? `pass ${flag} N with N >= 1` : `pass ${name} >= 1`,
    });
  }
  return value;
}

/** Tells `onProgress` the rows read by every thread (each counts its own in `slots`), at most every 100 ms. */
function progressReporter(
  plan: StatsPlan,
  began: number,
  itemsize: number,
  onProgress: ((p: StatsProgress) => void) | undefined,
): (slots: BigInt64Array, force?: boolean) => void {
  let last = 0;
  return (slots, force = false) => {
    if (!onProgress) return;
    const now = performance.now();
    if (!force && now - last < PROGRESS_MS) return;
    last = now;
    let rows = 0;
    for (let t = 0; t < slots.length; t++) rows += Number(Atomics.load(slots, t));
    onProgress({
      runId: plan.runId,
      rows,
      totalRows: plan.rows,
      bytes: rows * itemsize,
      totalBytes: plan.bytes,
      elapsedMs: now - began,
    });
  };
}

/** Merges every thread's partials of column `c` (units in row order) into its statistics. */
function summarizeColumn(
  label: string,
  dtype: ScalarDtype,
  elements: number,
  c: number,
  results: readonly ThreadResult[],
  plan: ScanPlan,
): ColumnStats {
  const base = { column: label, dtype, elements };
  const histogram = HISTOGRAM[dtype];
  if (histogram) {
    const counts = new Float64Array(histogram.bins);
    for (const r of results) {
      const h = r.histograms[c];
      if (h) for (let b = 0; b < counts.length; b++) counts[b]! += h[b]!;
    }
    const moments = histogramMoments(counts, histogram.bias);
    return {
      ...base,
      ...moments,
      quantiles: named(quantilesOfHistogram(counts, histogram.bias)),
      quantileMethod: 'exact',
      quantileValues: moments.count,
      rankError: 0,
    };
  }
  const batches = results.flatMap((r) => r.batches).sort((a, b) => a.batch - b.batch);
  const record = emptyRecord();
  let sampled = 0;
  for (const b of batches) {
    const units = b.units[c]!;
    for (let at = 0; at < units.length; at += RECORD) mergeRecord(record, 0, units, at);
    sampled += b.samples[c]!.length;
  }
  const sample = new Float64Array(sampled);
  let at = 0;
  for (const b of batches) {
    sample.set(b.samples[c]!, at);
    at += b.samples[c]!.length;
  }
  sample.sort();
  const exact = plan.columns[c]!.stratum === 1;
  return {
    ...base,
    ...finishRecord(record),
    quantiles: named(quantilesOfSorted(sample, dtype === 'f4')),
    quantileMethod: exact ? 'exact' : 'sample',
    quantileValues: sampled,
    rankError: exact ? 0 : rankErrorBound(sampled),
  };
}

function named(values: number[] | null): Record<QuantileName, number> | null {
  if (values === null) return null;
  return Object.fromEntries(QUANTILE_NAMES.map((name, k) => [name, values[k]!])) as Record<QuantileName, number>;
}
