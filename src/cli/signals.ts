import { constants } from 'node:os';
import { MmrunError, show } from '../errors.ts';
import { FlushRequest } from '../runner/flush-request.ts';

/** The signals that stop a run gracefully: finish the iteration, flush, record `interrupted`. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Turns SIGINT, SIGTERM and SIGHUP (and `extra`, e.g. a cluster's preemption signal) into
 * an abort of the returned signal (reason: the signal's name). A second signal during the
 * graceful stop exits at once with 128 + n: that is as safe as kill -9, since the catalog
 * never claims unflushed rows.
 */
export function abortOnSignals(extra?: string): AbortSignal {
  const controller = new AbortController();
  for (const name of [...STOP_SIGNALS, ...(extra ? [extra] : [])]) {
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

/**
 * Makes `signal` (e.g. SIGUSR1, a cluster's preemption warning) request a flush without
 * stopping. Returns the request object to hand to the runner, or undefined if none is set.
 * @throws MmrunError BAD_OPTION for a name that is not a catchable signal.
 */
export function flushOnSignal(signal: string | undefined): FlushRequest | undefined {
  if (signal === undefined) return undefined;
  const name = signalName(signal, '--checkpoint-signal');
  const request = new FlushRequest();
  process.on(name, () => request.request());
  return request;
}

/**
 * The full name of a signal mmrun may catch for `option` (`usr1` → `SIGUSR1`).
 * @throws MmrunError BAD_OPTION for a name that is not a catchable signal.
 */
export function signalName(signal: string, option: string): string {
  const name = signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
  if (!(name in constants.signals) || ['SIGKILL', 'SIGSTOP', ...STOP_SIGNALS].includes(name)) {
    throw new MmrunError('BAD_OPTION', `${option} ${show(signal)} is not a signal mmrun can catch for this`, {
      remedy: 'use e.g. SIGUSR1 or SIGUSR2 (SIGINT, SIGTERM and SIGHUP already stop the run gracefully)',
    });
  }
  return name;
}
