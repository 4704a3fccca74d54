import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { getRun } from '../../catalog/query.ts';
import { SweepCatalog } from '../../catalog/sweeps.ts';
import { removeRun, removeSweep } from '../../manage/remove.ts';
import { resolveRunsDir } from '../../runs-dir.ts';
import { getSweepView } from '../../sweep/view.ts';
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
  describe: 'Remove a run, or a sweep with all its points: results, checkpoints and history (refuses a live one)',
  builder: (y) =>
    (y as Argv<RmArgs>)
      .positional('run-id', { type: 'string', demandOption: true, describe: 'a run id or a sweep id' })
      .option('yes', { alias: 'y', type: 'boolean', describe: 'do not ask' })
      .example('$0 rm walk-20261126-101500-1a2b --yes', 'remove without asking')
      .example('$0 rm drift', 'remove sweep drift and every point run of it'),
  handler: deferred(async (argv: ArgumentsCamelCase<RmArgs>) => {
    const runsDir = resolveRunsDir(argv['runs-dir']);
    if (SweepCatalog.isSweep(runsDir, argv['run-id'])) {
      const view = getSweepView(runsDir, argv['run-id']);
      const rows = view.points.reduce((n, p) => n + p.flushedRows, 0);
      const what = `remove sweep '${view.id}' (${view.status}, ${view.done}/${view.total} points completed, ${count(rows)} rows) and its ${view.total} point runs?`;
      if (!argv.yes && !(await confirm(what))) {
        say('mmrun: nothing removed');
        return;
      }
      const { runIds } = removeSweep(view.id, runsDir);
      say(`mmrun: removed sweep ${view.id} and its ${runIds.length} point runs`);
      return;
    }
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
