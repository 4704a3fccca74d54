// `mmrun watch <sweep-id>`: follows a sweep until it ends, reporting each change of its
// points' progress. It only reads: each look is one read transaction of a read-only
// connection (CatalogReader.readSweep), and a sweep whose owner is gone is shown as
// `crashed` without being recorded so; the points' rows are never touched.
import { CatalogReader, OlderSchema } from '../catalog/read-only.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { getSweepView, type SweepView, viewOf } from '../sweep/view.ts';

export interface WatchSweepOptions {
  readonly sweepId: string;
  readonly runsDir?: string;
  /** Milliseconds between two looks at the catalog (`PRAGMA data_version`: cheap). @default 200 */
  readonly intervalMs?: number;
  /**
   * Milliseconds between two reads of the sweep while nothing is committed (its owner may
   * die without a commit).
   * @default 1000
   */
  readonly tickMs?: number;
  /** Called at the start, whenever a point's progress or status changed, and at the end. */
  readonly onUpdate: (view: SweepView & { readonly flushedRows: number }, reason: 'start' | 'progress' | 'end') => void;
  readonly signal?: AbortSignal;
}

/** Follows a sweep until it is no longer running; resolves with its final status. */
export async function watchSweep(options: WatchSweepOptions): Promise<SweepView['status']> {
  const runsDir = resolveRunsDir(options.runsDir);
  const interval = options.intervalMs ?? 200;
  const tick = options.tickMs ?? 1000;
  let reader: CatalogReader | undefined;
  try {
    reader = CatalogReader.open(runsDir);
  } catch (error) {
    // A catalog no writer of this mmrun opened yet: no sweep of it is live, so one look.
    if (!(error instanceof OlderSchema)) throw error;
  }
  const look = (): SweepView => {
    if (!reader) return getSweepView(runsDir, options.sweepId);
    const { sweep, points } = reader.readSweep(options.sweepId);
    return viewOf(sweep, points);
  };
  try {
    let last = '';
    let version = Number.NaN;
    let readAt = 0;
    for (let first = true; ; first = false) {
      const now = performance.now();
      const v = reader?.dataVersion() ?? Number.NaN;
      if (first || v !== version || now - readAt >= tick || !reader) {
        version = v;
        readAt = now;
        const view = look();
        const shown = { ...view, flushedRows: view.points.reduce((n, p) => n + p.flushedRows, 0) };
        const key = JSON.stringify(view.points.map((p) => [p.status, p.flushedRows]));
        if (view.status !== 'running') {
          options.onUpdate(shown, 'end');
          return view.status;
        }
        if (first || key !== last) options.onUpdate(shown, first ? 'start' : 'progress');
        last = key;
      }
      if (options.signal?.aborted) return 'running';
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  } finally {
    reader?.close();
  }
}
