// The dashboard's one connection to the catalog: a CatalogReader (read-only; one short read
// transaction per look, none held between them, so it never blocks or slows a writer),
// opened when the catalog exists, kept for the server's life, closed with the server.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CATALOG_FILE, type RunEvent, type RunRecord } from '../catalog/catalog.ts';
import { CatalogReader, type SweepSnapshot } from '../catalog/read-only.ts';
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

export class DashboardReader {
  readonly runsDir: string;
  // Undefined until the catalog file exists; then open until close().
  #catalog: CatalogReader | undefined;

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
    return catalog.readRun(id);
  }

  /**
   * Every sweep (newest first), with its points' progress: read-only, a sweep whose owner is
   * gone shown `crashed` (never recorded), a point not started `pending`.
   */
  sweeps(): UiSweep[] {
    return (this.#open()?.listSweeps() ?? []).map(uiSweep);
  }

  /** One sweep and its points. @throws MmrunError `BAD_RUN_ID`, `RUN_NOT_FOUND` */
  sweep(id: string): UiSweep {
    checkRunId(id);
    const catalog = this.#open();
    if (!catalog) {
      throw new MmrunError('RUN_NOT_FOUND', `no sweep '${id}' in ${this.runsDir}`, {
        remedy: '/api/sweeps lists the sweeps',
      });
    }
    return uiSweep(catalog.readSweep(id));
  }

  /** A run's events, oldest first. */
  events(id: string): RunEvent[] {
    return this.#open()?.events(id) ?? [];
  }

  close(): void {
    this.#catalog?.close();
    this.#catalog = undefined;
  }

  #open(): CatalogReader | undefined {
    if (!this.#catalog && fs.existsSync(path.join(this.runsDir, CATALOG_FILE))) {
      this.#catalog = CatalogReader.open(this.runsDir);
    }
    return this.#catalog;
  }
}

function uiSweep({ sweep, points }: SweepSnapshot): UiSweep {
  return {
    kind: 'sweep',
    id: sweep.id,
    experiment: sweep.experiment,
    status: sweep.status,
    spec: sweep.spec,
    done: points.filter((p) => p.status === 'completed').length,
    total: points.length,
    createdAt: sweep.createdAt,
    updatedAt: sweep.updatedAt,
    points: points.map((p) => ({
      runId: p.runId,
      params: p.params,
      seed: p.seed,
      status: p.status,
      flushedRows: p.flushedRows,
      iterations: p.iterations ?? null,
    })),
  };
}
