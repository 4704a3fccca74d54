import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { RunStatus } from '../../catalog/catalog.ts';
import { removeRun, selectGarbage } from '../../manage/remove.ts';
import { resolveRunsDir } from '../../runs-dir.ts';
import { confirm } from '../confirm.ts';
import { deferred } from '../deferred.ts';
import { age, count, say } from '../output.ts';

interface GcArgs {
  status?: string[];
  'older-than'?: string;
  'dry-run'?: boolean;
  yes?: boolean;
  'runs-dir'?: string;
}

export const gcCommand: CommandModule<object, GcArgs> = {
  command: 'gc',
  describe: 'Remove runs by status and age (never a running one)',
  builder: (y) =>
    (y as Argv<GcArgs>)
      .option('status', {
        type: 'string',
        array: true,
        choices: ['interrupted', 'crashed', 'failed', 'completed'],
        describe: 'remove runs with this status (repeatable)',
      })
      .option('older-than', { type: 'string', describe: 'remove runs not updated for this long: 30m, 12h, 7d, 2w' })
      .option('dry-run', { type: 'boolean', describe: 'show what would be removed, remove nothing' })
      .option('yes', { alias: 'y', type: 'boolean', describe: 'do not ask' })
      .example('$0 gc --status failed --older-than 7d --dry-run', 'what a week-old cleanup would remove'),
  handler: deferred(async (argv: ArgumentsCamelCase<GcArgs>) => {
    const runsDir = resolveRunsDir(argv['runs-dir']);
    const runs = selectGarbage({
      runsDir,
      statuses: argv.status as RunStatus[] | undefined,
      olderThan: argv['older-than'],
    });
    for (const r of runs) {
      process.stdout.write(
        `${argv['dry-run'] ? 'would remove' : 'remove'} ${r.id}  ${r.status}  ${count(r.flushedRows)} rows  updated ${age(r.updatedAt)}\n`,
      );
    }
    if (runs.length === 0) say('mmrun: no run matches');
    if (argv['dry-run'] || runs.length === 0) return;
    if (!argv.yes && !(await confirm(`remove these ${runs.length} runs?`))) {
      say('mmrun: nothing removed');
      return;
    }
    for (const r of runs) removeRun(r.id, runsDir);
    say(`mmrun: removed ${runs.length} run${runs.length === 1 ? '' : 's'}`);
  }),
};
