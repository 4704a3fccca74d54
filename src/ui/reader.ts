// The dashboard's one connection to the catalog: read-only, opened when the catalog exists,
// kept for the server's life (a read-only SQLite connection in WAL mode never blocks or
// slows a writer), closed with the server.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { CATALOG_FILE, Catalog, type RunEvent, type RunRecord } from '../catalog/catalog.ts';
import { ownerLiveness } from '../catalog/ownership.ts';
import { MmrunError } from '../errors.ts';
import { type RunView, runView } from '../read/run-view.ts';
import { checkRunId } from '../runs-dir.ts';

/** A sweep as `/api/sweeps` shows it (the fields of `show <sweep> --json` a page needs). */
export interface UiSweep {
  readonly kind: 'sweep';
  readonly id: string;
  readonly experiment: string;
  readonly status: string;
  readonly spec: Readonly<Record<string, unknown>>;
  readonly done: number;
  readonly total: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly points: readonly {
    readonly runId: string;
    readonly params: Readonly<Record<string, unknown>>;
    readonly seed: number;
    readonly status: string;
    readonly flushedRows: number;
    readonly iterations: number | null;
  }[];
}

interface SweepRow {
  id: string;
  experiment: string;
  spec: string;
  status: string;
  owner_pid: number | null;
  owner_start: string | null;
  owner_boot: string | null;
  owner_host: string | null;
  heartbeat_at: string | null;
  created_at: string;
  updated_at: string;
}

export class DashboardReader {
  readonly runsDir: string;
  // Undefined until the catalog file exists; then open until close().
  #catalog: Catalog | undefined;

  constructor(runsDir: string) {
    this.runsDir = runsDir;
  }

  /** Every run as `list --json` shows it, newest first; crashes detected, not recorded. */
  runs(): RunView[] {
    const catalog = this.#open();
    return catalog ? catalog.listRuns().map((r) => runView(r, this.runsDir)) : [];
  }

  /** Changes whenever a writer commits to the catalog. */
  version(): number {
    return this.#open()?.dataVersion() ?? -1;
  }

  /**
   * The run with this id, exactly as the catalog has it.
   * @throws MmrunError `BAD_RUN_ID` for an id no run can have, `RUN_NOT_FOUND`
   */
  run(id: string): RunRecord {
    checkRunId(id);
    const catalog = this.#open();
    if (!catalog) {
      throw new MmrunError('RUN_NOT_FOUND', `no run '${id}': ${this.runsDir} has no catalog`, {
        remedy: 'check --runs-dir; /api/runs lists the runs',
      });
    }
    return catalog.getRun(id);
  }

  /**
   * Every sweep (newest first), with its points' progress: read-only, a sweep whose owner is
   * gone shown `crashed` (never recorded), a point not started `pending`.
   */
  sweeps(): UiSweep[] {
    const db = this.#sweepDb();
    if (!db) return [];
    const ids = db.prepare('SELECT id FROM sweeps ORDER BY created_at DESC, id DESC').all() as { id: string }[];
    return ids.map((r) => this.sweep(r.id));
  }

  /** One sweep and its points. @throws MmrunError `BAD_RUN_ID`, `RUN_NOT_FOUND` */
  sweep(id: string): UiSweep {
    checkRunId(id);
    const db = this.#sweepDb();
    const row = db?.prepare('SELECT * FROM sweeps WHERE id = ?').get(id) as SweepRow | undefined;
    if (!db || !row) {
      throw new MmrunError('RUN_NOT_FOUND', `no sweep '${id}' in ${this.runsDir}`, {
        remedy: '/api/sweeps lists the sweeps',
      });
    }
    const catalog = this.#open();
    const points = (
      db
        .prepare('SELECT idx, params, seed, run_id AS runId FROM sweep_points WHERE sweep_id = ? ORDER BY idx')
        .all(id) as {
        idx: number;
        params: string;
        seed: number;
        runId: string;
      }[]
    ).map((p) => {
      let run: RunRecord | undefined;
      try {
        run = catalog?.getRun(p.runId);
      } catch {
        run = undefined; // not started yet
      }
      return {
        runId: p.runId,
        params: JSON.parse(p.params) as Record<string, unknown>,
        seed: p.seed,
        status: run?.status ?? 'pending',
        flushedRows: run?.doneRows ?? 0,
        iterations: run?.iterations ?? null,
      };
    });
    const owner =
      row.owner_pid === null
        ? undefined
        : { pid: row.owner_pid, start: row.owner_start ?? '', boot: row.owner_boot ?? '', host: row.owner_host ?? '' };
    const gone =
      row.status === 'running' && owner !== undefined && ownerLiveness(owner, row.heartbeat_at ?? undefined) === 'dead';
    return {
      kind: 'sweep',
      id: row.id,
      experiment: row.experiment,
      status: gone ? 'crashed' : row.status,
      spec: JSON.parse(row.spec) as Record<string, unknown>,
      done: points.filter((p) => p.status === 'completed').length,
      total: points.length,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      points,
    };
  }

  /** A run's events, oldest first. */
  events(id: string): RunEvent[] {
    return this.#open()?.events(id) ?? [];
  }

  close(): void {
    this.#catalog?.close();
    this.#catalog = undefined;
    this.#sweeps?.close();
    this.#sweeps = undefined;
  }

  // A second read-only connection for the sweep tables (the catalog's own stays private).
  #sweeps: Database.Database | undefined;
  #sweepDb(): Database.Database | undefined {
    if (!this.#sweeps && this.#open()) {
      this.#sweeps = new Database(path.join(this.runsDir, CATALOG_FILE), {
        readonly: true,
        fileMustExist: true,
        timeout: 1000,
      });
    }
    return this.#sweeps;
  }

  #open(): Catalog | undefined {
    if (!this.#catalog && fs.existsSync(path.join(this.runsDir, CATALOG_FILE))) {
      this.#catalog = Catalog.openReadOnly(this.runsDir);
    }
    return this.#catalog;
  }
}
