import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { resumeRun } from '../../runner/run.ts';
import { deferred } from '../deferred.ts';
import { runSession, type SessionArgs, sessionOptions } from '../session.ts';

interface ResumeArgs extends SessionArgs {
  'run-id': string;
  'allow-changed'?: boolean;
  iterations?: string;
}

export const resumeCommand: CommandModule<object, ResumeArgs> = {
  command: 'resume <run-id>',
  describe: 'Continue a run from its last flushed row',
  builder: (y) =>
    sessionOptions(y as Argv<ResumeArgs>)
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
      .example('$0 resume walk-20261126-101500-1a2b', 'continue after a crash, a kill or Ctrl-C')
      .example('$0 resume walk-20261126-101500-1a2b --iterations 2e6', 'extend a finished run to 2,000,000 rows'),
  handler: deferred((argv: ArgumentsCamelCase<ResumeArgs>) =>
    runSession(argv, (hooks) =>
      resumeRun({
        runId: argv['run-id'],
        runsDir: argv['runs-dir'],
        allowChanged: argv['allow-changed'],
        iterations: argv.iterations,
        ...hooks,
      }),
    ),
  ),
};
