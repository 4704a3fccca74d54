import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { RangeChecksum } from '../catalog/catalog.ts';
import { MmrunError, StepError } from '../errors.ts';
import type { Context } from '../experiment/define.ts';
import type { LoadedExperiment } from '../experiment/load.ts';
import type { CounterRng } from '../experiment/rng.ts';
import { crashPoint, delayPoint } from '../faults.ts';
import { crc32cOf } from '../storage/checksum.ts';
import { DropBehind, dropBehindSetting } from '../storage/paging/drop-behind.ts';
import { type PageHelper, type PageHelperOptions, PageHelperStart } from '../storage/paging/page-helper.ts';
import { compileRowWriter, type RowWriter } from '../storage/row-writer.ts';
import type { Segment } from '../storage/segment.ts';
import type { SegmentedArray } from '../storage/segmented-array.ts';
import { type FlushPolicy, Pacer } from './flush-policy.ts';
import { encodeState } from './state.ts';
import { startTicker, type Ticker, TickerStart } from './ticker.ts';

export { FlushRequest } from './flush-request.ts';

/** What the loop reports at most every {@link PROGRESS_MS}. */
export interface LoopProgress {
  /** Next row to compute: rows [startRow, rows) are written. */
  readonly rows: number;
  /** Rows [startRow, flushedRows) are on disk and committed. */
  readonly flushedRows: number;
  readonly elapsedMs: number;
  /** Time since the last flush: the work a crash right now would lose. */
  readonly msSinceFlush: number;
}

/** How often `onProgress` is called, at most. */
export const PROGRESS_MS = 250;

/** One loop over rows [startRow, endRow) of a run: a whole run, or one shard of it. */
export interface LoopSpec {
  readonly array: SegmentedArray;
  readonly loaded: LoadedExperiment;
  readonly ctx: Context;
  readonly rng: CounterRng;
  readonly log: Logger;
  readonly policy: FlushPolicy;
  readonly startRow: number;
  readonly endRow: number;
  /**
   * The iteration of row 0 of the array: a run of one shard of a cluster job (`--shard I/N`)
   * stores its rows from 0 but computes iterations `offset + row`. @default 0
   */
  readonly iterationOffset?: number;
  /**
   * Map only the rows [startRow, endRow) of each segment (a shard's worker, whose
   * neighbours write the rest of a shared segment), instead of whole segments.
   */
  readonly windowed: boolean;
  /**
   * Records that rows before `rows` are durable: called after their msync (DESIGN invariant
   * 1), with the state after row `rows - 1` and the CRC32C of the range just synced.
   */
  readonly commit: (rows: number, state: Buffer | null, checksum: RangeChecksum | undefined) => void;
  /** Asked at every checkpoint (every few ms): the reason to stop now, or undefined. */
  readonly stopReason: () => string | undefined;
  /** Asked at every checkpoint: whether someone asked for a flush since the last time. */
  readonly flushRequested: () => boolean;
  readonly onProgress?: (progress: LoopProgress) => void;
  /**
   * The helper thread that populates pages ahead of the loop and writes back pages behind
   * it (see page-helper.ts); `false` for none.
   * @default on once the loop proves to write fast, prefaulting only with a core to spare
   * (see {@link PageHelperStart})
   */
  readonly pageHelper?: PageHelperOptions | false;
  /**
   * A running timer shared with other loops of this thread (a sweep's points); left running.
   * @default a timer thread of this loop's own
   */
  readonly ticker?: Ticker;
}

/** How a loop ended. The caller records it (catalog, or a message to the coordinator). */
export interface LoopOutcome {
  readonly status: 'completed' | 'interrupted' | 'failed';
  /** The row the loop stopped before (the failing iteration for a failure). */
  readonly rows: number;
  readonly flushedRows: number;
  readonly flushes: number;
  readonly elapsedMs: number;
  readonly stopReason?: string;
  readonly error?: MmrunError;
}

/** How often a synchronous loop yields to the event loop, so signals are handled promptly. */
const YIELD_MS = 25;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The next checkpoint before the ticker ticks (see {@link TickerStart}); a failed start is IO_ERROR. */
function timerStarted(start: TickerStart, row: number, now: number, ticked: boolean): number {
  try {
    return start.nextCheck(row, now, ticked);
  } catch (cause) {
    // Without its tick the loop would neither flush on time nor notice a signal.
    throw new MmrunError('IO_ERROR', `cannot start the loop's timer thread: ${(cause as Error)?.message ?? cause}`, {
      cause,
      remedy: 'the process may be at its thread limit (ulimit -u); free some, then `mmrun resume <run>`',
    });
  }
}

/** Any error that stops the loop, as an MmrunError (a full disk is DISK_FULL wherever it hit). */
export function asRunError(caught: unknown, id: string): MmrunError {
  if (caught instanceof MmrunError) return caught;
  const code = (caught as { code?: string })?.code;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') {
    return new MmrunError('DISK_FULL', `run '${id}' stopped: the disk is full (${(caught as Error).message})`, {
      cause: caught,
      remedy: 'free disk space (every flushed row is kept), then `mmrun resume <run>`',
    });
  }
  return new MmrunError('IO_ERROR', `run '${id}' stopped: ${(caught as Error)?.message ?? caught}`, { cause: caught });
}

/**
 * The loop. Its fast path per iteration: reset the rng, call step, store the row, compare
 * one integer and read one shared flag. Everything else (clock, flush, segment switch,
 * yielding, stop) happens at checkpoints the {@link Pacer} and a 2 ms tick schedule.
 *
 * Durability order (DESIGN invariant 1): rows are msync'ed, then `commit` records the new
 * flushed index with the state. An error is never retried: the flushed index stays where
 * the last commit put it. The page helper (page-helper.ts) only makes that msync cheaper by
 * writing pages back earlier; the loop's own msync still covers the whole flushed range.
 */
export async function runLoop(s: LoopSpec): Promise<LoopOutcome> {
  const { array, loaded, ctx, rng, log } = s;
  const experiment = loaded.experiment;
  const step = experiment.step;
  const end = s.endRow;
  const offset = s.iterationOffset ?? 0;
  const itemsize = array.layout.itemsize;
  const compiled = compileRowWriter(array.layout);
  const t0 = performance.now();
  const pacer = new Pacer(s.policy, s.startRow, t0);

  let i = s.startRow;
  let flushedRows = i;
  let flushes = 0;
  let segment: Segment | undefined;
  let write: RowWriter = () => {};
  let segFirst = 0;
  let segEnd = 0;
  let lastYield = t0;
  let lastProgress = t0;
  let helperChecksummed = 0; // bytes of flushed ranges whose CRC32C the page helper computed

  const openSegmentAt = (row: number) => {
    const k = array.segmentOf(row);
    const first = array.firstRow(k);
    const window = s.windowed ? { from: row - first, to: Math.min(end, first + array.rowsIn(k)) - first } : undefined;
    segment = array.openForWrite(k, window);
    write = compiled.bind(segment.data);
    segFirst = first + segment.firstRow;
    segEnd = segFirst + segment.rows;
    drop?.follow(segment, itemsize, row - segFirst); // may time fresh pages: before the helper populates
    pages?.follow(segment, itemsize, row - segFirst);
  };
  const flush = (stopping = false) => {
    const state = encodeState(ctx.state, i);
    let checksum: RangeChecksum | undefined;
    if (segment && i > flushedRows) {
      crashPoint('before-msync');
      segment.sync(flushedRows - segFirst, i - segFirst, itemsize);
      pages?.check();
      // The helper checksummed what it wrote back of these rows; the loop does the rest.
      const from = (flushedRows - segFirst) * itemsize;
      const to = (i - segFirst) * itemsize;
      const partial = pages?.checksumFrom(flushedRows - segFirst);
      pages?.flushed(i - segFirst);
      crashPoint('after-msync');
      if (stopping) crashPoint('graceful-stop');
      const helped = partial !== undefined && partial.end >= from && partial.end <= to ? partial : undefined;
      const crc = helped
        ? crc32cOf(segment.data.subarray(helped.end, to), helped.crc32c)
        : crc32cOf(segment.data.subarray(from, to));
      helperChecksummed += helped ? helped.end - from : 0;
      checksum = { startRow: flushedRows, endRow: i, crc32c: crc };
    }
    s.commit(i, state, checksum);
    crashPoint('after-commit');
    flushedRows = i;
    drop?.flushed(i - segFirst);
    flushes++;
    pacer.flushed(i, performance.now());
    log.debug({ event: 'flushed', rows: i }, 'flushed');
  };
  const outcome = (status: LoopOutcome['status'], extra: Partial<LoopOutcome> = {}): LoopOutcome => ({
    status,
    rows: i,
    flushedRows,
    flushes,
    elapsedMs: performance.now() - t0,
    ...extra,
  });

  const ticker = s.ticker ?? startTicker();
  const tick = ticker.flag;
  // Other threads computing rows (a shard's siblings) compete for the core prefaulting needs.
  const helperStart = new PageHelperStart(
    s.pageHelper,
    (end - s.startRow) * itemsize,
    s.windowed ? ctx.shard.count : 1,
  );
  let pages: PageHelper | undefined = helperStart.poll(0, 0);
  const dropSetting = dropBehindSetting();
  const drop = dropSetting.use === 'off' ? undefined : new DropBehind(dropSetting);
  try {
    if (i < end) openSegmentAt(i);
    // Until the timer thread ticks (it takes a while to start), checkpoints come from here.
    const start = new TickerStart(ticker, t0);
    pacer.schedule(Math.min(segEnd, end));
    pacer.next = Math.min(pacer.next, i + 1);
    const computing = performance.now(); // set-up done: the page helper judges the pace from here
    while (i < end) {
      const iteration = i + offset;
      rng.reset(iteration);
      let row: unknown;
      try {
        row = step.call(experiment, iteration, ctx);
        if (row !== null && typeof row === 'object' && typeof (row as PromiseLike<unknown>).then === 'function') {
          row = await row;
        }
      } catch (cause) {
        throw new StepError(loaded.name, iteration, cause);
      }
      write(row, iteration, i - segFirst);
      i++;
      if (i < pacer.next && tick[0] === 0) continue;
      const ticked = tick[0] !== 0;
      tick[0] = 0;
      const now = performance.now();
      if (!pages) {
        pages = helperStart.poll((i - s.startRow) * itemsize, now - computing);
        if (pages && segment) {
          pages.follow(segment, itemsize, i - segFirst);
          log.debug({ event: 'page-helper', row: i, afterMs: now - computing }, 'page helper started');
        }
      }
      pages?.advance(i - segFirst);

      const due = pacer.check(i, now) || s.flushRequested();
      if (due || i === segEnd || i === end) flush();
      if (i === segEnd && i < end) openSegmentAt(i);
      if (s.onProgress && now - lastProgress >= PROGRESS_MS) {
        lastProgress = now;
        s.onProgress({ rows: i, flushedRows, elapsedMs: now - t0, msSinceFlush: now - pacer.lastFlushAt });
      }
      if (now - lastYield >= YIELD_MS) {
        await yieldToEventLoop();
        lastYield = performance.now();
      }
      const stopReason = i < end ? s.stopReason() : undefined;
      if (stopReason !== undefined) {
        await delayPoint('graceful-stop');
        flush(true);
        return outcome('interrupted', { stopReason });
      }
      pacer.schedule(Math.min(segEnd, end));
      if (!start.ticking) pacer.next = Math.min(pacer.next, timerStarted(start, i, now, ticked));
    }
    if (i > flushedRows || flushes === 0) flush();
    return outcome('completed');
  } catch (caught) {
    const error = asRunError(caught, ctx.runId);
    if ((error instanceof StepError || error.code === 'BAD_ROW') && ctx.state === undefined) {
      // Rows before the failing iteration are good: keep them. With state, the failed step
      // may have changed ctx.state half-way, so the last checkpoint (rows and state that
      // agree) stays, and resume recomputes from there.
      try {
        flush();
      } catch (flushError) {
        log.error({ event: 'flush-failed', err: flushError }, 'could not flush after the failure');
      }
    }
    return outcome('failed', { error });
  } finally {
    if (drop) {
      const fresh = drop.freshPagesPerSecond;
      log.debug({ event: 'drop-behind', dropping: drop.dropping, freshPagesBytesPerSecond: fresh }, 'drop-behind');
    }
    if (pages) log.debug({ event: 'page-helper-checksummed', bytes: helperChecksummed }, 'page helper checksums');
    const degraded = pages?.degraded;
    if (degraded && Object.values(degraded).some((e) => e !== undefined)) {
      log.debug({ event: 'page-helper-degraded', errno: degraded }, 'the page helper stopped part of its work');
    }
    await Promise.all([s.ticker ? undefined : ticker.stop(), pages?.stop()]);
  }
}
