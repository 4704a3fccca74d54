// The options of startRun and resumeRun: typed values (a caller with text, the CLI, parses
// it first), checked once against the experiment and the run here, as flush-policy.ts does
// for the flush policy. Nothing below is written before these checks pass.
import * as os from 'node:os';
import type { Catalog, RunRecord } from '../catalog/catalog.ts';
import { MmrunError, show } from '../errors.ts';
import type { ParamValue } from '../experiment/define.ts';
import type { LoadedExperiment } from '../experiment/load.ts';
import { overrideParams, parseCount } from '../experiment/params.ts';
import { randomSeed } from '../experiment/rng.ts';
import { checkRunId, newRunId } from '../runs-dir.ts';
import { type JobShard, jobShardOf, type ShardSpec, shardRanges } from '../shards.ts';
import { defaultSegmentRows } from '../storage/segmented-array.ts';
import { type FlushPolicy, normalizeFlushPolicy } from './flush-policy.ts';
import type { FlushRequest } from './flush-request.ts';
import type { Progress } from './session-types.ts';
import type { Ticker } from './ticker.ts';

/** The most worker threads a run may use. */
export const MAX_WORKERS = 256;

/**
 * What a caller that drives many runs of one experiment in one process (a sweep) shares
 * between them, so that a run costs no module load, catalog open or thread start.
 */
export interface SharedResources {
  /** The experiment, loaded once; a run's `experiment` option is then ignored. */
  readonly loaded: LoadedExperiment;
  /** The open catalog of the runs directory; the run leaves it open. */
  readonly catalog: Catalog;
  /** The loops' timer, started once; the run leaves it running. */
  readonly ticker: Ticker;
  /** The caller keeps the heartbeat of every run this process owns: no thread per run. */
  readonly heartbeat: 'caller';
}

/** What a session hears from its caller: stop, flush now, progress, and what it may share. */
export interface SessionHooks {
  /** Aborting stops the run gracefully: finish the iteration, flush, record `interrupted`. */
  readonly signal?: AbortSignal;
  /** Called once the run is registered and about to compute its first row. */
  readonly onStart?: (info: StartInfo) => void;
  /** Flush on request without stopping. */
  readonly flushRequest?: FlushRequest;
  /** Called with the loop's progress at most every `PROGRESS_MS` (250 ms). */
  readonly onProgress?: (progress: Progress) => void;
  /** Resources shared with other runs of this process (see {@link SharedResources}). */
  readonly shared?: SharedResources;
}

/** Options of `startRun`. */
export interface RunOptions extends SessionHooks {
  /**
   * A path to a .ts/.js experiment module, or the name of one in `experiments/`; or the
   * experiment already loaded (`loadExperiment`), as the CLI does to type `--param` texts.
   */
  readonly experiment: string | LoadedExperiment;
  /**
   * Where runs live.
   * @default $MMRUN_RUNS_DIR, else ./runs
   */
  readonly runsDir?: string;
  /**
   * Rows to compute: a positive whole number.
   * @default the experiment's `iterations`
   */
  readonly iterations?: number;
  /**
   * @default a random seed, recorded in the catalog
   */
  readonly seed?: number;
  /** Overrides of the experiment's params, each of its default's type. */
  readonly params?: Readonly<Record<string, ParamValue>>;
  /**
   * The run's id.
   * @default `<experiment>-<yyyymmdd-hhmmss>-<4 hex>`
   */
  readonly id?: string;
  /** Flush after this many rows. @default 1_000_000 */
  readonly flushEvery?: number;
  /** Seconds. @default 10 */
  readonly flushInterval?: number;
  /** Rows per segment file. @default as many as fit in 1 GiB */
  readonly segmentRows?: number;
  /**
   * Worker threads, each computing one contiguous shard of the rows with its own mapping of
   * them; a resume keeps the run's count. Results of an experiment without state are
   * byte-identical for every K; with state, each shard has its own (`init` gets the shard's
   * first row). An experiment declaring `sequential: true` refuses K > 1.
   * @default 1
   */
  readonly workers?: number;
  /**
   * Compute only shard `index` of `count` of the job: contiguous iterations, stored from
   * row 0 in this run; `mergeRuns` puts the shards of a job back together.
   */
  readonly shard?: ShardSpec;
  /** Resolves relative experiment paths. @default process.cwd() */
  readonly cwd?: string;
}

/** Options of `resumeRun`. */
export interface ResumeOptions extends SessionHooks {
  readonly runId: string;
  /** @default $MMRUN_RUNS_DIR, else ./runs */
  readonly runsDir?: string;
  /** Resume even though the experiment's source changed since the run began (recorded). */
  readonly allowChanged?: boolean;
  /** Called with each warning about the run's code (see src/fingerprint/): e.g. `node v20.19.0 → v24.1.0`. */
  readonly onWarning?: (message: string) => void;
  /**
   * Extend the run to this many iterations (more than it has; a completed run continues).
   * The result is byte-identical to a run that asked for them from the start.
   */
  readonly iterations?: number;
}

/** What {@link SessionHooks.onStart} is told. */
export interface StartInfo {
  readonly id: string;
  readonly runDir: string;
  readonly experiment: string;
  readonly seed: number;
  readonly iterations: number;
  readonly startRow: number;
  readonly resumed: boolean;
}

/** A new run, as {@link planRun} checked and completed it from {@link RunOptions}. */
export interface RunPlan {
  readonly id: string;
  /** The rows this run computes (a job shard's share of the job's iterations). */
  readonly iterations: number;
  readonly jobShard: JobShard | undefined;
  readonly params: Record<string, ParamValue>;
  readonly seed: number;
  readonly policy: FlushPolicy;
  readonly segmentRows: number;
  readonly workers: number;
}

/**
 * Checks a new run's options against its experiment and fills in the defaults.
 * @throws MmrunError BAD_ITERATIONS, BAD_SHARD, BAD_PARAM, BAD_OPTION, SEQUENTIAL_EXPERIMENT, BAD_RUN_ID.
 */
export function planRun(options: RunOptions, loaded: LoadedExperiment): RunPlan {
  const jobIterations = parseCount(options.iterations ?? loaded.experiment.iterations ?? Number.NaN);
  const jobShard = options.shard && checkJobShard(jobShardOf(options.shard, jobIterations), loaded, options.workers);
  const iterations = jobShard ? shardLength(jobIterations, jobShard) : jobIterations;
  const params = overrideParams(loaded.params, options.params ?? {});
  const seed = options.seed ?? randomSeed();
  const policy = normalizeFlushPolicy({
    every: options.flushEvery === undefined ? undefined : parseCount(options.flushEvery, '--flush-every', 'BAD_OPTION'),
    intervalSeconds: options.flushInterval,
  });
  const segmentRows =
    options.segmentRows === undefined
      ? defaultSegmentRows(loaded.layout)
      : parseCount(options.segmentRows, '--segment-rows', 'BAD_OPTION');
  const workers = checkWorkers(options.workers, iterations, loaded);
  const id = checkRunId(options.id ?? newRunId(loaded.name));
  return { id, iterations, jobShard, params, seed, policy, segmentRows, workers };
}

/** Whether `value` is a worker count a run may ask for (1..{@link MAX_WORKERS}). */
export function isWorkerCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 1 && value <= MAX_WORKERS;
}

/** The refusal of a worker count that is not one (as given: a number, or the CLI's text). */
export function badWorkerCount(value: unknown): MmrunError {
  return new MmrunError('BAD_OPTION', `--workers ${show(value)} is not a whole number from 1 to ${MAX_WORKERS}`, {
    remedy: `pass --workers K with 1 <= K <= ${MAX_WORKERS}, e.g. the number of cores (${os.availableParallelism()} here)`,
  });
}

/** Checks `workers` against the run: 1..MAX_WORKERS, at most one per row, 1 if sequential. */
function checkWorkers(value: number | undefined, iterations: number, loaded: LoadedExperiment): number {
  if (value === undefined) return 1;
  if (!isWorkerCount(value)) throw badWorkerCount(value);
  if (value > iterations) {
    throw new MmrunError('BAD_OPTION', `--workers ${value} is more than the ${iterations} iterations`, {
      remedy: `pass --workers ${Math.max(1, iterations)} or fewer`,
    });
  }
  if (value > 1 && loaded.experiment.sequential === true) {
    throw new MmrunError(
      'SEQUENTIAL_EXPERIMENT',
      `experiment '${loaded.name}' declares sequential: true (one chain of state from each step to the next), so it cannot be split over --workers ${value}`,
      { remedy: 'run it with --workers 1, or remove sequential: true if each shard may start its own chain' },
    );
  }
  return value;
}

/** Iterations of a job shard. */
function shardLength(jobIterations: number, job: JobShard): number {
  const [start, end] = shardRanges(jobIterations, job.count)[job.index]!;
  return end - start;
}

/**
 * A job shard of an experiment that needs one chain is refused (as `--workers` is), and so
 * are worker threads inside a shard of a stateful experiment (its states would no longer
 * be those of the job's shards).
 */
function checkJobShard(job: JobShard, loaded: LoadedExperiment, workers: number | undefined): JobShard {
  if (job.count > 1 && loaded.experiment.sequential === true) {
    throw new MmrunError(
      'SEQUENTIAL_EXPERIMENT',
      `experiment '${loaded.name}' declares sequential: true, so it cannot be split into ${job.count} shards`,
      {
        remedy:
          'run it on one machine without --shard, or remove sequential: true if each shard may start its own chain',
      },
    );
  }
  if (workers !== undefined && workers > 1 && loaded.experiment.init) {
    throw new MmrunError(
      'BAD_OPTION',
      `--workers ${workers} inside --shard ${job.index}/${job.count}: experiment '${loaded.name}' has state, and each shard must keep one`,
      { remedy: 'leave --workers out (or use more shards), or make the experiment stateless' },
    );
  }
  return job;
}

/**
 * The iteration count a resume extends `run` to, if any (`iterations` more than it has).
 * @throws MmrunError BAD_ITERATIONS for fewer, or for any extension of a sharded run.
 */
export function checkExtension(run: RunRecord, iterations: number | undefined): number | undefined {
  const extendTo = iterations === undefined ? undefined : parseCount(iterations);
  if (extendTo !== undefined && extendTo < run.iterations) {
    throw new MmrunError(
      'BAD_ITERATIONS',
      `run '${run.id}' has ${run.iterations} iterations; --iterations ${extendTo} would shrink it`,
      { remedy: `pass more than ${run.iterations} to extend it, or leave --iterations out to continue it` },
    );
  }
  if (extendTo !== undefined && extendTo > run.iterations && run.workers > 1) {
    throw new MmrunError(
      'BAD_ITERATIONS',
      `run '${run.id}' is split into ${run.workers} shards of its ${run.iterations} iterations; it cannot be extended`,
      { remedy: 'leave --iterations out to continue it, or start a new run with the iterations you need' },
    );
  }
  return extendTo;
}
