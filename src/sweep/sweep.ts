import * as os from 'node:os';
import { currentOwner } from '../catalog/ownership.ts';
import { requireCatalog } from '../catalog/query.ts';
import { type PointRecord, type PointStatus, SweepCatalog, type SweepRecord } from '../catalog/sweeps.ts';
import { MmrunError } from '../errors.ts';
import type { ParamValue } from '../experiment/define.ts';
import { type LoadedExperiment, loadExperiment, resolveExperiment } from '../experiment/load.ts';
import { applyParams } from '../experiment/params.ts';
import { CounterRng } from '../experiment/rng.ts';
import { crashPoint } from '../faults.ts';
import { checkRunId, type Progress, type RunResult, resolveRunsDir, type SharedResources } from '../runner/run.ts';
import { startTicker } from '../runner/ticker.ts';
import { startSweepHeartbeat } from './heartbeat.ts';
import { isEmptyGrid, positiveInt, type SweepGrid } from './options.ts';
import { planSweep, pointRunId, type SweepPlanOptions } from './plan.ts';
import { paramArgs, runOne, type SweepSpecJson } from './point.ts';
import { PointWorker } from './point-pool.ts';

export { newSweepId, planSweep, pointRunId, type SweepPlan, type SweepPlanOptions } from './plan.ts';
export { paramArgs, type SweepGrid, type SweepSpecJson };

/** A recorded spec's `key=value` params as the overrides they are (keys given only). */
function overridesOf(
  defaults: Readonly<Record<string, ParamValue>>,
  texts: readonly string[],
): Record<string, ParamValue> {
  const all = applyParams(defaults, texts);
  return Object.fromEntries(texts.map((t) => t.slice(0, t.indexOf('='))).map((k) => [k, all[k]!]));
}

/** Options of {@link startSweep}: what the sweep is (its plan), and how this process runs it. */
export interface SweepOptions extends SweepPlanOptions {
  /** A path to a .ts/.js experiment module, or the name of one in `experiments/`. */
  readonly experiment: string;
  /** @default $MMRUN_RUNS_DIR, else ./runs */
  readonly runsDir?: string;
  /** Points computed at once in this process. @default the number of cores */
  readonly jobs?: number;
  /** Resolves relative experiment paths. @default process.cwd() */
  readonly cwd?: string;
  readonly signal?: AbortSignal;
  readonly onStart?: (info: SweepStartInfo) => void;
  readonly onProgress?: (progress: SweepProgress) => void;
}

/** Options of {@link resumeSweep}. */
export interface ResumeSweepOptions {
  readonly sweepId: string;
  readonly runsDir?: string;
  /** Points computed at once in this process. @default the number of cores */
  readonly jobs?: number;
  /** Continue although the experiment's source changed since the sweep began. */
  readonly allowChanged?: boolean;
  readonly signal?: AbortSignal;
  readonly onStart?: (info: SweepStartInfo) => void;
  readonly onProgress?: (progress: SweepProgress) => void;
}

export interface SweepStartInfo {
  readonly id: string;
  readonly experiment: string;
  readonly points: number;
  /** Points already completed (untouched by this session). */
  readonly completed: number;
  readonly resumed: boolean;
  readonly jobs: number;
}

/** The sweep's progress, reported with each point's progress and when a point ends. */
export interface SweepProgress {
  readonly id: string;
  readonly points: number;
  readonly completed: number;
  readonly failed: number;
  /** Points computing now, with their latest progress. */
  readonly running: readonly RunningPoint[];
  readonly elapsedMs: number;
  /** Rows computed per second in this session, over all points. */
  readonly rowsPerSecond: number;
  /** Estimated time left, from this session's pace of points; undefined before one ends. */
  readonly etaMs: number | undefined;
}

/** A point computing now: its run's latest progress, its parameter set and seed. */
export interface RunningPoint extends Progress {
  readonly params: Readonly<Record<string, unknown>>;
  readonly seed: number;
}

/** How a session of a sweep ended. */
export interface SweepResult {
  readonly id: string;
  readonly status: 'completed' | 'interrupted' | 'failed';
  readonly points: number;
  readonly completed: number;
  /** Run ids of the points that failed in this session, with why. */
  readonly failures: readonly { readonly runId: string; readonly error: MmrunError }[];
  readonly elapsedMs: number;
  readonly stopReason?: string;
}

/**
 * Starts a sweep: checks the whole command first (nothing is created on a bad input), then
 * records the sweep and all its points in one transaction and computes the points, `jobs`
 * at a time, each an ordinary run made exactly as `mmrun run` makes it.
 * @example
 * const r = await startSweep({ experiment: 'walk', grid: { drift: [0, 0.05, 0.1] }, seeds: 3, seed: 1, iterations: 1e5 });
 * console.log(r.status, r.completed, 'of', r.points);
 */
export async function startSweep(options: SweepOptions): Promise<SweepResult> {
  const runsDir = resolveRunsDir(options.runsDir);
  const loaded = await loadExperiment(resolveExperiment(options.experiment, options.cwd));
  const plan = planSweep(loaded, options);
  const jobs = positiveInt(options.jobs, '--jobs', os.availableParallelism());
  const store = SweepCatalog.open(runsDir);
  try {
    const owner = currentOwner();
    store.createSweep(
      {
        id: plan.id,
        experiment: loaded.name,
        experimentPath: loaded.path,
        sourceHash: loaded.sourceHash,
        spec: plan.spec as unknown as Record<string, unknown>,
      },
      plan.points,
      owner,
    );
    return await drive(store, store.getSweep(plan.id), loaded, jobs, runsDir, options, false);
  } finally {
    store.close();
  }
}

/** Options of {@link extendSweep}: the sweep's id, and the grid (or points) and seeds it should have. */
export interface ExtendSweepOptions
  extends Pick<
    SweepOptions,
    | 'experiment'
    | 'runsDir'
    | 'grid'
    | 'points'
    | 'seeds'
    | 'jobs'
    | 'yes'
    | 'cwd'
    | 'signal'
    | 'onStart'
    | 'onProgress'
  > {
  readonly id: string;
}

/** A point's identity within a sweep: its parameter set and its seed. */
const pointKey = (params: Readonly<Record<string, unknown>>, seed: number) =>
  `${JSON.stringify(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}|${seed}`;

/**
 * Adds grid values, parameter sets or replicate seeds to an existing sweep, keeping its
 * seed, iterations and common params: the points of the new grid × seeds that the sweep
 * lacks are appended (existing points are not recomputed), then every point that is not
 * completed runs, as {@link resumeSweep} does. A changed experiment file is refused.
 * @throws MmrunError RUN_NOT_FOUND, RUN_LOCKED, EXPERIMENT_CHANGED, BAD_GRID, BAD_OPTION
 */
export async function extendSweep(options: ExtendSweepOptions): Promise<SweepResult> {
  const runsDir = resolveRunsDir(options.runsDir);
  requireCatalog(runsDir, options.id);
  const jobs = positiveInt(options.jobs, '--jobs', os.availableParallelism());
  const store = SweepCatalog.open(runsDir);
  try {
    const before = store.getSweep(options.id);
    const spec = before.spec as unknown as SweepSpecJson;
    const path = resolveExperiment(options.experiment, options.cwd);
    if (path !== before.experimentPath) {
      throw new MmrunError(
        'BAD_OPTION',
        `sweep '${before.id}' runs ${before.experimentPath}, not ${path}; --extend keeps its experiment`,
        { remedy: `pass the sweep's experiment: mmrun sweep ${before.experimentPath} --extend --id ${before.id} …` },
      );
    }
    const loaded = await loadExperiment(before.experimentPath);
    if (loaded.sourceHash !== before.sourceHash) {
      throw new MmrunError(
        'EXPERIMENT_CHANGED',
        `${loaded.path} changed since sweep '${before.id}' began (sha256 ${before.sourceHash.slice(0, 12)} then, ${loaded.sourceHash.slice(0, 12)} now); new points would not match the old`,
        { remedy: 'restore the original source to extend the sweep, or start a new sweep' },
      );
    }
    const seeds = positiveInt(options.seeds, '--seeds', spec.seeds);
    const existing = store.points(before.id);
    const given = !isEmptyGrid(options.grid) || options.points !== undefined;
    // Without a new grid or points file: the sweep's own parameter sets, for more seeds.
    const plan = given
      ? planSweep(loaded, {
          ...(options.grid ? { grid: options.grid } : {}),
          ...(options.points === undefined ? {} : { points: options.points }),
          seeds,
          seed: spec.seed,
          iterations: spec.iterations,
          params: overridesOf(loaded.params, spec.params),
          id: before.id,
          ...(options.yes === undefined ? {} : { yes: options.yes }),
        })
      : undefined;
    if (!plan) new CounterRng(spec.seed + (seeds - 1)); // refuses replicates beyond the safe integers
    const candidates =
      plan?.points ??
      [...new Map(existing.map((p) => [pointKey(p.params, 0), p.params])).values()].flatMap((params) =>
        Array.from({ length: seeds }, (_, r) => ({ params, seed: spec.seed + r })),
      );
    const newGrid = plan?.spec.grid ?? [];
    const oldKeys = spec.grid.map((a) => a.key).sort();
    const newKeys = newGrid.map((a) => a.key).sort();
    if (plan && spec.grid.length > 0 && JSON.stringify(oldKeys) !== JSON.stringify(newKeys)) {
      throw new MmrunError(
        'BAD_GRID',
        `sweep '${before.id}' sweeps ${oldKeys.join(', ')}; --extend got a grid of ${newKeys.join(', ') || '(none)'}`,
        { remedy: `give --grid for exactly ${oldKeys.join(', ')} (the values to add, or all of them)` },
      );
    }
    const have = new Set(existing.map((p) => pointKey(p.params, p.seed)));
    const fresh = candidates.filter((p) => !have.has(pointKey(p.params, p.seed)));
    if (fresh.length === 0) {
      throw new MmrunError('BAD_GRID', `--extend adds no point to sweep '${before.id}': it has all of them`, {
        remedy: `add grid values or --seeds; to continue its unfinished points: mmrun resume ${before.id}`,
      });
    }
    const total = existing.length + fresh.length;
    const points = fresh.map((p, k) => ({
      ...p,
      runId: checkRunId(pointRunId(before.id, existing.length + k, total)),
    }));
    const grid = spec.grid.map((axis) => {
      const added = newGrid.find((a) => a.key === axis.key)?.values ?? [];
      return { key: axis.key, values: [...axis.values, ...added.filter((v) => !axis.values.includes(v))] };
    });
    const extended: SweepSpecJson = {
      ...spec,
      grid,
      seeds: Math.max(spec.seeds, seeds),
      pointsFile: spec.pointsFile ?? plan?.spec.pointsFile ?? null,
    };
    const sweep = store.extend(before.id, currentOwner(), extended as unknown as Record<string, unknown>, points);
    return await drive(store, sweep, loaded, jobs, runsDir, options, true);
  } finally {
    store.close();
  }
}

/**
 * Continues every point of a sweep that is not completed (crashed, interrupted, failed or
 * never started); completed points are untouched. A sweep another live process runs is refused.
 */
export async function resumeSweep(options: ResumeSweepOptions): Promise<SweepResult> {
  const runsDir = resolveRunsDir(options.runsDir);
  requireCatalog(runsDir, options.sweepId);
  const jobs = positiveInt(options.jobs, '--jobs', os.availableParallelism());
  const store = SweepCatalog.open(runsDir);
  try {
    const before = store.getSweep(options.sweepId);
    if (before.status === 'completed') store.claim(before.id, currentOwner()); // throws RUN_COMPLETED
    const loaded = await loadExperiment(before.experimentPath);
    const changed = loaded.sourceHash !== before.sourceHash;
    if (changed && !options.allowChanged) {
      throw new MmrunError(
        'EXPERIMENT_CHANGED',
        `${loaded.path} changed since sweep '${before.id}' began (sha256 ${before.sourceHash.slice(0, 12)} then, ${loaded.sourceHash.slice(0, 12)} now)`,
        { remedy: 'restore the original source, or pass --allow-changed if the change keeps results identical' },
      );
    }
    const sweep = store.claim(before.id, currentOwner());
    if (changed) store.acceptSourceChange(sweep.id, loaded.sourceHash);
    return await drive(store, sweep, loaded, jobs, runsDir, options, true);
  } finally {
    store.close();
  }
}

/** Runs the sweep's unfinished points, `jobs` at a time, and records how the session ended. */
async function drive(
  store: SweepCatalog,
  sweep: SweepRecord,
  loaded: LoadedExperiment,
  jobs: number,
  runsDir: string,
  options: SweepOptions | ResumeSweepOptions | ExtendSweepOptions,
  resumed: boolean,
): Promise<SweepResult> {
  const spec = sweep.spec as unknown as SweepSpecJson;
  const t0 = performance.now();
  const owner = currentOwner();
  const heartbeat = startSweepHeartbeat(store.runs.file, sweep.id, owner);
  const ticker = startTicker();
  const shared: SharedResources = { loaded, catalog: store.runs, ticker, heartbeat: 'caller' };
  const failures: { runId: string; error: MmrunError }[] = [];
  const pool: PointWorker[] = [];
  try {
    const all = store.points(sweep.id);
    const todo = all.filter((p) => p.status !== 'completed');
    let completed = all.length - todo.length;
    const running = new Map<string, RunningPoint>();
    let rows = 0;
    let doneThisSession = 0;
    options.onStart?.({
      id: sweep.id,
      experiment: sweep.experiment,
      points: all.length,
      completed,
      resumed,
      jobs,
    });
    const report = () => {
      if (!options.onProgress) return;
      const elapsedMs = performance.now() - t0;
      const live = [...running.values()].reduce((n, p) => n + p.rows - p.startRow, 0);
      const left = all.length - completed - failures.length;
      options.onProgress({
        id: sweep.id,
        points: all.length,
        completed,
        failed: failures.length,
        running: [...running.values()],
        elapsedMs,
        rowsPerSecond: elapsedMs > 0 ? ((rows + live) * 1000) / elapsedMs : 0,
        etaMs: doneThisSession > 0 ? (elapsedMs / doneThisSession) * left : undefined,
      });
    };
    const runPoint = async (point: PointRecord, slot: number): Promise<void> => {
      let result: RunResult;
      const onProgress = (p: Progress) => {
        running.set(point.runId, { ...p, params: point.params, seed: point.seed });
        report();
      };
      try {
        const worker = pool[slot];
        result = worker
          ? await worker.run(point, spec, onProgress)
          : await runOne(point, spec, runsDir, shared, options.signal, onProgress);
      } catch (error) {
        const e =
          error instanceof MmrunError ? error : new MmrunError('IO_ERROR', String((error as Error)?.message ?? error));
        failures.push({ runId: point.runId, error: e });
        return;
      } finally {
        running.delete(point.runId);
      }
      rows += result.flushedRows - result.startRow;
      if (result.status === 'completed') {
        completed++;
        doneThisSession++;
      } else if (result.status === 'failed') failures.push({ runId: point.runId, error: result.error! });
      report();
    };
    let next = 0;
    const slots = Math.min(jobs, todo.length);
    // More than one point at a time: one worker thread per slot (a synchronous step holds
    // its thread); one point at a time runs here.
    if (slots > 1) for (let k = 0; k < slots; k++) pool.push(new PointWorker(loaded, runsDir));
    const stopPool = () => {
      for (const w of pool) w.stop(String(options.signal?.reason ?? 'abort'));
    };
    options.signal?.addEventListener('abort', stopPool);
    const slot = async (k: number) => {
      while (next < todo.length && !options.signal?.aborted) {
        await runPoint(todo[next++]!, k);
        crashPoint('sweep-between-points');
      }
    };
    try {
      await Promise.all(Array.from({ length: slots }, (_, k) => slot(k)));
    } finally {
      options.signal?.removeEventListener('abort', stopPool);
    }

    const stopReason = options.signal?.aborted ? String(options.signal.reason ?? 'abort') : undefined;
    const status = stopReason !== undefined ? 'interrupted' : failures.length > 0 ? 'failed' : 'completed';
    const error =
      failures.length > 0
        ? `${failures.length} point(s) failed; first: ${failures[0]!.runId}: ${failures[0]!.error.code}: ${failures[0]!.error.message}`
        : undefined;
    store.finish(sweep.id, status, error);
    return {
      id: sweep.id,
      status,
      points: all.length,
      completed,
      failures,
      elapsedMs: performance.now() - t0,
      ...(stopReason === undefined ? {} : { stopReason }),
    };
  } catch (error) {
    try {
      store.finish(sweep.id, 'failed', String((error as Error)?.message ?? error));
    } catch {
      // The original error matters more; the sweep then shows as crashed, which is also true.
    }
    throw error;
  } finally {
    await Promise.all([ticker.stop(), heartbeat.stop(), ...pool.map((w) => w.close())]);
  }
}

/** A point's status as `show` prints it. */
export type { PointStatus };
