// What the catalog holds, as TypeScript sees it: the records of runs, shards, checksums and
// events, and the mapping from a row of the `runs` table (with its progress) to a record.
import type { JobShard } from '../shards.ts';
import { type Owner, ownerOf } from './ownership.ts';

export type RunStatus = 'running' | 'interrupted' | 'crashed' | 'failed' | 'completed';

export type EventType =
  | 'started'
  | 'resumed'
  | 'flushed'
  | 'signal'
  | 'crashed'
  | 'completed'
  | 'failed'
  | 'allow-changed'
  | 'code-warning'
  | 'extended'
  | 'merged';

/** What a run is: fixed when it is created. */
export interface RunSpec {
  readonly id: string;
  readonly experiment: string;
  readonly experimentPath: string;
  readonly sourceHash: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly iterations: number;
  readonly columns: Readonly<Record<string, unknown>>;
  /** NumPy descr of the row dtype. */
  readonly dtype: string;
  readonly itemsize: number;
  readonly segmentRows: number;
  readonly flushEvery: number;
  /** Seconds. */
  readonly flushInterval: number;
  /**
   * Worker threads, each computing one contiguous shard of the rows (see `shardRanges` in src/shards.ts).
   * @default 1
   */
  readonly workers?: number;
  /** Set for a run of one shard of a job split across machines (`--shard I/N`). */
  readonly jobShard?: JobShard;
  /** The code fingerprint's parts as JSON (src/fingerprint/), stored with the run. */
  readonly fingerprint?: string;
}

/**
 * The spec of a run that continues `run` elsewhere (a merge): its identity, experiment,
 * params, seed and layout, without its shard of a job or its code fingerprint; `changes`
 * (e.g. the merged run's id, iterations and workers) win.
 */
export function runSpecOf(run: RunRecord, changes: Partial<RunSpec> = {}): RunSpec {
  return {
    id: run.id,
    experiment: run.experiment,
    experimentPath: run.experimentPath,
    sourceHash: run.sourceHash,
    params: run.params,
    seed: run.seed,
    iterations: run.iterations,
    columns: run.columns,
    dtype: run.dtype,
    itemsize: run.itemsize,
    segmentRows: run.segmentRows,
    flushEvery: run.flushEvery,
    flushInterval: run.flushInterval,
    workers: run.workers,
    ...changes,
  };
}

/** One shard of a sharded run: rows [startRow, endRow), of which [startRow, flushedRows) are on disk. */
export interface ShardRecord {
  readonly shard: number;
  readonly startRow: number;
  readonly endRow: number;
  readonly flushedRows: number;
}

/** A run as the catalog knows it. */
export interface RunRecord extends RunSpec {
  readonly workers: number;
  readonly status: RunStatus;
  /**
   * Rows [0, flushedRows) are on disk (msync'ed before this was committed). For a sharded
   * run it is the contiguous prefix: every shard before the first unfinished one is
   * complete, and that shard's flushed rows end here.
   */
  readonly flushedRows: number;
  /** Rows on disk over all shards (= flushedRows for a run with one worker). */
  readonly doneRows: number;
  /** The shards of a run with more than one worker, in row order; empty otherwise. */
  readonly shards: readonly ShardRecord[];
  readonly owner: Owner | undefined;
  readonly error: string | undefined;
  readonly errorIteration: number | undefined;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** When the owner last proved it is alive (a worker thread beats every few seconds). */
  readonly heartbeatAt: string | undefined;
  /** When the latest checkpoint was committed. */
  readonly lastFlushAt: string | undefined;
  /** Rows per second between the oldest and newest retained checkpoints (the recent rate). */
  readonly rowsPerSecond: number | undefined;
}

/** The CRC32C of the row bytes [startRow, endRow), committed with the flush that made them durable. */
export interface RangeChecksum {
  readonly startRow: number;
  readonly endRow: number;
  readonly crc32c: number;
}

export interface RunEvent {
  readonly type: EventType;
  readonly at: string;
  readonly pid: number | null;
  readonly data: unknown;
}

/** A row of SELECT_RUN. */
export interface RunRow {
  id: string;
  experiment: string;
  experiment_path: string;
  source_hash: string;
  params: string;
  seed: number;
  iterations: number;
  columns: string;
  dtype: string;
  itemsize: number;
  segment_rows: number;
  flush_every: number;
  flush_interval: number;
  workers: number;
  shard_index: number | null;
  shard_count: number | null;
  first_iteration: number;
  job_iterations: number | null;
  status: RunStatus;
  owner_pid: number | null;
  owner_start: string | null;
  owner_boot: string | null;
  owner_host: string | null;
  error: string | null;
  error_iteration: number | null;
  created_at: string;
  updated_at: string;
  heartbeat_at: string | null;
  flushed_rows: number | null;
  done_rows: number | null;
  last_flush_at: string | null;
  rows_per_second: number | null;
}

export const toRecord = (r: RunRow, shards: readonly ShardRecord[]): RunRecord => ({
  id: r.id,
  experiment: r.experiment,
  experimentPath: r.experiment_path,
  sourceHash: r.source_hash,
  params: JSON.parse(r.params) as Record<string, unknown>,
  seed: r.seed,
  iterations: r.iterations,
  columns: JSON.parse(r.columns) as Record<string, unknown>,
  dtype: r.dtype,
  itemsize: r.itemsize,
  segmentRows: r.segment_rows,
  flushEvery: r.flush_every,
  flushInterval: r.flush_interval,
  workers: r.workers,
  ...(r.shard_index === null
    ? {}
    : {
        jobShard: {
          index: r.shard_index,
          count: r.shard_count ?? 0,
          firstIteration: r.first_iteration,
          jobIterations: r.job_iterations ?? 0,
        },
      }),
  status: r.status,
  flushedRows: r.flushed_rows ?? 0,
  doneRows: r.done_rows ?? 0,
  shards,
  owner: ownerOf(r),
  error: r.error ?? undefined,
  errorIteration: r.error_iteration ?? undefined,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  heartbeatAt: r.heartbeat_at ?? undefined,
  lastFlushAt: r.last_flush_at ?? undefined,
  rowsPerSecond: r.rows_per_second ?? undefined,
});

// The run with its latest checkpoint, and its rate over the retained checkpoints. A sharded
// run's contiguous prefix ends at the smallest flushed index of an unfinished shard (shards
// are in row order, so that is the first unfinished one), or at the end if all are done.
export const SELECT_RUN = `
  SELECT runs.*,
    CASE WHEN runs.workers = 1
      THEN (SELECT flushed_index FROM checkpoints c WHERE c.run_id = runs.id ORDER BY seq DESC LIMIT 1)
      ELSE COALESCE(
        (SELECT MIN(flushed_index) FROM shards s WHERE s.run_id = runs.id AND s.flushed_index < s.end_row),
        runs.iterations)
    END AS flushed_rows,
    (SELECT flushed_index FROM checkpoints c WHERE c.run_id = runs.id ORDER BY seq DESC LIMIT 1) AS done_rows,
    (SELECT created_at FROM checkpoints c WHERE c.run_id = runs.id ORDER BY seq DESC LIMIT 1) AS last_flush_at,
    (SELECT (MAX(flushed_index) - MIN(flushed_index)) * 1000.0
              / NULLIF((unixepoch(MAX(created_at), 'subsec') - unixepoch(MIN(created_at), 'subsec')) * 1000.0, 0)
       FROM checkpoints c WHERE c.run_id = runs.id) AS rows_per_second
  FROM runs`;

/** A sharded run's shards, in row order. */
export const SELECT_SHARDS = `
  SELECT shard, start_row AS startRow, end_row AS endRow, flushed_index AS flushedRows
    FROM shards WHERE run_id = ? ORDER BY shard`;
