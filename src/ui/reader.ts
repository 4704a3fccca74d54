// The dashboard's one connection to the catalog: read-only, opened when the catalog exists,
// kept for the server's life (a read-only SQLite connection in WAL mode never blocks or
// slows a writer), closed with the server.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CATALOG_FILE, Catalog, type RunEvent, type RunRecord } from '../catalog/catalog.ts';
import { MmrunError } from '../errors.ts';
import { type RunView, runView } from '../read/run-view.ts';
import { checkRunId } from '../runs-dir.ts';

export class CatalogReader {
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

  /** A run's events, oldest first. */
  events(id: string): RunEvent[] {
    return this.#open()?.events(id) ?? [];
  }

  close(): void {
    this.#catalog?.close();
    this.#catalog = undefined;
  }

  #open(): Catalog | undefined {
    if (!this.#catalog && fs.existsSync(path.join(this.runsDir, CATALOG_FILE))) {
      this.#catalog = Catalog.openReadOnly(this.runsDir);
    }
    return this.#catalog;
  }
}
