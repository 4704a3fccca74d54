import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { Catalog } from '../catalog/catalog.ts';
import { startModuleWorker } from '../threads.ts';

// Booting a shard's worker thread takes ~250 ms alone and ~450 ms for two at once here:
// tsx's API, `register()` (which starts tsx's own loader thread), and mmrun's module graph
// through that loader. A worker started before the run needs it boots while the process
// does something else: the CLI starts them first thing for `run --workers K` and for
// `resume` of a sharded run (bin/mmrun.js), so they boot while the CLI loads its own modules
// (~400 ms), and the run takes them when it spawns its shards. A prestarted worker waits for its input in a `start` message
// (shard-protocol.ts); one that is never taken is unreferenced and ends with the process.

/** The shard worker's module (a file URL). */
export const SHARD_WORKER_MODULE = new URL('./shard-worker.ts', import.meta.url).href;

/** The most workers started ahead of a run; a run that needs more spawns the rest itself. */
export const MAX_PRESTARTED = 64;

interface Prestarted {
  readonly worker: Worker;
  failed: boolean;
}

const pool: Prestarted[] = [];

/**
 * Starts up to `count` shard workers ahead of a run (at most {@link MAX_PRESTARTED} in all).
 * They keep nothing alive: if no run takes them, the process ends as if they did not exist.
 */
export function prestartShardWorkers(count: number): void {
  const wanted = Math.min(Math.floor(count), MAX_PRESTARTED);
  while (pool.length < wanted) {
    const entry: Prestarted = { worker: startModuleWorker(SHARD_WORKER_MODULE, undefined), failed: false };
    // A worker that failed to boot, or ended, is not handed out (the run spawns a new one).
    const failed = () => {
      entry.failed = true;
    };
    entry.worker.on('error', failed);
    entry.worker.on('exit', failed);
    entry.worker.unref();
    pool.push(entry);
  }
}

/**
 * A prestarted shard worker, referenced again (it keeps the process alive like any other),
 * that the caller must send a `start` message; `undefined` when none is left.
 */
export function takeShardWorker(): Worker | undefined {
  for (let entry = pool.shift(); entry; entry = pool.shift()) {
    if (entry.failed) continue;
    entry.worker.ref();
    return entry.worker;
  }
  return undefined;
}

/** How many prestarted workers are waiting to be taken (for tests). */
export function prestartedShardWorkers(): number {
  return pool.filter((entry) => !entry.failed).length;
}

/** How many shards of a run `resume` would start workers for (reads the catalog). */
export type UnfinishedShards = (runsDir: string, id: string) => number;

/**
 * The worker threads a command line will need: K for `run … --workers K` (or `-w K`,
 * `--workers=K`) with K > 1; for `resume <id>` of a sharded run, its unfinished shards (from
 * the catalog in `--runs-dir`, else $MMRUN_RUNS_DIR, else ./runs); else 0. Only a hint to
 * start workers early: the command's own parsing and checks decide, and refuse, later.
 */
export function workersWanted(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  unfinishedShards: UnfinishedShards = Catalog.peekUnfinishedShards,
): number {
  // The words that are not options (nor the value of --runs-dir): the command, then its operands.
  const words = args.filter((arg, k) => !arg.startsWith('-') && args[k - 1] !== '--runs-dir');
  if (words[0] === 'resume') {
    const id = words[1];
    if (id === undefined) return 0;
    let runsDir = env.MMRUN_RUNS_DIR ?? 'runs';
    args.forEach((arg, k) => {
      if (arg === '--runs-dir' && args[k + 1] !== undefined) runsDir = args[k + 1]!;
      else if (arg.startsWith('--runs-dir=')) runsDir = arg.slice('--runs-dir='.length);
    });
    return unfinishedShards(path.resolve(runsDir), id);
  }
  if (words[0] !== 'run') return 0;
  let value: string | undefined;
  args.forEach((arg, k) => {
    if (arg === '--workers' || arg === '-w') value = args[k + 1];
    else if (arg.startsWith('--workers=')) value = arg.slice('--workers='.length);
    else if (arg.startsWith('-w=')) value = arg.slice(3);
  });
  const workers = Number(value);
  return Number.isSafeInteger(workers) && workers > 1 ? workers : 0;
}
