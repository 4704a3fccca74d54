import type { Worker } from 'node:worker_threads';
import { siblingModule, WorkerThread } from '../threads.ts';
import type { ShardCommand, ShardInput, ShardMessage } from './shard-protocol.ts';

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

/** A shard's worker thread, as its coordinator sees it. */
export type ShardThread = WorkerThread<ShardMessage, ShardCommand>;

/**
 * Starts a shard's worker thread: with `input` it runs that shard at once; with `null` it
 * waits for its input in a `start` message (prestarted). `shard` names it in its errors.
 */
export function startShardWorker(input: ShardInput | null, shard?: number): ShardThread {
  return new WorkerThread<ShardMessage, ShardCommand>(SHARD_WORKER_MODULE, input, {
    name: shard === undefined ? 'a shard worker' : `the worker of shard ${shard}`,
    remedy: 'see run.log; `mmrun resume <run>` continues every shard from its flushed rows',
  });
}

interface Prestarted {
  readonly thread: ShardThread;
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
    const entry: Prestarted = { thread: startShardWorker(null), failed: false };
    // A worker that failed to boot, or ended, is not handed out (the run spawns a new one).
    entry.thread.onFailure(() => {
      entry.failed = true;
    });
    entry.thread.unref();
    pool.push(entry);
  }
}

/**
 * A prestarted shard worker, referenced again (it keeps the process alive like any other),
 * that the caller must send a `start` message; `undefined` when none is left.
 */
export function takeShardThread(): ShardThread | undefined {
  for (let entry = pool.shift(); entry; entry = pool.shift()) {
    if (entry.failed) continue;
    entry.thread.ref();
    return entry.thread;
  }
  return undefined;
}

/** {@link takeShardThread}'s bare thread (for tests that talk to it directly). */
export function takeShardWorker(): Worker | undefined {
  return takeShardThread()?.worker;
}

/** How many prestarted workers are waiting to be taken (for tests). */
export function prestartedShardWorkers(): number {
  return pool.filter((entry) => !entry.failed).length;
}
