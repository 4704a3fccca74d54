import { constants } from 'node:os';

/** The signals that stop a run gracefully: finish the iteration, flush, record `interrupted`. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Turns SIGINT, SIGTERM and SIGHUP into an abort of the returned signal (reason: the
 * signal's name). A second signal during the graceful stop exits at once with 128 + n:
 * that is as safe as kill -9, since the catalog never claims unflushed rows.
 */
export function abortOnSignals(): AbortSignal {
  const controller = new AbortController();
  for (const name of STOP_SIGNALS) {
    process.on(name, () => {
      if (controller.signal.aborted) process.exit(exitCodeFor(name));
      controller.abort(name);
    });
  }
  return controller.signal;
}

/** 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP. */
export function exitCodeFor(signal: string): number {
  const n = constants.signals[signal as keyof typeof constants.signals];
  return n === undefined ? 1 : 128 + n;
}
