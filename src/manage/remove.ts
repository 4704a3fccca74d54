import * as fs from 'node:fs';
import * as path from 'node:path';
import { CATALOG_FILE, Catalog, type RunRecord, type RunStatus } from '../catalog/catalog.ts';
import { listRuns, requireCatalog } from '../catalog/query.ts';
import { SweepCatalog, type SweepRecord } from '../catalog/sweeps.ts';
import { MmrunError, show } from '../errors.ts';
import { crashPoint } from '../faults.ts';
import { resolveRunsDir } from '../runs-dir.ts';

/**
 * Removes a run: first from the catalog (refused while its owner lives), then its
 * directory. A crash in between leaves only a directory, which `run --id` will not reuse.
 */
export function removeRun(id: string, runsDir?: string): RunRecord {
  const dir = resolveRunsDir(runsDir);
  const catalog = Catalog.open(dir, { create: false });
  try {
    const run = catalog.deleteRun(id);
    fs.rmSync(path.join(dir, id), { recursive: true, force: true });
    return run;
  } finally {
    catalog.close();
  }
}

/**
 * Removes a sweep: first, in one transaction of the catalog, the sweep, its points and
 * their runs (refused while the sweep or a point is live), then the point runs'
 * directories. The catalog goes first, as for {@link removeRun}: it must never name a run
 * whose files are gone (show, stats, resume trust it). A crash in between leaves only
 * directories no catalog row names, which no command reads; `rm` of the sweep then
 * answers RUN_NOT_FOUND, and the directories may be deleted by hand.
 * @throws MmrunError RUN_NOT_FOUND, RUN_LOCKED
 */
export function removeSweep(id: string, runsDir?: string): { sweep: SweepRecord; runIds: string[] } {
  const dir = resolveRunsDir(runsDir);
  requireCatalog(dir, id);
  const store = SweepCatalog.open(dir, { create: false });
  let removed: { sweep: SweepRecord; runIds: string[] };
  try {
    removed = store.deleteSweep(id);
  } finally {
    store.close();
  }
  for (const runId of removed.runIds) {
    crashPoint('rm-sweep-dirs');
    fs.rmSync(path.join(dir, runId), { recursive: true, force: true });
  }
  return removed;
}

export interface GcOptions {
  readonly runsDir?: string;
  /** Only runs with one of these statuses. */
  readonly statuses?: readonly RunStatus[];
  /** Only runs not updated for this long, e.g. `7d`, `12h`, `30m`. */
  readonly olderThan?: string;
}

/** Parses `30s`, `15m`, `12h`, `7d`, `2w` into milliseconds. */
export function parseAge(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(text.trim());
  if (!m) {
    throw new MmrunError('BAD_OPTION', `--older-than ${show(text)} is not a duration`, {
      remedy: 'write it like 30m, 12h, 7d or 2w',
    });
  }
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit * 1000;
}

/**
 * The runs `gc` would remove: those matching every given filter, never a running one, and
 * never a point of a sweep (a sweep goes as a whole, with `rm <sweep-id>`, so that gc never
 * leaves half a sweep). At least one filter is required, so that `gc` never means "everything".
 */
export function selectGarbage(options: GcOptions): RunRecord[] {
  if (!options.statuses?.length && options.olderThan === undefined) {
    throw new MmrunError('USAGE', 'gc needs --status or --older-than (or both)', {
      remedy: 'e.g. `mmrun gc --status failed --older-than 7d --dry-run`',
    });
  }
  const cutoff = options.olderThan === undefined ? Number.POSITIVE_INFINITY : Date.now() - parseAge(options.olderThan);
  const dir = resolveRunsDir(options.runsDir);
  const points = pointRunIds(dir);
  return listRuns(dir).filter(
    (r) =>
      r.status !== 'running' &&
      !points.has(r.id) &&
      (!options.statuses?.length || options.statuses.includes(r.status)) &&
      Date.parse(r.updatedAt) <= cutoff,
  );
}

/** The run ids of every point of every sweep of a runs directory (none without a catalog). */
export function pointRunIds(runsDir: string): Set<string> {
  if (!fs.existsSync(path.join(runsDir, CATALOG_FILE))) return new Set();
  const store = SweepCatalog.open(runsDir, { create: false });
  try {
    return store.pointRunIds();
  } finally {
    store.close();
  }
}
