import * as fs from 'node:fs';
import * as path from 'node:path';
import { CATALOG_FILE } from '../catalog/catalog.ts';
import { type PointStatus, SweepCatalog, type SweepRecord } from '../catalog/sweeps.ts';
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
  owner: SweepRecord['owner'] | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  points: PointView[];
}

/** One sweep and its points. @throws MmrunError RUN_NOT_FOUND */
export function sweepView(store: SweepCatalog, id: string): SweepView {
  const sweep = store.getSweep(id);
  const spec = sweep.spec as unknown as SweepSpecJson;
  const points = store.points(id).map((p) => ({
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
