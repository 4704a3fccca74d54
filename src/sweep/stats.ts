import * as fs from 'node:fs';
import * as path from 'node:path';
import { tableFromJSON, tableToIPC } from 'apache-arrow';
import { requireCatalog } from '../catalog/query.ts';
import { type PointStatus, SweepCatalog } from '../catalog/sweeps.ts';
import { MmrunError } from '../errors.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { QUANTILE_NAMES, type QuantileName } from '../stats/quantiles.ts';
import { summarizeRun } from '../stats/stats.ts';
import { isFileExists, writeFileAtomically } from '../storage/atomic-file.ts';

/** One point's summary of the column: its params and seed, then the statistics of its rows. */
export interface PointStats {
  readonly runId: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly status: PointStatus;
  /** Flushed rows summarised (a point that is not completed gives what it has). */
  readonly rows: number;
  readonly count: number;
  readonly mean: number | null;
  readonly std: number | null;
  readonly min: number | null;
  readonly max: number | null;
  readonly quantiles: Readonly<Record<QuantileName, number>> | null;
}

/** The replicates of one parameter set pooled: the mean over seeds of each point's mean. */
export interface SetStats {
  readonly params: Readonly<Record<string, unknown>>;
  /** Points of this set that have rows. */
  readonly replicates: number;
  /** Mean over the replicates of their means. */
  readonly mean: number | null;
  /** Standard error of that mean: sample std (ddof 1) of the replicate means ÷ √replicates; null below 2. */
  readonly stderr: number | null;
  /** Values over all replicates. */
  readonly count: number;
  readonly min: number | null;
  readonly max: number | null;
}

export interface SweepStats {
  readonly id: string;
  readonly experiment: string;
  readonly column: string;
  /** The swept params, in grid order: one column each in the tidy table. */
  readonly keys: readonly string[];
  readonly points: readonly PointStats[];
  readonly sets: readonly SetStats[];
}

/**
 * Summarises one column of every point of a sweep (count, mean, std, min, max and quantiles
 * of its flushed rows, as `mmrun stats` does for a run) and pools the replicates of each
 * parameter set (mean ± standard error over seeds).
 * @throws MmrunError RUN_NOT_FOUND, UNKNOWN_COLUMN, BAD_COLUMN_INDEX
 * @example
 * const s = await summarizeSweep({ sweepId: 'walk-sweep-1', column: 'position' });
 * for (const set of s.sets) console.log(set.params, set.mean, '±', set.stderr);
 */
export async function summarizeSweep(options: {
  readonly sweepId: string;
  readonly runsDir?: string;
  /** @default the experiment's first column */
  readonly column?: string;
}): Promise<SweepStats> {
  const runsDir = resolveRunsDir(options.runsDir);
  requireCatalog(runsDir, options.sweepId);
  const store = SweepCatalog.open(runsDir, { create: false });
  let sweep: ReturnType<SweepCatalog['getSweep']>;
  let points: ReturnType<SweepCatalog['points']>;
  let firstColumn: string | undefined;
  try {
    sweep = store.getSweep(options.sweepId);
    points = store.points(sweep.id);
    const started = points.find((p) => p.status !== 'pending');
    if (started) firstColumn = Object.keys(store.runs.getRun(started.runId).columns)[0];
  } finally {
    store.close();
  }
  const column = options.column ?? firstColumn;
  if (column === undefined) {
    throw new MmrunError('UNKNOWN_COLUMN', `sweep '${sweep.id}' has no point with rows yet`, {
      remedy: `resume it (mmrun resume ${sweep.id}), then ask again`,
    });
  }
  const out: PointStats[] = [];
  for (const p of points) {
    const base = { runId: p.runId, params: p.params, seed: p.seed, status: p.status };
    if (p.status === 'pending') {
      out.push({ ...base, rows: 0, count: 0, mean: null, std: null, min: null, max: null, quantiles: null });
      continue;
    }
    const r = await summarizeRun({ runId: p.runId, runsDir, columns: [column], workers: 1 });
    const s = r.stats[0]!;
    out.push({
      ...base,
      rows: r.rows,
      count: s.count,
      mean: s.mean,
      std: s.std,
      min: s.min,
      max: s.max,
      quantiles: s.quantiles,
    });
  }
  const spec = sweep.spec as { grid?: { key: string }[] };
  const keys = spec.grid?.length
    ? spec.grid.map((a) => a.key)
    : [...new Set(points.flatMap((p) => Object.keys(p.params)))];
  return { id: sweep.id, experiment: sweep.experiment, column, keys, points: out, sets: pool(out) };
}

/** Pools the replicates of each parameter set: mean of their means ± standard error. */
export function pool(points: readonly PointStats[]): SetStats[] {
  const groups = new Map<string, PointStats[]>();
  for (const p of points) {
    const key = JSON.stringify(p.params);
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  return [...groups.values()].map((group) => {
    const withRows = group.filter((p) => p.count > 0 && p.mean !== null);
    const means = withRows.map((p) => p.mean!);
    const k = means.length;
    const mean = k === 0 ? null : means.reduce((a, b) => a + b, 0) / k;
    const variance = k < 2 || mean === null ? null : means.reduce((a, m) => a + (m - mean) ** 2, 0) / (k - 1);
    const mins = withRows.map((p) => p.min!);
    const maxs = withRows.map((p) => p.max!);
    return {
      params: group[0]!.params,
      replicates: k,
      mean,
      stderr: variance === null ? null : Math.sqrt(variance / k),
      count: group.reduce((n, p) => n + p.count, 0),
      min: k === 0 ? null : Math.min(...mins),
      max: k === 0 ? null : Math.max(...maxs),
    };
  });
}

/**
 * The tidy table of a sweep's summary: one record per point, one field per swept param and
 * per statistic (what pandas reads as a DataFrame).
 */
export function tidyRows(stats: SweepStats): Record<string, unknown>[] {
  return stats.points.map((p) => ({
    run_id: p.runId,
    ...Object.fromEntries(stats.keys.map((k) => [k, p.params[k] ?? null])),
    seed: p.seed,
    status: p.status,
    column: stats.column,
    count: p.count,
    mean: p.mean,
    std: p.std,
    min: p.min,
    max: p.max,
    ...Object.fromEntries(QUANTILE_NAMES.map((q) => [q, p.quantiles?.[q] ?? null])),
  }));
}

const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

/** The tidy table as CSV (empty cells for missing values) or JSON Lines (null). */
export function formatTidy(rows: readonly Record<string, unknown>[], format: 'csv' | 'jsonl'): string {
  if (format === 'jsonl') {
    return rows
      .map((r) =>
        JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : (v as unknown))),
      )
      .map((line) => `${line}\n`)
      .join('');
  }
  const header = Object.keys(rows[0] ?? {});
  return [header.join(','), ...rows.map((r) => header.map((h) => csvCell(r[h])).join(','))]
    .map((line) => `${line}\n`)
    .join('');
}

/** The tidy table as an Arrow IPC file (`pyarrow.ipc.open_file`, `pandas.read_feather`). */
export function arrowTidy(rows: readonly Record<string, unknown>[]): Uint8Array {
  return tableToIPC(tableFromJSON(rows as Record<string, unknown>[]), 'file');
}

/**
 * Writes a sweep's tidy table to `out` (never over an existing file unless `force`),
 * through a temporary file renamed into place.
 * @throws MmrunError OUTPUT_EXISTS
 */
export function writeTidy(text: string | Uint8Array, out: string, force: boolean): void {
  const file = path.resolve(out);
  if (!force && fs.existsSync(file)) {
    throw new MmrunError('OUTPUT_EXISTS', `${file} already exists`, {
      remedy: 'pass --force to replace it, or choose another --out',
    });
  }
  try {
    writeFileAtomically(file, typeof text === 'string' ? Buffer.from(text) : text, { overwrite: force });
  } catch (cause) {
    if (!isFileExists(cause)) throw cause;
    throw new MmrunError('OUTPUT_EXISTS', `${file} already exists`, {
      cause,
      remedy: 'pass --force to replace it, or choose another --out',
    });
  }
}
