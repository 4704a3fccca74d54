import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { MmrunError } from '../errors.ts';
import { exportCommand } from './commands/export.ts';
import { gcCommand } from './commands/gc.ts';
import { inspectCommand } from './commands/inspect.ts';
import { listCommand } from './commands/list.ts';
import { mergeCommand } from './commands/merge.ts';
import { newCommand } from './commands/new.ts';
import { plotCommand } from './commands/plot.ts';
import { resumeCommand } from './commands/resume.ts';
import { rmCommand } from './commands/rm.ts';
import { runCommand } from './commands/run.ts';
import { showCommand } from './commands/show.ts';
import { slurmCommand } from './commands/slurm.ts';
import { statsCommand } from './commands/stats.ts';
import { verifyCommand } from './commands/verify.ts';
import { watchCommand } from './commands/watch.ts';
import { takeDeferred } from './deferred.ts';
import { EXIT, reportError } from './output.ts';

/** Parses the command line, runs one command, and exits with the contract's code. */
export async function main(argv: readonly string[]): Promise<number> {
  let usageError: string | undefined;
  const cli = yargs(hideBin([...argv]))
    .scriptName('mmrun')
    .usage(
      '$0 <command> [options]\n\nA checkpointing experiment runner: results in memory-mapped .npy segments, resumable after any crash.',
    )
    .option('runs-dir', {
      type: 'string',
      global: true,
      describe: 'runs directory [default: $MMRUN_RUNS_DIR, else ./runs]',
    })
    .option('verbose', { alias: 'v', type: 'boolean', global: true, describe: 'print stacks with errors' })
    .command(runCommand)
    .command(resumeCommand)
    .command(listCommand)
    .command(showCommand)
    .command(exportCommand)
    .command(inspectCommand)
    .command(verifyCommand)
    .command(newCommand)
    .command(rmCommand)
    .command(gcCommand)
    .command(plotCommand)
    .command(statsCommand)
    .command(mergeCommand)
    .command(slurmCommand)
    .command(watchCommand)
    .demandCommand(
      1,
      'name a command: run, resume, list, show, verify, export, inspect, plot, stats, watch, merge, slurm, new, rm or gc',
    )
    .strict()
    .recommendCommands()
    .completion('completion', 'print a shell completion script')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .help()
    .version()
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      usageError = msg;
    });
  try {
    await cli.parseAsync();
  } catch (error) {
    if (
      !(error instanceof MmrunError) &&
      usageError === undefined &&
      !(error instanceof Error && error.name === 'YError')
    ) {
      return reportError(error);
    }
    if (error instanceof MmrunError) return reportError(error);
    usageError ??= (error as Error).message;
  }
  if (usageError !== undefined) {
    process.stderr.write(`mmrun: usage error: ${usageError}\n  see: mmrun --help\n`);
    return EXIT.usage;
  }
  const action = takeDeferred();
  try {
    await action?.();
  } catch (error) {
    return reportError(error);
  }
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
}

process.exit(await main(process.argv));
