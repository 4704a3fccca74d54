import { setTimeout as sleep } from 'node:timers/promises';
import type { RunRecord } from '../catalog/catalog.ts';
import { CatalogReader, withLiveness } from '../catalog/read-only.ts';
import { flushedRangesOf } from './rows.ts';

/** What following needs of a snapshot (open-run.ts's RunReader is one). */
export interface FollowedSnapshot {
  readonly run: RunRecord;
  readonly runsDir: string;
  readonly flushedRanges: ReadonlyArray<readonly [number, number]>;
}

/** Options of `RunReader.follow` (open-run.ts). */
export interface FollowOptions {
  /**
   * Milliseconds between two polls of the catalog.
   * @default 100
   */
  readonly intervalMs?: number;
  /** Stops following (the iterator ends) when aborted. */
  readonly signal?: AbortSignal;
  /**
   * Yield the rows already in the snapshot first (as one or more ranges), then the new ones.
   * @default false
   */
  readonly fromStart?: boolean;
  /**
   * Keep following a run that crashed or was interrupted, until it completes or fails: a
   * `resume` (by anyone) continues the rows. Without it, following ends when the run stops
   * running.
   * @default false
   */
  readonly untilCompleted?: boolean;
}

/** A range of rows newly flushed, and a snapshot `S` that holds it. */
export interface FlushedRangeOf<S> {
  /** First row of the range. */
  readonly start: number;
  /** One past its last row. */
  readonly end: number;
  /** A snapshot with these rows among its flushed ranges. */
  readonly snapshot: S;
}

/** @internal The generator behind `RunReader.follow` (open-run.ts). */
export async function* followRun<S extends FollowedSnapshot>(
  first: S,
  snapshotOf: (run: RunRecord) => S,
  options: FollowOptions = {},
): AsyncGenerator<FlushedRangeOf<S>, void, undefined> {
  const intervalMs = options.intervalMs ?? 100;
  if (!(Number.isFinite(intervalMs) && intervalMs >= 0)) {
    throw new RangeError(`intervalMs must be a non-negative number of milliseconds, got ${intervalMs}`);
  }
  let known: ReadonlyArray<readonly [number, number]> = options.fromStart ? [] : first.flushedRanges;
  if (options.fromStart) {
    for (const [start, end] of first.flushedRanges) yield { start, end, snapshot: first };
    known = first.flushedRanges;
  }
  const goOn = (status: RunRecord['status']): boolean =>
    status === 'running' || (options.untilCompleted === true && (status === 'crashed' || status === 'interrupted'));
  if (!goOn(first.run.status) || options.signal?.aborted) return;
  const catalog = CatalogReader.open(first.runsDir);
  try {
    let version = catalog.dataVersion();
    let run = catalog.readRun(first.run.id);
    for (;;) {
      const fresh = newRanges(known, flushedRangesOf(run));
      if (fresh.length > 0) {
        const snapshot = snapshotOf(run);
        for (const [start, end] of fresh) yield { start, end, snapshot };
        known = snapshot.flushedRanges;
      }
      if (!goOn(run.status)) return;
      try {
        await sleep(intervalMs, undefined, { signal: options.signal });
      } catch {
        return; // aborted
      }
      const v = catalog.dataVersion();
      // Re-read only after a commit; a writer that died commits nothing, so check its pid.
      if (v !== version) {
        version = v;
        run = catalog.readRun(first.run.id);
      } else {
        run = withLiveness(run);
      }
    }
  } finally {
    catalog.close();
  }
}

/** The parts of `now` (disjoint ranges in row order) that are not in `before`. */
export function newRanges(
  before: ReadonlyArray<readonly [number, number]>,
  now: ReadonlyArray<readonly [number, number]>,
): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of now) {
    let start = a;
    for (const [c, d] of before) {
      if (d <= start || c >= b) continue;
      if (c > start) out.push([start, c]);
      start = Math.max(start, d);
    }
    if (start < b) out.push([start, b]);
  }
  return out;
}
