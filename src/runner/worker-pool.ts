import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { configOf } from '../config.ts';
import { siblingModule, WorkerThread } from '../threads.ts';
import type { ShardCommand, ShardInput, ShardMessage } from './shard-protocol.ts';

// A shard's worker thread boots (an isolate, mmrun's compiled modules, the bundled
// experiment) in tens of milliseconds. A worker started before the run needs it boots while
// the process does something else: the CLI starts them first thing for `run --workers K`
// and for `resume` of a sharded run (bin/mmrun.js), so they boot while the CLI loads its own
// modules, and the run takes them when it spawns its shards. A prestarted worker waits for
// its input in a `start` message (shard-protocol.ts); one that is never taken is
// unreferenced and ends with the process.

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

/** How many shards of a run `resume` would start workers for (reads the catalog). */
export type UnfinishedShards = (runsDir: string, id: string) => number;

/**
 * The options of `run` and `resume` (and the global ones) that take a value, as the next
 * word unless written `--name=value`: their values are not the command or its operands.
 */
const WITH_VALUE = new Set([
  '--runs-dir',
  '--iterations',
  '-n',
  '--seed',
  '--param',
  '-p',
  '--id',
  '--flush-every',
  '--flush-interval',
  '--segment-rows',
  '--workers',
  '-w',
  '--shard',
  '--shard-count',
  '--checkpoint-signal',
  '--preempt-signal',
]);

/** The value of option `names` (`--name value`, `--name=value`, `-w4`), the last one given. */
function optionValue(args: readonly string[], names: readonly string[]): string | undefined {
  let value: string | undefined;
  args.forEach((arg, k) => {
    for (const name of names) {
      if (arg === name) value = args[k + 1];
      else if (arg.startsWith(`${name}=`)) value = arg.slice(name.length + 1);
      else if (name.length === 2 && arg.startsWith(name) && /^\d+$/.test(arg.slice(2))) value = arg.slice(2);
    }
  });
  return value;
}

/**
 * The worker threads a command line will need: K for `run … --workers K` (or `-w K`,
 * `--workers=K`, `-wK`) with K > 1; for `resume <id>` of a sharded run, its unfinished
 * shards (counted in the catalog of `--runs-dir`, else $MMRUN_RUNS_DIR, else ./runs); else 0.
 * Only a hint to start workers early: the command's own parsing and checks decide, and
 * refuse, later.
 */
export async function workersWanted(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  unfinishedShards?: UnfinishedShards,
): Promise<number> {
  // The words that are neither options nor their values: the command, then its operands.
  const words = args.filter((arg, k) => !arg.startsWith('-') && !WITH_VALUE.has(args[k - 1] ?? ''));
  if (words[0] === 'resume') {
    const id = words[1];
    if (id === undefined) return 0;
    let runsDir: string;
    try {
      runsDir = path.resolve(optionValue(args, ['--runs-dir']) ?? configOf(env).runsDir ?? 'runs');
    } catch {
      return 0; // a bad environment: the command reports it
    }
    // The catalog's module only when needed: `run` starts its workers without waiting for it.
    const count = unfinishedShards ?? (await import('../catalog/catalog.ts')).Catalog.peekUnfinishedShards;
    return count(runsDir, id);
  }
  if (words[0] !== 'run') return 0;
  const workers = Number(optionValue(args, ['--workers', '-w']));
  return Number.isSafeInteger(workers) && workers > 1 ? workers : 0;
}
