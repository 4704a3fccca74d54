import type { Progress } from '../runner/run.ts';
import { progressOutput } from './live-lines.ts';
import { count, duration } from './output.ts';

/**
 * How a run reports progress: a live line on a terminal (percent, rows/s, ETA, flushed
 * index, time since the last flush and what a crash now would lose), pino JSON lines on
 * stderr every few seconds otherwise, nothing with --quiet.
 */
export function progressReporter(options: { quiet: boolean; stream?: NodeJS.WriteStream }): {
  onProgress: ((p: Progress) => void) | undefined;
  done: () => void;
} {
  if (options.quiet) return { onProgress: undefined, done: () => {} };
  const out = progressOutput(options.stream ? { stream: options.stream } : {});
  return {
    onProgress: (p) => {
      if (out.tty) {
        out.draw([progressLine(p)]);
        return;
      }
      out.log(p.elapsedMs, {
        event: 'progress',
        run: p.id,
        rows: p.rows,
        iterations: p.iterations,
        flushedRows: p.flushedRows,
        rowsPerSecond: Math.round(p.rowsPerSecond),
        etaSeconds: Math.round(eta(p) / 1000),
        rowsAtRisk: p.rowsAtRisk,
      });
    },
    done: () => out.clear(),
  };
}

const eta = (p: Progress) => (p.rowsPerSecond > 0 ? ((p.iterations - p.rows) / p.rowsPerSecond) * 1000 : Number.NaN);

/** "walk-…  45.2%  4,512,000/10,000,000  3,912,442 rows/s  ETA 1 min 24 s  flushed 4,000,000 0.3 s ago  at risk 512,000 rows" */
export function progressLine(p: Progress): string {
  const percent = ((100 * p.rows) / p.iterations).toFixed(1).padStart(5);
  const left = eta(p);
  return [
    `${p.id}`,
    `${percent}%`,
    `${count(p.rows)}/${count(p.iterations)}`,
    `${count(p.rowsPerSecond)} rows/s`,
    `ETA ${Number.isFinite(left) ? duration(left) : '?'}`,
    `flushed ${count(p.flushedRows)} ${duration(p.msSinceFlush)} ago`,
    `at risk ${count(p.rowsAtRisk)} rows`,
  ].join('  ');
}
