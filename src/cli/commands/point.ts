import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { runPlannedPoint } from '../../sweep/cluster.ts';
import { deferred } from '../deferred.ts';
import { runSession, type SessionArgs, sessionOptions } from '../session.ts';

interface PointArgs extends SessionArgs {
  plan: string;
  index?: number;
}

export const pointCommand: CommandModule<object, PointArgs> = {
  command: 'point <plan>',
  describe: 'Compute (or continue) one point of a sweep planned for a cluster by `mmrun slurm --sweep`',
  builder: (y) =>
    sessionOptions(y as Argv<PointArgs>)
      .positional('plan', {
        type: 'string',
        demandOption: true,
        describe: 'the sweep plan, <results>/<sweep-id>.sweep.json',
      })
      .option('index', {
        type: 'number',
        describe: 'the point, 0-based [default: from SLURM_ARRAY_TASK_ID, or JOB_COMPLETION_INDEX]',
      })
      .example('$0 point /shared/w/S.sweep.json --index 3 --runs-dir /tmp/w3', 'point 3: started, or resumed'),
  handler: deferred((argv: ArgumentsCamelCase<PointArgs>) =>
    runSession(argv, (hooks) =>
      runPlannedPoint({
        plan: argv.plan,
        index: argv.index,
        environment: process.env,
        runsDir: argv['runs-dir'],
        ...hooks,
      }),
    ),
  ),
};
