import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { SweepCatalog } from '../../catalog/sweeps.ts';
import { MmrunError } from '../../errors.ts';
import { PLOT_KINDS, type PlotKind, plotRun } from '../../plot/plot.ts';
import { nonFiniteTotal } from '../../plot/values.ts';
import { resolveRunsDir } from '../../runs-dir.ts';
import { plotSweep, SWEEP_PLOT_STATS, type SweepPlotStat } from '../../sweep/plot.ts';
import { deferred } from '../deferred.ts';
import { count, duration, say } from '../output.ts';
import { displayPath } from '../report.ts';

interface PlotArgs {
  'run-id': string;
  column?: string;
  x?: string;
  by?: string;
  stat?: SweepPlotStat;
  kind: PlotKind;
  out?: string;
  bins?: number;
  width: number;
  height: number;
  'runs-dir'?: string;
}

export const plotCommand: CommandModule<object, PlotArgs> = {
  command: 'plot <run-id>',
  describe: "Draw a column of a run's flushed rows over iterations, or its histogram, as PNG or SVG",
  builder: (y) =>
    (y as Argv<PlotArgs>)
      .positional('run-id', { type: 'string', demandOption: true })
      .option('column', {
        alias: 'c',
        type: 'string',
        requiresArg: true,
        describe:
          "the column to draw; an element of a vector column as v[2] (required for a run; a sweep's default: its first)",
      })
      .option('x', {
        type: 'string',
        requiresArg: true,
        describe: 'for a sweep: the swept param on the x axis (the mean over seeds ± standard error is drawn)',
      })
      .option('by', {
        type: 'string',
        requiresArg: true,
        describe: 'for a sweep: a second swept param, one line per value of it (with a legend)',
      })
      .option('stat', {
        choices: SWEEP_PLOT_STATS,
        requiresArg: true,
        describe: "for a sweep: each point's statistic averaged over seeds [default: mean]",
      })
      .option('kind', {
        alias: 'k',
        choices: PLOT_KINDS,
        default: 'line' as PlotKind,
        describe: 'line: the column over iterations; hist: its histogram',
      })
      .option('out', {
        alias: 'o',
        type: 'string',
        requiresArg: true,
        describe: 'image file, .png or .svg; replaced if it exists [default: <run-id>-<column>.png here]',
      })
      .option('bins', {
        type: 'number',
        requiresArg: true,
        describe: 'histogram bins [default: one per integer for small integer ranges, else 50]',
      })
      .option('width', { type: 'number', requiresArg: true, default: 900, describe: 'image width in pixels' })
      .option('height', { type: 'number', requiresArg: true, default: 500, describe: 'image height in pixels' })
      .check((argv) => {
        if (argv.bins !== undefined && argv.kind !== 'hist') {
          throw new MmrunError('USAGE', `--bins conflicts with --kind ${argv.kind} (only a histogram has bins)`, {
            remedy: 'drop --bins, or pass --kind hist',
          });
        }
        for (const flag of ['by', 'stat'] as const) {
          if (argv[flag] !== undefined && argv.x === undefined) {
            throw new MmrunError('USAGE', `--${flag} is for a sweep's plot, which needs --x <swept param>`, {
              remedy: `pass --x with the param on the x axis, or drop --${flag}`,
            });
          }
        }
        if (argv.out !== undefined && !/\.(png|svg)$/i.test(argv.out)) {
          throw new MmrunError('USAGE', `--out '${argv.out}' ends neither in .png nor .svg`, {
            remedy: 'pass --out with a file name ending in .png or .svg',
          });
        }
        return true;
      })
      .example('$0 plot walk-1 --column position', 'walk-1-position.png: position over iterations')
      .example('$0 plot drift --x drift -c position', 'a sweep: mean position vs drift, ± standard error')
      .example('$0 plot drift --x drift --by label -c position', 'one line per value of label')
      .example('$0 plot walk-1 -c position --kind hist --bins 80 --out hist.svg', 'its histogram, as SVG')
      .example("$0 plot lorenz-1 -c 'xyz[2]' --width 1600 --height 900", 'one element of a vector column'),
  handler: deferred(async (argv: ArgumentsCamelCase<PlotArgs>) => {
    if (SweepCatalog.isSweep(resolveRunsDir(argv['runs-dir']), argv['run-id'])) {
      if (argv.x === undefined) {
        throw new MmrunError('USAGE', `plot of sweep '${argv['run-id']}' needs --x <swept param>`, {
          remedy: 'pass --x with the param to put on the x axis',
        });
      }
      const r = await plotSweep({
        sweepId: argv['run-id'],
        runsDir: argv['runs-dir'],
        x: argv.x,
        ...(argv.by === undefined ? {} : { by: argv.by }),
        ...(argv.stat === undefined ? {} : { stat: argv.stat }),
        ...(argv.column === undefined ? {} : { column: argv.column }),
        ...(argv.out === undefined ? {} : { out: argv.out }),
        width: argv.width,
        height: argv.height,
      });
      const values = new Set(r.lines.flatMap((l) => l.points.map((p) => p.x))).size;
      const lines = argv.by === undefined ? '' : `, ${r.lines.length} lines by ${argv.by}`;
      say(`mmrun: drew the ${r.stat} of ${r.column} at ${values} values of ${argv.x}${lines} → ${displayPath(r.out)}`);
      process.stdout.write(`${r.out}\n`);
      return;
    }
    if (argv.column === undefined) {
      throw new MmrunError('USAGE', 'plot of a run needs --column', { remedy: 'pass --column <name>' });
    }
    const column = argv.column;
    const result = plotRun({
      runId: argv['run-id'],
      runsDir: argv['runs-dir'],
      column,
      kind: argv.kind,
      out: argv.out,
      bins: argv.bins,
      width: argv.width,
      height: argv.height,
    });
    if (result.status === 'running') {
      say(
        `mmrun: run ${result.runId} is still running: plotting the ${count(result.rows)} rows flushed when the plot began (read at row ${count(result.rows)} of ${count(result.iterations)}); rows flushed since are not drawn`,
      );
    } else if (result.status !== 'completed') {
      say(
        `mmrun: run ${result.runId} is ${result.status}: plotting its ${count(result.rows)} flushed rows (of ${count(result.iterations)})`,
      );
    }
    const skipped = nonFiniteTotal(result.skipped);
    say(
      `mmrun: plotted ${result.column} of ${result.runId} (${result.kind}, ${count(result.values)} values${skipped > 0 ? `, ${count(skipped)} non-finite skipped` : ''}) to ${displayPath(result.out)} (${result.width}×${result.height} ${result.format}, ${count(result.bytes)} bytes) in ${duration(result.elapsedMs)}`,
    );
    process.stdout.write(`${result.out}\n`);
  }),
};
