import type { RunRecord, ShardRecord } from '../catalog/catalog.ts';
import { MmrunError, mmrunErrorFromWire } from '../errors.ts';
import type { LoadedExperiment } from '../experiment/load.ts';
import { asRunError, type LoopOutcome, PROGRESS_MS } from './loop.ts';
import { type Engine, iterationOffsetOf, type Session, type SessionEnd } from './session.ts';
import type { ShardCommand, ShardInput } from './shard-protocol.ts';
import { type ShardThread, startShardWorker, takeShardThread } from './worker-pool.ts';

/**
 * The experiment every shard's worker imports: the coordinator's bundle (nothing is
 * compiled in a worker), with the path and source hash the coordinator checked.
 */
export type ShardedExperiment = Pick<LoadedExperiment, 'path' | 'sourceHash' | 'bundle'>;

/** How one shard's worker ended this session. */
interface ShardEnd {
  readonly shard: ShardRecord;
  readonly status: LoopOutcome['status'];
  /** The row the shard stopped before (its failing iteration for a failure). */
  readonly rows: number;
  readonly flushes: number;
  readonly elapsedMs: number;
  readonly error?: MmrunError;
}

/**
 * The engine of a sharded run: one worker thread per unfinished shard, each running the
 * loop over its own rows, mapping only those rows, and msyncing them before it asks this
 * thread — the only one that writes the catalog — to commit that shard's flushed index
 * (DESIGN invariant 1 per shard). A stop (signal) reaches every worker; each flushes and
 * ends `interrupted`. The first failure stops the others the same way, and the session
 * ends `failed` naming the shard and the iteration; every shard's flushed rows stay valid.
 */
export function workersPerShard(experiment: ShardedExperiment): Engine {
  return (s) => driveShards(s, experiment);
}

async function driveShards(s: Session, experiment: ShardedExperiment): Promise<SessionEnd> {
  const { run, store: catalog } = s;
  const { signal: stop, flushRequest, onProgress } = s.hooks;
  const id = run.id;
  const shards = run.shards;
  const doneBefore = run.doneRows;
  const offset = iterationOffsetOf(run);
  const open = shards.filter((shard) => shard.flushedRows < shard.endRow);
  const t0 = performance.now();
  try {
    // A segment two shards share is created here, before either worker maps its part; every
    // other segment belongs to one shard, whose worker creates it when it gets there.
    for (const shard of open) s.array.ensure(s.array.segmentOf(shard.flushedRows));
  } catch (caught) {
    // A full disk here is recorded like one in the loop: the run is failed, not left running.
    return sessionEnd([], asRunError(caught, id), undefined, performance.now() - t0, run);
  }

  const workers: ShardThread[] = [];
  const rows = new Map<number, number>(shards.map((shard) => [shard.shard, shard.flushedRows]));
  const flushed = new Map<number, number>(rows);
  const sinceFlush = new Map<number, number>();
  let commitError: MmrunError | undefined;
  let failure: ShardEnd | undefined;
  let stopping: string | undefined;

  const broadcast = (command: ShardCommand) => {
    for (const worker of workers) worker.post(command);
  };
  const stopAll = (reason: string) => {
    stopping ??= reason;
    broadcast({ type: 'stop', reason });
  };
  const onAbort = () => stopAll(String(stop?.reason ?? 'abort'));

  const runShard = (shard: ShardRecord): Promise<ShardEnd> => {
    const input: ShardInput = {
      runId: id,
      runDir: s.runDir,
      experimentPath: experiment.path,
      sourceHash: experiment.sourceHash,
      bundle: experiment.bundle,
      columns: run.columns,
      totalRows: run.iterations,
      segmentRows: run.segmentRows,
      seed: run.seed,
      params: run.params as Record<string, number | string | boolean>,
      policy: s.policy,
      shard: {
        index: shard.shard,
        count: shards.length,
        firstRow: offset + shard.startRow,
        endRow: offset + shard.endRow,
      },
      iterationOffset: offset,
      startRow: shard.flushedRows,
      state: catalog.shardState(id, shard.shard),
    };
    // A worker the CLI started ahead (booted meanwhile) if there is one, else a new one.
    const prestarted = takeShardThread()?.named(`the worker of shard ${shard.shard}`);
    const worker = prestarted ?? startShardWorker(input, shard.shard);
    if (prestarted) worker.post({ type: 'start', input });
    workers.push(worker);
    if (stopping !== undefined) worker.post({ type: 'stop', reason: stopping });
    return new Promise<ShardEnd>((resolve) => {
      let end: ShardEnd | undefined;
      const finish = (e: ShardEnd) => {
        if (end) return;
        end = e;
        if (e.status === 'failed') {
          failure ??= e;
          stopAll(`failure of shard ${shard.shard}`);
        }
        resolve(e);
      };
      worker.onMessage((m) => {
        if (m.type === 'flushed') {
          try {
            const state = m.state && Buffer.from(m.state.buffer, m.state.byteOffset, m.state.byteLength);
            catalog.checkpointShard(id, shard.shard, m.rows, state, m.checksum);
            flushed.set(shard.shard, m.rows);
          } catch (caught) {
            // The rows are on disk but not recorded: resume recomputes them. Stop everything.
            commitError ??= asRunError(caught, id);
            stopAll('a failed commit');
          }
        } else if (m.type === 'progress') {
          rows.set(shard.shard, m.rows);
          sinceFlush.set(shard.shard, m.msSinceFlush);
        } else {
          rows.set(shard.shard, m.rows);
          worker.finish();
          const error = m.error && mmrunErrorFromWire(m.error);
          finish({ shard, status: m.status, rows: m.rows, flushes: m.flushes, elapsedMs: m.elapsedMs, error });
        }
      });
      // A worker that dies without saying how (out of memory, a crash in native code) failed.
      worker.onFailure((error) =>
        finish({
          shard,
          status: 'failed',
          rows: rows.get(shard.shard) ?? shard.flushedRows,
          flushes: 0,
          elapsedMs: performance.now() - t0,
          error,
        }),
      );
    });
  };

  stop?.addEventListener('abort', onAbort);
  if (stop?.aborted) onAbort();
  const timer = setInterval(() => {
    if (flushRequest?.take()) broadcast({ type: 'flush' });
    if (!onProgress) return;
    const now = performance.now();
    let total = 0;
    let safe = 0;
    for (const shard of shards) {
      total += (rows.get(shard.shard) ?? shard.flushedRows) - shard.startRow;
      safe += (flushed.get(shard.shard) ?? shard.flushedRows) - shard.startRow;
    }
    onProgress({
      id,
      rows: total,
      iterations: run.iterations,
      startRow: doneBefore,
      flushedRows: safe,
      elapsedMs: now - t0,
      rowsPerSecond: ((total - doneBefore) * 1000) / (now - t0),
      msSinceFlush: Math.max(0, ...sinceFlush.values()),
      rowsAtRisk: total - safe,
    });
  }, PROGRESS_MS);
  let ends: readonly ShardEnd[];
  let elapsedMs: number;
  try {
    ends = await Promise.all(open.map(runShard));
    elapsedMs = performance.now() - t0;
  } finally {
    clearInterval(timer);
    stop?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return sessionEnd(ends, commitError, failure, elapsedMs, run, String(stop?.reason ?? 'abort'));
}

/** How a sharded session ended: failed (first failure), else interrupted, else completed. */
function sessionEnd(
  ends: readonly ShardEnd[],
  commitError: MmrunError | undefined,
  failure: ShardEnd | undefined,
  elapsedMs: number,
  run: RunRecord,
  stopReason?: string,
): SessionEnd {
  const base = {
    computedRows: ends.reduce((n, e) => n + e.rows - e.shard.flushedRows, 0),
    flushes: ends.reduce((n, e) => n + e.flushes, 0),
    elapsedMs,
  };
  if (failure || commitError) {
    const error = shardError(failure, commitError, run.shards.length);
    const failedAt = failure ? { iteration: failure.rows + iterationOffsetOf(run), shard: failure.shard.shard } : {};
    return { ...base, status: 'failed', error, failedAt };
  }
  if (ends.some((e) => e.status === 'interrupted')) return { ...base, status: 'interrupted', stopReason };
  return { ...base, status: 'completed' };
}

/** The error of a failed sharded session, naming the shard (and its rows) it came from. */
function shardError(failure: ShardEnd | undefined, commitError: MmrunError | undefined, count: number): MmrunError {
  if (!failure) return commitError!;
  const { shard } = failure;
  const cause = failure.error!;
  const error = new MmrunError(
    cause.code,
    `shard ${shard.shard} of ${count} (rows ${shard.startRow}..${shard.endRow}): ${cause.message}`,
    { cause, remedy: cause.remedy },
  );
  error.stack = cause.stack;
  return error;
}
