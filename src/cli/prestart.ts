// Which shard workers a command line will need, decided before the CLI loads its own
// modules: bin/mmrun.js calls prestartWorkers first thing, so the workers of
// `run --workers K` and of `resume` of a sharded run boot meanwhile (runner/worker-pool.ts
// keeps them until the run takes them). It reads the raw arguments: yargs is not loaded yet.
import * as path from 'node:path';
import { configOf } from '../config.ts';
import { prestartShardWorkers } from '../runner/worker-pool.ts';

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

/** Starts the shard workers the command line `args` will need (see {@link workersWanted}). */
export async function prestartWorkers(args: readonly string[]): Promise<void> {
  prestartShardWorkers(await workersWanted(args));
}
