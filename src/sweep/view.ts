import * as fs from 'node:fs';
import * as path from 'node:path';
import { CATALOG_FILE } from '../catalog/catalog.ts';
import { type PointRecord, type PointStatus, SweepCatalog, type SweepRecord } from '../catalog/sweeps.ts';
import type { SweepSpecJson } from './sweep.ts';

/** A point as `show --json` prints it (a contract: runId, params, seed, status, flushedRows). */
export interface PointView {
  runId: string;
  params: Readonly<Record<string, unknown>>;
  seed: number;
  status: PointStatus;
  flushedRows: number;
  iterations: number;
}

/** The JSON shape of `show <sweep> --json`, and of a sweep in `list --json` (a contract). */
export interface SweepView {
  kind: 'sweep';
  id: string;
  experiment: string;
  status: SweepRecord['status'];
  experimentPath: string;
  sourceHash: string;
  spec: SweepSpecJson;
  /** Points completed, and all points. */
  done: number;
  total: number;
  /**
   * For a running sweep: the time left at the pace of this session (its points completed
   * since it was started or resumed), in seconds; null before one completed, or not running.
   */
  etaSeconds: number | null;
  owner: SweepRecord['owner'] | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  points: PointView[];
}

/** One sweep and its points. @throws MmrunError RUN_NOT_FOUND */
export function sweepView(store: SweepCatalog, id: string): SweepView {
  const sweep = store.getSweep(id);
  return viewOf(sweep, store.points(id));
}

/** The view of a sweep record and its points (as read by a SweepCatalog or a CatalogReader). */
export function viewOf(sweep: SweepRecord, records: readonly PointRecord[]): SweepView {
  const spec = sweep.spec as unknown as SweepSpecJson;
  const points = records.map((p) => ({
    runId: p.runId,
    params: p.params,
    seed: p.seed,
    status: p.status,
    flushedRows: p.flushedRows,
    iterations: p.iterations ?? spec.iterations,
  }));
  return {
    kind: 'sweep',
    id: sweep.id,
    experiment: sweep.experiment,
    status: sweep.status,
    experimentPath: sweep.experimentPath,
    sourceHash: sweep.sourceHash,
    spec,
    done: points.filter((p) => p.status === 'completed').length,
    total: points.length,
    etaSeconds: eta(sweep, records),
    owner: sweep.owner ?? null,
    error: sweep.error ?? null,
    createdAt: sweep.createdAt,
    updatedAt: sweep.updatedAt,
    points,
  };
}

/** Every sweep of a runs directory (newest first) and the run ids of their points. */
export function listSweeps(runsDir: string): { sweeps: SweepView[]; pointRuns: Set<string> } {
  if (!fs.existsSync(path.join(runsDir, CATALOG_FILE))) return { sweeps: [], pointRuns: new Set() };
  const store = SweepCatalog.open(runsDir, { create: false });
  try {
    return { sweeps: store.listSweeps().map((s) => sweepView(store, s.id)), pointRuns: store.pointRunIds() };
  } finally {
    store.close();
  }
}

/** One sweep, read from the catalog of a runs directory. @throws MmrunError RUN_NOT_FOUND */
export function getSweepView(runsDir: string, id: string): SweepView {
  const store = SweepCatalog.open(runsDir, { create: false });
  try {
    return sweepView(store, id);
  } finally {
    store.close();
  }
}

/** Time left at this session's pace: the sweep's updatedAt is when it was (re)started. */
function eta(sweep: SweepRecord, points: readonly PointRecord[], now = Date.now()): number | null {
  if (sweep.status !== 'running') return null;
  const since = Date.parse(sweep.updatedAt);
  const done = points.filter(
    (p) => p.status === 'completed' && p.updatedAt !== undefined && Date.parse(p.updatedAt) >= since,
  ).length;
  const left = points.filter((p) => p.status !== 'completed').length;
  if (done === 0) return null;
  return Math.round(((now - since) / 1000 / done) * left);
}
