// Starting a new run: check its options (options.ts), register it in the catalog, make its
// directory and log, and drive its first session (session.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { Catalog, type RunRecord } from '../catalog/catalog.ts';
import { currentOwner } from '../catalog/ownership.ts';
import { MmrunError } from '../errors.ts';
import type { ParamValue } from '../experiment/define.ts';
import { type LoadedExperiment, loadExperiment, resolveExperiment } from '../experiment/load.ts';
import { CounterRng } from '../experiment/rng.ts';
import { codeIdentity } from '../fingerprint/check.ts';
import { type SourceSnapshot, writeSnapshot } from '../fingerprint/sources.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { columnsOf, descrOf } from '../storage/dtype.ts';
import { fsyncDir } from '../storage/segment.ts';
import { SegmentedArray } from '../storage/segmented-array.ts';
import { callInit, makeContext, runShard } from './context.ts';
import { openRunLog } from './log.ts';
import { loopInThisThread } from './loop-engine.ts';
import { planRun, type RunOptions } from './options.ts';
import { drive, type Engine, owned } from './session.ts';
import type { RunResult } from './session-types.ts';
import { workersPerShard } from './shards.ts';
import { encodeState } from './state.ts';

/**
 * Starts a new run of an experiment and drives it until it completes, is stopped through
 * `signal`, or fails.
 * @example
 * const result = await startRun({ experiment: 'experiments/walk.ts', iterations: 1e6, seed: 1 });
 * console.log(result.status, result.flushedRows);
 */
export async function startRun(options: RunOptions): Promise<RunResult> {
  const runsDir = resolveRunsDir(options.runsDir);
  const loaded = await experimentOf(options);
  const plan = planRun(options, loaded);
  const { id, iterations, jobShard, params, seed, policy, segmentRows, workers } = plan;
  const runDir = path.join(runsDir, id);
  const array = new SegmentedArray(runDir, loaded.layout, { totalRows: iterations, segmentRows }, `run '${id}'`);
  // The code that runs, from the same step that bundled it: stored with the run, its
  // sources kept in the run's directory.
  const code = codeIdentity(loaded);

  const catalog = options.shared?.catalog ?? Catalog.open(runsDir);
  try {
    // Never reuse a directory: a stray one (not in the catalog) may hold someone's results.
    if (fs.existsSync(runDir)) {
      throw new MmrunError('RUN_EXISTS', `run '${id}' already exists (${runDir}); mmrun never overwrites a run`, {
        remedy: 'choose another --id, or continue that run with `mmrun resume`',
      });
    }
    // The catalog decides who gets the id (its transaction serializes concurrent runs); the
    // directory follows, and resume recreates it if a crash came in between.
    const run = catalog.createRun(
      {
        id,
        experiment: loaded.name,
        experimentPath: loaded.path,
        sourceHash: loaded.sourceHash,
        params,
        seed,
        iterations,
        columns: columnsOf(loaded.layout),
        dtype: descrOf(loaded.layout),
        itemsize: loaded.layout.itemsize,
        segmentRows,
        flushEvery: policy.every,
        flushInterval: policy.intervalSeconds,
        workers,
        ...(jobShard ? { jobShard } : {}),
        fingerprint: code.json,
      },
      currentOwner(),
    );
    // From here the run is ours: a failure before the session is recorded, never left `running`.
    const started = { id, runDir, experiment: loaded.name, seed, iterations, startRow: 0, resumed: false };
    const { log, engine } = await owned(catalog, id, async (): Promise<{ log: Logger; engine: Engine }> => {
      const log = startLog(runsDir, runDir, id, code.snapshot, {
        experiment: loaded.name,
        path: loaded.path,
        iterations,
        seed,
        params,
        ...(workers > 1 ? { workers } : {}),
      });
      const engine = workers > 1 ? workersPerShard(loaded) : await firstLoop(loaded, run, params, log, catalog);
      options.onStart?.(started);
      return { log, engine };
    });
    return await drive({ run, runDir, store: catalog, array, log, policy, hooks: options }, engine);
  } finally {
    if (!options.shared) catalog.close();
  }
}

/** The loop in this thread from row 0, after `init` (its state saved as the first checkpoint). */
async function firstLoop(
  loaded: LoadedExperiment,
  run: RunRecord,
  params: Record<string, ParamValue>,
  log: Logger,
  catalog: Catalog,
): Promise<Engine> {
  const rng = new CounterRng(run.seed);
  const ctx = makeContext(params, run.seed, run.id, log, rng, runShard(run.iterations, run.jobShard));
  ctx.state = await callInit(loaded, ctx);
  catalog.checkpoint(run.id, 0, encodeState(ctx.state, 0));
  return loopInThisThread(loaded, ctx, rng);
}

/** The run's experiment: the one given or shared, else loaded from its path or name. */
async function experimentOf(options: RunOptions): Promise<LoadedExperiment> {
  if (options.shared) return options.shared.loaded;
  if (typeof options.experiment !== 'string') return options.experiment;
  return loadExperiment(resolveExperiment(options.experiment, options.cwd));
}

/** Makes the run's directory and log, and logs the start. */
function startLog(
  runsDir: string,
  runDir: string,
  id: string,
  sources: SourceSnapshot,
  data: Record<string, unknown>,
): Logger {
  fs.mkdirSync(runDir, { recursive: true });
  fsyncDir(runsDir);
  writeSnapshot(runDir, sources);
  const log = openRunLog(runDir, { run: id });
  log.info({ event: 'started', ...data }, 'run started');
  return log;
}
