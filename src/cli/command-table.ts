import type { CommandModule } from 'yargs';

/** A yargs command module of any arguments. */
export type AnyCommand = CommandModule<object, never>;

/** A command of the table: enough to list it in `--help` without loading it. */
export interface CommandEntry {
  /** The yargs command string, with its positionals. */
  readonly command: string;
  readonly describe: string;
  readonly load: () => Promise<AnyCommand>;
}

/**
 * Every command: its name, its one-line description (for `mmrun --help`), and its module,
 * loaded only when that command runs: `mmrun list` never loads the runner, Arrow or the
 * renderer. test/cli/commands.test.ts keeps each description equal to its module's.
 */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  run: {
    command: 'run <experiment>',
    describe: 'Start a new run of an experiment',
    load: async () => (await import('./commands/run.ts')).runCommand as AnyCommand,
  },
  sweep: {
    command: 'sweep <experiment>',
    describe: 'Run an experiment over a grid of params × replicate seeds, each point a run; resumable as a whole',
    load: async () => (await import('./commands/sweep.ts')).sweepCommand as AnyCommand,
  },
  resume: {
    command: 'resume <run-id>',
    describe: 'Continue a run from its last flushed row, or every unfinished point of a sweep',
    load: async () => (await import('./commands/resume.ts')).resumeCommand as AnyCommand,
  },
  list: {
    command: 'list',
    describe: 'List the runs of a runs directory',
    load: async () => (await import('./commands/list.ts')).listCommand as AnyCommand,
  },
  show: {
    command: 'show <run-id> [other-id]',
    describe: 'Show one run (its spec, progress and event history) or one sweep (its grid and points)',
    load: async () => (await import('./commands/show.ts')).showCommand as AnyCommand,
  },
  export: {
    command: 'export <run-id>',
    describe: "Write a run's flushed rows to one .npy, CSV, JSON Lines or Arrow file",
    load: async () => (await import('./commands/export.ts')).exportCommand as AnyCommand,
  },
  inspect: {
    command: 'inspect <file>',
    describe: 'Check any .npy file: header, dtype, shape, data offset and size; exit 1 if it is not valid',
    load: async () => (await import('./commands/inspect.ts')).inspectCommand as AnyCommand,
  },
  verify: {
    command: 'verify <run-id>',
    describe: "Check a run's flushed rows against their checksums (and optionally recompute some)",
    load: async () => (await import('./commands/verify.ts')).verifyCommand as AnyCommand,
  },
  new: {
    command: 'new <name>',
    describe: 'Write experiments/<name>.ts from a commented template that runs as written',
    load: async () => (await import('./commands/new.ts')).newCommand as AnyCommand,
  },
  rm: {
    command: 'rm <run-id>',
    describe: 'Remove a run, or a sweep with all its points: results, checkpoints and history (refuses a live one)',
    load: async () => (await import('./commands/rm.ts')).rmCommand as AnyCommand,
  },
  gc: {
    command: 'gc',
    describe: 'Remove runs by status and age (never a running one)',
    load: async () => (await import('./commands/gc.ts')).gcCommand as AnyCommand,
  },
  plot: {
    command: 'plot <run-id>',
    describe: "Draw a column of a run's flushed rows over iterations, or its histogram, as PNG or SVG",
    load: async () => (await import('./commands/plot.ts')).plotCommand as AnyCommand,
  },
  stats: {
    command: 'stats <run-id>',
    describe: "Summarise a run's flushed rows: count, mean, std, min, max and quantiles of each column",
    load: async () => (await import('./commands/stats.ts')).statsCommand as AnyCommand,
  },
  merge: {
    command: 'merge <dirs..>',
    describe:
      'Join the shards of a job run across machines (run --shard I/N) into one run, or the points of a cluster sweep into one sweep',
    load: async () => (await import('./commands/merge.ts')).mergeCommand as AnyCommand,
  },
  slurm: {
    command: 'slurm <experiment>',
    describe:
      'Write (and with --submit, submit) a Slurm job array that runs an experiment in shards, or a sweep one point per task',
    load: async () => (await import('./commands/slurm.ts')).slurmCommand as AnyCommand,
  },
  point: {
    command: 'point <plan>',
    describe: 'Compute (or continue) one point of a sweep planned for a cluster by `mmrun slurm --sweep`',
    load: async () => (await import('./commands/point.ts')).pointCommand as AnyCommand,
  },
  watch: {
    command: 'watch <run-id>',
    describe:
      'Follow a run (or a sweep) while it writes: progress, rate, ETA, rows at risk and a sparkline; exits 0 once it completes, 1 if it stops otherwise',
    load: async () => (await import('./commands/watch.ts')).watchCommand as AnyCommand,
  },
  ui: {
    command: 'ui',
    describe: 'Serve a read-only dashboard of the runs (a web page and a JSON API) until Ctrl-C',
    load: async () => (await import('./commands/ui.ts')).uiCommand as AnyCommand,
  },
};

/** Global options that take a value: their value is not the command. */
const GLOBAL_WITH_VALUE = new Set(['--runs-dir']);

/** The command a command line names (its first word that is not an option or an option's value). */
export function commandWord(args: readonly string[]): string | undefined {
  for (let k = 0; k < args.length; k++) {
    const arg = args[k] ?? '';
    if (arg === '--') return undefined;
    if (GLOBAL_WITH_VALUE.has(arg)) k++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}
