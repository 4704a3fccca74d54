import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { listRuns } from '../../catalog/query.ts';
import { config } from '../../config.ts';
import { runView } from '../../read/run-view.ts';
import { resolveRunsDir } from '../../runs-dir.ts';
import { listSweeps } from '../../sweep/view.ts';
import { deferred } from '../deferred.ts';
import { age, count, duration, table } from '../output.ts';
import { runsDirFlag } from '../report.ts';

interface ListArgs {
  json?: boolean;
  status?: string[];
  experiment?: string;
  all?: boolean;
  'runs-dir'?: string;
}

export const listCommand: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'List the runs of a runs directory',
  builder: (y) =>
    (y as Argv<ListArgs>)
      .option('json', { type: 'boolean', describe: 'print a JSON array' })
      .option('status', {
        type: 'string',
        array: true,
        choices: ['running', 'interrupted', 'crashed', 'failed', 'completed'],
        describe: 'only runs with this status (repeatable)',
      })
      .option('experiment', { type: 'string', describe: 'only runs of this experiment' })
      .option('all', { alias: 'a', type: 'boolean', describe: 'also the runs of the points of sweeps' })
      .example('$0 list --status crashed --status interrupted', 'what needs resuming')
      .example('$0 list', 'the runs in ./runs')
      .example('$0 list --json --runs-dir /scratch/runs', 'machine-readable'),
  handler: deferred((argv: ArgumentsCamelCase<ListArgs>) => {
    const runsDir = resolveRunsDir(argv['runs-dir']);
    const wanted = (r: { status: string; experiment: string }) =>
      (!argv.status || argv.status.includes(r.status)) && (!argv.experiment || r.experiment === argv.experiment);
    const { sweeps: allSweeps, pointRuns } = listSweeps(runsDir);
    const sweeps = allSweeps.filter(wanted);
    const runs = listRuns(runsDir).filter((r) => wanted(r) && (argv.all || !pointRuns.has(r.id)));
    if (argv.json) {
      // Sweeps first (`kind: 'sweep'`, with their points), then runs.
      process.stdout.write(`${JSON.stringify([...sweeps, ...runs.map((r) => runView(r, runsDir))], null, 2)}\n`);
      return;
    }
    if (runs.length === 0 && sweeps.length === 0) {
      process.stdout.write(`no runs in ${runsDir}${argv.status || argv.experiment ? ' match' : ''}\n`);
      return;
    }
    const color = process.stdout.isTTY === true && !config().noColor;
    const paint = (status: string) =>
      !color
        ? status
        : status === 'crashed' || status === 'failed'
          ? `\x1b[1;31m${status}\x1b[0m`
          : status === 'interrupted'
            ? `\x1b[33m${status}\x1b[0m`
            : status === 'completed'
              ? `\x1b[32m${status}\x1b[0m`
              : status;
    const sweepRows = sweeps.map((s) => [
      s.id,
      s.experiment,
      paint(s.status),
      `sweep: ${s.done}/${s.total} points${s.etaSeconds === null ? '' : `, ETA ${duration(s.etaSeconds * 1000)}`}`,
      '-',
      age(s.updatedAt),
    ]);
    const rows = runs.map((r) => [
      r.id,
      r.experiment,
      paint(r.status),
      `${((100 * r.doneRows) / r.iterations).toFixed(1).padStart(5)}% of ${count(r.iterations)}`,
      r.rowsPerSecond === undefined ? '-' : count(r.rowsPerSecond),
      age(r.updatedAt),
    ]);
    process.stdout.write(
      `${table(['ID', 'EXPERIMENT', 'STATUS', 'PROGRESS', 'ROWS/S', 'UPDATED'], [...sweepRows, ...rows])}\n`,
    );
    for (const r of [...sweeps, ...runs].filter(
      (x) => x.status === 'crashed' || x.status === 'interrupted' || (x.status === 'failed' && 'kind' in x),
    )) {
      process.stdout.write(`hint: ${r.id} is ${r.status}: mmrun resume ${r.id}${runsDirFlag(argv['runs-dir'])}\n`);
    }
  }),
};
