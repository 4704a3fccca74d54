// The text of `run` and `resume` options, parsed into the runner's typed options (the
// runner takes numbers and typed params, never the command line's words). Messages name
// the flags as typed.
import { loadExperiment, resolveExperiment } from '../experiment/load.ts';
import { applyParams, parseCount } from '../experiment/params.ts';
import { badWorkerCount, isWorkerCount, type RunOptions } from '../runner/run.ts';
import type { ShardSpec } from '../shards.ts';
import { parseCountFlag } from './sweep-args.ts';

/** `run`'s options as yargs gives them: counts as text (1e6 and 1_000_000 are accepted). */
export interface RunArgsText {
  readonly experiment: string;
  readonly 'runs-dir'?: string;
  readonly iterations?: string;
  readonly seed?: number;
  readonly param?: readonly string[];
  readonly id?: string;
  readonly 'flush-every'?: string;
  readonly 'flush-interval'?: number;
  readonly 'segment-rows'?: string;
  readonly workers?: string;
}

/**
 * `run`'s typed options. The experiment is loaded here: each `--param key=value` is typed
 * by its default.
 */
export async function runOptionsOf(argv: RunArgsText, shard: ShardSpec | undefined): Promise<RunOptions> {
  const loaded = await loadExperiment(resolveExperiment(argv.experiment));
  const iterations = argv.iterations === undefined ? undefined : parseCount(argv.iterations);
  const params = applyParams(loaded.params, argv.param ?? []);
  const flushEvery = parseCountFlag(argv['flush-every'], '--flush-every');
  const segmentRows = parseCountFlag(argv['segment-rows'], '--segment-rows');
  const workers = argv.workers === undefined ? undefined : workersOf(argv.workers);
  return {
    experiment: loaded,
    runsDir: argv['runs-dir'],
    iterations,
    seed: argv.seed,
    params,
    id: argv.id,
    flushEvery,
    flushInterval: argv['flush-interval'],
    segmentRows,
    workers,
    shard,
  };
}

/** `resume --iterations`: the count to extend the run to, if given. */
export function extendToOf(iterations: string | undefined): number | undefined {
  return iterations === undefined ? undefined : parseCount(iterations);
}

/** `--workers K`: a whole number from 1 to MAX_WORKERS (checked against the run later). */
function workersOf(text: string): number {
  const workers = Number(text);
  if (!isWorkerCount(workers)) throw badWorkerCount(text);
  return workers;
}
