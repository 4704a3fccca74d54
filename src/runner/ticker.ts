import { type Helper, siblingModule, startHelper } from '../threads.ts';
import type { TickerThreadData } from './ticker-thread.ts';

/** How often the loop leaves its fast path to read the clock, flush, yield and check for a stop. */
export const TICK_MS = 2;

// A timer in another thread (ticker-thread.ts) raises a flag in shared memory. The loop
// reads that flag after each iteration — one memory read, no clock, no syscall — so it
// notices time passing however fast or slow its steps are, even if they change speed mid-run.
const TICKER_THREAD = siblingModule(import.meta.url, 'ticker-thread');

/** A flag set every {@link TICK_MS} by a helper thread; the loop clears it when it looks. */
export interface Ticker extends Helper {
  readonly flag: Int32Array;
}

export function startTicker(ms = TICK_MS): Ticker {
  const shared = new SharedArrayBuffer(4);
  const helper = startHelper(TICKER_THREAD, { shared, ms } satisfies TickerThreadData, "the loop's timer thread");
  return { flag: new Int32Array(shared), ready: helper.ready, stop: () => helper.stop() };
}

/** The longest stride of rows between checkpoints before the first tick. */
const MAX_STRIDE = 1 << 16;

/**
 * Checkpoints before the ticker's first tick. Starting its thread takes 30–150 ms here (a
 * Node isolate boots); rather than wait, the loop starts computing and lets this schedule
 * checkpoints until the first tick comes: every `stride` rows, the stride doubling while
 * checkpoints come less than 0.5 ms apart and halving when they come more than 2 ms apart, so
 * a slow step gets a checkpoint after every row. From the first tick on, the ticker alone
 * decides (it notices any change of pace). If the thread cannot start, the loop learns it at
 * a checkpoint after its next yield to the event loop.
 */
export class TickerStart {
  #ticking = false;
  #stride = 1;
  #lastCheck: number;
  #failure: unknown;

  constructor(ticker: Ticker, now: number) {
    this.#lastCheck = now;
    ticker.ready.catch((cause: unknown) => {
      this.#failure = cause ?? new Error('the thread did not start');
    });
  }

  /** Whether the loop may now leave checkpoints to the ticker alone. */
  get ticking(): boolean {
    return this.#ticking;
  }

  /**
   * At a checkpoint at `now`, with `ticked` saying whether the tick flag was up: the row
   * count before which the loop must look again without a tick (Infinity once ticking).
   * @throws the ticker's start failure, once known
   */
  nextCheck(row: number, now: number, ticked: boolean): number {
    if (ticked) this.#ticking = true;
    if (this.#ticking) return Number.POSITIVE_INFINITY;
    if (this.#failure !== undefined) throw this.#failure;
    const gap = now - this.#lastCheck;
    if (gap < 0.5) this.#stride = Math.min(this.#stride * 2, MAX_STRIDE);
    else if (gap > 2) this.#stride = Math.max(1, this.#stride >> 1);
    this.#lastCheck = now;
    return row + this.#stride;
  }
}
