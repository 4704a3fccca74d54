import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { MmrunError } from '../errors.ts';
import { crashPoint } from '../faults.ts';
import { CATALOG_FILE, Catalog, type RunStatus } from './catalog.ts';
import { type Owner, ownerLiveness } from './ownership.ts';

/** A sweep's status: a run's, with the same meanings. */
export type SweepStatus = RunStatus;

/** A point's status: its run's, or `pending` while the run was never started. */
export type PointStatus = RunStatus | 'pending';

/** What a sweep is: fixed when it is created (the spec is the command's, normalized). */
export interface SweepSpec {
  readonly id: string;
  readonly experiment: string;
  readonly experimentPath: string;
  readonly sourceHash: string;
  readonly spec: Readonly<Record<string, unknown>>;
}

/** One point to create: a parameter set and a seed, run as run `runId`. */
export interface PointSpec {
  readonly params: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly runId: string;
}

export interface SweepRecord extends SweepSpec {
  readonly status: SweepStatus;
  readonly owner: Owner | undefined;
  readonly heartbeatAt: string | undefined;
  readonly error: string | undefined;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A point with the progress of its run. */
export interface PointRecord extends PointSpec {
  readonly idx: number;
  readonly status: PointStatus;
  readonly flushedRows: number;
  readonly iterations: number | undefined;
  /** When its run last changed (a completed point: when it completed). */
  readonly updatedAt: string | undefined;
}

export interface SweepRow {
  id: string;
  experiment: string;
  experiment_path: string;
  source_hash: string;
  spec: string;
  status: SweepStatus;
  owner_pid: number | null;
  owner_start: string | null;
  owner_boot: string | null;
  owner_host: string | null;
  heartbeat_at: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

const now = () => new Date().toISOString();

export const toRecord = (r: SweepRow): SweepRecord => ({
  id: r.id,
  experiment: r.experiment,
  experimentPath: r.experiment_path,
  sourceHash: r.source_hash,
  spec: JSON.parse(r.spec) as Record<string, unknown>,
  status: r.status,
  owner:
    r.owner_pid === null
      ? undefined
      : { pid: r.owner_pid, start: r.owner_start ?? '', boot: r.owner_boot ?? '', host: r.owner_host ?? '' },
  heartbeatAt: r.heartbeat_at ?? undefined,
  error: r.error ?? undefined,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * The sweeps of a runs directory, in its catalog (tables `sweeps` and `sweep_points`,
 * migration 4 → 5). It holds the directory's {@link Catalog} (`runs`) for the point runs,
 * and a connection of its own for the sweep tables.
 */
export class SweepCatalog {
  readonly runs: Catalog;
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  private constructor(runs: Catalog, db: Database.Database) {
    this.runs = runs;
    this.#db = db;
  }

  /** Opens (creating and migrating if needed) the catalog of a runs directory. */
  static open(runsDir: string, options: { create?: boolean } = {}): SweepCatalog {
    const runs = Catalog.open(runsDir, options);
    try {
      const db = new Database(runs.file, { timeout: 10_000 });
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      return new SweepCatalog(runs, db);
    } catch (error) {
      runs.close();
      throw error;
    }
  }

  /** Whether `id` names a sweep of the runs directory (false without a catalog). */
  static isSweep(runsDir: string, id: string): boolean {
    const file = path.join(runsDir, CATALOG_FILE);
    if (!fs.existsSync(file)) return false;
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true, timeout: 10_000 });
      return db.prepare('SELECT 1 FROM sweeps WHERE id = ?').get(id) !== undefined;
    } catch {
      return false; // an older catalog has no sweeps table
    } finally {
      db?.close();
    }
  }

  close(): void {
    if (this.#db.open) this.#db.close();
    this.runs.close();
  }

  /**
   * Registers a sweep owned by `owner` and all its points, in one transaction: a crash
   * leaves either no sweep or the whole of it. An id taken by a sweep or a run is refused,
   * and so is a point id taken by a run.
   */
  createSweep(sweep: SweepSpec, points: readonly PointSpec[], owner: Owner): SweepRecord {
    return this.#tx(() => {
      const taken =
        this.#stmt('SELECT id FROM sweeps WHERE id = ?').get(sweep.id) ??
        this.#stmt('SELECT id FROM runs WHERE id = ?').get(sweep.id);
      if (taken) {
        throw new MmrunError('RUN_EXISTS', `sweep id '${sweep.id}' is already taken in ${this.runs.file}`, {
          remedy: 'choose another --id, or continue that sweep with `mmrun resume`',
        });
      }
      const runTaken = this.#stmt('SELECT 1 FROM runs WHERE id = ?');
      for (const p of points) {
        if (runTaken.get(p.runId)) {
          throw new MmrunError('RUN_EXISTS', `run '${p.runId}' (a point of sweep '${sweep.id}') already exists`, {
            remedy: 'choose another --id for the sweep',
          });
        }
      }
      const t = now();
      this.#stmt(
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
      return this.#get(sweep.id)!;
    });
  }

  #insertPoints(id: string, from: number, points: readonly PointSpec[]): void {
    const insert = this.#stmt('INSERT INTO sweep_points (sweep_id, idx, params, seed, run_id) VALUES (?, ?, ?, ?, ?)');
    for (const [k, p] of points.entries()) insert.run(id, from + k, JSON.stringify(p.params), p.seed, p.runId);
  }

  /** The sweep, a `running` one whose owner is gone recorded as `crashed` first. @throws RUN_NOT_FOUND */
  getSweep(id: string): SweepRecord {
    const sweep = this.#require(id);
    if (sweep.status !== 'running' || this.#alive(sweep)) return sweep;
    return this.#tx(() => {
      const fresh = this.#require(id);
      if (fresh.status === 'running' && !this.#alive(fresh)) this.#markCrashed(id);
      return this.#require(id);
    });
  }

  /** Every sweep, newest first, crashes detected. */
  listSweeps(): SweepRecord[] {
    const ids = this.#stmt('SELECT id FROM sweeps ORDER BY created_at DESC, id').pluck().all() as string[];
    return ids.map((id) => this.getSweep(id));
  }

  /** The run ids of every point of every sweep (to hide them from `list`). */
  pointRunIds(): Set<string> {
    return new Set(this.#stmt('SELECT run_id FROM sweep_points').pluck().all() as string[]);
  }

  /** A sweep's points in order, each with its run's status and flushed rows (crashes detected). */
  points(id: string): PointRecord[] {
    const rows = this.#stmt(
      `SELECT p.idx, p.params, p.seed, p.run_id AS runId, r.status, r.iterations, r.updated_at AS updatedAt,
         (SELECT flushed_index FROM checkpoints c WHERE c.run_id = p.run_id ORDER BY seq DESC LIMIT 1) AS flushedRows
       FROM sweep_points p LEFT JOIN runs r ON r.id = p.run_id WHERE p.sweep_id = ? ORDER BY p.idx`,
    ).all(id) as {
      idx: number;
      params: string;
      seed: number;
      runId: string;
      status: RunStatus | null;
      iterations: number | null;
      updatedAt: string | null;
      flushedRows: number | null;
    }[];
    return rows.map((r) => {
      // A point run left `running` by a dead process is crashed; the run record says so once read.
      const status: PointStatus =
        r.status === null ? 'pending' : r.status === 'running' ? this.runs.getRun(r.runId).status : r.status;
      return {
        idx: r.idx,
        params: JSON.parse(r.params) as Record<string, unknown>,
        seed: r.seed,
        runId: r.runId,
        status,
        flushedRows: r.flushedRows ?? 0,
        iterations: r.iterations ?? undefined,
        updatedAt: r.updatedAt ?? undefined,
      };
    });
  }

  /**
   * Takes ownership of a sweep to resume it: refused for a completed sweep and for one whose
   * owner is alive; a dead owner's sweep is marked `crashed` and taken over.
   */
  claim(id: string, owner: Owner): SweepRecord {
    return this.#tx(() => {
      const sweep = this.#require(id);
      if (sweep.status === 'running') {
        if (this.#alive(sweep)) {
          throw new MmrunError(
            'RUN_LOCKED',
            `sweep '${id}' is being run by pid ${sweep.owner?.pid} on host ${sweep.owner?.host}`,
            { remedy: 'wait for it to finish, or stop it (kill -TERM <pid>) and then resume' },
          );
        }
        this.#markCrashed(id);
      } else if (sweep.status === 'completed') {
        throw new MmrunError('RUN_COMPLETED', `sweep '${id}' is already completed`, {
          remedy: 'its results are final; `mmrun show` lists its points',
        });
      }
      this.#stmt(
        `UPDATE sweeps SET status = 'running', owner_pid = ?, owner_start = ?, owner_boot = ?, owner_host = ?,
             error = NULL, heartbeat_at = ?, updated_at = ? WHERE id = ?`,
      ).run(owner.pid, owner.start, owner.boot, owner.host, now(), now(), id);
      return this.#require(id);
    });
  }

  /**
   * Adds points to a sweep and takes ownership of it to run them, in one transaction, with
   * its new spec: refused while its owner is alive (a completed sweep may grow).
   */
  extend(id: string, owner: Owner, spec: Readonly<Record<string, unknown>>, points: readonly PointSpec[]): SweepRecord {
    return this.#tx(() => {
      const sweep = this.#require(id);
      if (sweep.status === 'running' && this.#alive(sweep)) {
        throw new MmrunError(
          'RUN_LOCKED',
          `sweep '${id}' is being run by pid ${sweep.owner?.pid} on host ${sweep.owner?.host}`,
          { remedy: 'wait for it to finish, or stop it (kill -TERM <pid>), then extend it' },
        );
      }
      const runTaken = this.#stmt('SELECT 1 FROM runs WHERE id = ?');
      for (const p of points) {
        if (runTaken.get(p.runId)) {
          throw new MmrunError('RUN_EXISTS', `run '${p.runId}' (a new point of sweep '${id}') already exists`, {
            remedy: 'remove that run (mmrun rm), then extend again',
          });
        }
      }
      const from = (this.#stmt('SELECT COUNT(*) FROM sweep_points WHERE sweep_id = ?').pluck().get(id) as number) ?? 0;
      this.#insertPoints(id, from, points);
      this.#stmt(
        `UPDATE sweeps SET spec = ?, status = 'running', owner_pid = ?, owner_start = ?, owner_boot = ?, owner_host = ?,
             error = NULL, heartbeat_at = ?, updated_at = ? WHERE id = ?`,
      ).run(JSON.stringify(spec), owner.pid, owner.start, owner.boot, owner.host, now(), now(), id);
      return this.#require(id);
    });
  }

  /** Records how a session of a sweep ended, releasing ownership. */
  finish(id: string, status: Exclude<SweepStatus, 'running' | 'crashed'>, error?: string): void {
    this.#tx(() => {
      this.#stmt(
        `UPDATE sweeps SET status = ?, owner_pid = NULL, owner_start = NULL, owner_boot = NULL, owner_host = NULL,
             error = ?, updated_at = ? WHERE id = ?`,
      ).run(status, error ?? null, now(), id);
    });
  }

  /** Accepts a changed experiment source for the sweep's points still to run. */
  acceptSourceChange(id: string, to: string): void {
    this.#tx(() => {
      this.#stmt('UPDATE sweeps SET source_hash = ?, updated_at = ? WHERE id = ?').run(to, now(), id);
    });
  }

  /**
   * Deletes a sweep, its points and their runs (checkpoints, checksums, events with them),
   * in one transaction, and returns the run ids whose directories the caller then removes.
   * Refused while the sweep's owner, or a point run's, is alive.
   * @throws MmrunError RUN_NOT_FOUND, RUN_LOCKED
   */
  deleteSweep(id: string): { sweep: SweepRecord; runIds: string[] } {
    return this.#tx(() => {
      const sweep = this.#require(id);
      if (sweep.status === 'running' && this.#alive(sweep)) {
        throw new MmrunError(
          'RUN_LOCKED',
          `sweep '${id}' is being run by pid ${sweep.owner?.pid} on host ${sweep.owner?.host}`,
          { remedy: 'stop it first (kill -TERM <pid>), then remove it' },
        );
      }
      const runIds = this.#stmt('SELECT run_id FROM sweep_points WHERE sweep_id = ? ORDER BY idx')
        .pluck()
        .all(id) as string[];
      const runOwner = this.#stmt(
        `SELECT owner_pid AS pid, owner_start AS start, owner_boot AS boot, owner_host AS host, heartbeat_at AS beat
           FROM runs WHERE id = ? AND status = 'running' AND owner_pid IS NOT NULL`,
      );
      for (const runId of runIds) {
        const o = runOwner.get(runId) as (Owner & { beat: string | null }) | undefined;
        if (o && ownerLiveness(o, o.beat ?? undefined) !== 'dead') {
          throw new MmrunError('RUN_LOCKED', `point '${runId}' of sweep '${id}' is being run by pid ${o.pid}`, {
            remedy: 'stop it first (kill -TERM <pid>), then remove the sweep',
          });
        }
      }
      const drop = this.#stmt('DELETE FROM runs WHERE id = ?');
      for (const runId of runIds) drop.run(runId);
      this.#stmt('DELETE FROM sweeps WHERE id = ?').run(id);
      return { sweep, runIds };
    });
  }

  #alive(sweep: SweepRecord): boolean {
    return sweep.owner !== undefined && ownerLiveness(sweep.owner, sweep.heartbeatAt) !== 'dead';
  }

  #markCrashed(id: string): void {
    this.#stmt(`UPDATE sweeps SET status = 'crashed', updated_at = ? WHERE id = ?`).run(now(), id);
  }

  #require(id: string): SweepRecord {
    const sweep = this.#get(id);
    if (!sweep) {
      throw new MmrunError('RUN_NOT_FOUND', `no sweep '${id}' in ${this.runs.file}`, {
        remedy: '`mmrun list` shows the sweeps; check --runs-dir',
      });
    }
    return sweep;
  }

  #get(id: string): SweepRecord | undefined {
    const row = this.#stmt('SELECT * FROM sweeps WHERE id = ?').get(id) as SweepRow | undefined;
    return row && toRecord(row);
  }

  #stmt(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #tx<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }
}
