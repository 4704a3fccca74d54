import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from 'pino';
import {
  Catalog,
  type RangeChecksum,
  RESUME_LATER,
  type RunRecord,
  runCompleted,
  runLocked,
} from '../catalog/catalog.ts';
import { startHeartbeat } from '../catalog/heartbeat.ts';
import { currentOwner } from '../catalog/ownership.ts';
import { requireCatalog } from '../catalog/query.ts';
import { MmrunError, show } from '../errors.ts';
import type { Context } from '../experiment/define.ts';
import { type LoadedExperiment, loadExperiment, resolveExperiment } from '../experiment/load.ts';
import { applyParams, parseCount } from '../experiment/params.ts';
import { CounterRng, randomSeed } from '../experiment/rng.ts';
import { crashPoint } from '../faults.ts';
import { type CodeCheck, checkCode, codeIdentity } from '../fingerprint/check.ts';
import { type SourceSnapshot, writeSnapshot } from '../fingerprint/sources.ts';
import { checkRunId, newRunId, resolveRunsDir } from '../runs-dir.ts';
import { type JobShard, jobShardOf, parseShard, type ShardSpec, shardRanges } from '../shards.ts';
import { checksumRows } from '../storage/checksum.ts';
import { columnsOf, descrOf, layoutOf } from '../storage/dtype.ts';
import { readHeader } from '../storage/npy.ts';
import { describeLayoutMismatch, fsyncDir } from '../storage/segment.ts';
import { defaultSegmentRows, SegmentedArray } from '../storage/segmented-array.ts';
import { callInit, makeContext, runShard } from './context.ts';
import { type FlushPolicy, normalizeFlushPolicy } from './flush-policy.ts';
import { openRunLog } from './log.ts';
import { asRunError, type FlushRequest, type LoopOutcome, runLoop } from './loop.ts';
import type { Progress, RunResult } from './session-types.ts';
import { driveShards, MAX_WORKERS } from './shards.ts';

export { checkRunId, newRunId, resolveRunsDir };

import { decodeState, encodeState } from './state.ts';
import type { Ticker } from './ticker.ts';

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

export { FlushRequest, PROGRESS_MS } from './loop.ts';
export type { Progress, RunResult } from './session-types.ts';

/** Options of {@link startRun}. */
export interface RunOptions {
  /** A path to a .ts/.js experiment module, or the name of one in `experiments/`. */
  readonly experiment: string;
  /**
   * Where runs live.
   * @default $MMRUN_RUNS_DIR, else ./runs
   */
  readonly runsDir?: string;
  /**
   * Rows to compute; `1e6` and `1_000_000` are accepted.
   * @default the experiment's `iterations`
   */
  readonly iterations?: number | string;
  /**
   * @default a random seed, recorded in the catalog
   */
  readonly seed?: number;
  /** `key=value` overrides of the experiment's params, typed by each default. */
  readonly params?: readonly string[];
  /**
   * The run's id.
   * @default `<experiment>-<yyyymmdd-hhmmss>-<4 hex>`
   */
  readonly id?: string;
  /** Flush after this many rows (`1e6`, `1_000_000` accepted). @default 1_000_000 */
  readonly flushEvery?: number | string;
  /** Seconds. @default 10 */
  readonly flushInterval?: number;
  /** Rows per segment file. @default as many as fit in 1 GiB */
  readonly segmentRows?: number | string;
  /**
   * Worker threads, each computing one contiguous shard of the rows with its own mapping of
   * them; a resume keeps the run's count. Results of an experiment without state are
   * byte-identical for every K; with state, each shard has its own (`init` gets the shard's
   * first row). An experiment declaring `sequential: true` refuses K > 1.
   * @default 1
   */
  readonly workers?: number | string;
  /**
   * Compute only shard I of N of the job (`'I/N'`): contiguous iterations, stored from row 0
   * in this run; `mergeRuns` puts the shards of a job back together.
   */
  readonly shard?: string | ShardSpec;
  /** Aborting stops the run gracefully: finish the iteration, flush, record `interrupted`. */
  readonly signal?: AbortSignal;
  /** Called once the run is registered and about to compute its first row. */
  readonly onStart?: (info: StartInfo) => void;
  /** Flush on request without stopping. */
  readonly flushRequest?: FlushRequest;
  /** Called with the loop's progress at most every {@link PROGRESS_MS}. */
  readonly onProgress?: (progress: Progress) => void;
  /** Resolves relative experiment paths. @default process.cwd() */
  readonly cwd?: string;
  /** Resources shared with other runs of this process (see {@link SharedResources}). */
  readonly shared?: SharedResources;
}

/** Options of {@link resumeRun}. */
export interface ResumeOptions {
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
  readonly iterations?: number | string;
  readonly signal?: AbortSignal;
  readonly onStart?: (info: StartInfo) => void;
  readonly flushRequest?: FlushRequest;
  readonly onProgress?: (progress: Progress) => void;
  /** Resources shared with other runs of this process (see {@link SharedResources}). */
  readonly shared?: SharedResources;
}

/** What {@link RunOptions.onStart} is told. */
export interface StartInfo {
  readonly id: string;
  readonly runDir: string;
  readonly experiment: string;
  readonly seed: number;
  readonly iterations: number;
  readonly startRow: number;
  readonly resumed: boolean;
}

/**
 * Starts a new run of an experiment and drives it until it completes, is stopped through
 * `signal`, or fails.
 * @example
 * const result = await startRun({ experiment: 'experiments/walk.ts', iterations: 1e6, seed: 1 });
 * console.log(result.status, result.flushedRows);
 */
export async function startRun(options: RunOptions): Promise<RunResult> {
  const runsDir = resolveRunsDir(options.runsDir);
  const loaded = options.shared?.loaded ?? (await loadExperiment(resolveExperiment(options.experiment, options.cwd)));
  const jobIterations = parseCount(options.iterations ?? loaded.experiment.iterations ?? Number.NaN);
  const shardSpec = typeof options.shard === 'string' ? parseShard(options.shard) : options.shard;
  const jobShard = shardSpec && checkJobShard(jobShardOf(shardSpec, jobIterations), loaded, options.workers);
  const iterations = jobShard ? shardLength(jobIterations, jobShard) : jobIterations;
  const params = applyParams(loaded.params, options.params ?? []);
  const seed = options.seed ?? randomSeed();
  const rng = new CounterRng(seed);
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
    catalog.createRun(
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
    // From here the run is ours: a failure before the loop is recorded, never left `running`.
    const started = { id, runDir, experiment: loaded.name, seed, iterations, startRow: 0, resumed: false };
    if (workers > 1) {
      const log = await owned(catalog, id, async () => {
        const log = startLog(runsDir, runDir, id, code.snapshot, {
          experiment: loaded.name,
          path: loaded.path,
          iterations,
          seed,
          params,
          workers,
        });
        options.onStart?.(started);
        return log;
      });
      return await driveShards({
        run: catalog.getRun(id),
        runDir,
        catalog,
        array,
        experimentPath: loaded.path,
        sourceHash: loaded.sourceHash,
        bundle: loaded.bundle,
        log,
        policy,
        ...hooksOf(options),
      });
    }
    const { log, ctx } = await owned(catalog, id, async () => {
      const log = startLog(runsDir, runDir, id, code.snapshot, {
        experiment: loaded.name,
        path: loaded.path,
        iterations,
        seed,
        params,
      });
      const ctx = makeContext(params, seed, id, log, rng, runShard(iterations, jobShard));
      ctx.state = await callInit(loaded, ctx);
      catalog.checkpoint(id, 0, encodeState(ctx.state, 0));
      options.onStart?.(started);
      return { log, ctx };
    });
    return await drive({
      id,
      runDir,
      catalog,
      array,
      loaded,
      ctx,
      rng,
      log,
      policy,
      startRow: 0,
      iterationOffset: jobShard?.firstIteration ?? 0,
      ...hooksOf(options),
    });
  } finally {
    if (!options.shared) catalog.close();
  }
}

/** What a session's loop hears from its caller: stop, flush now, progress. */
function hooksOf(options: RunOptions | ResumeOptions) {
  return {
    stop: options.signal,
    flushRequest: options.flushRequest,
    onProgress: options.onProgress,
    shared: options.shared,
  };
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

/**
 * Records what `resume` found about the run's code: an accepted fatal change (event
 * `allow-changed`, with both fingerprints) or warnings only (event `code-warning`); either
 * way the run's fingerprint and source snapshot become the code that runs now.
 */
function recordCode(catalog: Catalog, id: string, runDir: string, code: CodeCheck, sourceHash: string): void {
  if (!code.update) return;
  const messages = [...code.fatal, ...code.warnings].map((c) => c.message);
  if (code.fatal.length > 0) catalog.acceptCodeChange(id, messages, code.before, code.identity.json, sourceHash);
  else {
    catalog.addEvent(id, 'code-warning', { changes: messages });
    catalog.acceptCodeChange(id, [], code.before, code.identity.json, sourceHash);
  }
  writeSnapshot(runDir, code.identity.snapshot);
}

/** Parses `--workers` against the run: 1..MAX_WORKERS, at most one per row, 1 if sequential. */
function checkWorkers(value: number | string | undefined, iterations: number, loaded: LoadedExperiment): number {
  if (value === undefined) return 1;
  const workers = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new MmrunError('BAD_OPTION', `--workers ${show(value)} is not a whole number from 1 to ${MAX_WORKERS}`, {
      remedy: `pass --workers K with 1 <= K <= ${MAX_WORKERS}, e.g. the number of cores (${os.availableParallelism()} here)`,
    });
  }
  if (workers > iterations) {
    throw new MmrunError('BAD_OPTION', `--workers ${workers} is more than the ${iterations} iterations`, {
      remedy: `pass --workers ${Math.max(1, iterations)} or fewer`,
    });
  }
  if (workers > 1 && loaded.experiment.sequential === true) {
    throw new MmrunError(
      'SEQUENTIAL_EXPERIMENT',
      `experiment '${loaded.name}' declares sequential: true (one chain of state from each step to the next), so it cannot be split over --workers ${workers}`,
      { remedy: 'run it with --workers 1, or remove sequential: true if each shard may start its own chain' },
    );
  }
  return workers;
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
function checkJobShard(job: JobShard, loaded: LoadedExperiment, workers: number | string | undefined): JobShard {
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
  if (workers !== undefined && Number(workers) > 1 && loaded.experiment.init) {
    throw new MmrunError(
      'BAD_OPTION',
      `--workers ${workers} inside --shard ${job.index}/${job.count}: experiment '${loaded.name}' has state, and each shard must keep one`,
      { remedy: 'leave --workers out (or use more shards), or make the experiment stateless' },
    );
  }
  return job;
}

/**
 * Continues a run from its last flushed row, after checking that the experiment and the
 * segments on disk are the ones the catalog describes. Nothing is written before every
 * check has passed.
 */
export async function resumeRun(options: ResumeOptions): Promise<RunResult> {
  const runsDir = resolveRunsDir(options.runsDir);
  const id = options.runId;
  requireCatalog(runsDir, id);
  const catalog = options.shared?.catalog ?? Catalog.open(runsDir);
  try {
    const before = catalog.getRun(id);
    const extendTo = options.iterations === undefined ? undefined : parseCount(options.iterations);
    if (extendTo !== undefined && extendTo < before.iterations) {
      throw new MmrunError(
        'BAD_ITERATIONS',
        `run '${id}' has ${before.iterations} iterations; --iterations ${extendTo} would shrink it`,
        { remedy: `pass more than ${before.iterations} to extend it, or leave --iterations out to continue it` },
      );
    }
    const extending = extendTo !== undefined && extendTo > before.iterations;
    if (extending && before.workers > 1) {
      throw new MmrunError(
        'BAD_ITERATIONS',
        `run '${id}' is split into ${before.workers} shards of its ${before.iterations} iterations; it cannot be extended`,
        { remedy: 'leave --iterations out to continue it, or start a new run with the iterations you need' },
      );
    }
    preflight(before, extending);
    const shared = options.shared?.loaded;
    const loaded =
      shared && shared.path === before.experimentPath ? shared : await loadExperiment(before.experimentPath);
    // Every module it imports, the packages' versions, Node's and mmrun's: fatal changes
    // refuse (unless accepted), the others warn; either is recorded once the run is ours.
    const code = checkCode(
      id,
      { fingerprint: catalog.fingerprint(id), sourceHash: before.sourceHash },
      loaded,
      options.allowChanged === true,
    );
    for (const warning of code.warnings) options.onWarning?.(warning.message);
    const runLayout = layoutOf(before.columns, `run '${id}'`);
    const mismatch = describeLayoutMismatch(
      loaded.layout,
      runLayout,
      `experiment '${loaded.name}'`,
      `run '${id}' (created with dtype ${before.dtype})`,
    );
    if (mismatch) {
      throw new MmrunError('DTYPE_MISMATCH', mismatch, {
        remedy: 'resume with the experiment version that created the run, or start a new run',
      });
    }
    const runDir = path.join(runsDir, id);
    const totalRows = extending ? extendTo : before.iterations;
    const array = new SegmentedArray(runDir, runLayout, { totalRows, segmentRows: before.segmentRows }, `run '${id}'`);
    // After an extension, the segment that held the old last row must grow; it may still
    // have its old size if this is the extension itself or a crash came before the growth.
    // A growth left pending by an earlier extension (a crash before it) comes first.
    const growing =
      pendingGrowth(array, catalog.extendedFrom(id)) ??
      (extending ? pendingGrowth(array, before.iterations) : undefined);
    // Every segment holding flushed rows, and each segment a loop continues in if it exists
    // already, must be valid; the last range each loop flushed must still have its checksum.
    const parts =
      before.workers > 1 ? before.shards : [{ startRow: 0, endRow: totalRows, flushedRows: before.flushedRows }];
    for (const part of parts) {
      array.validateRange(part.startRow, part.flushedRows);
      if (part.flushedRows < part.endRow) array.validateIfPresent(array.segmentOf(part.flushedRows));
    }
    for (const part of parts) {
      const last = part.flushedRows > part.startRow ? catalog.checksumEndingAt(id, part.flushedRows) : undefined;
      if (last) checkLastRange(array, id, last);
    }

    const run = catalog.claim(id, currentOwner(), {
      extendTo,
      expect: { flushedRows: before.flushedRows, iterations: before.iterations },
    });
    const policy = normalizeFlushPolicy({ every: run.flushEvery, intervalSeconds: run.flushInterval });
    const resumed = {
      id,
      runDir,
      experiment: loaded.name,
      seed: run.seed,
      iterations: run.iterations,
      startRow: run.flushedRows,
      resumed: true,
    };
    // From here the run is ours: a failure before the loop is recorded, never left `running`.
    if (run.workers > 1) {
      const log = await owned(catalog, id, async () => {
        fs.mkdirSync(runDir, { recursive: true });
        recordCode(catalog, id, runDir, code, loaded.sourceHash);
        removeStaleTemporaries(runDir);
        const log = openRunLog(runDir, { run: id });
        const shards = run.shards.map((shard) => shard.flushedRows);
        log.info({ event: 'resumed', from: run.flushedRows, shards, previousStatus: before.status }, 'run resumed');
        options.onStart?.(resumed);
        return log;
      });
      return await driveShards({
        run,
        runDir,
        catalog,
        array,
        experimentPath: loaded.path,
        sourceHash: loaded.sourceHash,
        bundle: loaded.bundle,
        log,
        policy,
        ...hooksOf(options),
      });
    }
    const { log, ctx, rng } = await owned(catalog, id, async () => {
      if (growing !== undefined) {
        crashPoint('extend');
        array.grow(growing);
      }
      fs.mkdirSync(runDir, { recursive: true });
      recordCode(catalog, id, runDir, code, loaded.sourceHash);
      removeStaleTemporaries(runDir);
      const log = openRunLog(runDir, { run: id });
      log.info({ event: 'resumed', from: run.flushedRows, previousStatus: before.status }, 'run resumed');
      const rng = new CounterRng(run.seed);
      const params = run.params as Record<string, number | string | boolean>;
      const ctx = makeContext(params, run.seed, id, log, rng, runShard(run.iterations, run.jobShard));
      const saved = catalog.latestState(id);
      ctx.state = saved === null ? await callInit(loaded, ctx) : decodeState(saved);
      options.onStart?.(resumed);
      return { log, ctx, rng };
    });
    return await drive({
      id,
      runDir,
      catalog,
      array,
      loaded,
      ctx,
      rng,
      log,
      policy,
      startRow: run.flushedRows,
      iterationOffset: run.jobShard?.firstIteration ?? 0,
      ...hooksOf(options),
    });
  } finally {
    if (!options.shared) catalog.close();
  }
}

/** Refuses to continue after rows whose bytes changed since they were flushed. */
function checkLastRange(array: SegmentedArray, id: string, last: RangeChecksum): void {
  const crc = checksumRows(array, last.startRow, last.endRow);
  if (crc !== last.crc32c) {
    throw new MmrunError(
      'CHECKSUM_MISMATCH',
      `rows ${last.startRow}..${last.endRow} of run '${id}' have CRC32C ${crc.toString(16)} but the catalog recorded ${last.crc32c.toString(16)} when they were flushed`,
      {
        remedy: `the segment was changed on disk; \`mmrun verify ${id}\` shows the first bad range; restore it from a backup or start a new run`,
      },
    );
  }
}

/** Segment files a killed process was creating; only the run's owner may call this. */
function removeStaleTemporaries(runDir: string): void {
  for (const name of fs.readdirSync(runDir)) {
    if (/^\.\d+\.npy\.\d+\.tmp$/.test(name)) fs.rmSync(path.join(runDir, name), { force: true });
  }
}

/**
 * Finds the segment an extension from `fromRows` iterations leaves to grow — it still has
 * the row count it had under the old iteration count — and tells the array to expect that
 * size on disk until it is grown.
 */
function pendingGrowth(array: SegmentedArray, fromRows: number | undefined): number | undefined {
  if (fromRows === undefined || fromRows <= 0) return undefined;
  const k = array.segmentOf(fromRows - 1);
  const oldRows = Math.min(array.geometry.segmentRows, fromRows - array.firstRow(k));
  if (oldRows === array.rowsIn(k) || !fs.existsSync(array.path(k))) return undefined;
  if (readHeader(array.path(k)).shape[0] !== oldRows) return undefined;
  array.expectSizeOnDisk(k, oldRows);
  return k;
}

/** Refusals that need no lock: the claim re-checks them atomically. */
function preflight(run: RunRecord, extending: boolean): void {
  if (run.status === 'completed' && !extending) throw runCompleted(run);
  if (run.status === 'running' && run.owner) throw runLocked(run, RESUME_LATER);
}

/**
 * Runs the set-up between taking ownership of a run and its loop. If it fails, the run is
 * recorded `failed` (ownership released) before the error propagates.
 */
async function owned<T>(catalog: Catalog, id: string, setup: () => Promise<T>): Promise<T> {
  try {
    return await setup();
  } catch (error) {
    const e = asRunError(error, id);
    try {
      catalog.finish(
        id,
        'failed',
        { type: 'failed', data: { code: e.code, message: e.message } },
        { message: `${e.code}: ${e.message}` },
      );
    } catch {
      // The original error matters more; the run then shows as crashed, which is also true.
    }
    throw error;
  }
}

interface Session {
  readonly id: string;
  readonly runDir: string;
  readonly catalog: Catalog;
  readonly array: SegmentedArray;
  readonly loaded: LoadedExperiment;
  readonly ctx: Context;
  readonly rng: CounterRng;
  readonly log: Logger;
  readonly policy: FlushPolicy;
  readonly startRow: number;
  /** The iteration row 0 computes (a job shard's first iteration), else 0. */
  readonly iterationOffset: number;
  readonly stop: AbortSignal | undefined;
  readonly flushRequest: FlushRequest | undefined;
  readonly onProgress: ((progress: Progress) => void) | undefined;
  readonly shared: SharedResources | undefined;
}

/** Drives a run with one worker (this thread) through {@link runLoop}, recording how it ended. */
async function drive(s: Session): Promise<RunResult> {
  const { id, catalog, log } = s;
  const end = s.array.geometry.totalRows;
  const heartbeat = s.shared ? undefined : startHeartbeat(catalog.file, id);
  try {
    const outcome = await runLoop({
      array: s.array,
      loaded: s.loaded,
      ctx: s.ctx,
      rng: s.rng,
      log,
      policy: s.policy,
      startRow: s.startRow,
      endRow: end,
      iterationOffset: s.iterationOffset,
      windowed: false,
      commit: (rows, state, checksum) => catalog.checkpoint(id, rows, state, checksum),
      stopReason: () => (s.stop?.aborted ? String(s.stop.reason ?? 'abort') : undefined),
      flushRequested: () => s.flushRequest?.take() === true,
      ...(s.shared ? { ticker: s.shared.ticker } : {}),
      onProgress:
        s.onProgress &&
        ((p) =>
          s.onProgress!({
            id,
            rows: p.rows,
            iterations: end,
            startRow: s.startRow,
            flushedRows: p.flushedRows,
            elapsedMs: p.elapsedMs,
            rowsPerSecond: ((p.rows - s.startRow) * 1000) / p.elapsedMs,
            msSinceFlush: p.msSinceFlush,
            rowsAtRisk: p.rows - p.flushedRows,
          })),
    });
    return record(catalog, s.runDir, log, outcome, {
      id,
      iterations: end,
      startRow: s.startRow,
      doneBefore: s.startRow,
      iterationOffset: s.iterationOffset,
    });
  } finally {
    await heartbeat?.stop();
  }
}

/**
 * Records how a session ended (the run's status, its event, the log) and makes its result.
 * A failure that even this cannot record (a full disk) leaves the run `crashed`, also true.
 */
function record(
  catalog: Catalog,
  runDir: string,
  log: Logger,
  outcome: LoopOutcome,
  run: {
    id: string;
    iterations: number;
    startRow: number;
    doneBefore: number;
    iterationOffset: number;
    shard?: number;
  },
): RunResult {
  const { id } = run;
  const flushedRows = catalog.getRun(id).flushedRows;
  const done = outcome.rows - run.doneBefore;
  const result: RunResult = {
    id,
    runDir,
    status: outcome.status,
    startRow: run.startRow,
    flushedRows,
    iterations: run.iterations,
    elapsedMs: outcome.elapsedMs,
    rowsPerSecond: outcome.elapsedMs > 0 ? (done * 1000) / outcome.elapsedMs : 0,
    flushes: outcome.flushes,
    ...(outcome.stopReason === undefined ? {} : { stopReason: outcome.stopReason }),
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
  };
  if (outcome.status === 'completed') {
    catalog.finish(id, 'completed', { type: 'completed', data: { rows: run.iterations } });
    log.info({ event: 'completed', rows: run.iterations }, 'run completed');
  } else if (outcome.status === 'interrupted') {
    const signal = outcome.stopReason;
    catalog.finish(id, 'interrupted', { type: 'signal', data: { signal, flushedRows } });
    log.info({ event: 'interrupted', signal, flushedRows }, 'run interrupted');
  } else {
    const error = outcome.error!;
    const where = run.shard === undefined ? {} : { shard: run.shard };
    const iteration = outcome.rows + run.iterationOffset;
    try {
      catalog.finish(
        id,
        'failed',
        { type: 'failed', data: { iteration, ...where, code: error.code, message: error.message } },
        { message: `${error.code}: ${error.message}`, iteration },
      );
    } catch (recordError) {
      log.error({ event: 'record-failed', err: recordError }, 'could not record the failure');
    }
    log.error({ event: 'failed', iteration, ...where, code: error.code, err: error }, 'run failed');
  }
  return result;
}
