// A sweep computed on a cluster: `mmrun slurm --sweep` plans it (the same points, seeds and
// run ids as a local `mmrun sweep` of the same command) into a plan file beside the results,
// and writes one job array whose task i computes point i (`mmrun point PLAN --index i`).
// Each task's runs directory is an ordinary one holding that point's run; merge.ts gathers
// them into one sweep.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunRecord } from '../catalog/catalog.ts';
import { findRun } from '../catalog/query.ts';
import type { PointSpec } from '../catalog/sweeps.ts';
import {
  checkThrottle,
  pointCopyDir,
  type SweepSlurmOptions,
  sweepMergeCommand,
  sweepSlurmScript,
} from '../cluster/slurm.ts';
import { MmrunError, show } from '../errors.ts';
import { loadExperiment, resolveExperiment } from '../experiment/load.ts';
import {
  type FlushRequest,
  type Progress,
  type RunResult,
  resumeRun,
  type StartInfo,
  startRun,
} from '../runner/run.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { type ShardSpec, shardFromEnvironment } from '../shards.ts';
import { planSweep, type SweepPlanOptions } from './plan.ts';
import type { SweepSpecJson } from './point.ts';
import { pointRunOptions } from './point.ts';

/** The plan of a sweep run as a job array: what tasks and `merge --sweep` agree on. */
export interface SweepPlanFile {
  readonly format: typeof PLAN_FORMAT;
  readonly id: string;
  /** The experiment's name. */
  readonly experiment: string;
  /** Its absolute path, as the compute nodes see it. */
  readonly experimentPath: string;
  /** sha256 of its source when the sweep was planned: a task refuses another. */
  readonly sourceHash: string;
  readonly spec: SweepSpecJson;
  /** Point i is array task i. */
  readonly points: readonly PointSpec[];
}

const PLAN_FORMAT = 'mmrun-sweep-plan/1';

/** The plan file of sweep `id` in a results directory. */
export const planFile = (results: string, id: string): string => path.join(results, `${id}.sweep.json`);

export { pointCopyDir };

/** Options of {@link writeSlurmSweep}: a sweep's command, and the job array's. */
export interface SlurmSweepOptions
  extends SweepPlanOptions,
    Pick<SweepSlurmOptions, 'partition' | 'time' | 'cpusPerTask' | 'warnSeconds' | 'mmrun'> {
  /** A path to a .ts/.js experiment module, or the name of one in `experiments/`. */
  readonly experiment: string;
  /** Resolves relative paths. @default process.cwd() */
  readonly cwd?: string;
  /** The shared directory (every node sees it) for the plan, the point copies, logs and the merged sweep. */
  readonly results: string;
  /** At most this many points at once (`--array=…%N`). @default no limit */
  readonly throttle?: number;
  /** Where to write the script. @default `<results>/<id>.sbatch` */
  readonly out?: string;
}

/** What {@link writeSlurmSweep} wrote. */
export interface SlurmSweep {
  readonly plan: SweepPlanFile;
  readonly planFile: string;
  readonly scriptFile: string;
  readonly results: string;
  /** The command that gathers the points once every task is done. */
  readonly mergeCommand: string;
}

/**
 * Plans a sweep for a Slurm job array and writes its plan (`<results>/<id>.sweep.json`)
 * and its sbatch script. Everything is checked first — the sweep's command as `mmrun sweep`
 * checks it, the throttle, and that neither file nor the points' copies exist — and
 * nothing is written on a bad input.
 * @throws MmrunError BAD_OPTION, BAD_GRID, BAD_PARAM, SWEEP_TOO_LARGE, OUTPUT_EXISTS …
 * @example
 * const s = await writeSlurmSweep({ experiment: 'walk', grid: ['drift=0:0.1:5'], seeds: 3, seed: 1, results: '/shared/w' });
 * // sbatch s.scriptFile; later: mmrun merge /shared/w --sweep --id <s.plan.id> --into /shared/w/runs
 */
export async function writeSlurmSweep(options: SlurmSweepOptions): Promise<SlurmSweep> {
  const cwd = options.cwd ?? process.cwd();
  const throttle = options.throttle === undefined ? undefined : checkThrottle(options.throttle);
  const loaded = await loadExperiment(resolveExperiment(options.experiment, cwd));
  const planned = planSweep(loaded, options);
  const results = path.resolve(cwd, options.results);
  const plan: SweepPlanFile = {
    format: PLAN_FORMAT,
    id: planned.id,
    experiment: loaded.name,
    experimentPath: loaded.path,
    sourceHash: loaded.sourceHash,
    spec: planned.spec,
    points: planned.points,
  };
  const planPath = planFile(results, plan.id);
  const scriptFile = path.resolve(cwd, options.out ?? path.join(results, `${plan.id}.sbatch`));
  for (const file of [planPath, scriptFile, path.join(results, 'points')]) {
    if (fs.existsSync(file)) {
      throw new MmrunError('OUTPUT_EXISTS', `${file} exists; mmrun never overwrites it`, {
        remedy: 'pass another --results (one directory per sweep) or --id, or remove it',
      });
    }
  }
  const script: SweepSlurmOptions = {
    experiment: loaded.path,
    id: plan.id,
    points: plan.points.length,
    plan: planPath,
    results,
    ...(throttle === undefined ? {} : { throttle }),
    ...pick(options, ['partition', 'time', 'cpusPerTask', 'warnSeconds', 'mmrun'] as const),
  };
  fs.mkdirSync(results, { recursive: true });
  fs.mkdirSync(path.dirname(scriptFile), { recursive: true });
  fs.writeFileSync(planPath, planText(plan), { flag: 'wx' });
  fs.writeFileSync(scriptFile, sweepSlurmScript(script), { mode: 0o755, flag: 'wx' });
  return { plan, planFile: planPath, scriptFile, results, mergeCommand: sweepMergeCommand(script) };
}

/** The plan as JSON: readable, one line per point. */
function planText(plan: SweepPlanFile): string {
  const { points, ...head } = plan;
  const top = JSON.stringify(head, null, 1).slice(0, -2);
  return `${top},\n "points": [\n${points.map((p) => `  ${JSON.stringify(p)}`).join(',\n')}\n ]\n}\n`;
}

/**
 * Reads and checks a sweep plan.
 * @throws MmrunError RUN_NOT_FOUND (no file), SWEEP_MISMATCH (not a plan)
 */
export function readSweepPlan(file: string): SweepPlanFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new MmrunError('RUN_NOT_FOUND', `no sweep plan ${file}: ${(error as Error).message}`, {
      cause: error,
      remedy: '`mmrun slurm <experiment> --sweep --results DIR …` writes it as DIR/<sweep-id>.sweep.json',
    });
  }
  let plan: Partial<SweepPlanFile> | undefined;
  try {
    plan = JSON.parse(text) as Partial<SweepPlanFile>;
  } catch {
    plan = undefined;
  }
  if (
    plan?.format !== PLAN_FORMAT ||
    typeof plan.id !== 'string' ||
    typeof plan.experimentPath !== 'string' ||
    typeof plan.sourceHash !== 'string' ||
    typeof plan.spec !== 'object' ||
    !Array.isArray(plan.points) ||
    plan.points.length === 0
  ) {
    throw new MmrunError('SWEEP_MISMATCH', `${file} is not a sweep plan (format ${PLAN_FORMAT})`, {
      remedy: 'pass the .sweep.json file that `mmrun slurm --sweep` wrote, unchanged',
    });
  }
  return plan as SweepPlanFile;
}

/** Options of {@link runPlannedPoint}. */
export interface PlannedPointOptions {
  /** The plan file (`<results>/<id>.sweep.json`). */
  readonly plan: string;
  /** Which point (0-based). @default the scheduler's task in `environment` */
  readonly index?: number | undefined;
  /**
   * Where a scheduler tells the task its index when `index` is not given: Slurm's
   * `SLURM_ARRAY_TASK_ID` (its array must have one task per point) or Kubernetes'
   * `JOB_COMPLETION_INDEX` (see shards.ts).
   */
  readonly environment?: NodeJS.ProcessEnv;
  /** A node-local runs directory. @default $MMRUN_RUNS_DIR, else ./runs */
  readonly runsDir?: string;
  readonly signal?: AbortSignal;
  readonly onStart?: (info: StartInfo) => void;
  readonly onProgress?: (progress: Progress) => void;
  readonly onWarning?: (message: string) => void;
  readonly flushRequest?: FlushRequest;
}

/**
 * One session of point `index` of a planned sweep, in a runs directory of its own: started
 * (exactly as `mmrun run` of that point) if that directory does not have its run, else
 * resumed; a completed run is left as it is (its result says so, with no row computed).
 * A changed experiment file is refused before a point starts.
 * @throws MmrunError BAD_OPTION (index), EXPERIMENT_CHANGED, and what run/resume throw
 */
export async function runPlannedPoint(options: PlannedPointOptions): Promise<RunResult> {
  const plan = readSweepPlan(options.plan);
  const index = pointIndex(
    options.index ?? shardFromEnvironment(options.environment ?? {}, plan.points.length),
    plan.points.length,
  );
  const point = plan.points[index]!;
  const runsDir = resolveRunsDir(options.runsDir);
  const hooks = {
    runsDir,
    ...pick(options, ['signal', 'onStart', 'onProgress', 'flushRequest'] as const),
  };
  const existing = localRun(runsDir, point.runId);
  if (existing?.status === 'completed') {
    return {
      id: existing.id,
      runDir: path.join(runsDir, existing.id),
      status: 'completed',
      startRow: existing.flushedRows,
      flushedRows: existing.flushedRows,
      iterations: existing.iterations,
      elapsedMs: 0,
      rowsPerSecond: 0,
      flushes: 0,
    };
  }
  if (existing) {
    return resumeRun({ runId: point.runId, ...hooks, ...pick(options, ['onWarning'] as const) });
  }
  const loaded = await loadExperiment(plan.experimentPath);
  if (loaded.sourceHash !== plan.sourceHash) {
    throw new MmrunError(
      'EXPERIMENT_CHANGED',
      `${loaded.path} changed since sweep '${plan.id}' was planned (sha256 ${plan.sourceHash.slice(0, 12)} then, ${loaded.sourceHash.slice(0, 12)} now); point ${index} would not match the others`,
      { remedy: 'restore the original source, or plan a new sweep (mmrun slurm --sweep) with this one' },
    );
  }
  return startRun({ ...pointRunOptions(point, plan.spec, loaded), ...hooks });
}

function pointIndex(index: number | ShardSpec | undefined, points: number): number {
  if (index === undefined) {
    throw new MmrunError('BAD_OPTION', 'no point index: neither --index nor an array task id was given', {
      remedy: 'pass --index I (0-based), or run it as task I of a job array (SLURM_ARRAY_TASK_ID)',
    });
  }
  if (typeof index !== 'number' && index.count !== points) {
    throw new MmrunError('BAD_OPTION', `${index.source} is one of ${index.count} tasks, but the sweep has ${points}`, {
      remedy: `submit the array with one task per point (--array=0-${points - 1}), or pass --index I`,
    });
  }
  const i = typeof index === 'number' ? index : index.index;
  if (!Number.isSafeInteger(i) || i < 0 || i >= points) {
    throw new MmrunError('BAD_OPTION', `--index ${show(i)} is not a point of the sweep (0 to ${points - 1})`, {
      remedy: `pass --index 0 to ${points - 1}`,
    });
  }
  return i;
}

/** The run `id` in a runs directory, or undefined if it has none. */
export function localRun(runsDir: string, id: string): RunRecord | undefined {
  return findRun(runsDir, id)?.run;
}

/** The defined values of `keys` (exactOptionalPropertyTypes-friendly). */
function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): { [P in K]?: Exclude<T[P], undefined> } {
  const out: Partial<Record<K, unknown>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out as { [P in K]?: Exclude<T[P], undefined> };
}
