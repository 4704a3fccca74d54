// Planning a sweep: its command checked against the experiment, and its points listed —
// every parameter set × every replicate seed, each with its seed and run id — before
// anything is created. `mmrun sweep` and `mmrun slurm --sweep` plan the same way, so a
// sweep's points are the same wherever it runs.
import { MmrunError, show } from '../errors.ts';
import type { ParamValue } from '../experiment/define.ts';
import type { LoadedExperiment } from '../experiment/load.ts';
import { parseCount } from '../experiment/params.ts';
import { CounterRng, randomSeed } from '../experiment/rng.ts';
import { normalizeFlushPolicy } from '../runner/flush-policy.ts';
import { checkRunId } from '../runs-dir.ts';
import { checkPointCount, expandGrid, type GridAxis, gridSize, type ParamSet } from './grid.ts';
import { isEmptyGrid, normalizeGrid, normalizeParams, positiveInt, type SweepGrid } from './options.ts';
import { paramArgs, type SweepSpecJson } from './point.ts';
import { readPointsFile } from './points-file.ts';

/** What a sweep is, as {@link planSweep} reads it: its parameter sets, seeds and runs' options. */
export interface SweepPlanOptions {
  /**
   * The values of each swept param, typed as its default: `{ drift: [0, 0.1, 0.2] }` (keys
   * in order, the first varying slowest) or `[{ key: 'drift', values: [0, 0.1, 0.2] }]`.
   */
  readonly grid?: SweepGrid;
  /** A .jsonl or .csv file of parameter sets (instead of `grid`). */
  readonly points?: string;
  /** Replicates per parameter set; replicate r runs with seed `seed + r`. @default 1 */
  readonly seeds?: number;
  /** @default a random seed, recorded */
  readonly seed?: number;
  /** Rows per point. @default the experiment's `iterations` */
  readonly iterations?: number;
  /** Param overrides common to every point, typed as their defaults: `{ label: 'b' }`. */
  readonly params?: Readonly<Record<string, ParamValue>>;
  /** @default `<experiment>-sweep-<yyyymmdd-hhmmss>-<4 hex>` */
  readonly id?: string;
  /** Allow more than a million points. */
  readonly yes?: boolean;
  /** Flush every N rows. @default 1,000,000 */
  readonly flushEvery?: number;
  /** Flush every T seconds. @default 10 */
  readonly flushInterval?: number;
  /** Rows per segment file. @default what fits in 1 GiB */
  readonly segmentRows?: number;
}

const SWEEP_ID_SUFFIX = /-p\d+$/;

export function newSweepId(name: string): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const hex = Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
  return `${name}-sweep-${t}-${hex}`;
}

/** The run id of point `idx` of a sweep of `total` points: `<sweep>-p0001`. */
export function pointRunId(sweepId: string, idx: number, total: number): string {
  return `${sweepId}-p${String(idx).padStart(Math.max(4, String(total - 1).length), '0')}`;
}

/** The planned points of a sweep: every parameter set × every replicate seed. */
export interface SweepPlan {
  readonly id: string;
  readonly spec: SweepSpecJson;
  readonly points: readonly { readonly params: ParamSet; readonly seed: number; readonly runId: string }[];
}

/**
 * Checks a sweep's command against the experiment and lists its points, creating nothing.
 * @throws MmrunError BAD_GRID, BAD_PARAM, SWEEP_TOO_LARGE, BAD_OPTION, BAD_ITERATIONS, BAD_RUN_ID
 */
export function planSweep(loaded: LoadedExperiment, options: SweepPlanOptions): SweepPlan {
  const params = paramArgs(normalizeParams(loaded.params, options.params)); // a bad param first
  const iterations = parseCount(options.iterations ?? loaded.experiment.iterations ?? Number.NaN);
  const seeds = positiveInt(options.seeds, '--seeds', 1);
  if (!isEmptyGrid(options.grid) && options.points !== undefined) {
    throw new MmrunError('BAD_OPTION', '--grid and --points both give the parameter sets', {
      remedy: 'use --grid for a cartesian product, or --points for an explicit list, not both',
    });
  }
  let axes: GridAxis[] = [];
  let sets: ParamSet[];
  if (options.points !== undefined) {
    sets = readPointsFile(options.points, loaded.params);
    checkPointCount(sets.length, seeds, options.yes === true);
  } else {
    if (options.grid === undefined || isEmptyGrid(options.grid)) {
      throw new MmrunError('BAD_GRID', 'the sweep has an empty grid', {
        remedy: `give --grid key=v1,v2 (or key=a:b:n) for one or more of the params: ${Object.keys(loaded.params).join(', ') || '(none)'}; or --points file.jsonl`,
      });
    }
    axes = normalizeGrid(loaded.params, options.grid);
    checkPointCount(gridSize(axes), seeds, options.yes === true);
    sets = expandGrid(axes);
  }
  const seed = options.seed ?? randomSeed() % (Number.MAX_SAFE_INTEGER - seeds);
  new CounterRng(seed + (seeds - 1)); // refuses a seed whose replicates leave the safe integers
  new CounterRng(seed);
  const id = checkRunId(options.id ?? newSweepId(loaded.name));
  if (SWEEP_ID_SUFFIX.test(id)) {
    throw new MmrunError('BAD_RUN_ID', `sweep id ${show(id)} ends like a point's run id (-p<digits>)`, {
      remedy: 'choose an id that does not end in -p and digits',
    });
  }
  const total = sets.length * seeds;
  const points = sets.flatMap((set, s) =>
    Array.from({ length: seeds }, (_, r) => {
      const idx = s * seeds + r;
      return { params: set, seed: seed + r, runId: checkRunId(pointRunId(id, idx, total)) };
    }),
  );
  const policy = normalizeFlushPolicy({
    every: options.flushEvery === undefined ? undefined : parseCount(options.flushEvery, '--flush-every', 'BAD_OPTION'),
    intervalSeconds: options.flushInterval,
  });
  if (options.segmentRows !== undefined) parseCount(options.segmentRows, '--segment-rows', 'BAD_OPTION');
  return {
    id,
    points,
    spec: {
      grid: axes,
      pointsFile: options.points ?? null,
      seeds,
      seed,
      iterations,
      params,
      flushEvery: options.flushEvery === undefined ? null : policy.every,
      flushInterval: options.flushInterval ?? null,
      segmentRows: options.segmentRows ?? null,
    },
  };
}
