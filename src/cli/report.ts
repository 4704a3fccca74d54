import * as path from 'node:path';
import type { RunResult, StartInfo } from '../runner/run.ts';
import { count, duration, EXIT, reportError, say } from './output.ts';
import { exitCodeFor } from './signals.ts';

/** A path as a person wants to read it: relative below the working directory, else absolute. */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel === '' ? '.' : rel.startsWith('..') || path.isAbsolute(rel) ? p : rel;
}

/** How to name the runs directory in a hint: only when it is not the default. */
export function runsDirFlag(runsDir: string | undefined): string {
  return runsDir ? ` --runs-dir ${runsDir}` : '';
}

/** Prints the human summary of a session and returns the process exit code. */
export function reportRun(result: RunResult, runsDir: string | undefined, quiet = false): number {
  const rel = displayPath(result.runDir);
  const speed = `${count(result.rowsPerSecond)} rows/s`;
  const resume = `mmrun resume ${result.id}${runsDirFlag(runsDir)}`;
  switch (result.status) {
    case 'completed':
      if (quiet) return EXIT.ok;
      say(
        `mmrun: completed ${result.id}: ${count(result.flushedRows)} rows (${count(result.flushedRows - result.startRow)} this session) in ${duration(result.elapsedMs)}, ${speed}, ${result.flushes} flushes`,
      );
      say(`  results: ${rel}/*.npy  (numpy: np.load(segment, mmap_mode='r'))`);
      return EXIT.ok;
    case 'interrupted':
      say(
        `mmrun: interrupted ${result.id} by ${result.stopReason}: ${count(result.flushedRows)} of ${count(result.iterations)} rows flushed, ${speed}`,
      );
      say(`  continue with: ${resume}`);
      return exitCodeFor(result.stopReason ?? '');
    case 'failed':
      reportError(result.error);
      say(`  ${count(result.flushedRows)} of ${count(result.iterations)} rows are flushed and kept in ${rel}`);
      say(
        `  after fixing it: ${resume}${result.error?.code === 'STEP_FAILED' || result.error?.code === 'BAD_ROW' ? ' --allow-changed' : ''}`,
      );
      return EXIT.error;
  }
}

/** Prints the run id on stdout (for scripts) and where things are on stderr. */
export function announce(info: StartInfo, quiet = false): void {
  process.stdout.write(`${info.id}\n`);
  if (quiet) return;
  const rel = displayPath(info.runDir);
  const verb = info.resumed ? `resuming ${info.id} at row ${count(info.startRow)}` : `started ${info.id}`;
  say(`mmrun: ${verb}: ${count(info.iterations)} iterations of '${info.experiment}', seed ${info.seed}`);
  say(`  results: ${rel}/*.npy  log: ${rel}/run.log`);
}
