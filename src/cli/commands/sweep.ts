import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { MmrunError } from '../../errors.ts';
import { extendSweep, startSweep } from '../../sweep/sweep.ts';
import { deferred } from '../deferred.ts';
import { parseSweepArgs } from '../sweep-args.ts';
import { runSweepSession } from '../sweep-session.ts';

interface SweepArgs {
  experiment: string;
  grid?: string[];
  points?: string;
  seeds?: string;
  seed?: number;
  iterations?: string;
  param?: string[];
  jobs?: string;
  id?: string;
  yes?: boolean;
  extend?: boolean;
  quiet?: boolean;
  'flush-every'?: string;
  'flush-interval'?: number;
  'segment-rows'?: string;
  'runs-dir'?: string;
}

export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: 'sweep <experiment>',
  describe: 'Run an experiment over a grid of params × replicate seeds, each point a run; resumable as a whole',
  builder: (y) =>
    (y as Argv<SweepArgs>)
      .positional('experiment', {
        type: 'string',
        describe: 'path to a .ts/.js module, or a name in experiments/',
        demandOption: true,
      })
      .option('grid', {
        alias: 'g',
        type: 'string',
        array: true,
        describe: 'key=v1,v2,... or key=a:b:n (n values a..b) or key=a:b:n:log; repeatable (cartesian product)',
      })
      .option('points', { type: 'string', describe: 'a .jsonl or .csv file of parameter sets (instead of --grid)' })
      .option('seeds', {
        type: 'string',
        describe: 'replicates per parameter set; replicate r uses seed S+r [default: 1]',
      })
      .option('seed', { type: 'number', describe: 'S, the seed of replicate 0 (default: random, recorded)' })
      .option('iterations', { alias: 'n', type: 'string', describe: "rows per point; default: the experiment's" })
      .option('param', { alias: 'p', type: 'string', array: true, describe: 'key=value for every point; repeatable' })
      .option('jobs', { alias: 'j', type: 'string', describe: 'points computed at once [default: the cores]' })
      .option('id', { type: 'string', describe: 'sweep id (default: <experiment>-sweep-<time>-<hex>)' })
      .option('extend', {
        type: 'boolean',
        describe:
          'add grid values, parameter sets or seeds to the existing sweep --id (its seed, iterations and params kept; existing points not recomputed)',
      })
      .option('yes', { type: 'boolean', describe: 'allow a sweep of more than 1,000,000 points' })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress line or summary (errors still print)' })
      .option('flush-every', { type: 'string', describe: 'flush every N iterations [default: 1000000]' })
      .option('flush-interval', { type: 'number', describe: 'flush every T seconds [default: 10]' })
      .option('segment-rows', { type: 'string', describe: 'rows per segment file [default: what fits in 1 GiB]' })
      .example('$0 sweep walk --grid drift=0:0.2:5 --seeds 3 --seed 1 -n 1e5', '5 drifts × 3 seeds = 15 runs')
      .example('$0 sweep pi --points sets.csv --jobs 2', 'an explicit list of parameter sets')
      .example('$0 sweep walk --extend --id S --grid drift=0.3,0.4 --seeds 5', 'more drifts and seeds for sweep S'),
  handler: deferred(async (argv: ArgumentsCamelCase<SweepArgs>) => {
    if (argv.extend) {
      const kept = (['seed', 'iterations', 'param', 'flush-every', 'flush-interval', 'segment-rows'] as const).filter(
        (flag) => argv[flag] !== undefined,
      );
      if (argv.id === undefined || kept.length > 0) {
        throw new MmrunError(
          'BAD_OPTION',
          argv.id === undefined
            ? '--extend needs --id <sweep-id>'
            : `--extend keeps the sweep's ${kept.map((f) => `--${f}`).join(', ')}`,
          { remedy: 'pass --extend --id <sweep-id> with only --grid/--points, --seeds and --jobs' },
        );
      }
      const id = argv.id;
      const parsed = await parseSweepArgs(argv);
      return runSweepSession(argv, (hooks) =>
        extendSweep({
          experiment: argv.experiment,
          runsDir: argv['runs-dir'],
          id,
          ...parsed,
          points: argv.points,
          yes: argv.yes,
          ...hooks,
        }),
      );
    }
    const parsed = await parseSweepArgs(argv);
    return runSweepSession(argv, (hooks) =>
      startSweep({
        experiment: argv.experiment,
        runsDir: argv['runs-dir'],
        ...parsed,
        points: argv.points,
        seed: argv.seed,
        id: argv.id,
        yes: argv.yes,
        flushInterval: argv['flush-interval'],
        ...hooks,
      }),
    );
  }),
};
