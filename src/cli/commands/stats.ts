import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { SweepCatalog } from '../../catalog/sweeps.ts';
import { MmrunError } from '../../errors.ts';
import { resolveRunsDir } from '../../runs-dir.ts';
import { statsJson as toJson } from '../../stats/json.ts';
import { QUANTILE_NAMES } from '../../stats/quantiles.ts';
import {
  type ColumnStats,
  type StatsPlan,
  type StatsProgress,
  type StatsResult,
  summarizeRun,
} from '../../stats/stats.ts';
import { summarizeSweep } from '../../sweep/stats.ts';
import { deferred } from '../deferred.ts';
import { progressOutput } from '../live-lines.ts';
import { count, duration, say, table } from '../output.ts';
import { runsDirFlag } from '../report.ts';

interface StatsArgs {
  'run-id': string;
  columns?: string;
  column?: string;
  workers?: number;
  'sample-size'?: number;
  json?: boolean;
  quiet?: boolean;
  'runs-dir'?: string;
}

const positive = (flag: string, value: number | undefined): void => {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) {
    throw new MmrunError('USAGE', `--${flag} must be a positive integer, got ${value}`, {
      remedy: `pass --${flag} N with N >= 1`,
    });
  }
};

export const statsCommand: CommandModule<object, StatsArgs> = {
  command: 'stats <run-id>',
  describe: "Summarise a run's flushed rows: count, mean, std, min, max and quantiles of each column",
  builder: (y) =>
    (y as Argv<StatsArgs>)
      .positional('run-id', { type: 'string', demandOption: true })
      .option('columns', {
        type: 'string',
        requiresArg: true,
        describe: 'columns to summarise: a,b (a vector column: all its elements; one element: v[2])',
      })
      .option('column', {
        type: 'string',
        requiresArg: true,
        describe: "for a sweep: the column summarised per point [default: the experiment's first]",
      })
      .option('workers', {
        alias: 'w',
        type: 'number',
        requiresArg: true,
        describe:
          'threads that may read (more start only if there is enough to read) [default: the number of CPUs, at most one per GiB of rows]',
      })
      .option('sample-size', {
        type: 'number',
        requiresArg: true,
        describe:
          'quantiles of float and 32-bit integer columns: exact up to N values, else from a sample of N [default: 65536]',
      })
      .option('json', { type: 'boolean', describe: 'print one JSON object' })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress or summary on stderr' })
      .check((argv) => {
        positive('workers', argv.workers);
        positive('sample-size', argv['sample-size']);
        return true;
      })
      .example('$0 stats walk-1', 'a table of every column')
      .example('$0 stats walk-1 --columns position,steps --json | jq .columns.position.p99', 'one figure')
      .example("$0 stats lorenz-1 --columns 'xyz[0]' --workers 2", 'one element of a vector column, two threads'),
  handler: deferred(async (argv: ArgumentsCamelCase<StatsArgs>) => {
    if (SweepCatalog.isSweep(resolveRunsDir(argv['runs-dir']), argv['run-id'])) {
      await sweepStats(argv);
      return;
    }
    const quiet = argv.quiet ?? false;
    const progress = quiet ? undefined : progressReporter();
    let result: StatsResult;
    try {
      result = await summarizeRun({
        runId: argv['run-id'],
        runsDir: argv['runs-dir'],
        columns: argv.columns?.split(',').map((c) => c.trim()),
        workers: argv.workers,
        sampleSize: argv['sample-size'],
        onStart: (plan) => {
          if (!quiet) sayPartial(plan, argv['runs-dir']);
          progress?.start(plan);
        },
        onProgress: progress?.update,
      });
    } finally {
      progress?.done();
    }
    process.stdout.write(argv.json ? `${JSON.stringify(toJson(result))}\n` : `${toTable(result)}\n`);
    if (quiet) return;
    const rate = result.elapsedMs > 0 ? `, ${(result.bytes / 1e6 / result.elapsedMs).toFixed(2)} GB/s` : '';
    const used = result.rowsByThread.filter((rows) => rows > 0).length;
    const threads = `${used} ${used === 1 ? 'thread' : 'threads'}${used < result.workers ? ` of ${result.workers}: too little to read for more` : ''}`;
    say(
      `mmrun: stats of ${count(result.rows)} rows × ${result.stats.length} columns of ${result.runId} in ${duration(result.elapsedMs)} (${threads}${rate})`,
    );
  }),
};

/** Says on stderr what is summarised when it is not a complete run. */
function sayPartial(plan: StatsPlan, runsDir: string | undefined): void {
  if (plan.rows === 0) {
    say(`mmrun: run ${plan.runId} (${plan.status}) has no flushed rows yet: every count is 0`);
    return;
  }
  if (!plan.partial) return;
  const rows = `${count(plan.rows)} flushed rows (of ${count(plan.iterations)} iterations)`;
  const resume = `mmrun resume ${plan.runId}${runsDirFlag(runsDir)}`;
  const why: Record<Exclude<StatsPlan['status'], 'completed'>, string> = {
    running: `is still running: summarising the ${rows} on disk when stats began (read at row ${count(plan.flushedRows)})`,
    crashed: `crashed: summarising its ${rows} (\`${resume}\` recomputes the rest)`,
    interrupted: `was interrupted: summarising its ${rows} (\`${resume}\` continues it)`,
    failed: `failed: summarising its ${rows}`,
  };
  say(`mmrun: run ${plan.runId} ${why[plan.status as keyof typeof why]}`);
}

/** Progress on stderr: a live line on a terminal for runs of 64 MiB or more, else a pino line every 5 s. */
function progressReporter(stream: NodeJS.WriteStream = process.stderr): {
  start: (plan: StatsPlan) => void;
  update: (p: StatsProgress) => void;
  done: () => void;
} {
  const out = progressOutput({ stream });
  let enabled = false;
  return {
    start: (plan) => {
      enabled = plan.rows > 0 && (!out.tty || plan.bytes >= 64 << 20);
    },
    update: (p) => {
      if (!enabled) return;
      const gbps = p.elapsedMs > 0 ? p.bytes / 1e6 / p.elapsedMs : 0;
      const left = p.bytes > 0 ? ((p.totalBytes - p.bytes) / p.bytes) * p.elapsedMs : Number.NaN;
      if (!out.tty) {
        const fields = {
          event: 'progress',
          run: p.runId,
          rows: p.rows,
          totalRows: p.totalRows,
          gbPerSecond: Number(gbps.toFixed(3)),
        };
        out.log(p.elapsedMs, fields, 'stats progress');
        return;
      }
      const percent = ((100 * p.rows) / Math.max(1, p.totalRows)).toFixed(1).padStart(5);
      out.draw([
        [
          `stats ${p.runId}`,
          `${percent}%`,
          `${count(p.rows)}/${count(p.totalRows)} rows`,
          `${gbps.toFixed(2)} GB/s`,
          `ETA ${Number.isFinite(left) ? duration(left) : '?'}`,
        ].join('  '),
      ]);
    },
    done: () => out.clear(),
  };
}

/** A number for JSON: non-finite values as the strings "NaN", "Infinity", "-Infinity". */

/** Six significant digits, integers in full; '—' for no value. */
function cell(x: number | null, integer: boolean): string {
  if (x === null) return '—';
  if (!Number.isFinite(x)) return String(x);
  if (integer && Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e9 || a < 1e-4)) return x.toExponential(5);
  return String(Number(x.toPrecision(6)));
}

function toTable(result: StatsResult): string {
  const header = ['column', 'dtype', 'count', 'nan', 'mean', 'std', 'min', ...QUANTILE_NAMES, 'max'];
  const rows = result.stats.map((s: ColumnStats) => {
    const integer = s.dtype !== 'f8' && s.dtype !== 'f4';
    return [
      s.column,
      s.elements > 1 ? `${s.dtype}×${s.elements}` : s.dtype,
      count(s.count),
      count(s.nan),
      cell(s.mean, false),
      cell(s.std, false),
      cell(s.min, integer),
      ...QUANTILE_NAMES.map((q) => cell(s.quantiles?.[q] ?? null, false)),
      cell(s.max, integer),
    ];
  });
  const notes = ['std: population (ddof=0); NaN: counted, left out of the rest'];
  const sampled = result.stats.filter((s) => s.quantileMethod === 'sample');
  if (sampled.length > 0) {
    const worst = Math.max(...sampled.map((s) => s.rankError));
    notes.push(
      `quantiles of ${sampled.map((s) => s.column).join(', ')}: from a sample of ~${count(sampled[0]!.quantileValues)} values, rank within ±${(100 * worst).toFixed(1)}% (probability 1 − 1e-6); others exact`,
    );
  }
  return `${table(header, rows)}\n${notes.join('\n')}`;
}

/** `mmrun stats <sweep-id>`: a row per point, then the replicates of each parameter set pooled. */
async function sweepStats(argv: StatsArgs): Promise<void> {
  const columns = argv.columns?.split(',').map((c) => c.trim());
  if (columns && columns.length > 1) {
    throw new MmrunError('BAD_OPTION', `a sweep is summarised one column at a time, got --columns ${argv.columns}`, {
      remedy: 'pass --column c (one column)',
    });
  }
  const s = await summarizeSweep({
    sweepId: argv['run-id'],
    runsDir: argv['runs-dir'],
    ...((argv.column ?? columns?.[0]) ? { column: argv.column ?? columns?.[0] } : {}),
  });
  if (argv.json) {
    process.stdout.write(
      `${JSON.stringify(s, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}\n`,
    );
    return;
  }
  const param = (p: Readonly<Record<string, unknown>>) => s.keys.map((k) => String(p[k] ?? ''));
  const points = table(
    [...s.keys, 'seed', 'status', 'count', 'mean', 'std', 'min', ...QUANTILE_NAMES, 'max'],
    s.points.map((p) => [
      ...param(p.params),
      String(p.seed),
      p.status,
      count(p.count),
      cell(p.mean, false),
      cell(p.std, false),
      cell(p.min, false),
      ...QUANTILE_NAMES.map((q) => cell(p.quantiles?.[q] ?? null, false)),
      cell(p.max, false),
    ]),
  );
  const sets = table(
    [...s.keys, 'replicates', 'mean', '± stderr', 'count', 'min', 'max'],
    s.sets.map((x) => [
      ...param(x.params),
      String(x.replicates),
      cell(x.mean, false),
      cell(x.stderr, false),
      count(x.count),
      cell(x.min, false),
      cell(x.max, false),
    ]),
  );
  process.stdout.write(
    `column ${s.column} of sweep ${s.id}, per point:\n${points}\n\nreplicates pooled (mean over seeds ± standard error):\n${sets}\n`,
  );
}
