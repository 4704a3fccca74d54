import { setTimeout as sleep } from 'node:timers/promises';
import type { RunRecord, RunStatus } from '../catalog/catalog.ts';
import { CatalogReader, readRunOnce, withLiveness } from '../catalog/read-only.ts';
import { type ColumnSelection, readColumn, selectColumn } from '../plot/values.ts';
import { RunRows } from '../read/rows.ts';
import { resolveRunsDir } from '../runs-dir.ts';

/** Options of {@link watchRun}. */
export interface WatchOptions {
  readonly runId: string;
  /** @default $MMRUN_RUNS_DIR, else ./runs */
  readonly runsDir?: string;
  /**
   * The column drawn as a sparkline over the flushed rows; an element of a vector column
   * as `v[2]`.
   * @default the first column (its first element if a vector)
   */
  readonly column?: string;
  /**
   * Buckets of the sparkline.
   * @default 40
   */
  readonly width?: number;
  /**
   * Milliseconds between two polls of the catalog (`PRAGMA data_version`: cheap; the run is
   * re-read only after a commit).
   * @default 100
   */
  readonly intervalMs?: number;
  /**
   * Milliseconds between two `tick` updates while nothing is committed (for a clock of the
   * time since the last flush).
   * @default 1000
   */
  readonly tickMs?: number;
  /** Stops watching (watchRun resolves with the status then) when aborted. */
  readonly signal?: AbortSignal;
  /** Called with each view: `flush` after a commit that moved the rows, `tick` now and then, `end` once. */
  readonly onUpdate: (view: WatchView, reason: 'flush' | 'tick' | 'end') => void;
}

/** What `mmrun watch` shows of a run at one moment. */
export interface WatchView {
  readonly runId: string;
  readonly experiment: string;
  readonly status: RunStatus;
  readonly iterations: number;
  /** Rows on disk (over all shards). */
  readonly doneRows: number;
  /** The contiguous prefix [0, flushedRows) on disk (the sparkline's rows). */
  readonly flushedRows: number;
  readonly workers: number;
  readonly ownerPid: number | undefined;
  /** Rows per second over the retained checkpoints. */
  readonly rowsPerSecond: number | undefined;
  /** Seconds until the rows are done at that rate, while running. */
  readonly etaSeconds: number | undefined;
  /** Milliseconds since the last flush was committed. */
  readonly sinceFlushMs: number | undefined;
  /**
   * Rows a crash now would lose, estimated: the rate times the time since the last flush
   * (at most the rows left); 0 unless running.
   */
  readonly rowsAtRisk: number;
  /** The sparkline of the chosen column, if there are flushed rows. */
  readonly spark: SparkView | undefined;
}

/** A column over the flushed rows, in buckets: each the mean of up to 32 sampled rows. */
export interface SparkView {
  readonly label: string;
  readonly line: string;
  readonly min: number;
  readonly max: number;
  /** The value of the last flushed row. */
  readonly last: number;
}

const BARS = '▁▂▃▄▅▆▇█';
const SAMPLES_PER_BUCKET = 32;

/**
 * Follows a run until it stops running, calling `onUpdate` after every commit that moved
 * its rows (and every `tickMs` meanwhile); resolves with the run's final status. Reads
 * only: the catalog through a read-only connection without a read transaction held
 * between polls, the segments' flushed rows through read-only mappings.
 * @throws MmrunError `RUN_NOT_FOUND`, or the catalog's errors.
 * @example
 * const status = await watchRun({ runId: 'walk-1', onUpdate: (v) => console.log(v.doneRows) });
 */
export async function watchRun(options: WatchOptions): Promise<RunStatus> {
  const runsDir = resolveRunsDir(options.runsDir);
  const intervalMs = options.intervalMs ?? 100;
  const tickMs = options.tickMs ?? 1000;
  const width = options.width ?? 40;
  let run = readRunOnce(runsDir, options.runId);
  // Validate --column up front, whatever the run's state.
  const column = pickColumn(run, options.column);
  const view = (r: RunRecord) => viewOf(r, runsDir, column, width);
  if (run.status !== 'running') {
    options.onUpdate(view(run), 'end');
    return run.status;
  }
  const catalog = CatalogReader.open(runsDir);
  try {
    let version = catalog.dataVersion();
    run = catalog.readRun(options.runId);
    options.onUpdate(view(run), 'flush');
    let shown = run.doneRows;
    let lastUpdate = Date.now();
    while (!options.signal?.aborted) {
      try {
        await sleep(intervalMs, undefined, { signal: options.signal });
      } catch {
        break;
      }
      const v = catalog.dataVersion();
      if (v !== version) {
        version = v;
        run = catalog.readRun(options.runId);
      } else {
        run = withLiveness(run);
      }
      if (run.status !== 'running') break;
      if (run.doneRows !== shown) {
        shown = run.doneRows;
        lastUpdate = Date.now();
        options.onUpdate(view(run), 'flush');
      } else if (Date.now() - lastUpdate >= tickMs) {
        lastUpdate = Date.now();
        options.onUpdate(view(run), 'tick');
      }
    }
    run = catalog.readRun(options.runId);
  } finally {
    catalog.close();
  }
  options.onUpdate(view(run), 'end');
  return run.status;
}

function pickColumn(run: RunRecord, text: string | undefined): ColumnSelection | undefined {
  const rows = RunRows.fromRecord(run, '');
  const first = rows.layout.fields[0];
  if (text === undefined && !first) return undefined;
  const name = text ?? (first!.vector ? `${first!.name}[0]` : first!.name);
  return selectColumn(rows.layout, name, `run '${run.id}'`);
}

function viewOf(run: RunRecord, runsDir: string, column: ColumnSelection | undefined, width: number): WatchView {
  const rate = run.rowsPerSecond;
  const left = Math.max(0, run.iterations - run.doneRows);
  const running = run.status === 'running';
  const sinceFlushMs = run.lastFlushAt ? Math.max(0, Date.now() - Date.parse(run.lastFlushAt)) : undefined;
  return {
    runId: run.id,
    experiment: run.experiment,
    status: run.status,
    iterations: run.iterations,
    doneRows: run.doneRows,
    flushedRows: run.flushedRows,
    workers: run.workers,
    ownerPid: running ? run.owner?.pid : undefined,
    rowsPerSecond: rate,
    etaSeconds: running && rate && rate > 0 ? left / rate : undefined,
    sinceFlushMs,
    rowsAtRisk:
      running && rate && sinceFlushMs !== undefined ? Math.min(left, Math.round((rate * sinceFlushMs) / 1000)) : 0,
    spark: column && run.flushedRows > 0 ? sparkOf(run, runsDir, column, width) : undefined,
  };
}

/** The column over [0, flushedRows) in `width` buckets, each the mean of evenly spaced samples. */
export function sparkOf(run: RunRecord, runsDir: string, column: ColumnSelection, width: number): SparkView {
  const rows = RunRows.fromRecord(run, runsDir);
  const n = run.flushedRows;
  const segments = rows.segments(0, n);
  const { itemsize } = rows.layout;
  const one = new Float64Array(1);
  const valueAt = (i: number): number => {
    const seg = segments[Math.floor(i / run.segmentRows)]!;
    const at = (i - seg.firstRow) * itemsize;
    readColumn({ firstRow: i, rows: 1, data: seg.data.subarray(at, at + itemsize) }, itemsize, column, one);
    return one[0]!;
  };
  const buckets = Math.max(1, Math.min(width, n));
  const means: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * n) / buckets);
    const to = Math.floor(((b + 1) * n) / buckets);
    const k = Math.min(SAMPLES_PER_BUCKET, to - from);
    let sum = 0;
    let finite = 0;
    for (let s = 0; s < k; s++) {
      const v = valueAt(from + Math.floor((s * (to - from)) / k));
      if (Number.isFinite(v)) {
        sum += v;
        finite++;
      }
    }
    means.push(finite > 0 ? sum / finite : Number.NaN);
  }
  const finiteMeans = means.filter(Number.isFinite);
  const min = finiteMeans.length ? Math.min(...finiteMeans) : Number.NaN;
  const max = finiteMeans.length ? Math.max(...finiteMeans) : Number.NaN;
  const line = means
    .map((m) => {
      if (!Number.isFinite(m)) return ' ';
      if (max === min) return BARS[3]!;
      return BARS[Math.min(BARS.length - 1, Math.floor(((m - min) / (max - min)) * BARS.length))]!;
    })
    .join('');
  return { label: column.label, line, min, max, last: valueAt(n - 1) };
}
