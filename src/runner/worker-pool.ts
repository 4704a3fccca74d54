import type { Worker } from 'node:worker_threads';
import { siblingModule, startModuleWorker } from '../threads.ts';

// A shard's worker thread boots (an isolate, mmrun's compiled modules, the bundled
// experiment) in tens of milliseconds. A worker started before the run needs it boots while
// the process does something else (the CLI starts them before it loads its own modules:
// src/cli/prestart.ts), and the run takes them when it spawns its shards. A prestarted
// worker waits for its input in a `start` message (shard-protocol.ts); one that is never
// taken is unreferenced and ends with the process.

/** The shard worker's module (a file URL). */
export const SHARD_WORKER_MODULE = siblingModule(import.meta.url, 'shard-worker');

/** The most workers started ahead of a run; a run that needs more spawns the rest itself. */
export const MAX_PRESTARTED = 64;

interface Prestarted {
  readonly worker: Worker;
  failed: boolean;
}

const pool: Prestarted[] = [];

/**
 * Starts up to `count` shard workers ahead of a run (at most `max` waiting in all). They
 * keep nothing alive: if no run takes them, the process ends as if they did not exist.
 */
export function prestartShardWorkers(count: number, max = MAX_PRESTARTED): void {
  const wanted = Math.min(Math.floor(count), max);
  while (prestartedShardWorkers() < wanted) {
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
