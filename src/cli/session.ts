import type { Argv } from 'yargs';
import { MmrunError } from '../errors.ts';
import type { FlushRequest, Progress, RunResult, StartInfo } from '../runner/run.ts';
import { progressReporter } from './progress.ts';
import { announce, reportRun } from './report.ts';
import { abortOnSignals, flushOnSignal, signalName } from './signals.ts';

/** The options `run` and `resume` share: how a session talks to the terminal and to signals. */
export interface SessionArgs {
  quiet?: boolean;
  'checkpoint-signal'?: string;
  'preempt-signal'?: string;
  'runs-dir'?: string;
}

/** What the runner needs from the CLI to drive a session. */
export interface SessionHooks {
  readonly signal: AbortSignal;
  readonly flushRequest: FlushRequest | undefined;
  readonly onStart: (info: StartInfo) => void;
  readonly onProgress: ((progress: Progress) => void) | undefined;
  /** Prints a warning about the run (e.g. its code: src/fingerprint/). */
  readonly onWarning: (message: string) => void;
}

/** Declares `--quiet` and `--checkpoint-signal`. */
export function sessionOptions<T extends SessionArgs>(y: Argv<T>): Argv<T> {
  return y
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress line or summary (errors still print)' })
    .option('checkpoint-signal', {
      type: 'string',
      describe: 'a signal (e.g. SIGUSR2) on which to flush and keep running',
    })
    .option('preempt-signal', {
      type: 'string',
      describe:
        "a signal (e.g. SIGUSR1, Slurm's --signal=B:USR1@120 warning) on which to flush, record interrupted and exit 128+n, for the batch script to requeue",
    }) as Argv<T>;
}

/**
 * Runs one session of a run (started or resumed): stop signals, the checkpoint signal and
 * progress wired in, the summary printed, the exit code set.
 */
export async function runSession(argv: SessionArgs, start: (hooks: SessionHooks) => Promise<RunResult>): Promise<void> {
  const quiet = argv.quiet === true;
  const preempt = argv['preempt-signal'] && signalName(argv['preempt-signal'], '--preempt-signal');
  if (
    preempt &&
    argv['checkpoint-signal'] &&
    signalName(argv['checkpoint-signal'], '--checkpoint-signal') === preempt
  ) {
    throw new MmrunError('BAD_OPTION', `${preempt} cannot both checkpoint (keep running) and preempt (stop)`, {
      remedy: 'use two different signals, e.g. --checkpoint-signal SIGUSR2 --preempt-signal SIGUSR1',
    });
  }
  const progress = progressReporter({ quiet });
  const result = await start({
    signal: abortOnSignals(preempt || undefined),
    flushRequest: flushOnSignal(argv['checkpoint-signal']),
    onStart: (info) => announce(info, quiet),
    onProgress: progress.onProgress,
    onWarning: (message) => process.stderr.write(`mmrun: warning: ${message}\n`),
  });
  progress.done();
  process.exitCode = reportRun(result, argv['runs-dir'], quiet);
}
