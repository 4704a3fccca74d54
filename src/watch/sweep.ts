// `mmrun watch <sweep-id>`: follows a sweep until it ends, reporting each change of its
// points' progress. Each look reads the sweep as `mmrun show` does (which, like `list`,
// records a sweep whose owner is gone as `crashed`); the points' rows are never touched.
import { ownerLiveness } from '../catalog/ownership.ts';
import type { SweepRecord } from '../catalog/sweeps.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { getSweepView, type SweepView } from '../sweep/view.ts';

export interface WatchSweepOptions {
  readonly sweepId: string;
  readonly runsDir?: string;
  /** Milliseconds between two looks. @default 200 */
  readonly intervalMs?: number;
  /** Called at the start, whenever a point's progress or status changed, and at the end. */
  readonly onUpdate: (view: SweepView & { readonly flushedRows: number }, reason: 'start' | 'progress' | 'end') => void;
  readonly signal?: AbortSignal;
}

/** Follows a sweep until it is no longer running; resolves with its final status. */
export async function watchSweep(options: WatchSweepOptions): Promise<SweepRecord['status']> {
  const runsDir = resolveRunsDir(options.runsDir);
  const interval = options.intervalMs ?? 200;
  let last = '';
  for (let first = true; ; first = false) {
    const view = getSweepView(runsDir, options.sweepId);
    const gone = view.status === 'running' && view.owner && ownerLiveness(view.owner) === 'dead';
    const status = gone ? 'crashed' : view.status;
    const shown = { ...view, status, flushedRows: view.points.reduce((n, p) => n + p.flushedRows, 0) };
    const key = JSON.stringify(view.points.map((p) => [p.status, p.flushedRows]));
    if (status !== 'running') {
      options.onUpdate(shown, 'end');
      return status;
    }
    if (first || key !== last) options.onUpdate(shown, first ? 'start' : 'progress');
    last = key;
    if (options.signal?.aborted) return status;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
