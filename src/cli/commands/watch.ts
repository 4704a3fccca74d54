import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { SweepCatalog } from '../../catalog/sweeps.ts';
import { MmrunError } from '../../errors.ts';
import { resolveRunsDir } from '../../runs-dir.ts';
import { watchSweep } from '../../watch/sweep.ts';
import { type WatchView, watchRun } from '../../watch/watch.ts';
import { deferred } from '../deferred.ts';
import { count, duration } from '../output.ts';

interface WatchArgs {
  'run-id': string;
  column?: string;
  interval?: number;
  'runs-dir'?: string;
}

export const watchCommand: CommandModule<object, WatchArgs> = {
  command: 'watch <run-id>',
  describe:
    'Follow a run (or a sweep) while it writes: progress, rate, ETA, rows at risk and a sparkline; exits 0 once it completes, 1 if it stops otherwise',
  builder: (y) =>
    (y as Argv<WatchArgs>)
      .positional('run-id', { type: 'string', demandOption: true })
      .option('column', {
        alias: 'c',
        type: 'string',
        requiresArg: true,
        describe: 'the column drawn as a sparkline (an element of a vector column as v[2]) [default: the first]',
      })
      .option('interval', {
        type: 'number',
        requiresArg: true,
        describe: 'seconds between two looks at the catalog [default: 0.1]',
      })
      .check((argv) => {
        if (argv.interval !== undefined && !(argv.interval > 0 && argv.interval <= 3600)) {
          throw new MmrunError('USAGE', `--interval must be a number of seconds in (0, 3600], got ${argv.interval}`, {
            remedy: 'pass e.g. --interval 0.5',
          });
        }
        return true;
      })
      .example('$0 watch walk-1 --column position', 'a live view on a terminal')
      .example('$0 watch walk-1 && $0 stats walk-1', 'wait for the run, then summarise it'),
  handler: deferred(async (argv: ArgumentsCamelCase<WatchArgs>) => {
    const out = process.stdout;
    const tty = out.isTTY === true;
    if (SweepCatalog.isSweep(resolveRunsDir(argv['runs-dir']), argv['run-id'])) {
      // A sweep: one line per change of its points (redrawn in place on a terminal).
      const final = await watchSweep({
        sweepId: argv['run-id'],
        runsDir: argv['runs-dir'],
        intervalMs: argv.interval === undefined ? undefined : argv.interval * 1000,
        onUpdate: (view) => {
          const line = `${view.id} ${view.status}: ${view.done}/${view.total} points completed, ${count(view.flushedRows)} rows flushed${view.etaSeconds === null ? '' : `, ETA ${duration(view.etaSeconds * 1000)}`}`;
          out.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
        },
      });
      if (tty) out.write('\n');
      if (final !== 'completed') process.exitCode = 1;
      return;
    }
    let drawn = 0;
    const status = await watchRun({
      runId: argv['run-id'],
      runsDir: argv['runs-dir'],
      column: argv.column,
      width: tty ? Math.max(10, Math.min(60, (out.columns || 80) - 30)) : 40,
      intervalMs: argv.interval === undefined ? undefined : argv.interval * 1000,
      onUpdate: (view, reason) => {
        if (!tty) {
          // One line per observed flush, and the outcome.
          if (reason === 'flush' || reason === 'end') out.write(`${oneLine(view)}\n`);
          return;
        }
        const lines = panel(view);
        out.write(`${drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ''}${lines.join('\n')}\n`);
        drawn = lines.length;
      },
    });
    if (status !== 'completed') process.exitCode = 1;
  }),
};

const pct = (v: WatchView) => (v.iterations > 0 ? ((100 * v.doneRows) / v.iterations).toFixed(1) : '100.0');
const rate = (v: WatchView) => (v.rowsPerSecond === undefined ? '– rows/s' : `${count(v.rowsPerSecond)} rows/s`);
const eta = (v: WatchView) => (v.etaSeconds === undefined ? '' : `ETA ${duration(v.etaSeconds * 1000)}`);
const since = (v: WatchView) =>
  v.sinceFlushMs === undefined ? 'no flush yet' : `last flush ${duration(v.sinceFlushMs)} ago`;
const spark = (v: WatchView) =>
  v.spark
    ? `${v.spark.label} ${v.spark.line} (min ${fmt(v.spark.min)}, max ${fmt(v.spark.max)}, last ${fmt(v.spark.last)})`
    : '';
const fmt = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : String(x));

/** The off-terminal form: one line per flush. */
export function oneLine(v: WatchView): string {
  const parts = [
    `${v.runId} ${v.status}`,
    `${count(v.doneRows)}/${count(v.iterations)} rows (${pct(v)}%)`,
    rate(v),
    ...(v.status === 'running' ? [eta(v), since(v), `at risk ~${count(v.rowsAtRisk)} rows`].filter(Boolean) : []),
    spark(v),
  ].filter(Boolean);
  return parts.join(', ');
}

/** The terminal form: a few lines redrawn in place. */
function panel(v: WatchView): string[] {
  const barWidth = 30;
  const filled = v.iterations > 0 ? Math.round((barWidth * v.doneRows) / v.iterations) : barWidth;
  const who = v.ownerPid === undefined ? '' : ` (pid ${v.ownerPid}${v.workers > 1 ? `, ${v.workers} workers` : ''})`;
  return [
    `${v.runId} · ${v.experiment} · ${v.status}${who}`,
    `[${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}] ${pct(v)}%  ${count(v.doneRows)} / ${count(v.iterations)} rows`,
    [
      rate(v),
      eta(v),
      v.status === 'running' ? since(v) : '',
      v.status === 'running' ? `at risk ~${count(v.rowsAtRisk)} rows` : '',
    ]
      .filter(Boolean)
      .join('   '),
    spark(v) || '(no flushed rows yet)',
  ];
}
