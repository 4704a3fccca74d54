import type { Logger } from 'pino';
import type { Bundle } from '../bundle/bundle.ts';
import type { Catalog, RunRecord, ShardRecord } from '../catalog/catalog.ts';
import { startHeartbeat } from '../catalog/heartbeat.ts';
import { MmrunError, mmrunErrorFromWire } from '../errors.ts';
import type { SegmentedArray } from '../storage/segmented-array.ts';
import type { FlushPolicy } from './flush-policy.ts';
import { asRunError, type FlushRequest, type LoopOutcome, PROGRESS_MS } from './loop.ts';
import type { Progress, RunResult } from './session-types.ts';
import type { ShardCommand, ShardInput } from './shard-protocol.ts';
import { type ShardThread, startShardWorker, takeShardThread } from './worker-pool.ts';

/** The most worker threads a run may use. */
export const MAX_WORKERS = 256;

/** A session of a sharded run, once the coordinator owns it. */
export interface ShardSession {
  readonly run: RunRecord;
  readonly runDir: string;
  readonly catalog: Catalog;
  readonly array: SegmentedArray;
  readonly experimentPath: string;
  readonly sourceHash: string;
  /** The experiment as bundled by the coordinator; every worker imports this file. */
  readonly bundle: Bundle;
  readonly log: Logger;
  readonly policy: FlushPolicy;
  readonly stop: AbortSignal | undefined;
  readonly flushRequest: FlushRequest | undefined;
  readonly onProgress: ((progress: Progress) => void) | undefined;
}

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
 * Drives a sharded run: one worker thread per unfinished shard, each running the loop over
 * its own rows, mapping only those rows, and msyncing them before it asks this thread —
 * the only one that writes the catalog — to commit that shard's flushed index (DESIGN
 * invariant 1 per shard). A stop (signal) reaches every worker; each flushes and ends
 * `interrupted`. The first failure stops the others the same way, and the run is recorded
 * `failed` naming the shard and the iteration; every shard's flushed rows stay valid.
 */
export async function driveShards(s: ShardSession): Promise<RunResult> {
  const { run, catalog } = s;
  const id = run.id;
  const shards = run.shards;
  const doneBefore = run.doneRows;
  const offset = run.jobShard?.firstIteration ?? 0;
  const open = shards.filter((shard) => shard.flushedRows < shard.endRow);
  const t0 = performance.now();
  try {
    // A segment two shards share is created here, before either worker maps its part; every
    // other segment belongs to one shard, whose worker creates it when it gets there.
    for (const shard of open) s.array.ensure(s.array.segmentOf(shard.flushedRows));
  } catch (caught) {
    // A full disk here is recorded like one in the loop: the run is failed, not left running.
    return record(s, [], asRunError(caught, id), undefined, t0);
  }

  const heartbeat = startHeartbeat(catalog.file, id);
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
  const onAbort = () => stopAll(String(s.stop?.reason ?? 'abort'));

  const runShard = (shard: ShardRecord): Promise<ShardEnd> => {
    const input: ShardInput = {
      runId: id,
      runDir: s.runDir,
      experimentPath: s.experimentPath,
      sourceHash: s.sourceHash,
      bundle: s.bundle,
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

  s.stop?.addEventListener('abort', onAbort);
  if (s.stop?.aborted) onAbort();
  const timer = setInterval(() => {
    if (s.flushRequest?.take()) broadcast({ type: 'flush' });
    if (!s.onProgress) return;
    const now = performance.now();
    let total = 0;
    let safe = 0;
    for (const shard of shards) {
      total += (rows.get(shard.shard) ?? shard.flushedRows) - shard.startRow;
      safe += (flushed.get(shard.shard) ?? shard.flushedRows) - shard.startRow;
    }
    s.onProgress({
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
  try {
    const ends = await Promise.all(open.map(runShard));
    return record(s, ends, commitError, failure, t0);
  } finally {
    clearInterval(timer);
    s.stop?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((worker) => worker.terminate()));
    await heartbeat.stop();
  }
}

/** Records how a sharded session ended: failed (first failure), else interrupted, else completed. */
function record(
  s: ShardSession,
  ends: readonly ShardEnd[],
  commitError: MmrunError | undefined,
  failure: ShardEnd | undefined,
  t0: number,
): RunResult {
  const { catalog, log } = s;
  const id = s.run.id;
  const after = catalog.getRun(id);
  const elapsedMs = performance.now() - t0;
  const flushes = ends.reduce((n, e) => n + e.flushes, 0);
  const computed = ends.reduce((n, e) => n + e.rows - e.shard.flushedRows, 0);
  const base = {
    id,
    runDir: s.runDir,
    startRow: s.run.flushedRows,
    flushedRows: after.flushedRows,
    iterations: s.run.iterations,
    elapsedMs,
    rowsPerSecond: elapsedMs > 0 ? (computed * 1000) / elapsedMs : 0,
    flushes,
  };
  const shardsLine = after.shards.map((shard) => `${shard.shard}:${shard.flushedRows - shard.startRow}`).join(' ');
  if (failure || commitError) {
    const error = shardError(failure, commitError, s.run.shards.length);
    const iteration = failure && failure.rows + (s.run.jobShard?.firstIteration ?? 0);
    try {
      catalog.finish(
        id,
        'failed',
        {
          type: 'failed',
          data: { shard: failure?.shard.shard, iteration, code: error.code, message: error.message },
        },
        { message: `${error.code}: ${error.message}`, iteration },
      );
    } catch (recordError) {
      log.error({ event: 'record-failed', err: recordError }, 'could not record the failure');
    }
    log.error({ event: 'failed', shard: failure?.shard.shard, iteration, code: error.code, err: error }, 'run failed');
    return { ...base, status: 'failed', error };
  }
  const interrupted = ends.find((e) => e.status === 'interrupted');
  if (interrupted) {
    const signal = String(s.stop?.reason ?? 'abort');
    catalog.finish(id, 'interrupted', {
      type: 'signal',
      data: { signal, flushedRows: after.flushedRows, doneRows: after.doneRows },
    });
    log.info({ event: 'interrupted', signal, shards: shardsLine }, 'run interrupted');
    return { ...base, status: 'interrupted', stopReason: signal };
  }
  catalog.finish(id, 'completed', { type: 'completed', data: { rows: s.run.iterations } });
  log.info({ event: 'completed', rows: s.run.iterations, shards: s.run.shards.length }, 'run completed');
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
