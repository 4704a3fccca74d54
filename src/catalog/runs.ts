// The lifecycle of a run in the catalog: created (owned by its process), read (a dead
// owner's `running` run recorded as crashed), claimed to resume, finished, deleted.
import { MmrunError } from '../errors.ts';
import { type Connection, now } from './connection.ts';
import { recordEvent } from './events.ts';
import { insertFingerprint } from './fingerprints.ts';
import { checkTakeOver, detectCrash, markCrashed, releaseOwnership, takeOwnership } from './owned.ts';
import { type Owner, ownerLiveness } from './ownership.ts';
import {
  type EventType,
  type RunRecord,
  type RunRow,
  type RunSpec,
  type RunStatus,
  SELECT_RUN,
  toRecord,
} from './records.ts';
import { RESUME_LATER, runCompleted, runLocked, runNotFound } from './refusals.ts';
import { insertShards, shardsOf } from './run-shards.ts';

// Built once: statements are cached by their text (a poll reads a run thousands of times).
const RUN_BY_ID = `${SELECT_RUN} WHERE id = ?`;
const RUNS_NEWEST_FIRST = `${SELECT_RUN} ORDER BY created_at DESC, id`;

/** The run as the catalog has it (a dead owner's run still `running`), or undefined. */
export function readRun(c: Connection, id: string): RunRecord | undefined {
  const row = c.stmt(RUN_BY_ID).get(id) as RunRow | undefined;
  return row && toRecord(row, shardsOf(c, row));
}

/** Every run as the catalog has it, newest first. */
export function readRuns(c: Connection): RunRecord[] {
  const rows = c.stmt(RUNS_NEWEST_FIRST).all() as RunRow[];
  return rows.map((r) => toRecord(r, shardsOf(c, r)));
}

/** @throws MmrunError `RUN_NOT_FOUND` */
export function requireRun(c: Connection, id: string): RunRecord {
  const run = readRun(c, id);
  if (!run) throw runNotFound(id, c.file);
  return run;
}

/** Registers a new run owned by `owner`; an existing id (of a run or a sweep) is refused, never overwritten. */
export function createRun(c: Connection, spec: RunSpec, owner: Owner): RunRecord {
  const workers = spec.workers ?? 1;
  return c.write(() => {
    if (readRun(c, spec.id)) {
      throw new MmrunError('RUN_EXISTS', `run '${spec.id}' already exists in ${c.file}`, {
        remedy: 'choose another --id, or continue it with `mmrun resume`',
      });
    }
    // A sweep's id names no run: `resume`, `show` and `stats` of that id mean the sweep.
    if (c.stmt('SELECT 1 FROM sweeps WHERE id = ?').get(spec.id)) {
      throw new MmrunError('RUN_EXISTS', `'${spec.id}' is the id of a sweep in ${c.file}`, {
        remedy: 'choose another --id',
      });
    }
    const t = now();
    c.stmt(
      `INSERT INTO runs (id, experiment, experiment_path, source_hash, params, seed, iterations, columns, dtype,
           itemsize, segment_rows, flush_every, flush_interval, status, owner_pid, owner_start, owner_boot,
           owner_host, created_at, updated_at, heartbeat_at, workers, shard_index, shard_count,
           first_iteration, job_iterations)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      spec.id,
      spec.experiment,
      spec.experimentPath,
      spec.sourceHash,
      JSON.stringify(spec.params),
      spec.seed,
      spec.iterations,
      JSON.stringify(spec.columns),
      spec.dtype,
      spec.itemsize,
      spec.segmentRows,
      spec.flushEvery,
      spec.flushInterval,
      owner.pid,
      owner.start,
      owner.boot,
      owner.host,
      t,
      t,
      t,
      workers,
      spec.jobShard?.index ?? null,
      spec.jobShard?.count ?? null,
      spec.jobShard?.firstIteration ?? 0,
      spec.jobShard?.jobIterations ?? null,
    );
    if (spec.fingerprint !== undefined) insertFingerprint(c, spec.id, spec.fingerprint);
    if (workers > 1) insertShards(c, spec.id, spec.iterations, workers, t);
    recordEvent(c, spec.id, 'started', { iterations: spec.iterations, seed: spec.seed, workers });
    return readRun(c, spec.id)!;
  });
}

/** Records a dead owner's run as crashed, with an event naming the owner and the rows it left. */
function recordCrashed(c: Connection, run: RunRecord): void {
  markCrashed(c, 'runs', run.id);
  recordEvent(c, run.id, 'crashed', { pid: run.owner?.pid, host: run.owner?.host, flushedRows: run.flushedRows });
}

/** The run, a `running` one whose owner is gone recorded as `crashed` first. */
export function detectRunCrash(c: Connection, run: RunRecord): RunRecord {
  return detectCrash(
    c,
    run,
    () => requireRun(c, run.id),
    (fresh) => recordCrashed(c, fresh),
  );
}

/** Options of {@link claimRun}. */
export interface ClaimOptions {
  /** Raise the iteration count to this (`resume --iterations`); reopens a completed run. */
  readonly extendTo?: number;
  /** The run as the resume checked it: refused if another process moved it meanwhile. */
  readonly expect?: { readonly flushedRows: number; readonly iterations: number };
}

/**
 * Takes ownership of a run to resume it. Refused for a completed run and for a run whose
 * owner is alive; a dead owner's run is marked `crashed` and taken over.
 */
export function claimRun(c: Connection, id: string, owner: Owner, options: ClaimOptions = {}): RunRecord {
  return c.write(() => {
    let run = requireRun(c, id);
    const crashed = checkTakeOver(
      run,
      (otherHost) => runLocked(run, RESUME_LATER, otherHost),
      (r) => recordCrashed(c, r),
    );
    if (crashed) run = requireRun(c, id);
    const expected = options.expect;
    if (expected && (expected.flushedRows !== run.flushedRows || expected.iterations !== run.iterations)) {
      // Checked against one state, claimed in another: another process moved the run meanwhile.
      throw new MmrunError(
        'RUN_LOCKED',
        `run '${id}' changed while this resume was checking it (${expected.flushedRows} → ${run.flushedRows} flushed rows)`,
        { remedy: 'another process is working on it; see `mmrun show`, then resume again' },
      );
    }
    if (options.extendTo !== undefined && options.extendTo > run.iterations) {
      // More iterations for the same run: the experiment, seed and rows so far stay.
      c.stmt('UPDATE runs SET iterations = ? WHERE id = ?').run(options.extendTo, id);
      recordEvent(c, id, 'extended', { from: run.iterations, to: options.extendTo });
      run = requireRun(c, id);
    } else if (run.status === 'completed') {
      throw runCompleted(run);
    }
    takeOwnership(c, 'runs', id, owner, { sql: ', error_iteration = NULL', args: [] });
    recordEvent(c, id, 'resumed', { from: run.flushedRows, previousStatus: run.status });
    return requireRun(c, id);
  });
}

/** Records how a run ended (or paused), releasing ownership. */
export function finishRun(
  c: Connection,
  id: string,
  status: Exclude<RunStatus, 'running' | 'crashed'>,
  event: { type: EventType; data?: unknown },
  error?: { message: string; iteration?: number },
): void {
  c.write(() => {
    releaseOwnership(c, 'runs', id, status, error?.message ?? null, {
      sql: ', error_iteration = ?',
      args: [error?.iteration ?? null],
    });
    recordEvent(c, id, event.type, event.data);
  });
}

/**
 * Removes a run from the catalog (its checkpoints, checksums and events with it). A run
 * whose owner is alive is refused.
 */
export function deleteRun(c: Connection, id: string): RunRecord {
  return c.write(() => {
    const run = requireRun(c, id);
    if (run.status === 'running' && run.owner && ownerLiveness(run.owner, run.heartbeatAt) !== 'dead') {
      throw runLocked(run, 'stop it first (kill -TERM <pid>), then remove it');
    }
    c.stmt('DELETE FROM runs WHERE id = ?').run(id);
    return run;
  });
}
