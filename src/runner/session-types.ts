// What a session of a run reports while it runs and when it ends: the types both engines
// report (the loop in this thread, loop-engine.ts; the worker threads, shards.ts) and
// session.ts returns, kept below all of them.
import type { MmrunError } from '../errors.ts';

/** What a running loop reports every `PROGRESS_MS` (runner/loop.ts; see `onProgress`). */
export interface Progress {
  readonly id: string;
  /** Rows written so far (this session and before). */
  readonly rows: number;
  readonly iterations: number;
  readonly startRow: number;
  /** Rows on disk and recorded. */
  readonly flushedRows: number;
  readonly elapsedMs: number;
  /** Rows per second in this session. */
  readonly rowsPerSecond: number;
  /** Time since the last flush: the work a crash right now would lose. */
  readonly msSinceFlush: number;
  /** Rows a crash right now would lose (written, not yet flushed). */
  readonly rowsAtRisk: number;
}

/** How a session of a run ended. */
export interface RunResult {
  readonly id: string;
  readonly runDir: string;
  readonly status: 'completed' | 'interrupted' | 'failed';
  /** The row this session started from. */
  readonly startRow: number;
  /** Rows on disk and recorded when the session ended. */
  readonly flushedRows: number;
  readonly iterations: number;
  readonly elapsedMs: number;
  /** Rows computed per second in this session. */
  readonly rowsPerSecond: number;
  readonly flushes: number;
  /** The abort reason (e.g. 'SIGTERM') for an interrupted run. */
  readonly stopReason?: string;
  /** Why a failed run failed. */
  readonly error?: MmrunError;
}
