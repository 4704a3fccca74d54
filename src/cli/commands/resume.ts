import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { SweepCatalog } from '../../catalog/sweeps.ts';
import { MmrunError } from '../../errors.ts';
import { resumeRun } from '../../runner/run.ts';
import { resolveRunsDir } from '../../runs-dir.ts';
import { resumeSweep } from '../../sweep/sweep.ts';
import { deferred } from '../deferred.ts';
import { extendToOf } from '../run-options.ts';
import { runSession, type SessionArgs, sessionOptions } from '../session.ts';
import { parsePositiveInt } from '../sweep-args.ts';
import { runSweepSession } from '../sweep-session.ts';

interface ResumeArgs extends SessionArgs {
  'run-id': string;
  'allow-changed'?: boolean;
  iterations?: string;
  jobs?: string;
}

export const resumeCommand: CommandModule<object, ResumeArgs> = {
  command: 'resume <run-id>',
  describe: 'Continue a run from its last flushed row, or every unfinished point of a sweep',
  builder: (y) =>
    sessionOptions(y as Argv<ResumeArgs>)
      .positional('run-id', {
        type: 'string',
        describe: 'the run or sweep to continue (see `mmrun list`)',
        demandOption: true,
      })
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
      .option('jobs', {
        alias: 'j',
        type: 'string',
        describe: 'for a sweep: points computed at once [default: the cores]',
      })
      .example('$0 resume walk-20261126-101500-1a2b', 'continue after a crash, a kill or Ctrl-C')
      .example('$0 resume walk-sweep-20261126-101500-1a2b', 'continue every unfinished point of a sweep')
      .example('$0 resume walk-20261126-101500-1a2b --iterations 2e6', 'extend a finished run to 2,000,000 rows'),
  handler: deferred((argv: ArgumentsCamelCase<ResumeArgs>) => {
    if (SweepCatalog.isSweep(resolveRunsDir(argv['runs-dir']), argv['run-id'])) {
      if (argv.iterations !== undefined) {
        throw new MmrunError('BAD_OPTION', `--iterations cannot extend sweep '${argv['run-id']}'`, {
          remedy: 'leave --iterations out to continue the sweep',
        });
      }
      return runSweepSession(argv, (hooks) =>
        resumeSweep({
          sweepId: argv['run-id'],
          runsDir: argv['runs-dir'],
          jobs: parsePositiveInt(argv.jobs, '--jobs'),
          allowChanged: argv['allow-changed'],
          ...hooks,
        }),
      );
    }
    return runSession(argv, (hooks) =>
      resumeRun({
        runId: argv['run-id'],
        runsDir: argv['runs-dir'],
        allowChanged: argv['allow-changed'],
        iterations: extendToOf(argv.iterations),
        ...hooks,
      }),
    );
  }),
};
