import type { Argv } from 'yargs';
import { config } from '../config.ts';
import { MmrunError } from '../errors.ts';
import { COMMANDS, commandWord } from './command-table.ts';
import { takeDeferred } from './deferred.ts';
import { EXIT, reportError } from './output.ts';
import yargs, { hideBin } from './yargs.ts';

/**
 * Registers every command with yargs: the one the command line names in full (its module
 * loaded), the others by name and description only, which is all `--help` and yargs'
 * suggestions need.
 */
async function registerCommands(cli: Argv, args: readonly string[]): Promise<Argv> {
  const wanted = commandWord(args);
  for (const [name, entry] of Object.entries(COMMANDS)) {
    if (name === wanted) cli.command(await entry.load());
    else cli.command(entry.command, entry.describe);
  }
  return cli;
}

/** Parses the command line, runs one command, and exits with the contract's code. */
export async function main(argv: readonly string[]): Promise<number> {
  // A bad environment variable is refused before anything is read or written.
  try {
    config();
  } catch (error) {
    return reportError(error);
  }
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
    .option('verbose', { alias: 'v', type: 'boolean', global: true, describe: 'print stacks with errors' });
  await registerCommands(cli, hideBin([...argv]));
  cli
    .demandCommand(1, `name a command: ${Object.keys(COMMANDS).join(', ')}`)
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
