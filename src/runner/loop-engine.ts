// The engine of a run with one worker: the loop (loop.ts) in this thread, over all of the
// run's rows, committing each flush to the catalog.
import type { Context } from '../experiment/define.ts';
import type { LoadedExperiment } from '../experiment/load.ts';
import type { CounterRng } from '../experiment/rng.ts';
import { runLoop } from './loop.ts';
import { type Engine, iterationOffsetOf } from './session.ts';

/** Drives the session's rows through {@link runLoop} in this thread, from `ctx` (its state set). */
export function loopInThisThread(loaded: LoadedExperiment, ctx: Context, rng: CounterRng): Engine {
  return async ({ run, store, array, log, policy, hooks }) => {
    const { id } = run;
    const startRow = run.flushedRows;
    const end = array.geometry.totalRows;
    const offset = iterationOffsetOf(run);
    const { signal: stop, flushRequest, onProgress, shared } = hooks;
    const outcome = await runLoop({
      array,
      loaded,
      ctx,
      rng,
      log,
      policy,
      startRow,
      endRow: end,
      iterationOffset: offset,
      windowed: false,
      commit: (rows, state, checksum) => store.checkpoint(id, rows, state, checksum),
      stopReason: () => (stop?.aborted ? String(stop.reason ?? 'abort') : undefined),
      flushRequested: () => flushRequest?.take() === true,
      ...(shared ? { ticker: shared.ticker } : {}),
      onProgress:
        onProgress &&
        ((p) =>
          onProgress({
            id,
            rows: p.rows,
            iterations: end,
            startRow,
            flushedRows: p.flushedRows,
            elapsedMs: p.elapsedMs,
            rowsPerSecond: ((p.rows - startRow) * 1000) / p.elapsedMs,
            msSinceFlush: p.msSinceFlush,
            rowsAtRisk: p.rows - p.flushedRows,
          })),
    });
    return {
      status: outcome.status,
      computedRows: outcome.rows - startRow,
      flushes: outcome.flushes,
      elapsedMs: outcome.elapsedMs,
      ...(outcome.stopReason === undefined ? {} : { stopReason: outcome.stopReason }),
      ...(outcome.error === undefined ? {} : { error: outcome.error, failedAt: { iteration: outcome.rows + offset } }),
    };
  };
}
