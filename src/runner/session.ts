// One session of a run, from the moment this process owns it to the record of how it
// ended: `drive` runs an engine (the loop in this thread, or one worker thread per shard:
// shards.ts) under a heartbeat, and `recordEnd` is the one place a session's end is
// recorded — the run's status, its event, its log and the caller's RunResult.
import type { Logger } from 'pino';
import type { RunRecord } from '../catalog/catalog.ts';
import { startHeartbeat } from '../catalog/heartbeat.ts';
import type { ProgressStore } from '../catalog/progress-store.ts';
import type { MmrunError } from '../errors.ts';
import type { SegmentedArray } from '../storage/segmented-array.ts';
import type { FlushPolicy } from './flush-policy.ts';
import { asRunError } from './loop.ts';
import type { SessionHooks } from './options.ts';
import type { RunResult } from './session-types.ts';

/**
 * What a session needs of the catalog, and no more: the loop's contract for committing
 * progress ({@link ProgressStore}, catalog/progress-store.ts), plus what set-up and the
 * record of a session's end read — the catalog's file (the heartbeat thread opens its own
 * connection to it), the run, and the shards' saved states. `Catalog` is one.
 */
export interface SessionStore extends ProgressStore {
  readonly file: string;
  getRun(id: string): RunRecord;
  shardState(id: string, shard: number): Buffer | null;
}

/** A session of a run this process owns (created, or claimed by resume). */
export interface Session {
  /** The run as this session found it: its rows, its shards, where each starts. */
  readonly run: RunRecord;
  readonly runDir: string;
  readonly store: SessionStore;
  readonly array: SegmentedArray;
  readonly log: Logger;
  readonly policy: FlushPolicy;
  readonly hooks: SessionHooks;
}

/** How a session's computing ended, as an engine tells it. */
export interface SessionEnd {
  readonly status: 'completed' | 'interrupted' | 'failed';
  /** Rows computed in this session. */
  readonly computedRows: number;
  readonly flushes: number;
  readonly elapsedMs: number;
  /** Why an interrupted session stopped (e.g. 'SIGTERM'). */
  readonly stopReason?: string;
  /** Why a failed session failed. */
  readonly error?: MmrunError;
  /** Where a failure happened: the iteration (of the job) and, in a sharded run, the shard. */
  readonly failedAt?: { readonly iteration?: number; readonly shard?: number };
}

/** Computes a session's rows; every failure is a `failed` end, never a throw. */
export type Engine = (session: Session) => Promise<SessionEnd>;

/** The iteration row 0 of a run computes: a job shard's first iteration, else 0. */
export const iterationOffsetOf = (run: RunRecord): number => run.jobShard?.firstIteration ?? 0;

/**
 * Drives a session with `engine` under the run's heartbeat (unless the caller keeps it),
 * then records how it ended.
 */
export async function drive(session: Session, engine: Engine): Promise<RunResult> {
  const heartbeat = session.hooks.shared ? undefined : startHeartbeat(session.store.file, session.run.id);
  try {
    return recordEnd(session, await engine(session));
  } finally {
    await heartbeat?.stop();
  }
}

/**
 * Records how a session ended (the run's status, its event, the log) and makes its result.
 * A failure that even this cannot record (a full disk) leaves the run `crashed`, also true.
 */
export function recordEnd(session: Session, end: SessionEnd): RunResult {
  const { run, store, log } = session;
  const { id } = run;
  const after = store.getRun(id);
  const sharded = run.workers > 1;
  const result: RunResult = {
    id,
    runDir: session.runDir,
    status: end.status,
    startRow: run.flushedRows,
    flushedRows: after.flushedRows,
    iterations: run.iterations,
    elapsedMs: end.elapsedMs,
    rowsPerSecond: end.elapsedMs > 0 ? (end.computedRows * 1000) / end.elapsedMs : 0,
    flushes: end.flushes,
    ...(end.stopReason === undefined ? {} : { stopReason: end.stopReason }),
    ...(end.error === undefined ? {} : { error: end.error }),
  };
  if (end.status === 'completed') {
    store.finish(id, 'completed', { type: 'completed', data: { rows: run.iterations } });
    const shards = sharded ? { shards: run.shards.length } : {};
    log.info({ event: 'completed', rows: run.iterations, ...shards }, 'run completed');
  } else if (end.status === 'interrupted') {
    const signal = end.stopReason;
    const flushedRows = after.flushedRows;
    store.finish(id, 'interrupted', {
      type: 'signal',
      data: { signal, flushedRows, ...(sharded ? { doneRows: after.doneRows } : {}) },
    });
    const where = sharded
      ? { shards: after.shards.map((shard) => `${shard.shard}:${shard.flushedRows - shard.startRow}`).join(' ') }
      : { flushedRows };
    log.info({ event: 'interrupted', signal, ...where }, 'run interrupted');
  } else {
    const error = end.error!;
    const iteration = end.failedAt?.iteration;
    const where = end.failedAt?.shard === undefined ? {} : { shard: end.failedAt.shard };
    try {
      store.finish(
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

/**
 * Runs the set-up between taking ownership of a run and its session. If it fails, the run
 * is recorded `failed` (ownership released) before the error propagates.
 */
export async function owned<T>(store: SessionStore, id: string, setup: () => Promise<T>): Promise<T> {
  try {
    return await setup();
  } catch (error) {
    const e = asRunError(error, id);
    try {
      store.finish(
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
