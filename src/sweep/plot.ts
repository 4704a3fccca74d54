import * as path from 'node:path';
import { MmrunError, show } from '../errors.ts';
import { findFontFiles } from '../plot/font.ts';
import { formatOf, type PlotFormat } from '../plot/plot.ts';
import { chartSvg, svgToPng } from '../plot/render.ts';
import { QUANTILE_NAMES } from '../stats/quantiles.ts';
import { writeFileAtomically } from '../storage/atomic-file.ts';
import { type PointStats, summarizeSweep } from './stats.ts';

/** The per-point statistic a sweep plot averages over seeds. */
export const SWEEP_PLOT_STATS = ['mean', 'std', 'min', 'max', ...QUANTILE_NAMES] as const;
export type SweepPlotStat = (typeof SWEEP_PLOT_STATS)[number];

/** Options of {@link plotSweep}. */
export interface SweepPlotOptions {
  readonly sweepId: string;
  readonly runsDir?: string;
  /** The swept param on the x axis (a number param). */
  readonly x: string;
  /** A second swept param: one line per value of it, named in a legend. */
  readonly by?: string;
  /** @default the experiment's first column */
  readonly column?: string;
  /** Which statistic of each point's rows is averaged over seeds. @default 'mean' */
  readonly stat?: SweepPlotStat;
  /** `.png` or `.svg`, replaced atomically if it exists. @default `<sweep-id>-<column>-vs-<x>[-by-<by>].png` */
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

/** One point drawn: at a value of x, the statistic's mean over seeds and its standard error. */
export interface SweepPlotPoint {
  readonly x: number;
  readonly value: number;
  /** Sample std (ddof 1) over the seeds ÷ √seeds; null below 2 seeds. */
  readonly stderr: number | null;
  readonly replicates: number;
}

/** One line: the points of one value of `by` (the only line without `by`). */
export interface SweepPlotLine {
  readonly by: unknown;
  readonly label: string;
  readonly points: readonly SweepPlotPoint[];
}

export interface SweepPlotResult {
  readonly out: string;
  readonly format: PlotFormat;
  readonly column: string;
  readonly stat: SweepPlotStat;
  /** The lines drawn, in the order of the legend. */
  readonly lines: readonly SweepPlotLine[];
}

/**
 * Draws a statistic of a column (the mean of each point's rows, by default) averaged over
 * the replicate seeds of each parameter set, against one swept param, with error bars of ±
 * one standard error over the seeds; with `by`, one line per value of a second swept param.
 * Every other swept param must have a single value.
 * @throws MmrunError RUN_NOT_FOUND, BAD_OPTION, NOTHING_TO_PLOT, UNKNOWN_COLUMN, FONT_NOT_FOUND
 * @example
 * await plotSweep({ sweepId: 'drift', x: 'drift', by: 'label', column: 'position', out: 'drift.png' });
 */
export async function plotSweep(options: SweepPlotOptions): Promise<SweepPlotResult> {
  const stat = options.stat ?? 'mean';
  if (!(SWEEP_PLOT_STATS as readonly string[]).includes(stat)) {
    throw new MmrunError('BAD_OPTION', `--stat ${show(stat)} is not a statistic of a point`, {
      remedy: `pass --stat with one of: ${SWEEP_PLOT_STATS.join(', ')}`,
    });
  }
  const stats = await summarizeSweep({
    sweepId: options.sweepId,
    ...(options.runsDir === undefined ? {} : { runsDir: options.runsDir }),
    ...(options.column === undefined ? {} : { column: options.column }),
  });
  const { x, by } = options;
  const notSwept = (flag: string, key: string) =>
    new MmrunError('BAD_OPTION', `${flag} ${show(key)} is not a swept param of sweep '${stats.id}'`, {
      remedy: `pass ${flag} with one of: ${stats.keys.join(', ') || '(none)'}`,
    });
  if (!stats.keys.includes(x)) throw notSwept('--x', x);
  if (by !== undefined) {
    if (!stats.keys.includes(by)) throw notSwept('--by', by);
    if (by === x) {
      throw new MmrunError('BAD_OPTION', `--by ${show(by)} is also --x`, {
        remedy: `pass --by with another swept param: ${stats.keys.filter((k) => k !== x).join(', ') || '(none)'}`,
      });
    }
  }
  const distinct = (key: string) => [
    ...new Map(stats.points.map((p) => [JSON.stringify(p.params[key]), p.params[key]])).values(),
  ];
  const varying = stats.keys.filter((k) => k !== x && k !== by && distinct(k).length > 1);
  if (varying.length > 0) {
    const list = varying.map((k) => `${k} (${distinct(k).length} values)`).join(', ');
    const remedy =
      by === undefined && varying.length === 1
        ? `draw one line per value of it: --by ${varying[0]}`
        : by === undefined
          ? `draw one line per value of one of them (--by ${varying[0]}); the others must have one value each: export the table (mmrun export ${stats.id} --format csv) and plot it with pandas`
          : `a plot has one --by; export the table (mmrun export ${stats.id} --format csv) and plot it with pandas`;
    throw new MmrunError('BAD_OPTION', `sweep '${stats.id}' also varies ${list}, which the plot would mix`, { remedy });
  }
  const lines = linesOf(stats.points, x, by, stat);
  const drawn = lines.filter((l) => l.points.length > 0);
  if (drawn.length === 0) {
    throw new MmrunError(
      'NOTHING_TO_PLOT',
      `sweep '${stats.id}' has no point with rows of ${stats.column} and a number ${x}`,
      {
        remedy: `resume it (mmrun resume ${stats.id}), or pick a number param for --x`,
      },
    );
  }
  const all = drawn.flatMap((l) => l.points);
  const lo = (p: SweepPlotPoint) => p.value - (p.stderr ?? 0);
  const hi = (p: SweepPlotPoint) => p.value + (p.stderr ?? 0);
  // 5 % of margin on each side, so that the error bars at the ends are not cut by the frame.
  const pad = (a: number, b: number): [number, number] => {
    const m = a === b ? Math.max(0.5, Math.abs(a) * 0.05) : (b - a) * 0.05;
    return [a - m, b + m];
  };
  const [xLo, xHi] = pad(Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x)));
  let [yLo, yHi] = pad(Math.min(...all.map(lo)), Math.max(...all.map(hi)));
  // Room above the data for the legend of several lines.
  if (drawn.length > 1) yHi += (yHi - yLo) * Math.min(0.5, 0.06 * (drawn.length + 1));
  const replicates = Math.max(...all.map((p) => p.replicates));
  const what = stat === 'mean' ? `mean of ${stats.column}` : `${stat} of ${stats.column}`;
  const svg = chartSvg({
    width: options.width ?? 900,
    height: options.height ?? 500,
    title: `${stats.id}: ${what} vs ${x}${by === undefined ? '' : ` by ${by}`}`,
    notes: [
      `${stats.points.length} points`,
      ...(stat === 'mean' ? [] : [`each point's ${stat}, averaged over seeds`]),
      replicates > 1 ? `error bars: ± standard error over ${replicates} seeds` : 'one seed: no error bars',
    ],
    x: { title: x, lo: xLo, hi: xHi },
    y: { title: what, lo: yLo, hi: yHi },
    data: {
      kind: 'series',
      legendTitle: by ?? '',
      series: drawn.map((l) => ({
        label: l.label,
        x: l.points.map((p) => p.x),
        y: l.points.map((p) => p.value),
        lo: l.points.map(lo),
        hi: l.points.map(hi),
      })),
    },
  });
  const name = `${stats.id}-${stats.column}-vs-${x}${by === undefined ? '' : `-by-${by}`}.png`;
  const out = path.resolve(options.cwd ?? process.cwd(), options.out ?? name);
  const format = formatOf(out);
  const bytes = format === 'svg' ? Buffer.from(svg) : svgToPng(svg, options.fontFiles ?? findFontFiles());
  writeFileAtomically(out, bytes, { overwrite: true });
  return { out, format, column: stats.column, stat, lines: drawn };
}

/** A point's value of the statistic, or null (no rows, or not finite). */
function statOf(p: PointStats, stat: SweepPlotStat): number | null {
  if (p.count === 0) return null;
  const v = stat === 'mean' || stat === 'std' || stat === 'min' || stat === 'max' ? p[stat] : p.quantiles?.[stat];
  return v === null || v === undefined || !Number.isFinite(v) ? null : v;
}

/**
 * Groups the points into lines (one per value of `by`, in the order they first come) and,
 * within a line, per value of `x` (ascending): the statistic's mean over the replicates ±
 * its standard error.
 */
function linesOf(
  points: readonly PointStats[],
  x: string,
  by: string | undefined,
  stat: SweepPlotStat,
): SweepPlotLine[] {
  const lines = new Map<string, { by: unknown; sets: Map<number, number[]> }>();
  for (const p of points) {
    const key = by === undefined ? '' : JSON.stringify(p.params[by]);
    let line = lines.get(key);
    if (!line) {
      line = { by: by === undefined ? undefined : p.params[by], sets: new Map() };
      lines.set(key, line);
    }
    const xv = p.params[x];
    const v = statOf(p, stat);
    if (typeof xv !== 'number' || v === null) continue;
    line.sets.set(xv, [...(line.sets.get(xv) ?? []), v]);
  }
  const ordered = [...lines.values()];
  if (ordered.every((l) => typeof l.by === 'number')) ordered.sort((a, b) => (a.by as number) - (b.by as number));
  return ordered.map((l) => ({
    by: l.by,
    label: by === undefined ? '' : `${by} = ${String(l.by)}`,
    points: [...l.sets.entries()]
      .sort(([a], [b]) => a - b)
      .map(([xv, values]) => {
        const k = values.length;
        const mean = values.reduce((a, b) => a + b, 0) / k;
        const variance = k < 2 ? null : values.reduce((a, v) => a + (v - mean) ** 2, 0) / (k - 1);
        return { x: xv, value: mean, stderr: variance === null ? null : Math.sqrt(variance / k), replicates: k };
      }),
  }));
}
