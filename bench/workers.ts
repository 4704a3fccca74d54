// `run --workers K` (issue 4): the same CPU-bound experiment with 1 and with 2 worker
// threads, through the real CLI, and the anonymous memory each extra worker costs. On a
// 2-core machine the target is a speed-up of at least 1.85.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describeExit, FIXTURES, removeTemp, sampleMemory, spawnCli, spawnNode, tempDir } from './lib/proc.ts';
import { paired, type Summary, summarize } from './lib/stats.ts';

export interface WorkersConfig {
  readonly reps: number;
  readonly rows: number;
  readonly log: (line: string) => void;
}

export interface WorkersResult {
  /** Rows per second with K = 2 ÷ with K = 1 (paired by repetition). */
  readonly speedup: Summary;
  readonly rowsPerSecond1: Summary;
  readonly rowsPerSecond2: Summary;
  /** Peak RssAnon of the process with K = 1 and K = 2 (MiB). */
  readonly rssAnon1: Summary;
  readonly rssAnon2: Summary;
  /**
   * (Peak RssAnon with K = 2 − with K = 1) ÷ 2, in MiB: with K = 1 the main thread runs the
   * loop; with K = 2 two worker threads do (each a V8 isolate with its own heap and modules)
   * while the main thread only commits. What a worker costs, whatever the data size.
   */
  readonly rssPerWorker: Summary;
  /**
   * What the machine itself gives two CPU-bound processes at once: 2 × (time of one spin
   * loop alone) ÷ (time of the same loop with another beside it). 2.0 on two free cores;
   * less when the two vCPUs share a physical core or the host is busy.
   */
  readonly hardwareCeiling: Summary;
  /**
   * Whole `mmrun run` commands, spawn → exit (the CLI's start-up included, and with it the
   * part of the workers' start-up that overlaps it): time with K = 1 ÷ time with K = 2.
   */
  readonly commandSpeedup: Summary;
  readonly commandMs1: Summary;
  readonly commandMs2: Summary;
}

// A pure CPU loop, no memory traffic: the most any parallel work could scale here.
const SPIN =
  'let x = 0; const t0 = performance.now(); for (let i = 0; i < 2e8; i++) x += Math.sqrt(i); console.log(performance.now() - t0, x > 0);';

async function spin(copies: number): Promise<number> {
  const runs = Array.from({ length: copies }, () => spawnNode(['-e', SPIN]).exited);
  const times = (await Promise.all(runs)).map((r) => Number.parseFloat(r.stdout));
  return times.reduce((a, b) => a + b, 0) / times.length;
}

const CPU = path.join(FIXTURES, 'cpu.ts');

interface Once {
  readonly rowsPerSecond: number;
  readonly rssAnonMiB: number;
  /** Spawn → exit of the whole command. */
  readonly commandMs: number;
}

/**
 * One run with K workers: rows per second over the run's life in the catalog (created →
 * completed: worker start-up included, the CLI's own start-up not) and its peak RssAnon.
 */
async function once(k: number, rows: number): Promise<Once> {
  const runsDir = tempDir(`workers${k}`);
  try {
    const spawned = performance.now();
    const cli = spawnCli(
      ['run', CPU, '--id', 'w', '--seed', '1', '--iterations', String(rows), '--workers', String(k), '--quiet'],
      runsDir,
    );
    const sampler = sampleMemory(cli.child.pid!, 50);
    const r = await cli.exited;
    const commandMs = performance.now() - spawned;
    const peak = sampler.stop();
    if (r.code !== 0) throw new Error(describeExit(`mmrun run --workers ${k}`, r));
    const db = new Database(path.join(runsDir, 'mmrun.sqlite'), { readonly: true });
    const run = db.prepare("SELECT created_at AS a, updated_at AS b FROM runs WHERE id = 'w'").get() as {
      a: string;
      b: string;
    };
    db.close();
    const seconds = (Date.parse(run.b) - Date.parse(run.a)) / 1000;
    if (!fs.existsSync(path.join(runsDir, 'w', '000000.npy'))) throw new Error('no segment written');
    return { rowsPerSecond: rows / seconds, rssAnonMiB: (peak.RssAnon ?? Number.NaN) / 1024, commandMs };
  } finally {
    removeTemp(runsDir);
  }
}

export async function workers(cfg: WorkersConfig): Promise<WorkersResult> {
  const one: Once[] = [];
  const two: Once[] = [];
  const ceiling: number[] = [];
  for (let rep = 0; rep < cfg.reps; rep++) {
    const alone = await spin(1);
    const together = await spin(2);
    ceiling.push((2 * alone) / together);
    cfg.log(
      `  rep ${rep + 1}/${cfg.reps} hardware: one spin loop ${alone.toFixed(0)} ms alone, ${together.toFixed(0)} ms beside another`,
    );
    // Alternate the order so that a slow moment of the machine does not always hit one K.
    const order = rep % 2 === 0 ? [1, 2] : [2, 1];
    for (const k of order) {
      const r = await once(k, cfg.rows);
      (k === 1 ? one : two).push(r);
      cfg.log(
        `  rep ${rep + 1}/${cfg.reps} --workers ${k}: ${Math.round(r.rowsPerSecond)} rows/s, command ${r.commandMs.toFixed(0)} ms, peak RssAnon ${r.rssAnonMiB.toFixed(1)} MiB`,
      );
    }
  }
  return {
    speedup: summarize(paired(two, one, (b, a) => b.rowsPerSecond / a.rowsPerSecond)),
    rowsPerSecond1: summarize(one.map((r) => r.rowsPerSecond)),
    rowsPerSecond2: summarize(two.map((r) => r.rowsPerSecond)),
    rssAnon1: summarize(one.map((r) => r.rssAnonMiB)),
    rssAnon2: summarize(two.map((r) => r.rssAnonMiB)),
    rssPerWorker: summarize(paired(two, one, (b, a) => (b.rssAnonMiB - a.rssAnonMiB) / 2)),
    hardwareCeiling: summarize(ceiling),
    commandSpeedup: summarize(paired(two, one, (b, a) => a.commandMs / b.commandMs)),
    commandMs1: summarize(one.map((r) => r.commandMs)),
    commandMs2: summarize(two.map((r) => r.commandMs)),
  };
}
