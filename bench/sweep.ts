// sweepOverheadPerPointMs: the cost of a sweep point beyond its rows. A sweep of P points of
// R rows of the cheap experiment (`--jobs 1`, in this process through startSweep, as `mmrun
// sweep` runs it) against the same P × R rows computed as one run (startRun), both on a
// fresh runs directory: (sweep wall − run wall) ÷ P. What a point costs: its catalog rows
// (create, checkpoint, finish: three fsync'ed SQLite commits), its directory (mkdir + fsync
// of the runs dir), its segment file (create, size, msync) and its log file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startRun } from '../src/runner/run.ts';
import { startSweep } from '../src/sweep/sweep.ts';
import { FIXTURES, removeTemp, tempDir } from './lib/proc.ts';
import { type Summary, summarize } from './lib/stats.ts';

const CHEAP = path.join(FIXTURES, 'cheap.ts');

export interface SweepBenchResult {
  readonly perPointMs: Summary;
  readonly sweepWallMs: Summary;
  readonly runWallMs: Summary;
}

export async function sweepBench(options: {
  readonly reps: number;
  readonly points: number;
  readonly rows: number;
  readonly log: (line: string) => void;
}): Promise<SweepBenchResult> {
  const { points, rows } = options;
  const perPoint: number[] = [];
  const sweepWall: number[] = [];
  const runWall: number[] = [];
  for (let rep = 0; rep < options.reps; rep++) {
    const dir = tempDir('sweep');
    try {
      // The cheap experiment has no params: one empty parameter set × P replicate seeds.
      const sets = path.join(dir, 'one.jsonl');
      fs.writeFileSync(sets, '{}\n');
      let t = performance.now();
      const run = await startRun({
        experiment: CHEAP,
        iterations: points * rows,
        seed: 1,
        runsDir: path.join(dir, 'run'),
      });
      const runMs = performance.now() - t;
      t = performance.now();
      const sweep = await startSweep({
        experiment: CHEAP,
        points: sets,
        seeds: points,
        seed: 1,
        iterations: rows,
        jobs: 1,
        runsDir: path.join(dir, 'sweep'),
      });
      const sweepMs = performance.now() - t;
      if (run.status !== 'completed' || sweep.status !== 'completed') {
        throw new Error(`run ${run.status}, sweep ${sweep.status}`);
      }
      runWall.push(runMs);
      sweepWall.push(sweepMs);
      perPoint.push((sweepMs - runMs) / points);
      options.log(
        `  rep ${rep + 1}: sweep ${sweepMs.toFixed(0)} ms, one run ${runMs.toFixed(0)} ms → ${perPoint.at(-1)!.toFixed(2)} ms/point`,
      );
    } finally {
      removeTemp(dir);
    }
  }
  return { perPointMs: summarize(perPoint), sweepWallMs: summarize(sweepWall), runWallMs: summarize(runWall) };
}
