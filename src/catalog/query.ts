import * as fs from 'node:fs';
import * as path from 'node:path';
import { MmrunError } from '../errors.ts';
import { CATALOG_FILE, Catalog, type RunEvent, type RunRecord } from './catalog.ts';

/** Every run of a runs directory, newest first; an empty list if it has no catalog yet. */
export function listRuns(runsDir: string): RunRecord[] {
  if (!fs.existsSync(path.join(runsDir, CATALOG_FILE))) return [];
  const catalog = Catalog.open(runsDir, { create: false });
  try {
    return catalog.listRuns();
  } finally {
    catalog.close();
  }
}

/** Refuses a run id in a runs directory that has no catalog at all. @throws MmrunError RUN_NOT_FOUND */
export function requireCatalog(runsDir: string, id: string): void {
  if (!fs.existsSync(path.join(runsDir, CATALOG_FILE))) {
    throw new MmrunError('RUN_NOT_FOUND', `no run '${id}': ${runsDir} has no catalog`, {
      remedy: 'check --runs-dir (or $MMRUN_RUNS_DIR); `mmrun list` shows the runs',
    });
  }
}

/**
 * As {@link getRun}, or undefined if the runs directory has no catalog or no run `id`.
 */
export function findRun(runsDir: string, id: string): ReturnType<typeof getRun> | undefined {
  if (!fs.existsSync(path.join(runsDir, CATALOG_FILE))) return undefined;
  try {
    return getRun(runsDir, id);
  } catch (error) {
    if (error instanceof MmrunError && error.code === 'RUN_NOT_FOUND') return undefined;
    throw error;
  }
}

/**
 * One run, its event history and its code fingerprint (JSON; undefined for a run made
 * before fingerprints). @throws MmrunError RUN_NOT_FOUND
 */
export function getRun(
  runsDir: string,
  id: string,
): { run: RunRecord; events: RunEvent[]; fingerprint: string | undefined } {
  requireCatalog(runsDir, id);
  const catalog = Catalog.open(runsDir, { create: false });
  try {
    const run = catalog.getRun(id);
    return { run, events: catalog.events(id), fingerprint: catalog.fingerprint(id) };
  } finally {
    catalog.close();
  }
}
