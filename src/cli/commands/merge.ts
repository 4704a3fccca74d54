import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { mergeRuns } from '../../cluster/merge.ts';
import { MmrunError } from '../../errors.ts';
import { mergeSweep } from '../../sweep/merge.ts';
import { deferred } from '../deferred.ts';
import { count, EXIT, say } from '../output.ts';
import { displayPath } from '../report.ts';

interface MergeArgs {
  dirs: string[];
  into: string;
  id: string;
  partial?: boolean;
  sweep?: boolean;
  json?: boolean;
}

export const mergeCommand: CommandModule<object, MergeArgs> = {
  command: 'merge <dirs..>',
  describe:
    'Join the shards of a job run across machines (run --shard I/N) into one run, or the points of a cluster sweep into one sweep',
  builder: (y) =>
    (y as Argv<MergeArgs>)
      .positional('dirs', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: "the shards' runs directories (copied back from the machines); with --sweep, the results directory",
      })
      .option('into', { type: 'string', demandOption: true, describe: 'runs directory for the merged run or sweep' })
      .option('id', {
        type: 'string',
        demandOption: true,
        describe: "the shards' run id (also the merged run's); with --sweep, the sweep's id",
      })
      .option('sweep', {
        type: 'boolean',
        describe: 'gather the points of `mmrun slurm --sweep` (<results>/points/<i>) into one sweep',
      })
      .option('partial', {
        type: 'boolean',
        describe: 'merge although shards are missing or unfinished; `mmrun resume` then computes the rest here',
      })
      .option('json', { type: 'boolean', describe: 'print one JSON object' })
      .example('$0 merge shards/* --into runs --id sweep-1', 'every shard present and completed')
      .example('$0 merge shards/0 shards/2 --into runs --id sweep-1 --partial', 'two of four; resume does the rest')
      .example('$0 merge /shared/w --sweep --id S --into /shared/w/runs', "a cluster sweep's points into one sweep"),
  handler: deferred(async (argv: ArgumentsCamelCase<MergeArgs>) => {
    if (argv.sweep) return mergeSweepCommand(argv);
    let last = 0;
    const result = await mergeRuns({
      sources: argv.dirs,
      into: argv.into,
      id: argv.id,
      partial: argv.partial,
      onProgress: (rows, total) => {
        const now = Date.now();
        if (process.stderr.isTTY && now - last > 250) {
          last = now;
          process.stderr.write(`\rmmrun: merging ${count(rows)} of ${count(total)} rows`);
        }
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    if (argv.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      process.stdout.write(`${result.id}\n`);
      say(
        `mmrun: merged ${result.shards} shards of '${result.id}' into ${displayPath(result.runDir)}: ${count(result.rows)} of ${count(result.iterations)} rows in ${result.segments} segments, ${result.status}`,
      );
      if (result.replacedStopped)
        say('  replaced the run an earlier merge left when it stopped (it had claimed no rows)');
      if (result.status !== 'completed') {
        const what = [
          result.missing.length > 0 ? `missing shards ${result.missing.join(', ')}` : '',
          result.unfinished.length > 0 ? `unfinished shards ${result.unfinished.join(', ')}` : '',
        ].filter(Boolean);
        say(`  ${what.join('; ')}: compute them here with: mmrun resume ${result.id} --runs-dir ${argv.into}`);
      }
    }
    process.exitCode = EXIT.ok;
  }),
};

async function mergeSweepCommand(argv: ArgumentsCamelCase<MergeArgs>): Promise<void> {
  if (argv.dirs.length !== 1) {
    throw new MmrunError('BAD_OPTION', `--sweep merges one results directory, got ${argv.dirs.length}`, {
      remedy: 'pass the --results directory of `mmrun slurm --sweep` (it holds the plan and points/<i>)',
    });
  }
  const result = await mergeSweep({
    results: argv.dirs[0]!,
    id: argv.id,
    into: argv.into,
    partial: argv.partial,
    onProgress: (merged, total) => {
      if (process.stderr.isTTY) process.stderr.write(`\rmmrun: merging point ${merged} of ${total}`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  if (argv.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    process.stdout.write(`${result.id}\n`);
    say(
      `mmrun: merged sweep '${result.id}' into ${displayPath(result.into)}: ${result.completed} of ${result.points} points completed, ${result.status}`,
    );
    if (result.mergedBefore > 0) {
      say(
        `  continued an earlier merge that stopped: ${result.mergedBefore} points were already there, not copied again`,
      );
    }
    if (result.status !== 'completed') {
      const what = [
        result.missing.length > 0 ? `missing points ${result.missing.join(', ')}` : '',
        result.unfinished.length > 0 ? `unfinished points ${result.unfinished.join(', ')}` : '',
      ].filter(Boolean);
      say(`  ${what.join('; ')}: compute them here with: mmrun resume ${result.id} --runs-dir ${argv.into}`);
    }
  }
  process.exitCode = EXIT.ok;
}
