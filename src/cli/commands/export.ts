import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { SweepCatalog } from '../../catalog/sweeps.ts';
import { MmrunError } from '../../errors.ts';
import { EXPORT_FORMATS, type ExportFormat, type ExportPlan, exportRun } from '../../export/export.ts';
import { resolveRunsDir } from '../../runs-dir.ts';
import { arrowTidy, formatTidy, summarizeSweep, tidyRows, writeTidy } from '../../sweep/stats.ts';
import { deferred } from '../deferred.ts';
import { count, duration, say } from '../output.ts';
import { displayPath, runsDirFlag } from '../report.ts';
import { abortOnSignals, exitCodeFor } from '../signals.ts';

interface ExportArgs {
  'run-id': string;
  format?: ExportFormat;
  out?: string;
  columns?: string;
  column?: string;
  rows?: string;
  force?: boolean;
  'runs-dir'?: string;
}

const EXTENSION = new RegExp(`\\.(${EXPORT_FORMATS.join('|')})$`);

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export <run-id>',
  describe: "Write a run's flushed rows to one .npy, CSV, JSON Lines or Arrow file",
  builder: (y) =>
    (y as Argv<ExportArgs>)
      .positional('run-id', { type: 'string', demandOption: true })
      .option('format', {
        alias: 'f',
        choices: EXPORT_FORMATS,
        describe: "output format [default: from --out's extension]",
      })
      .option('out', {
        alias: 'o',
        type: 'string',
        requiresArg: true,
        describe: 'output file, or - for stdout [default: <run-id>.<format> here]',
      })
      .option('columns', { type: 'string', requiresArg: true, describe: 'columns to export, in this order: a,b' })
      .option('column', {
        type: 'string',
        requiresArg: true,
        describe: "for a sweep: the column summarised per point [default: the experiment's first]",
      })
      .option('rows', {
        type: 'string',
        requiresArg: true,
        describe: 'rows START:END, a Python slice (END excluded, negative from the end; --rows=-100:)',
      })
      .option('force', { type: 'boolean', describe: 'replace an existing output file' })
      .check((argv) => {
        if (argv.format === undefined && !(argv.out && EXTENSION.test(argv.out))) {
          throw new MmrunError('USAGE', 'export needs a format', {
            remedy: `pass --format ${EXPORT_FORMATS.join('|')}, or an --out file ending in .${EXPORT_FORMATS.join('/.')}`,
          });
        }
        const format = argv.format ?? EXTENSION.exec(argv.out ?? '')?.[1];
        if (argv.out === '-' && (format === 'npy' || format === 'arrow') && process.stdout.isTTY) {
          throw new MmrunError('USAGE', `--out - would write binary ${format} data to the terminal`, {
            remedy: 'redirect stdout (> file, | program) or pass --out with a file name',
          });
        }
        if (argv.force && argv.out === '-') {
          throw new MmrunError('USAGE', '--force conflicts with --out - (stdout is never replaced)', {
            remedy: 'drop --force, or pass --out with a file name',
          });
        }
        return true;
      })
      .example('$0 export walk-1 --format npy', 'walk-1.npy: np.load("walk-1.npy", mmap_mode="r")')
      .example('$0 export walk-1 --out steps.csv --columns position,hit --rows :1000', 'the first 1000 rows')
      .example('$0 export walk-1 -f jsonl --out - | jq .position', 'pipe JSON Lines'),
  handler: deferred(async (argv: ArgumentsCamelCase<ExportArgs>) => {
    const toStdout = argv.out === '-';
    const format = argv.format ?? (EXTENSION.exec(argv.out ?? '')?.[1] as ExportFormat);
    if (SweepCatalog.isSweep(resolveRunsDir(argv['runs-dir']), argv['run-id'])) {
      await exportSweep(argv, format);
      return;
    }
    const signal = abortOnSignals();
    try {
      const result = await exportRun({
        runId: argv['run-id'],
        runsDir: argv['runs-dir'],
        format,
        out: toStdout ? process.stdout : argv.out,
        columns: argv.columns?.split(',').map((c) => c.trim()),
        rows: argv.rows,
        force: argv.force,
        signal,
        onStart: (plan) => sayPartial(plan, argv['runs-dir']),
      });
      const where = result.out === null ? 'stdout' : displayPath(result.out);
      say(
        `mmrun: exported ${count(result.rows)} rows${result.rows === result.flushedRows ? '' : ` (rows ${result.start}:${result.end})`} × ${result.columns.length} columns of ${result.runId} to ${where} (${result.format}, ${count(result.bytes)} bytes) in ${duration(result.elapsedMs)}`,
      );
    } catch (err) {
      // The reader of a pipe went away (`| head`): stop quietly, like any Unix filter.
      if (toStdout && err instanceof MmrunError && (err.cause as NodeJS.ErrnoException)?.code === 'EPIPE') {
        process.exitCode = exitCodeFor('SIGPIPE');
        return;
      }
      if (err instanceof MmrunError && err.code === 'EXPORT_INTERRUPTED' && typeof signal.reason === 'string') {
        say(`mmrun: error ${err.toLine()}`);
        process.exitCode = exitCodeFor(signal.reason);
        return;
      }
      throw err;
    }
  }),
};

/** Says on stderr that a run is unfinished and only its flushed rows are exported. */
function sayPartial(plan: ExportPlan, runsDir: string | undefined): void {
  if (!plan.partial) return;
  const rows = `${count(plan.flushedRows)} flushed rows (of ${count(plan.iterations)} iterations)`;
  const resume = `mmrun resume ${plan.runId}${runsDirFlag(runsDir)}`;
  const why: Record<Exclude<ExportPlan['status'], 'completed'>, string> = {
    running: `is still running: exporting the ${rows} on disk when the export began (read at row ${count(plan.flushedRows)}); rows computed since are not included`,
    crashed: `crashed: exporting its ${rows}; rows after the last flush were lost (\`${resume}\` recomputes them)`,
    interrupted: `was interrupted: exporting its ${rows} (\`${resume}\` continues it)`,
    failed: `failed: exporting its ${rows} (fix the experiment, then \`${resume} --allow-changed\`)`,
  };
  say(`mmrun: run ${plan.runId} ${why[plan.status as keyof typeof why]}`);
}

/** `mmrun export <sweep-id>`: the tidy table of `mmrun stats <sweep-id>`, one row per point. */
async function exportSweep(argv: ExportArgs, format: ExportFormat): Promise<void> {
  if (format === 'npy') {
    throw new MmrunError('BAD_OPTION', 'a sweep exports its summary table as csv, jsonl or arrow, not npy', {
      remedy: `pass --format csv|jsonl|arrow (export one point's rows with mmrun export <point-run-id>)`,
    });
  }
  if (argv.rows !== undefined || argv.columns !== undefined) {
    throw new MmrunError('BAD_OPTION', '--rows and --columns select rows of a run, not of a sweep', {
      remedy: 'pass --column c for the column summarised per point',
    });
  }
  const stats = await summarizeSweep({
    sweepId: argv['run-id'],
    runsDir: argv['runs-dir'],
    ...(argv.column ? { column: argv.column } : {}),
  });
  const rows = tidyRows(stats);
  const text = format === 'arrow' ? arrowTidy(rows) : formatTidy(rows, format);
  if (argv.out === '-') {
    process.stdout.write(text);
    return;
  }
  const out = argv.out ?? `${stats.id}.${format}`;
  writeTidy(text, out, argv.force === true);
  say(
    `mmrun: exported the summary of column ${stats.column} over ${stats.points.length} points of ${stats.id} to ${displayPath(out)} (${format})`,
  );
}
