import { config } from '../config.ts';
import { MmrunError } from '../errors.ts';
import type { ResumeSweepOptions, SweepOptions, SweepProgress, SweepResult, SweepStartInfo } from '../sweep/sweep.ts';
import { count, duration, EXIT, reportError, say } from './output.ts';
import { progressLog } from './progress.ts';
import { runsDirFlag } from './report.ts';
import { abortOnSignals, exitCodeFor, signalName } from './signals.ts';

/** Off a terminal, one log line every this many milliseconds ($MMRUN_PROGRESS_LOG_MS overrides). */
const LOG_EVERY_MS = config().progressLogMs;

type Hooks = Pick<SweepOptions & ResumeSweepOptions, 'signal' | 'onStart' | 'onProgress'>;

/**
 * Runs one session of a sweep (started or resumed): stop signals wired in, the sweep id on
 * stdout, one progress line on a terminal (log lines otherwise), the summary, the exit code.
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
  const stream = process.stderr;
  let shown = false;
  let lastLog = Number.NEGATIVE_INFINITY;
  const log = quiet || stream.isTTY ? undefined : progressLog();
  const onProgress = quiet
    ? undefined
    : (p: SweepProgress) => {
        if (stream.isTTY) {
          shown = true;
          stream.write(`\r\x1b[2K${sweepLine(p)}`.slice(0, (stream.columns || 200) + 5));
        } else if (p.elapsedMs - lastLog >= LOG_EVERY_MS) {
          lastLog = p.elapsedMs;
          log?.info(
            {
              event: 'progress',
              sweep: p.id,
              completed: p.completed,
              failed: p.failed,
              points: p.points,
              running: p.running.map((r) => r.id),
              rowsPerSecond: Math.round(p.rowsPerSecond),
              etaSeconds: p.etaMs === undefined ? null : Math.round(p.etaMs / 1000),
            },
            'progress',
          );
        }
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
  if (shown) stream.write('\r\x1b[2K');
  process.exitCode = reportSweep(result, argv['runs-dir'], quiet);
}

/** "walk-sweep-…  12/40 points  1 failed  3,912,442 rows/s  ETA 1 min 24 s  running: p0013 45%" */
export function sweepLine(p: SweepProgress): string {
  const runningPart = p.running
    .map((r) => `${r.id.slice(r.id.lastIndexOf('-') + 1)} ${((100 * r.rows) / r.iterations).toFixed(0)}%`)
    .join(' ');
  return [
    p.id,
    `${p.completed}/${p.points} points`,
    ...(p.failed > 0 ? [`${p.failed} failed`] : []),
    `${count(p.rowsPerSecond)} rows/s`,
    `ETA ${p.etaMs === undefined ? '?' : duration(p.etaMs)}`,
    ...(runningPart ? [`running: ${runningPart}`] : []),
  ].join('  ');
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
