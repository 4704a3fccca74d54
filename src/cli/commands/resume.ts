import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { resumeRun } from '../../runner/run.ts';
import { deferred } from '../deferred.ts';
import { progressReporter } from '../progress.ts';
import { announce, reportRun } from '../report.ts';
import { abortOnSignals, flushOnSignal } from '../signals.ts';

interface ResumeArgs {
  'run-id': string;
  'allow-changed'?: boolean;
  iterations?: string;
  'runs-dir'?: string;
  'checkpoint-signal'?: string;
  quiet?: boolean;
}

export const resumeCommand: CommandModule<object, ResumeArgs> = {
  command: 'resume <run-id>',
  describe: 'Continue a run from its last flushed row',
  builder: (y) =>
    (y as Argv<ResumeArgs>)
      .positional('run-id', { type: 'string', describe: 'the run to continue (see `mmrun list`)', demandOption: true })
      .option('allow-changed', {
        type: 'boolean',
        describe: "resume although the experiment's source changed since the run began (recorded as an event)",
      })
      .option('iterations', {
        alias: 'n',
        type: 'string',
        describe:
          'extend the run to this many iterations (a completed run continues; results as if asked from the start)',
      })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress line or summary (errors still print)' })
      .option('checkpoint-signal', {
        type: 'string',
        describe: 'a signal (e.g. SIGUSR1) on which to flush and keep running, for preemption warnings',
      })
      .example('$0 resume walk-20261126-101500-1a2b', 'continue after a crash, a kill or Ctrl-C')
      .example('$0 resume walk-20261126-101500-1a2b --iterations 2e6', 'extend a finished run to 2,000,000 rows'),
  handler: deferred(async (argv: ArgumentsCamelCase<ResumeArgs>) => {
    const signal = abortOnSignals();
    const flushRequest = flushOnSignal(argv['checkpoint-signal']);
    const progress = progressReporter({ quiet: argv.quiet === true });
    const result = await resumeRun({
      runId: argv['run-id'],
      runsDir: argv['runs-dir'],
      allowChanged: argv['allow-changed'],
      iterations: argv.iterations,
      signal,
      onStart: (info) => announce(info, argv.quiet === true),
      flushRequest,
      onProgress: progress.onProgress,
    });
    progress.done();
    process.exitCode = reportRun(result, argv['runs-dir'], argv.quiet === true);
  }),
};
