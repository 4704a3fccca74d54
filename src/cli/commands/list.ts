import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { listRuns } from '../../catalog/query.ts';
import { resolveRunsDir } from '../../runner/run.ts';
import { deferred } from '../deferred.ts';
import { table } from '../output.ts';
import { runsDirFlag } from '../report.ts';
import { runView } from '../views.ts';

interface ListArgs {
  json?: boolean;
  'runs-dir'?: string;
}

export const listCommand: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'List the runs of a runs directory',
  builder: (y) =>
    (y as Argv<ListArgs>)
      .option('json', { type: 'boolean', describe: 'print a JSON array' })
      .example('$0 list', 'the runs in ./runs')
      .example('$0 list --json --runs-dir /scratch/runs', 'machine-readable'),
  handler: deferred((argv: ArgumentsCamelCase<ListArgs>) => {
    const runsDir = resolveRunsDir(argv['runs-dir']);
    const runs = listRuns(runsDir);
    if (argv.json) {
      process.stdout.write(
        `${JSON.stringify(
          runs.map((r) => runView(r, runsDir)),
          null,
          2,
        )}\n`,
      );
      return;
    }
    if (runs.length === 0) {
      process.stdout.write(`no runs in ${runsDir}\n`);
      return;
    }
    const rows = runs.map((r) => [
      r.id,
      r.experiment,
      r.status,
      `${r.flushedRows}/${r.iterations} (${((100 * r.flushedRows) / r.iterations).toFixed(1)}%)`,
      r.updatedAt.replace('T', ' ').slice(0, 19),
    ]);
    process.stdout.write(`${table(['ID', 'EXPERIMENT', 'STATUS', 'ROWS', 'UPDATED'], rows)}\n`);
    const crashed = runs.filter((r) => r.status === 'crashed' || r.status === 'interrupted');
    for (const r of crashed) process.stdout.write(`hint: mmrun resume ${r.id}${runsDirFlag(argv['runs-dir'])}\n`);
  }),
};
