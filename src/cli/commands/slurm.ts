import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { mergeCommand, slurmScript, submit } from '../../cluster/slurm.ts';
import { MmrunError } from '../../errors.ts';
import { loadExperiment, resolveExperiment } from '../../experiment/load.ts';
import { applyParams, parseCount } from '../../experiment/params.ts';
import { randomSeed } from '../../experiment/rng.ts';
import { checkRunId, newRunId } from '../../runs-dir.ts';
import { deferred } from '../deferred.ts';
import { say } from '../output.ts';
import { displayPath } from '../report.ts';

interface SlurmArgs {
  experiment: string;
  shards: number;
  id?: string;
  iterations?: string;
  seed?: number;
  param?: string[];
  results?: string;
  partition?: string;
  time?: string;
  'cpus-per-task'?: number;
  'warn-seconds'?: number;
  'flush-every'?: string;
  'flush-interval'?: number;
  'segment-rows'?: string;
  out?: string;
  submit?: boolean;
}

export const slurmCommand: CommandModule<object, SlurmArgs> = {
  command: 'slurm <experiment>',
  describe: 'Write (and with --submit, submit) a Slurm job array that runs an experiment in shards',
  builder: (y) =>
    (y as Argv<SlurmArgs>)
      .positional('experiment', { type: 'string', demandOption: true, describe: 'path or name, as for run' })
      .option('shards', { type: 'number', demandOption: true, describe: 'array tasks, one shard of the rows each' })
      .option('id', { type: 'string', describe: "the job's run id [default: <experiment>-<time>-<hex>]" })
      .option('iterations', {
        alias: 'n',
        type: 'string',
        describe: "rows of the whole job [default: the experiment's]",
      })
      .option('seed', { type: 'number', describe: 'random seed, the same for every shard [default: drawn now]' })
      .option('param', { alias: 'p', type: 'string', array: true, describe: 'key=value, as for run' })
      .option('results', {
        type: 'string',
        describe: 'shared directory for shard copies, logs and the merged run [default: ./mmrun-<id>]',
      })
      .option('partition', { type: 'string', describe: 'Slurm partition' })
      .option('time', { type: 'string', describe: 'Slurm time limit per task, e.g. 04:00:00' })
      .option('cpus-per-task', { type: 'number', describe: 'CPUs per task [default: 1]' })
      .option('warn-seconds', {
        type: 'number',
        describe: 'seconds before the time limit at which Slurm signals a task to flush and requeue [default: 120]',
      })
      .option('flush-every', { type: 'string', describe: 'passed to run: flush every N iterations' })
      .option('flush-interval', { type: 'number', describe: 'passed to run: flush every T seconds' })
      .option('segment-rows', { type: 'string', describe: 'passed to run: rows per segment file' })
      .option('out', { type: 'string', describe: 'where to write the script [default: <results>/<id>.sbatch]' })
      .option('submit', { type: 'boolean', describe: 'submit it with sbatch, and the merge as a dependent job' })
      .example('$0 slurm pi --shards 16 -n 1e9 --time 04:00:00 --submit', '16 tasks, merged when all are done'),
  handler: deferred(async (argv: ArgumentsCamelCase<SlurmArgs>) => {
    const file = resolveExperiment(argv.experiment);
    const loaded = await loadExperiment(file);
    const iterations = parseCount(argv.iterations ?? loaded.experiment.iterations ?? Number.NaN);
    applyParams(loaded.params, argv.param ?? []); // refuses bad params now, not on the cluster
    if (!Number.isSafeInteger(argv.shards) || argv.shards < 1 || argv.shards > iterations) {
      throw new MmrunError('BAD_SHARD', `--shards ${argv.shards} must be a whole number from 1 to ${iterations}`, {
        remedy: 'pass --shards N, e.g. the number of nodes or tasks you want',
      });
    }
    const id = checkRunId(argv.id ?? newRunId(loaded.name));
    const results = path.resolve(argv.results ?? `mmrun-${id}`);
    const options = {
      experiment: loaded.path,
      id,
      shards: argv.shards,
      iterations,
      seed: argv.seed ?? randomSeed(),
      params: argv.param ?? [],
      results,
      partition: argv.partition,
      time: argv.time,
      cpusPerTask: argv['cpus-per-task'],
      warnSeconds: argv['warn-seconds'],
      runOptions: [
        ...(argv['flush-every'] === undefined ? [] : ['--flush-every', argv['flush-every']]),
        ...(argv['flush-interval'] === undefined ? [] : ['--flush-interval', String(argv['flush-interval'])]),
        ...(argv['segment-rows'] === undefined ? [] : ['--segment-rows', argv['segment-rows']]),
      ],
    };
    const out = path.resolve(argv.out ?? path.join(results, `${id}.sbatch`));
    if (fs.existsSync(out)) {
      throw new MmrunError('OUTPUT_EXISTS', `${out} exists; mmrun never overwrites it`, {
        remedy: 'pass another --out, or remove the file',
      });
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, slurmScript(options), { mode: 0o755, flag: 'wx' });
    process.stdout.write(`${out}\n`);
    say(
      `mmrun: wrote ${displayPath(out)}: ${argv.shards} array tasks of '${loaded.name}', job '${id}', seed ${options.seed}`,
    );
    if (argv.submit) {
      const jobs = submit(out, options);
      say(`  submitted: array job ${jobs.arrayJob}; merge job ${jobs.mergeJob} runs after every task succeeds`);
      say(`  merged run: ${results}/runs (mmrun show ${id} --runs-dir ${results}/runs)`);
    } else {
      say(`  submit with: sbatch ${displayPath(out)}`);
      say(`  then, when every task is done: ${mergeCommand(options)}`);
    }
  }),
};
