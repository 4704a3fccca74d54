import type { Logger } from 'pino';
import { MmrunError } from '../errors.ts';
import type { Context, ShardInfo } from '../experiment/define.ts';
import type { LoadedExperiment } from '../experiment/load.ts';
import type { CounterRng } from '../experiment/rng.ts';
import type { JobShard } from '../shards.ts';

/** The shard of a run with one worker: all of its rows. */
export const wholeRun = (iterations: number): ShardInfo => ({ index: 0, count: 1, firstRow: 0, endRow: iterations });

/**
 * What `ctx.shard` says in a run of `iterations` rows: all of them, or for a shard of a job
 * split across machines (`--shard I/N`), its iterations of the job. A job shard calls
 * `init` exactly as shard I of a run with `--workers N` would.
 */
export function runShard(iterations: number, job: JobShard | undefined): ShardInfo {
  if (!job) return wholeRun(iterations);
  return { index: job.index, count: job.count, firstRow: job.firstIteration, endRow: job.firstIteration + iterations };
}

/** A fresh experiment context (state undefined). */
export function makeContext(
  params: Record<string, number | string | boolean>,
  seed: number,
  runId: string,
  log: Logger,
  rng: CounterRng,
  shard: ShardInfo,
): Context {
  return { params: Object.freeze({ ...params }), seed, runId, state: undefined, log, rng, shard: Object.freeze(shard) };
}

/**
 * `init`'s draws come from streams of their own, apart from every iteration's: shard j
 * uses stream MAX_SAFE_INTEGER - j, so shard 0 (and a run with one worker) draws as before.
 */
const INIT_STREAM = Number.MAX_SAFE_INTEGER;

/** Calls the experiment's `init` (if any) for the context's shard; a throw is STEP_FAILED. */
export async function callInit(loaded: LoadedExperiment, ctx: Context): Promise<unknown> {
  const init = loaded.experiment.init;
  if (!init) return undefined;
  ctx.rng.reset(INIT_STREAM - ctx.shard.index);
  try {
    return await init.call(loaded.experiment, ctx, ctx.shard.firstRow);
  } catch (cause) {
    const where = ctx.shard.count > 1 ? ` (shard ${ctx.shard.index} of ${ctx.shard.count})` : '';
    throw new MmrunError(
      'STEP_FAILED',
      `experiment '${loaded.name}' threw in init${where}: ${(cause as Error)?.message ?? cause}`,
      {
        cause,
        remedy: 'fix init; nothing was computed yet',
      },
    );
  }
}
