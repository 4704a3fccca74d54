import * as fs from 'node:fs';
import * as path from 'node:path';
import { MmrunError, show } from '../errors.ts';
import { findFontFiles } from '../plot/font.ts';
import { formatOf, type PlotFormat } from '../plot/plot.ts';
import { chartSvg, svgToPng } from '../plot/render.ts';
import { summarizeSweep } from './stats.ts';

/** Options of {@link plotSweep}. */
export interface SweepPlotOptions {
  readonly sweepId: string;
  readonly runsDir?: string;
  /** The swept param on the x axis (a number param). */
  readonly x: string;
  /** @default the experiment's first column */
  readonly column?: string;
  /** `.png` or `.svg`, replaced atomically if it exists. @default `<sweep-id>-<column>-vs-<x>.png` */
  readonly out?: string;
  /** @default 900 */
  readonly width?: number;
  /** @default 500 */
  readonly height?: number;
  /** @default process.cwd() */
  readonly cwd?: string;
  /** @default $MMRUN_FONT, else DejaVu Sans from the system */
  readonly fontFiles?: readonly string[];
}

export interface SweepPlotResult {
  readonly out: string;
  readonly format: PlotFormat;
  readonly column: string;
  /** The values of x drawn, in order, with the mean over seeds and its standard error. */
  readonly series: readonly { readonly x: number; readonly mean: number; readonly stderr: number | null }[];
}

/**
 * Draws the mean of a column over each parameter set of a sweep against one swept param,
 * with error bars of ± one standard error over the replicate seeds. The other swept params
 * must each have a single value (one line; `--by` is not there yet).
 * @throws MmrunError RUN_NOT_FOUND, BAD_OPTION, NOTHING_TO_PLOT, UNKNOWN_COLUMN, FONT_NOT_FOUND
 */
export async function plotSweep(options: SweepPlotOptions): Promise<SweepPlotResult> {
  const stats = await summarizeSweep({
    sweepId: options.sweepId,
    ...(options.runsDir === undefined ? {} : { runsDir: options.runsDir }),
    ...(options.column === undefined ? {} : { column: options.column }),
  });
  const x = options.x;
  if (!stats.keys.includes(x)) {
    throw new MmrunError('BAD_OPTION', `--x ${show(x)} is not a swept param of sweep '${stats.id}'`, {
      remedy: `pass --x with one of: ${stats.keys.join(', ') || '(none)'}`,
    });
  }
  for (const key of stats.keys.filter((k) => k !== x)) {
    const values = new Set(stats.sets.map((s) => JSON.stringify(s.params[key])));
    if (values.size > 1) {
      throw new MmrunError(
        'BAD_OPTION',
        `sweep '${stats.id}' also varies ${key} (${values.size} values); one line per value (--by) is not supported yet`,
        { remedy: `export the table (mmrun export ${stats.id} --format csv) and plot it with pandas` },
      );
    }
  }
  const series = stats.sets
    .filter((s) => s.mean !== null && Number.isFinite(s.mean))
    .map((s) => ({ x: s.params[x], mean: s.mean!, stderr: s.stderr }))
    .filter((p): p is { x: number; mean: number; stderr: number | null } => typeof p.x === 'number')
    .sort((a, b) => a.x - b.x);
  if (series.length === 0) {
    throw new MmrunError(
      'NOTHING_TO_PLOT',
      `sweep '${stats.id}' has no point with rows of ${stats.column} and a number ${x}`,
      {
        remedy: `resume it (mmrun resume ${stats.id}), or pick a number param for --x`,
      },
    );
  }
  const lo = (p: (typeof series)[number]) => p.mean - (p.stderr ?? 0);
  const hi = (p: (typeof series)[number]) => p.mean + (p.stderr ?? 0);
  // 5 % of margin on each side, so that the error bars at the ends are not cut by the frame.
  const pad = (a: number, b: number): [number, number] => {
    const m = a === b ? Math.max(0.5, Math.abs(a) * 0.05) : (b - a) * 0.05;
    return [a - m, b + m];
  };
  const [xLo, xHi] = pad(series[0]!.x, series.at(-1)!.x);
  const [yLo, yHi] = pad(Math.min(...series.map(lo)), Math.max(...series.map(hi)));
  const replicates = Math.max(...stats.sets.map((s) => s.replicates));
  const svg = chartSvg({
    width: options.width ?? 900,
    height: options.height ?? 500,
    title: `${stats.id}: mean of ${stats.column} vs ${x}`,
    notes: [
      `${stats.points.length} points`,
      replicates > 1 ? `error bars: ± standard error over ${replicates} seeds` : 'one seed: no error bars',
    ],
    x: { title: x, lo: xLo, hi: xHi },
    y: { title: `mean of ${stats.column}`, lo: yLo, hi: yHi },
    data: {
      kind: 'line',
      x: Float64Array.from(series, (p) => p.x),
      first: Float64Array.from(series, (p) => p.mean),
      min: Float64Array.from(series, lo),
      max: Float64Array.from(series, hi),
      last: Float64Array.from(series, (p) => p.mean),
      markers: true,
    },
  });
  const out = path.resolve(options.cwd ?? process.cwd(), options.out ?? `${stats.id}-${stats.column}-vs-${x}.png`);
  const format = formatOf(out);
  const bytes = format === 'svg' ? Buffer.from(svg) : svgToPng(svg, options.fontFiles ?? findFontFiles());
  const tmp = `${out}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, out);
  return { out, format, column: stats.column, series };
}
