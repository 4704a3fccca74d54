// Shard arithmetic, one module at the bottom of the layering: how a job's iterations split
// into contiguous shards (worker threads of one run, or machines of a job), and which shard
// a process computes. The catalog stores shards, the runner drives them, the CLI parses them.
import { MmrunError } from './errors.ts';

/**
 * Splits `rows` rows into `k` contiguous shards of nearly equal size (the first `rows % k`
 * get one more row). Shard j is [ranges[j][0], ranges[j][1]).
 */
export function shardRanges(rows: number, k: number): [number, number][] {
  const base = Math.floor(rows / k);
  const extra = rows % k;
  const ranges: [number, number][] = [];
  let start = 0;
  for (let j = 0; j < k; j++) {
    const end = start + base + (j < extra ? 1 : 0);
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}

/**
 * One shard of a job split across machines: this run computes iterations
 * [firstIteration, firstIteration + run.iterations) of a job of `jobIterations`, as shard
 * `index` of `count` (see {@link shardRanges}). Its rows are stored from row 0.
 */
export interface JobShard {
  readonly index: number;
  readonly count: number;
  readonly firstIteration: number;
  readonly jobIterations: number;
}

/** Which shard of a job split across machines a run computes: shard `index` of `count`. */
export interface ShardSpec {
  readonly index: number;
  readonly count: number;
  /** Where the spec came from, for messages (e.g. '--shard', 'SLURM_ARRAY_TASK_ID'). */
  readonly source: string;
}

const badShard = (what: string, source: string, remedy: string) =>
  new MmrunError('BAD_SHARD', `${source} ${what}`, { remedy });

/** Parses `I/N` (0 <= I < N). */
export function parseShard(text: string, source = '--shard'): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw badShard(`'${text}' is not I/N`, source, 'pass --shard I/N with 0 <= I < N, e.g. --shard 0/4');
  return checkShard(Number(m[1]), Number(m[2]), source);
}

function checkShard(index: number, count: number, source: string): ShardSpec {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw badShard(`gives ${count} shards`, source, 'the shard count must be a whole number of at least 1');
  }
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw badShard(`gives shard ${index} of ${count}`, source, `the shard index must be 0 to ${count - 1}`);
  }
  return { index, count, source };
}

/**
 * The shard a cluster scheduler assigned to this process, if any:
 * - Slurm job arrays: `SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN` of
 *   `SLURM_ARRAY_TASK_COUNT` (an array with a step, `--array=0-9:2`, is refused: shards
 *   must be numbered without gaps);
 * - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX` of `count` (Kubernetes does not tell
 *   a pod how many completions there are: pass `--shard-count N` or set
 *   `MMRUN_SHARD_COUNT`).
 * @throws MmrunError BAD_SHARD when the variables are present but inconsistent.
 */
export function shardFromEnvironment(env: NodeJS.ProcessEnv, count?: number): ShardSpec | undefined {
  const task = env.SLURM_ARRAY_TASK_ID;
  if (task !== undefined && task !== '') {
    const source = 'SLURM_ARRAY_TASK_ID';
    const total = env.SLURM_ARRAY_TASK_COUNT;
    if (total === undefined || total === '') {
      throw badShard(
        'is set but SLURM_ARRAY_TASK_COUNT is not',
        source,
        'submit the job as an array (sbatch --array=0-N)',
      );
    }
    const step = Number(env.SLURM_ARRAY_TASK_STEP ?? '1');
    if (step !== 1) {
      throw badShard(
        `comes from an array with step ${step}`,
        source,
        'number the array tasks without gaps (--array=0-N), or pass --shard I/N',
      );
    }
    const min = Number(env.SLURM_ARRAY_TASK_MIN ?? '0');
    return checkShard(Number(task) - min, Number(total), `${source}=${task} (array from ${min}, ${total} tasks)`);
  }
  const index = env.JOB_COMPLETION_INDEX;
  if (index !== undefined && index !== '') {
    const n = count ?? (env.MMRUN_SHARD_COUNT ? Number(env.MMRUN_SHARD_COUNT) : undefined);
    if (n === undefined) {
      throw badShard(
        `is set (a Kubernetes Indexed Job) but the number of shards is not known`,
        'JOB_COMPLETION_INDEX',
        "pass --shard-count N (the Job's completions) or set MMRUN_SHARD_COUNT",
      );
    }
    return checkShard(Number(index), n, `JOB_COMPLETION_INDEX=${index}`);
  }
  return undefined;
}

/** The rows a shard computes of a job of `iterations`. */
export function jobShardOf(spec: ShardSpec, iterations: number): JobShard {
  if (spec.count > iterations) {
    throw badShard(
      `asks for ${spec.count} shards of only ${iterations} iterations`,
      spec.source,
      'use fewer shards than iterations',
    );
  }
  const [first] = shardRanges(iterations, spec.count)[spec.index]!;
  return { index: spec.index, count: spec.count, firstIteration: first, jobIterations: iterations };
}
