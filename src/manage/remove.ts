import * as fs from 'node:fs';
import * as path from 'node:path';
import { Catalog, type RunRecord, type RunStatus } from '../catalog/catalog.ts';
import { listRuns } from '../catalog/query.ts';
import { MmrunError, show } from '../errors.ts';
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
 * The runs `gc` would remove: those matching every given filter, never a running one.
 * At least one filter is required, so that `gc` never means "everything".
 */
export function selectGarbage(options: GcOptions): RunRecord[] {
  if (!options.statuses?.length && options.olderThan === undefined) {
    throw new MmrunError('USAGE', 'gc needs --status or --older-than (or both)', {
      remedy: 'e.g. `mmrun gc --status failed --older-than 7d --dry-run`',
    });
  }
  const cutoff = options.olderThan === undefined ? Number.POSITIVE_INFINITY : Date.now() - parseAge(options.olderThan);
  return listRuns(resolveRunsDir(options.runsDir)).filter(
    (r) =>
      r.status !== 'running' &&
      (!options.statuses?.length || options.statuses.includes(r.status)) &&
      Date.parse(r.updatedAt) <= cutoff,
  );
}
