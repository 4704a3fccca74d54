import { MmrunError } from '../errors.ts';
import type { ResumeSweepOptions, SweepOptions, SweepProgress, SweepResult, SweepStartInfo } from '../sweep/sweep.ts';
import { progressOutput } from './live-lines.ts';
import { count, duration, EXIT, reportError, say } from './output.ts';
import { runsDirFlag } from './report.ts';
import { abortOnSignals, exitCodeFor, signalName } from './signals.ts';

type Hooks = Pick<SweepOptions & ResumeSweepOptions, 'signal' | 'onStart' | 'onProgress'>;

/**
 * Runs one session of a sweep (started or resumed): stop signals wired in, the sweep id on
 * stdout, on a terminal a line for the sweep and one per running point (log lines otherwise), the summary, the exit code.
 */
export async function runSweepSession(
  argv: { quiet?: boolean; 'runs-dir'?: string; 'preempt-signal'?: string; 'checkpoint-signal'?: string },
  start: (hooks: Hooks) => Promise<SweepResult>,
): Promise<void> {
  const quiet = argv.quiet === true;
  if (argv['checkpoint-signal'] !== undefined) {
    throw new MmrunError('BAD_OPTION', '--checkpoint-signal does not apply to a sweep', {
      remedy: 'use --preempt-signal (flush every running point, record interrupted, exit 128+n)',
    });
  }
  const preempt = argv['preempt-signal'] && signalName(argv['preempt-signal'], '--preempt-signal');
  const out = progressOutput({ logFirst: true });
  // A terminal is redrawn at most every 100 ms: a sweep of many short points reports often.
  let drawnAt = Number.NEGATIVE_INFINITY;
  const onProgress = quiet
    ? undefined
    : (p: SweepProgress) => {
        if (out.tty) {
          if (p.elapsedMs - drawnAt < 100) return;
          drawnAt = p.elapsedMs;
          out.draw(sweepLines(p));
          return;
        }
        out.log(p.elapsedMs, {
          event: 'progress',
          sweep: p.id,
          completed: p.completed,
          failed: p.failed,
          points: p.points,
          running: p.running.map((r) => r.id),
          rowsPerSecond: Math.round(p.rowsPerSecond),
          etaSeconds: p.etaMs === undefined ? null : Math.round(p.etaMs / 1000),
        });
      };
  const result = await start({
    signal: abortOnSignals(preempt || undefined),
    onStart: (info: SweepStartInfo) => {
      process.stdout.write(`${info.id}\n`);
      if (quiet) return;
      const verb = info.resumed ? `resuming sweep ${info.id}` : `started sweep ${info.id}`;
      say(
        `mmrun: ${verb}: ${info.points} points of '${info.experiment}' (${info.completed} completed before), ${info.jobs} at a time`,
      );
    },
    ...(onProgress ? { onProgress } : {}),
  });
  out.clear();
  process.exitCode = reportSweep(result, argv['runs-dir'], quiet);
}

/** The sweep's line: "walk-sweep-…  12/40 points  1 failed  3,912,442 rows/s  ETA 1 min 24 s". */
export function sweepLine(p: SweepProgress): string {
  return [
    p.id,
    `${p.completed}/${p.points} points`,
    ...(p.failed > 0 ? [`${p.failed} failed`] : []),
    `${count(p.rowsPerSecond)} rows/s`,
    `ETA ${p.etaMs === undefined ? '?' : duration(p.etaMs)}`,
  ].join('  ');
}

/** A running point's line: "  p0013  drift=0.1 label=a  seed 3   45.0%  1,204,332 rows/s". */
export function pointLine(r: SweepProgress['running'][number]): string {
  const params = Object.entries(r.params)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  const percent = ((100 * r.rows) / Math.max(1, r.iterations)).toFixed(1).padStart(5);
  return [
    `  ${r.id.slice(r.id.lastIndexOf('-') + 1)}`,
    ...(params ? [params] : []),
    `seed ${r.seed}`,
    `${percent}%`,
    `${count(r.rowsPerSecond)} rows/s`,
  ].join('  ');
}

/** What a terminal shows of a sweep: its line, then one line per running point, in id order. */
export function sweepLines(p: SweepProgress): string[] {
  const running = [...p.running].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return [sweepLine(p), ...running.map(pointLine)];
}

/** Prints the summary of a sweep session and returns the exit code. */
export function reportSweep(result: SweepResult, runsDir: string | undefined, quiet = false): number {
  const resume = `mmrun resume ${result.id}${runsDirFlag(runsDir)}`;
  switch (result.status) {
    case 'completed':
      if (!quiet) {
        say(`mmrun: completed sweep ${result.id}: ${result.points} points in ${duration(result.elapsedMs)}`);
        say(`  points: mmrun show ${result.id}${runsDirFlag(runsDir)}`);
      }
      return EXIT.ok;
    case 'interrupted':
      say(
        `mmrun: interrupted sweep ${result.id} by ${result.stopReason}: ${result.completed} of ${result.points} points completed`,
      );
      say(`  continue with: ${resume}`);
      return exitCodeFor(result.stopReason ?? '');
    case 'failed':
      for (const f of result.failures) {
        say(`mmrun: point ${f.runId} failed:`);
        reportError(f.error);
      }
      say(
        `mmrun: sweep ${result.id} failed: ${result.failures.length} point(s) failed, ${result.completed} of ${result.points} completed`,
      );
      say(`  after fixing the cause: ${resume}`);
      return EXIT.error;
  }
}
