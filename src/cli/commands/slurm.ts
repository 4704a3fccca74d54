import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { checkThrottle, mergeCommand, slurmScript, submit, submitArray } from '../../cluster/slurm.ts';
import { MmrunError } from '../../errors.ts';
import { loadExperiment, resolveExperiment } from '../../experiment/load.ts';
import { applyParams, parseCount } from '../../experiment/params.ts';
import { randomSeed } from '../../experiment/rng.ts';
import { checkRunId, newRunId } from '../../runs-dir.ts';
import { writeSlurmSweep } from '../../sweep/cluster.ts';
import { deferred } from '../deferred.ts';
import { say } from '../output.ts';
import { displayPath } from '../report.ts';
import { parseSweepArgs } from '../sweep-args.ts';

interface SlurmArgs {
  experiment: string;
  shards?: number;
  sweep?: boolean;
  grid?: string[];
  points?: string;
  seeds?: string;
  throttle?: string;
  yes?: boolean;
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
  describe:
    'Write (and with --submit, submit) a Slurm job array that runs an experiment in shards, or a sweep one point per task',
  builder: (y) =>
    (y as Argv<SlurmArgs>)
      .positional('experiment', { type: 'string', demandOption: true, describe: 'path or name, as for run' })
      .option('shards', { type: 'number', describe: 'array tasks, one shard of the rows each' })
      .option('sweep', {
        type: 'boolean',
        describe: 'a sweep instead (--grid/--points, --seeds): array task i computes point i; needs --results',
      })
      .option('grid', {
        alias: 'g',
        type: 'string',
        array: true,
        describe: 'with --sweep: key=v1,v2,... or key=a:b:n[:log], as for sweep; repeatable',
      })
      .option('points', { type: 'string', describe: 'with --sweep: a .jsonl or .csv file of parameter sets' })
      .option('seeds', { type: 'string', describe: 'with --sweep: replicates per parameter set (seeds S..S+K-1)' })
      .option('throttle', { type: 'string', describe: 'at most N array tasks at once (--array=…%N)' })
      .option('yes', { type: 'boolean', describe: 'with --sweep: allow more than 1,000,000 points' })
      .option('id', {
        type: 'string',
        describe: "the job's run id, or the sweep's id [default: <experiment>-<time>-<hex>, <experiment>-sweep-…]",
      })
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
      .example('$0 slurm pi --shards 16 -n 1e9 --time 04:00:00 --submit', '16 tasks, merged when all are done')
      .example(
        '$0 slurm walk --sweep --grid drift=0:0.1:5 --seeds 4 --seed 1 --results /shared/w --throttle 8 --submit',
        '20 points, 8 at a time, gathered into one sweep in /shared/w/runs',
      ),
  handler: deferred(async (argv: ArgumentsCamelCase<SlurmArgs>) => {
    checkMode(argv);
    if (argv.sweep) return slurmSweep(argv);
    const shards = argv.shards!;
    const file = resolveExperiment(argv.experiment);
    const loaded = await loadExperiment(file);
    const iterations = parseCount(argv.iterations ?? loaded.experiment.iterations ?? Number.NaN);
    applyParams(loaded.params, argv.param ?? []); // refuses bad params now, not on the cluster
    if (!Number.isSafeInteger(shards) || shards < 1 || shards > iterations) {
      throw new MmrunError('BAD_SHARD', `--shards ${shards} must be a whole number from 1 to ${iterations}`, {
        remedy: 'pass --shards N, e.g. the number of nodes or tasks you want',
      });
    }
    const throttle = argv.throttle === undefined ? undefined : checkThrottle(argv.throttle);
    const id = checkRunId(argv.id ?? newRunId(loaded.name));
    const results = path.resolve(argv.results ?? `mmrun-${id}`);
    const options = {
      experiment: loaded.path,
      id,
      shards,
      iterations,
      seed: argv.seed ?? randomSeed(),
      params: argv.param ?? [],
      results,
      partition: argv.partition,
      time: argv.time,
      cpusPerTask: argv['cpus-per-task'],
      warnSeconds: argv['warn-seconds'],
      throttle,
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
      `mmrun: wrote ${displayPath(out)}: ${shards} array tasks of '${loaded.name}', job '${id}', seed ${options.seed}`,
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

/** Refuses flags of the other mode, and neither mode: nothing is written. */
function checkMode(argv: SlurmArgs): void {
  if (argv.sweep && argv.shards !== undefined) {
    throw new MmrunError(
      'BAD_OPTION',
      '--sweep and --shards both given: a job array is either shards of one run or a sweep',
      {
        remedy: 'leave out --shards (a sweep has one task per point) or --sweep',
      },
    );
  }
  if (!argv.sweep) {
    const sweepOnly = (['grid', 'points', 'seeds', 'yes'] as const).filter((f) => argv[f] !== undefined);
    if (sweepOnly.length > 0) {
      throw new MmrunError('BAD_OPTION', `${sweepOnly.map((f) => `--${f}`).join(', ')} need --sweep`, {
        remedy: 'add --sweep for a sweep of one task per point, or leave them out for --shards N',
      });
    }
    if (argv.shards === undefined) {
      throw new MmrunError(
        'USAGE',
        'mmrun slurm needs --shards N (one run in N shards) or --sweep (one task per point)',
        {
          remedy: 'e.g. mmrun slurm pi --shards 16, or mmrun slurm walk --sweep --grid drift=0,0.1 --results DIR',
        },
      );
    }
    return;
  }
  if (argv.results === undefined) {
    throw new MmrunError('BAD_OPTION', '--sweep needs --results DIR, a directory every node of the cluster sees', {
      remedy: "pass --results /shared/path (the plan, the points' copies, logs and the merged sweep go there)",
    });
  }
}

/** `mmrun slurm --sweep`: the plan and the script, and with --submit the array and the merge job. */
async function slurmSweep(argv: ArgumentsCamelCase<SlurmArgs>): Promise<void> {
  const written = await writeSlurmSweep({
    experiment: argv.experiment,
    results: argv.results!,
    ...(await parseSweepArgs(argv)),
    points: argv.points,
    seed: argv.seed,
    id: argv.id,
    yes: argv.yes,
    flushInterval: argv['flush-interval'],
    ...(argv.throttle === undefined ? {} : { throttle: checkThrottle(argv.throttle) }),
    partition: argv.partition,
    time: argv.time,
    cpusPerTask: argv['cpus-per-task'],
    warnSeconds: argv['warn-seconds'],
    out: argv.out,
  });
  const { plan, scriptFile, results } = written;
  process.stdout.write(`${scriptFile}\n`);
  say(
    `mmrun: wrote ${displayPath(scriptFile)}: ${plan.points.length} array tasks, one per point of sweep '${plan.id}' of '${plan.experiment}', seed ${plan.spec.seed}`,
  );
  say(`  plan: ${displayPath(written.planFile)}`);
  if (argv.submit) {
    const jobs = submitArray(scriptFile, {
      id: plan.id,
      results,
      partition: argv.partition,
      merge: written.mergeCommand,
    });
    say(`  submitted: array job ${jobs.arrayJob}; merge job ${jobs.mergeJob} runs after every task succeeds`);
    say(`  merged sweep: ${results}/runs (mmrun show ${plan.id} --runs-dir ${results}/runs)`);
  } else {
    say(`  submit with: sbatch ${displayPath(scriptFile)}`);
    say(`  then, when every task is done: ${written.mergeCommand}`);
  }
}
