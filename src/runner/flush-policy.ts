import { MmrunError, show } from '../errors.ts';

/** The hybrid flush policy: flush every `every` iterations or `intervalSeconds`, whichever first. */
export interface FlushPolicy {
  /**
   * Flush after this many new rows.
   * @default 1_000_000
   */
  readonly every: number;
  /**
   * Flush when this many seconds passed since the last flush.
   * @default 10
   */
  readonly intervalSeconds: number;
}

/**
 * Defaults: at most 10 s of work is lost to a crash, and a fast experiment (millions of
 * rows/s) flushes a few times a second, which costs a few percent (see bench/).
 */
export const DEFAULT_FLUSH_POLICY: FlushPolicy = { every: 1_000_000, intervalSeconds: 10 };

/** Fills in defaults and validates. @throws MmrunError BAD_OPTION naming the option. */
export function normalizeFlushPolicy(options: Partial<FlushPolicy> = {}): FlushPolicy {
  const every = options.every ?? DEFAULT_FLUSH_POLICY.every;
  const intervalSeconds = options.intervalSeconds ?? DEFAULT_FLUSH_POLICY.intervalSeconds;
  if (!Number.isSafeInteger(every) || every < 1) {
    throw new MmrunError('BAD_OPTION', `--flush-every must be a positive whole number, got ${show(every)}`, {
      remedy: 'pass e.g. --flush-every 100000',
    });
  }
  if (!(intervalSeconds > 0) || !Number.isFinite(intervalSeconds)) {
    throw new MmrunError(
      'BAD_OPTION',
      `--flush-interval must be a positive number of seconds, got ${show(intervalSeconds)}`,
      {
        remedy: 'pass e.g. --flush-interval 10',
      },
    );
  }
  return { every, intervalSeconds };
}

/**
 * Decides when a flush is due. The loop leaves its fast path at `next` (the count-based
 * flush or a segment's end) or when the ticker says time passed; only then does it read
 * the clock and ask `check`.
 */
export class Pacer {
  readonly #policy: FlushPolicy;
  /** The iteration index at which the loop must look even if no tick came. */
  next = 0;
  #lastFlushAt = 0;
  #flushedRows = 0;

  constructor(policy: FlushPolicy, flushedRows: number, now: number) {
    this.#policy = policy;
    this.#flushedRows = flushedRows;
    this.#lastFlushAt = now;
    this.next = flushedRows + policy.every;
  }

  /** Whether a flush is due at row count `i` (rows [0, i) written) at time `now` (ms). */
  check(i: number, now: number): boolean {
    return (
      i - this.#flushedRows >= this.#policy.every || now - this.#lastFlushAt >= this.#policy.intervalSeconds * 1000
    );
  }

  /** When the last flush happened (ms, the clock `check` is given). */
  get lastFlushAt(): number {
    return this.#lastFlushAt;
  }

  /** Records a flush of rows [0, i) at `now`. */
  flushed(i: number, now: number): void {
    this.#flushedRows = i;
    this.#lastFlushAt = now;
  }

  /** Sets `next`: the next count-based flush, capped by `limit` (the segment's or run's end). */
  schedule(limit: number): void {
    this.next = Math.min(this.#flushedRows + this.#policy.every, limit);
  }
}
