// What the catalog holds about sweeps (tables `sweeps` and `sweep_points`, migration 4 → 5)
// and how it is read: by the writer (`SweepCatalog`) and by readers (`CatalogReader`) alike.
import type { Connection } from './connection.ts';
import { type Owner, type OwnerColumns, ownerGone, ownerOf } from './ownership.ts';
import type { RunStatus } from './records.ts';

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

interface SweepRow extends OwnerColumns {
  id: string;
  experiment: string;
  experiment_path: string;
  source_hash: string;
  spec: string;
  status: SweepStatus;
  heartbeat_at: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

const toSweepRecord = (r: SweepRow): SweepRecord => ({
  id: r.id,
  experiment: r.experiment,
  experimentPath: r.experiment_path,
  sourceHash: r.source_hash,
  spec: JSON.parse(r.spec) as Record<string, unknown>,
  status: r.status,
  owner: ownerOf(r),
  heartbeatAt: r.heartbeat_at ?? undefined,
  error: r.error ?? undefined,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The sweep as the catalog has it (a dead owner's sweep still `running`), or undefined. */
export function readSweepRecord(c: Connection, id: string): SweepRecord | undefined {
  const row = c.stmt('SELECT * FROM sweeps WHERE id = ?').get(id) as SweepRow | undefined;
  return row && toSweepRecord(row);
}

/** The ids of every sweep, newest first. */
export function readSweepIds(c: Connection): string[] {
  return c.stmt('SELECT id FROM sweeps ORDER BY created_at DESC, id').pluck().all() as string[];
}

interface PointRow extends OwnerColumns {
  idx: number;
  params: string;
  seed: number;
  runId: string;
  status: RunStatus | null;
  iterations: number | null;
  updatedAt: string | null;
  heartbeat_at: string | null;
  flushedRows: number | null;
}

/**
 * A sweep's points in order, each with its run's status and flushed rows. A point whose run
 * is `running` with its owner gone takes the status `crashed(runId)` gives: the writer
 * records the crash, a reader only shows it.
 */
export function readPoints(c: Connection, id: string, crashed: (runId: string) => RunStatus): PointRecord[] {
  const rows = c
    .stmt(
      `SELECT p.idx, p.params, p.seed, p.run_id AS runId, r.status, r.iterations, r.updated_at AS updatedAt,
         r.owner_pid, r.owner_start, r.owner_boot, r.owner_host, r.heartbeat_at,
         (SELECT flushed_index FROM checkpoints c WHERE c.run_id = p.run_id ORDER BY seq DESC LIMIT 1) AS flushedRows
       FROM sweep_points p LEFT JOIN runs r ON r.id = p.run_id WHERE p.sweep_id = ? ORDER BY p.idx`,
    )
    .all(id) as PointRow[];
  return rows.map((r) => {
    const gone =
      r.status !== null && ownerGone({ status: r.status, owner: ownerOf(r), heartbeatAt: r.heartbeat_at ?? undefined });
    return {
      idx: r.idx,
      params: JSON.parse(r.params) as Record<string, unknown>,
      seed: r.seed,
      runId: r.runId,
      status: r.status === null ? 'pending' : gone ? crashed(r.runId) : r.status,
      flushedRows: r.flushedRows ?? 0,
      iterations: r.iterations ?? undefined,
      updatedAt: r.updatedAt ?? undefined,
    };
  });
}
