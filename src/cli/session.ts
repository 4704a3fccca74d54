import type { Argv } from 'yargs';
import type { FlushRequest, Progress, RunResult, StartInfo } from '../runner/run.ts';
import { progressReporter } from './progress.ts';
import { announce, reportRun } from './report.ts';
import { abortOnSignals, flushOnSignal } from './signals.ts';

/** The options `run` and `resume` share: how a session talks to the terminal and to signals. */
export interface SessionArgs {
  quiet?: boolean;
  'checkpoint-signal'?: string;
  'runs-dir'?: string;
}

/** What the runner needs from the CLI to drive a session. */
export interface SessionHooks {
  readonly signal: AbortSignal;
  readonly flushRequest: FlushRequest | undefined;
  readonly onStart: (info: StartInfo) => void;
  readonly onProgress: ((progress: Progress) => void) | undefined;
}

/** Declares `--quiet` and `--checkpoint-signal`. */
export function sessionOptions<T extends SessionArgs>(y: Argv<T>): Argv<T> {
  return y
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress line or summary (errors still print)' })
    .option('checkpoint-signal', {
      type: 'string',
      describe: 'a signal (e.g. SIGUSR1) on which to flush and keep running, for preemption warnings',
    }) as Argv<T>;
}

/**
 * Runs one session of a run (started or resumed): stop signals, the checkpoint signal and
 * progress wired in, the summary printed, the exit code set.
 */
export async function runSession(argv: SessionArgs, start: (hooks: SessionHooks) => Promise<RunResult>): Promise<void> {
  const quiet = argv.quiet === true;
  const progress = progressReporter({ quiet });
  const result = await start({
    signal: abortOnSignals(),
    flushRequest: flushOnSignal(argv['checkpoint-signal']),
    onStart: (info) => announce(info, quiet),
    onProgress: progress.onProgress,
  });
  progress.done();
  process.exitCode = reportRun(result, argv['runs-dir'], quiet);
}
