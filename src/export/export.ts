import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import type { RunRecord, RunStatus } from '../catalog/catalog.ts';
import { MmrunError, show } from '../errors.ts';
import { DEFAULT_CHUNK_BYTES, RunRows } from '../read/rows.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { csvEncoder } from './formats/csv.ts';
import type { Encoder, EncoderContext } from './formats/encoder.ts';
import { jsonlEncoder } from './formats/jsonl.ts';
import { npyEncoder } from './formats/npy.ts';
import { checkAborted, type Destination, fileDestination, streamDestination } from './output.ts';
import { parseRowRange, type RowRange, resolveRowRange, selectColumns } from './select.ts';

/** The formats `exportRun` writes; each is also the default file extension. */
export const EXPORT_FORMATS = ['npy', 'csv', 'jsonl', 'arrow'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

// apache-arrow is loaded only for an Arrow export: every other command starts without it.
const ENCODERS: Readonly<Record<ExportFormat, (context: EncoderContext) => Encoder | Promise<Encoder>>> = {
  npy: npyEncoder,
  csv: csvEncoder,
  jsonl: jsonlEncoder,
  arrow: async (context) => (await import('./formats/arrow.ts')).arrowEncoder(context),
};

/** Options of {@link exportRun}. */
export interface ExportOptions {
  readonly runId: string;
  readonly format: ExportFormat;
  /**
   * Where runs live.
   * @default $MMRUN_RUNS_DIR, else ./runs
   */
  readonly runsDir?: string;
  /**
   * The run as already looked up (e.g. through a read-only catalog): exactly its flushed
   * rows are exported, and the catalog is not opened again.
   * @default looked up by `runId`
   */
  readonly run?: RunRecord;
  /**
   * A file path, or a stream (such as `process.stdout`) that is written with backpressure
   * and flushed but never ended.
   * @default `<run-id>.<format>` in `cwd`
   */
  readonly out?: string | Writable;
  /**
   * Columns to export, in this order.
   * @default every column, in the run's order
   */
  readonly columns?: readonly string[];
  /**
   * Rows of the flushed rows, as `'START:END'` or `{ start, end }`: a Python slice (END
   * excluded, negative from the end), clipped to the flushed rows.
   * @default every flushed row
   */
  readonly rows?: string | RowRange;
  /**
   * Replace an existing output file (atomically, once the export is complete).
   * @default false
   */
  readonly force?: boolean;
  /** Resolves a relative `out`. @default process.cwd() */
  readonly cwd?: string;
  /** Aborting stops the export between chunks; a file export then leaves nothing behind. */
  readonly signal?: AbortSignal;
  /** Called once the export is planned, before anything is written. */
  readonly onStart?: (plan: ExportPlan) => void;
  /**
   * Bytes of rows read per chunk (one npy write, one CSV string, one Arrow record batch).
   * @default 4 MiB
   */
  readonly chunkBytes?: number;
}

/** What an export will do. */
export interface ExportPlan {
  readonly runId: string;
  /** The run's status when the export began; rows past its flushed index are not exported. */
  readonly status: RunStatus;
  readonly iterations: number;
  readonly flushedRows: number;
  readonly format: ExportFormat;
  /** The exported rows: [start, end) of the run. */
  readonly start: number;
  readonly end: number;
  readonly rows: number;
  readonly columns: readonly string[];
  /** The output file, or `null` for a stream. */
  readonly out: string | null;
  /** Whether the run is not complete, so only part of its rows exist to export. */
  readonly partial: boolean;
}

/** What an export did. */
export interface ExportResult extends ExportPlan {
  readonly bytes: number;
  readonly elapsedMs: number;
}

/**
 * Exports a run's flushed rows in one format, streaming in constant memory: segments are
 * mapped read-only one at a time and read front to back, each chunk is encoded and written
 * with backpressure before the next is read. A file appears under its name only when
 * complete (and never replaces one unless `force`); a failed or aborted export leaves
 * nothing behind. A run that is not `completed` exports exactly the rows flushed when the
 * export began.
 * @throws MmrunError `RUN_NOT_FOUND`, `UNKNOWN_COLUMN`, `BAD_ROW_RANGE`, `OUTPUT_EXISTS`,
 * `EXPORT_INTERRUPTED`, `IO_ERROR`, `DISK_FULL`, or a segment's validation error.
 * @example
 * const result = await exportRun({ runId: 'walk-1', format: 'csv', columns: ['position'], rows: ':1000' });
 * console.log(`${result.rows} rows → ${result.out}`);
 */
export async function exportRun(options: ExportOptions): Promise<ExportResult> {
  const began = performance.now();
  const format = checkFormat(options.format);
  const runsDir = resolveRunsDir(options.runsDir);
  const source = options.run ? RunRows.fromRecord(options.run, runsDir) : RunRows.open(runsDir, options.runId);
  const { run, layout } = source;
  const fields = selectColumns(layout, options.columns, `run '${run.id}'`);
  const range = typeof options.rows === 'string' ? parseRowRange(options.rows) : (options.rows ?? {});
  const { start, end } = resolveRowRange(range, source.flushedRows);
  const file =
    typeof options.out === 'string' || options.out === undefined
      ? path.resolve(options.cwd ?? process.cwd(), options.out ?? `${run.id}.${format}`)
      : null;
  const plan: ExportPlan = {
    runId: run.id,
    status: run.status,
    iterations: run.iterations,
    flushedRows: source.flushedRows,
    format,
    start,
    end,
    rows: end - start,
    columns: fields.map((f) => f.name),
    out: file,
    partial: run.status !== 'completed',
  };
  checkAborted(options.signal);
  const destination: Destination =
    file === null
      ? streamDestination(options.out as Writable, options.signal)
      : fileDestination(file, { force: options.force ?? false, signal: options.signal });
  try {
    options.onStart?.(plan);
    const encoder = await ENCODERS[format]({ fields, itemsize: layout.itemsize, rows: plan.rows });
    for (const out of encoder.begin()) await destination.write(out);
    for (const chunk of source.chunks(start, end, options.chunkBytes ?? DEFAULT_CHUNK_BYTES)) {
      for (const out of encoder.encode(chunk)) await destination.write(out);
    }
    for (const out of encoder.end()) await destination.write(out);
    await destination.commit();
  } catch (err) {
    // The first error is the one to report; cleaning up is best effort.
    await destination.abort().catch(() => {});
    throw err;
  }
  return { ...plan, bytes: destination.bytes, elapsedMs: performance.now() - began };
}

function checkFormat(format: unknown): ExportFormat {
  if (!EXPORT_FORMATS.includes(format as ExportFormat)) {
    throw new MmrunError('BAD_OPTION', `format ${show(format)} is not one of ${EXPORT_FORMATS.join(', ')}`, {
      remedy: `pass --format ${EXPORT_FORMATS.join('|')}`,
    });
  }
  return format as ExportFormat;
}
