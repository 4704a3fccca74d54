// The writable sweep tables (`sweeps`, `sweep_points`) of a runs directory's catalog, on
// the catalog's own connection: a sweep and its point runs change in one transaction when
// they must. Ownership and crash recording are the runs' (owned.ts).
import { MmrunError } from '../errors.ts';
import { crashPoint } from '../faults.ts';
import { Catalog } from './catalog.ts';
import { type Connection, now, openToWrite, peekConnection } from './connection.ts';
import { checkTakeOver, detectCrash, markCrashed, releaseOwnership, takeOwnership } from './owned.ts';
import type { Owner } from './ownership.ts';
import { ownerLocked, RESUME_LATER, sweepNotFound } from './refusals.ts';
import {
  type PointRecord,
  type PointSpec,
  readPoints,
  readSweepIds,
  readSweepRecord,
  type SweepRecord,
  type SweepSpec,
  type SweepStatus,
} from './sweep-records.ts';

export type {
  PointRecord,
  PointSpec,
  PointStatus,
  SweepRecord,
  SweepSpec,
  SweepStatus,
} from './sweep-records.ts';

/**
 * The sweeps of a runs directory, in its catalog (tables `sweeps` and `sweep_points`,
 * migration 4 → 5). It holds the directory's {@link Catalog} (`runs`) for the point runs,
 * and shares its connection.
 */
export class SweepCatalog {
  readonly runs: Catalog;
  readonly #c: Connection;

  private constructor(c: Connection) {
    this.#c = c;
    this.runs = Catalog.on(c);
  }

  /** Opens (creating and migrating if needed) the catalog of a runs directory. */
  static open(runsDir: string, options: { create?: boolean } = {}): SweepCatalog {
    return new SweepCatalog(openToWrite(runsDir, options));
  }

  /** Whether `id` names a sweep of the runs directory (false without a catalog). */
  static isSweep(runsDir: string, id: string): boolean {
    let db: ReturnType<typeof peekConnection>;
    try {
      db = peekConnection(runsDir, 10_000);
      return db?.prepare('SELECT 1 FROM sweeps WHERE id = ?').get(id) !== undefined;
    } catch {
      return false; // an older catalog has no sweeps table
    } finally {
      db?.close();
    }
  }

  close(): void {
    this.runs.close();
  }

  /**
   * Registers a sweep owned by `owner` and all its points, in one transaction: a crash
   * leaves either no sweep or the whole of it. An id taken by a sweep or a run is refused,
   * and so is a point id taken by a run.
   */
  createSweep(sweep: SweepSpec, points: readonly PointSpec[], owner: Owner): SweepRecord {
    const c = this.#c;
    return c.write(() => {
      const taken =
        c.stmt('SELECT id FROM sweeps WHERE id = ?').get(sweep.id) ??
        c.stmt('SELECT id FROM runs WHERE id = ?').get(sweep.id);
      if (taken) {
        throw new MmrunError('RUN_EXISTS', `sweep id '${sweep.id}' is already taken in ${c.file}`, {
          remedy: 'choose another --id, or continue that sweep with `mmrun resume`',
        });
      }
      this.#refuseTakenRuns(
        points,
        (p) => `run '${p.runId}' (a point of sweep '${sweep.id}') already exists`,
        'choose another --id for the sweep',
      );
      const t = now();
      c.stmt(
        `INSERT INTO sweeps (id, experiment, experiment_path, source_hash, spec, status, owner_pid, owner_start,
             owner_boot, owner_host, heartbeat_at, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        sweep.id,
        sweep.experiment,
        sweep.experimentPath,
        sweep.sourceHash,
        JSON.stringify(sweep.spec),
        owner.pid,
        owner.start,
        owner.boot,
        owner.host,
        t,
        t,
        t,
      );
      this.#insertPoints(sweep.id, 0, points);
      crashPoint('sweep-record');
      return this.#require(sweep.id);
    });
  }

  #refuseTakenRuns(points: readonly PointSpec[], message: (p: PointSpec) => string, remedy: string): void {
    const runTaken = this.#c.stmt('SELECT 1 FROM runs WHERE id = ?');
    for (const p of points) {
      if (runTaken.get(p.runId)) throw new MmrunError('RUN_EXISTS', message(p), { remedy });
    }
  }

  #insertPoints(id: string, from: number, points: readonly PointSpec[]): void {
    const insert = this.#c.stmt(
      'INSERT INTO sweep_points (sweep_id, idx, params, seed, run_id) VALUES (?, ?, ?, ?, ?)',
    );
    for (const [k, p] of points.entries()) insert.run(id, from + k, JSON.stringify(p.params), p.seed, p.runId);
  }

  /** The sweep, a `running` one whose owner is gone recorded as `crashed` first. @throws RUN_NOT_FOUND */
  getSweep(id: string): SweepRecord {
    return detectCrash(
      this.#c,
      this.#require(id),
      () => this.#require(id),
      () => markCrashed(this.#c, 'sweeps', id),
    );
  }

  /** Every sweep, newest first, crashes detected. */
  listSweeps(): SweepRecord[] {
    return readSweepIds(this.#c).map((id) => this.getSweep(id));
  }

  /** The run ids of every point of every sweep (to hide them from `list`). */
  pointRunIds(): Set<string> {
    return new Set(this.#c.stmt('SELECT run_id FROM sweep_points').pluck().all() as string[]);
  }

  /** A sweep's points in order, each with its run's status and flushed rows (crashes detected). */
  points(id: string): PointRecord[] {
    // A point run left `running` by a dead process is crashed; the run record says so once read.
    return readPoints(this.#c, id, (runId) => this.runs.getRun(runId).status);
  }

  /**
   * Takes ownership of a sweep to resume it: refused for a completed sweep and for one whose
   * owner is alive; a dead owner's sweep is marked `crashed` and taken over.
   */
  claim(id: string, owner: Owner): SweepRecord {
    return this.#c.write(() => {
      const sweep = this.#require(id);
      const crashed = this.#checkTakeOver(sweep, RESUME_LATER);
      if (!crashed && sweep.status === 'completed') {
        throw new MmrunError('RUN_COMPLETED', `sweep '${id}' is already completed`, {
          remedy: 'its results are final; `mmrun show` lists its points',
        });
      }
      takeOwnership(this.#c, 'sweeps', id, owner);
      return this.#require(id);
    });
  }

  /**
   * Adds points to a sweep and takes ownership of it to run them, in one transaction, with
   * its new spec: refused while its owner is alive (a completed sweep may grow).
   */
  extend(id: string, owner: Owner, spec: Readonly<Record<string, unknown>>, points: readonly PointSpec[]): SweepRecord {
    const c = this.#c;
    return c.write(() => {
      this.#checkTakeOver(this.#require(id), 'wait for it to finish, or stop it (kill -TERM <pid>), then extend it');
      this.#refuseTakenRuns(
        points,
        (p) => `run '${p.runId}' (a new point of sweep '${id}') already exists`,
        'remove that run (mmrun rm), then extend again',
      );
      const from = (c.stmt('SELECT COUNT(*) FROM sweep_points WHERE sweep_id = ?').pluck().get(id) as number) ?? 0;
      this.#insertPoints(id, from, points);
      takeOwnership(c, 'sweeps', id, owner, { sql: ', spec = ?', args: [JSON.stringify(spec)] });
      return this.#require(id);
    });
  }

  /** Records how a session of a sweep ended, releasing ownership. */
  finish(id: string, status: Exclude<SweepStatus, 'running' | 'crashed'>, error?: string): void {
    this.#c.write(() => releaseOwnership(this.#c, 'sweeps', id, status, error ?? null));
  }

  /** Accepts a changed experiment source for the sweep's points still to run. */
  acceptSourceChange(id: string, to: string): void {
    this.#c.write(() => {
      this.#c.stmt('UPDATE sweeps SET source_hash = ?, updated_at = ? WHERE id = ?').run(to, now(), id);
    });
  }

  /**
   * Deletes a sweep, its points and their runs (checkpoints, checksums, events with them),
   * in one transaction, and returns the run ids whose directories the caller then removes.
   * Refused while the sweep's owner, or a point run's, is alive.
   * @throws MmrunError RUN_NOT_FOUND, RUN_LOCKED
   */
  deleteSweep(id: string): { sweep: SweepRecord; runIds: string[] } {
    const c = this.#c;
    return c.write(() => {
      const sweep = this.#require(id);
      const remedy = 'stop it first (kill -TERM <pid>), then remove the sweep';
      this.#checkTakeOver(sweep, remedy);
      const points = readPoints(c, id, () => 'crashed');
      for (const point of points) {
        // A point whose owner is gone reads `crashed`; one that still reads `running` is alive.
        if (point.status !== 'running') continue;
        const run = this.runs.getRun(point.runId);
        throw ownerLocked(`point '${point.runId}' of sweep '${id}' is being run`, run.owner, remedy);
      }
      const runIds = points.map((p) => p.runId);
      const drop = c.stmt('DELETE FROM runs WHERE id = ?');
      for (const runId of runIds) drop.run(runId);
      c.stmt('DELETE FROM sweeps WHERE id = ?').run(id);
      return { sweep, runIds };
    });
  }

  // Refuses a sweep whose owner lives; records a dead owner's as crashed. Whether it was.
  #checkTakeOver(sweep: SweepRecord, remedy: string): boolean {
    return checkTakeOver(
      sweep,
      (otherHost) => ownerLocked(`sweep '${sweep.id}' is being run`, sweep.owner, remedy, otherHost),
      () => markCrashed(this.#c, 'sweeps', sweep.id),
    );
  }

  #require(id: string): SweepRecord {
    const sweep = readSweepRecord(this.#c, id);
    if (!sweep) throw sweepNotFound(id, this.#c.file);
    return sweep;
  }
}
