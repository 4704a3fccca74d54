import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RunStatus } from '../catalog/catalog.ts';
import { MmrunError, show } from '../errors.ts';
import { RunRows } from '../read/rows.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { writeFileAtomically } from '../storage/atomic-file.ts';
import { MinMaxDownsampler } from './downsample.ts';
import { findFontFiles } from './font.ts';
import { checkBins, chooseEdges, Histogram } from './histogram.ts';
import { type ChartSpec, chartSvg, plotArea, svgToPng } from './render.ts';
import { formatNumber } from './ticks.ts';
import {
  type ColumnSelection,
  type NonFinite,
  nonFiniteTotal,
  readColumn,
  selectColumn,
  ValueStats,
} from './values.ts';

/** The charts `plotRun` draws: a column over iterations, or its histogram. */
export const PLOT_KINDS = ['line', 'hist'] as const;
export type PlotKind = (typeof PLOT_KINDS)[number];

/** The image formats `plotRun` writes, chosen by the output file's extension. */
export const PLOT_FORMATS = ['png', 'svg'] as const;
export type PlotFormat = (typeof PLOT_FORMATS)[number];

const SIZE_LIMITS = { width: [200, 8000], height: [150, 8000] } as const;

/** Options of {@link plotRun}. */
export interface PlotOptions {
  readonly runId: string;
  /** A column's name, or an element of a vector column: `position`, `v[2]`. */
  readonly column: string;
  /** @default 'line' */
  readonly kind?: PlotKind;
  /**
   * The image file: `.png` or `.svg`. An existing file is replaced (atomically).
   * @default `<run-id>-<column>.png` in `cwd`
   */
  readonly out?: string;
  /** Histogram bins, equal-width over [min, max] like NumPy's. @default one per integer for integer values spanning at most 100, else 50 */
  readonly bins?: number;
  /** Image width in pixels. @default 900 */
  readonly width?: number;
  /** Image height in pixels. @default 500 */
  readonly height?: number;
  /** @default $MMRUN_RUNS_DIR, else ./runs */
  readonly runsDir?: string;
  /** Resolves a relative `out`. @default process.cwd() */
  readonly cwd?: string;
  /** Font files for a PNG's text. @default $MMRUN_FONT, else DejaVu Sans from the system */
  readonly fontFiles?: readonly string[];
}

/** What {@link plotRun} drew. */
export interface PlotResult {
  readonly runId: string;
  /** The run's status when the plot began: only rows flushed then are drawn. */
  readonly status: RunStatus;
  readonly iterations: number;
  /** Rows read: the run's flushed rows. */
  readonly rows: number;
  readonly column: string;
  readonly kind: PlotKind;
  readonly format: PlotFormat;
  readonly out: string;
  readonly width: number;
  readonly height: number;
  /** Finite values drawn. */
  readonly values: number;
  /** Values left out because they are NaN or infinite. */
  readonly skipped: Readonly<NonFinite>;
  /** Rows per pixel column of a line chart (1 when every row has its own); 0 for a histogram. */
  readonly rowsPerPixel: number;
  readonly bytes: number;
  readonly elapsedMs: number;
}

// Rows decoded per chunk: bounds the one Float64Array of values a plot holds.
const CHUNK_ROWS = 1 << 16;

/**
 * Draws one column of a run's flushed rows as a PNG or SVG chart: over iterations (`line`;
 * a large run is reduced in one pass to the first, min, max and last value of each pixel
 * column, so no spike is lost) or as a histogram (`hist`; one pass for the range, one for
 * the counts). Memory is constant at any run size. A vector column is plotted one element
 * at a time (`v[2]`), a bool as 0/1; NaN and infinite values are skipped and counted in
 * the chart's notes. The title names the run and the column.
 * @throws MmrunError `RUN_NOT_FOUND`, `UNKNOWN_COLUMN`, `BAD_COLUMN_INDEX`, `NOTHING_TO_PLOT`,
 * `BAD_OPTION`, `FONT_NOT_FOUND`, `IO_ERROR`, or a segment's validation error.
 * @example
 * const result = plotRun({ runId: 'walk-1', column: 'position', out: 'position.png' });
 * console.log(`${result.values} values → ${result.out}`);
 */
export function plotRun(options: PlotOptions): PlotResult {
  const began = performance.now();
  const kind = checkChoice('kind', options.kind ?? 'line', PLOT_KINDS);
  const width = checkSize('width', options.width ?? 900);
  const height = checkSize('height', options.height ?? 500);
  if (options.bins !== undefined) checkBins(options.bins);
  const source = RunRows.open(resolveRunsDir(options.runsDir), options.runId);
  const { run, layout } = source;
  const column = selectColumn(layout, options.column, `run '${run.id}'`);
  const file = path.resolve(
    options.cwd ?? process.cwd(),
    options.out ?? `${run.id}-${column.label.replace(/\W+/g, '')}.png`,
  );
  const format = formatOf(file);
  const fontFiles = format === 'png' ? (options.fontFiles ?? findFontFiles()) : [];
  const rows = source.flushedRows;
  if (rows === 0) {
    throw new MmrunError('NOTHING_TO_PLOT', `run '${run.id}' has no flushed rows yet (status ${run.status})`, {
      remedy: `plot it after its first flush (see \`mmrun show ${run.id}\`)`,
    });
  }

  const values = new Float64Array(Math.min(CHUNK_ROWS, rows));
  const pass = (consume: (values: Float64Array, n: number) => void): void => {
    for (const chunk of source.chunks(0, rows, CHUNK_ROWS * layout.itemsize)) {
      consume(values, readColumn(chunk, layout.itemsize, column, values));
    }
  };
  const facts = { runId: run.id, status: run.status, iterations: run.iterations, rows, column };
  const drawn =
    kind === 'line' ? lineChart(facts, width, height, pass) : histogramChart(facts, width, height, options.bins, pass);

  const svg = chartSvg(drawn.spec);
  const bytes = format === 'svg' ? Buffer.from(svg) : svgToPng(svg, fontFiles);
  writeAtomically(file, bytes);
  return {
    runId: run.id,
    status: run.status,
    iterations: run.iterations,
    rows,
    column: column.label,
    kind,
    format,
    out: file,
    width,
    height,
    values: drawn.values,
    skipped: drawn.skipped,
    rowsPerPixel: drawn.rowsPerPixel,
    bytes: bytes.length,
    elapsedMs: performance.now() - began,
  };
}

interface Facts {
  readonly runId: string;
  readonly status: RunStatus;
  readonly iterations: number;
  readonly rows: number;
  readonly column: ColumnSelection;
}

type Pass = (consume: (values: Float64Array, n: number) => void) => void;

interface Drawn {
  readonly spec: ChartSpec;
  readonly values: number;
  readonly skipped: NonFinite;
  readonly rowsPerPixel: number;
}

function lineChart(facts: Facts, width: number, height: number, pass: Pass): Drawn {
  const { rows, column } = facts;
  // At least one column per pixel of the plot area, which is narrower than the image; the
  // renderer merges columns that share a pixel.
  const down = new MinMaxDownsampler(rows, width);
  pass((values, n) => down.push(values, n));
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let finite = 0;
  const x = new Float64Array(down.columns);
  for (let c = 0; c < down.columns; c++) {
    x[c] = (down.startOf(c) + down.startOf(c + 1) - 1) / 2;
    finite += down.count[c]!;
    if (down.min[c]! < lo) lo = down.min[c]!;
    if (down.max[c]! > hi) hi = down.max[c]!;
  }
  checkSomeFinite(facts, finite, down.skipped);
  const margin = hi > lo ? (hi - lo) * 0.05 : Math.max(Math.abs(hi) * 0.1, column.integer ? 1 : 0.5);
  // A few points get dots, and room around them so that none is cut by the frame.
  const markers = rows <= width / 10;
  const xMargin = rows === 1 ? 0.5 : markers ? (rows - 1) * 0.03 : 0;
  const notes = (rowsPerPixel: number): string[] => [
    `${formatNumber(rows)} row${rows === 1 ? '' : 's'}`,
    ...(rowsPerPixel > 1.5 ? [`min–max of ≈${formatNumber(Math.round(rowsPerPixel))} rows per pixel column`] : []),
    ...commonNotes(facts, down.skipped),
  ];
  const spec: ChartSpec = {
    width,
    height,
    title: `${facts.runId}: ${column.label}`,
    // Notes as long as the final ones, so that the plot area is the same.
    notes: notes(rows / width),
    x: { title: 'iteration', lo: -xMargin, hi: rows - 1 + xMargin, integer: true },
    y: { title: column.label, lo: lo - margin, hi: hi + margin, integer: column.integer },
    data: { kind: 'line', x, first: down.first, min: down.min, max: down.max, last: down.last, markers },
  };
  const area = plotArea(spec);
  const rowsPerPixel = Math.max(1, rows / (area.right - area.left));
  return { spec: { ...spec, notes: notes(rowsPerPixel) }, values: finite, skipped: down.skipped, rowsPerPixel };
}

function histogramChart(facts: Facts, width: number, height: number, bins: number | undefined, pass: Pass): Drawn {
  const { column } = facts;
  const stats = new ValueStats();
  pass((values, n) => stats.add(values, n));
  checkSomeFinite(facts, stats.finite, stats.skipped);
  const edges = chooseEdges(stats, column.integer, bins);
  const histogram = new Histogram(edges);
  pass((values, n) => histogram.add(values, n));
  const n = edges.length - 1;
  const binWidth = edges[1]! - edges[0]!;
  const notes = [
    `${formatNumber(stats.finite)} value${stats.finite === 1 ? '' : 's'}`,
    `${formatNumber(n)} bin${n === 1 ? '' : 's'} of width ${formatNumber(binWidth)}`,
    `min ${formatNumber(stats.min)}, max ${formatNumber(stats.max)}`,
    ...commonNotes(facts, stats.skipped),
  ];
  const first = edges[0]!;
  const last = edges[n]!;
  const margin = (last - first) * 0.02;
  const tallest = Math.max(...histogram.counts);
  return {
    spec: {
      width,
      height,
      title: `${facts.runId}: ${column.label}`,
      notes,
      x: { title: column.label, lo: first - margin, hi: last + margin, integer: column.integer },
      y: { title: 'count', lo: 0, hi: tallest * 1.05, integer: true },
      data: { kind: 'bars', edges, counts: histogram.counts },
    },
    values: histogram.total,
    skipped: stats.skipped,
    rowsPerPixel: 0,
  };
}

/** Notes for both kinds: an unfinished run, and the values left out. */
function commonNotes(facts: Facts, skipped: NonFinite): string[] {
  const notes: string[] = [];
  if (facts.status !== 'completed') {
    notes.push(`run ${facts.status}: ${formatNumber(facts.rows)} of ${formatNumber(facts.iterations)} rows flushed`);
  }
  const total = nonFiniteTotal(skipped);
  if (total > 0) {
    const kinds = [
      skipped.nan > 0 ? `${formatNumber(skipped.nan)} NaN` : '',
      skipped.posInf > 0 ? `${formatNumber(skipped.posInf)} +∞` : '',
      skipped.negInf > 0 ? `${formatNumber(skipped.negInf)} −∞` : '',
    ].filter((s) => s !== '');
    notes.push(`${formatNumber(total)} non-finite value${total === 1 ? '' : 's'} skipped (${kinds.join(', ')})`);
  }
  return notes;
}

function checkSomeFinite(facts: Facts, finite: number, skipped: NonFinite): void {
  if (finite > 0) return;
  throw new MmrunError(
    'NOTHING_TO_PLOT',
    `column '${facts.column.label}' of run '${facts.runId}' has no finite value in its ${formatNumber(facts.rows)} flushed rows (${skipped.nan} NaN, ${skipped.posInf} +Infinity, ${skipped.negInf} -Infinity)`,
    { remedy: 'plot another column' },
  );
}

function checkChoice<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (!choices.includes(value as T)) {
    throw new MmrunError('BAD_OPTION', `${name} ${show(value)} is not one of ${choices.join(', ')}`, {
      remedy: `pass --${name} ${choices.join('|')}`,
    });
  }
  return value as T;
}

function checkSize(name: 'width' | 'height', value: number): number {
  const [min, max] = SIZE_LIMITS[name];
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new MmrunError('BAD_OPTION', `${name} ${show(value)} is not an integer from ${min} to ${max} pixels`, {
      remedy: `pass --${name} N with ${min} <= N <= ${max}`,
    });
  }
  return value;
}

/** The image format of an output file, from its extension. */
export function formatOf(file: string): PlotFormat {
  const ext = path.extname(file).slice(1).toLowerCase();
  if (!(PLOT_FORMATS as readonly string[]).includes(ext)) {
    throw new MmrunError(
      'BAD_OPTION',
      `cannot tell the image format of ${show(file)}: it ends neither in .png nor .svg`,
      {
        remedy: 'pass --out with a file name ending in .png or .svg',
      },
    );
  }
  return ext as PlotFormat;
}

/** Writes `file` whole or not at all, replacing one already there (storage/atomic-file.ts). */
function writeAtomically(file: string, bytes: Uint8Array): void {
  try {
    if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
      throw new MmrunError('IO_ERROR', `cannot write ${file}: it is a directory`, {
        remedy: 'pass --out with a file name, e.g. --out chart.png',
      });
    }
    writeFileAtomically(file, bytes, { overwrite: true });
  } catch (cause) {
    if (cause instanceof MmrunError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    throw new MmrunError(
      code === 'ENOSPC' || code === 'EDQUOT' ? 'DISK_FULL' : 'IO_ERROR',
      `cannot write ${file}: ${(cause as Error).message}`,
      { cause, remedy: 'check that the directory exists and is writable, and that the disk has space' },
    );
  }
}
