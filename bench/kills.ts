// lostRowsPerKillMax: kill -9 the real CLI at random moments; the rows a resume must
// recompute are the rows the killed process had written minus the catalog's flushedRows.
// How far it got is read back from its segment: the cheap fixture's first column is i + 1,
// non-zero exactly for written rows (kill -9 does not lose the page cache, so every row
// written into the shared mapping is in the file, flushed or not).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getRun } from '../src/index.ts';
import { writtenRows } from './lib/npy.ts';
import { describeExit, FIXTURES, removeTemp, sleep, spawnCli, tempDir, wallNow } from './lib/proc.ts';
import { type Summary, summarize } from './lib/stats.ts';

export interface KillConfig {
  readonly kills: number;
  /** A kill lands uniformly at random in [min, max] ms after the CLI announced the run. */
  readonly delayMs: readonly [number, number];
  readonly log: (line: string) => void;
}

export interface KillResult {
  readonly lostRowsPerKillMax: number;
  readonly ratios: Summary;
  readonly lostRows: Summary;
  /** The policy bound min(N, T·rate) of the first kill, for the table. */
  readonly bound: number;
  readonly rowsPerSecond: Summary;
}

const CHEAP = path.join(FIXTURES, 'cheap.ts');
const ITEMSIZE = 32;

export async function kills(cfg: KillConfig): Promise<KillResult> {
  const runsDir = tempDir('kill');
  const ratios: number[] = [];
  const lost: number[] = [];
  const rates: number[] = [];
  const bounds: number[] = [];
  try {
    for (let k = 0; k < cfg.kills; k++) {
      const id = `kill-${k}`;
      const cli = spawnCli(['run', CHEAP, '--id', id, '--seed', '1', '--iterations', '1e9'], runsDir);
      const startedAt = await cli.firstLine;
      const [lo, hi] = cfg.delayMs;
      await sleep(lo + Math.random() * (hi - lo));
      cli.child.kill('SIGKILL');
      const r = await cli.exited;
      const killedAt = wallNow();
      if (r.signal !== 'SIGKILL') throw new Error(describeExit(`run '${id}' (to be killed)`, r));
      const run = getRun(runsDir, id).run;
      const written = writtenRows(path.join(runsDir, id), ITEMSIZE);
      const recomputed = written - run.flushedRows;
      if (recomputed < 0) {
        throw new Error(`run '${id}': the catalog claims ${run.flushedRows} rows but only ${written} were written`);
      }
      const rate = written / ((killedAt - startedAt) / 1000);
      const bound = Math.min(run.flushEvery, run.flushInterval * rate);
      ratios.push(recomputed / bound);
      lost.push(recomputed);
      rates.push(rate);
      bounds.push(bound);
      cfg.log(
        `  kill ${k + 1}/${cfg.kills}: ${written} rows written, ${run.flushedRows} flushed (${run.status}), ${recomputed} to recompute = ${(recomputed / bound).toFixed(3)} × bound ${Math.round(bound)}`,
      );
      fs.rmSync(path.join(runsDir, id), { recursive: true, force: true });
    }
    return {
      lostRowsPerKillMax: Math.max(...ratios),
      ratios: summarize(ratios),
      lostRows: summarize(lost),
      bound: bounds[0]!,
      rowsPerSecond: summarize(rates),
    };
  } finally {
    removeTemp(runsDir);
  }
}
