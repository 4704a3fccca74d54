import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { getRun } from '../../catalog/query.ts';
import { removeRun } from '../../manage/remove.ts';
import { resolveRunsDir } from '../../runs-dir.ts';
import { confirm } from '../confirm.ts';
import { deferred } from '../deferred.ts';
import { count, say } from '../output.ts';

interface RmArgs {
  'run-id': string;
  yes?: boolean;
  'runs-dir'?: string;
}

export const rmCommand: CommandModule<object, RmArgs> = {
  command: 'rm <run-id>',
  describe: 'Remove a run: its results, checkpoints and history (refuses a live run)',
  builder: (y) =>
    (y as Argv<RmArgs>)
      .positional('run-id', { type: 'string', demandOption: true })
      .option('yes', { alias: 'y', type: 'boolean', describe: 'do not ask' })
      .example('$0 rm walk-20261126-101500-1a2b --yes', 'remove without asking'),
  handler: deferred(async (argv: ArgumentsCamelCase<RmArgs>) => {
    const runsDir = resolveRunsDir(argv['runs-dir']);
    const { run } = getRun(runsDir, argv['run-id']);
    const what = `remove run '${run.id}' (${run.status}, ${count(run.flushedRows)} rows)?`;
    if (!argv.yes && !(await confirm(what))) {
      say('mmrun: nothing removed');
      return;
    }
    removeRun(run.id, runsDir);
    say(`mmrun: removed ${run.id}`);
  }),
};
