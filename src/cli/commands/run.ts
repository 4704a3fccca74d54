import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { startRun } from '../../runner/run.ts';
import { parseShard, shardFromEnvironment } from '../../shards.ts';
import { deferred } from '../deferred.ts';
import { runOptionsOf } from '../run-options.ts';
import { runSession, type SessionArgs, sessionOptions } from '../session.ts';

interface RunArgs extends SessionArgs {
  experiment: string;
  iterations?: string;
  seed?: number;
  param?: string[];
  id?: string;
  'flush-every'?: string;
  'flush-interval'?: number;
  'segment-rows'?: string;
  workers?: string;
  shard?: string;
  'shard-count'?: number;
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <experiment>',
  describe: 'Start a new run of an experiment',
  builder: (y) =>
    sessionOptions(y as Argv<RunArgs>)
      .positional('experiment', {
        type: 'string',
        describe: 'path to a .ts/.js module, or a name in experiments/',
        demandOption: true,
      })
      .option('iterations', {
        alias: 'n',
        type: 'string',
        describe: "rows to compute (1e6 and 1_000_000 work); default: the experiment's",
      })
      .option('seed', { type: 'number', describe: 'random seed (default: random, recorded)' })
      .option('param', {
        alias: 'p',
        type: 'string',
        array: true,
        describe: 'key=value, typed by the default; repeatable',
      })
      .option('id', { type: 'string', describe: 'run id (default: <experiment>-<time>-<hex>)' })
      .option('flush-every', { type: 'string', describe: 'flush every N iterations [default: 1000000]' })
      .option('flush-interval', { type: 'number', describe: 'flush every T seconds [default: 10]' })
      .option('segment-rows', { type: 'string', describe: 'rows per segment file [default: what fits in 1 GiB]' })
      .option('workers', {
        alias: 'w',
        type: 'string',
        describe: 'worker threads, each computing one contiguous shard of the rows [default: 1]',
      })
      .option('shard', {
        type: 'string',
        describe:
          'I/N: compute only shard I of N of the iterations (one machine of a cluster job; `mmrun merge` joins them) [default: from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX]',
      })
      .option('shard-count', {
        type: 'number',
        describe: 'N for a Kubernetes Indexed Job (JOB_COMPLETION_INDEX gives I) [default: $MMRUN_SHARD_COUNT]',
      })
      .example('$0 run experiments/walk.ts --iterations 1e6 --seed 42', 'a random walk of a million steps')
      .example('$0 run pi --param batch=64 --id pi-1', 'an example by name, with a param and an id')
      .example('$0 run pi -n 1e8 --workers 2', 'two worker threads, each computing half of the rows'),
  handler: deferred((argv: ArgumentsCamelCase<RunArgs>) =>
    runSession(argv, async (hooks) => {
      const shard =
        argv.shard === undefined ? shardFromEnvironment(process.env, argv['shard-count']) : parseShard(argv.shard);
      return startRun({ ...(await runOptionsOf(argv, shard)), ...hooks });
    }),
  ),
};
