// resumeStartRatio: time from spawning `node bin/mmrun.js resume <id>` to its first new
// iteration, for a run with a large amount already flushed ÷ the same for 4 MiB.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getRun } from '../src/index.ts';
import { describeExit, FIXTURES, removeTemp, spawnCli, tempDir, wallNow } from './lib/proc.ts';
import { interleave, paired, type Summary, summarize } from './lib/stats.ts';

export interface ResumeConfig {
  readonly reps: number;
  /** Bytes flushed in the large run (4 GiB in full mode). */
  readonly bigBytes: number;
  /** Bytes flushed in the small run (4 MiB). */
  readonly smallBytes: number;
  readonly log: (line: string) => void;
}

export interface ResumeResult {
  readonly resumeStartRatio: Summary;
  readonly bigMs: Summary;
  readonly smallMs: Summary;
  readonly bigFlushedBytes: number;
  readonly smallFlushedBytes: number;
  readonly segmentsBig: number;
  readonly createSeconds: number;
}

const PROBE = path.join(FIXTURES, 'probe.ts');
const ITEMSIZE = 32;
/** Rows per 1 GiB segment of the probe's 32-byte rows (mmrun's default segment size). */
const SEGMENT_ROWS = 2 ** 30 / ITEMSIZE;

/**
 * Creates a run with the CLI that stops itself (the probe throws) with exactly `bytes` of
 * rows flushed. Its iteration count leaves a whole segment after the
 * stopping point, so every resume continues inside an existing, full-size segment.
 */
async function createRun(runsDir: string, id: string, bytes: number): Promise<number> {
  const stopAt = bytes / ITEMSIZE;
  const iterations = (Math.floor(stopAt / SEGMENT_ROWS) + 1) * SEGMENT_ROWS;
  const cli = spawnCli(['run', PROBE, '--id', id, '--seed', '1', '--iterations', String(iterations)], runsDir, {
    MMRUN_BENCH_STOP_AT: String(stopAt),
  });
  const r = await cli.exited;
  const flushed = getRun(runsDir, id).run.flushedRows;
  if (r.code !== 1 || flushed !== stopAt) {
    throw new Error(`${describeExit(`creating run '${id}'`, r)} (${flushed} rows flushed, expected ${stopAt})`);
  }
  return flushed;
}

/** Milliseconds from spawn to the probe's first step in a `resume`; the probe then stops it (exit 1). */
async function timeResume(runsDir: string, id: string): Promise<number> {
  const stamp = path.join(runsDir, `${id}.stamp`);
  fs.rmSync(stamp, { force: true });
  const spawnedAt = wallNow();
  const cli = spawnCli(['resume', id], runsDir, { MMRUN_BENCH_STAMP: stamp });
  const r = await cli.exited;
  if (r.code !== 1 || !fs.existsSync(stamp)) throw new Error(describeExit(`resume of '${id}'`, r));
  const firstStepAt = Number(fs.readFileSync(stamp, 'utf8'));
  fs.rmSync(stamp, { force: true });
  return firstStepAt - spawnedAt;
}

export async function resumeStart(cfg: ResumeConfig): Promise<ResumeResult> {
  const runsDir = tempDir('resume');
  try {
    const t0 = performance.now();
    const bigRows = await createRun(runsDir, 'big', cfg.bigBytes);
    const smallRows = await createRun(runsDir, 'small', cfg.smallBytes);
    const createSeconds = (performance.now() - t0) / 1000;
    cfg.log(
      `  created runs: ${((bigRows * ITEMSIZE) / 2 ** 20).toFixed(1)} MiB and ${((smallRows * ITEMSIZE) / 2 ** 20).toFixed(1)} MiB flushed (${createSeconds.toFixed(1)} s)`,
    );
    // One untimed resume each: the first CLI start after creation fills Node's compile cache.
    await timeResume(runsDir, 'small');
    await timeResume(runsDir, 'big');
    const ms = await interleave(cfg.reps, ['small', 'big'] as const, async (id, rep) => {
      const t = await timeResume(runsDir, id);
      cfg.log(`  rep ${rep + 1}/${cfg.reps} ${id.padEnd(5)} first new iteration after ${t.toFixed(0)} ms`);
      return t;
    });
    return {
      resumeStartRatio: summarize(paired(ms.big, ms.small, (b, s) => b / s)),
      bigMs: summarize(ms.big),
      smallMs: summarize(ms.small),
      bigFlushedBytes: bigRows * ITEMSIZE,
      smallFlushedBytes: smallRows * ITEMSIZE,
      segmentsBig: Math.ceil(bigRows / SEGMENT_ROWS),
      createSeconds,
    };
  } finally {
    removeTemp(runsDir);
  }
}
