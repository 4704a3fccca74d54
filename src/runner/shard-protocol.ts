// What a run's coordinator (the main thread, owner of the catalog) and the worker thread
// of one shard say to each other. Plain data only: it crosses threads by structured clone.
import type { Bundle } from '../bundle/bundle.ts';
import type { RangeChecksum } from '../catalog/catalog.ts';
import type { WireError } from '../errors.ts';
import type { ShardInfo } from '../experiment/define.ts';
import type { FlushPolicy } from './flush-policy.ts';

/** What a shard's worker is started with. */
export interface ShardInput {
  readonly runId: string;
  readonly runDir: string;
  readonly experimentPath: string;
  /** sha256 of the experiment file the coordinator validated. */
  readonly sourceHash: string;
  /** The coordinator's bundle of the experiment: the worker imports it, compiling nothing. */
  readonly bundle: Bundle;
  readonly columns: Readonly<Record<string, unknown>>;
  readonly totalRows: number;
  readonly segmentRows: number;
  readonly seed: number;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  readonly policy: FlushPolicy;
  /** The shard's rows, in iterations of the job (rows + iterationOffset). */
  readonly shard: ShardInfo;
  /** The iteration row 0 computes (a job shard's first iteration), else 0. */
  readonly iterationOffset: number;
  /** The shard's flushed index: where this session starts. */
  readonly startRow: number;
  /** The state saved with the shard's last checkpoint; null calls `init`. */
  readonly state: Uint8Array | null;
}

/** Worker → coordinator. */
export type ShardMessage =
  /** Rows [.., rows) are msync'ed: commit them with the state. */
  | {
      readonly type: 'flushed';
      readonly rows: number;
      readonly state: Uint8Array | null;
      readonly checksum: RangeChecksum | undefined;
    }
  | { readonly type: 'progress'; readonly rows: number; readonly flushedRows: number; readonly msSinceFlush: number }
  | {
      readonly type: 'done';
      readonly status: 'completed' | 'interrupted' | 'failed';
      readonly rows: number;
      readonly flushes: number;
      readonly elapsedMs: number;
      readonly error: WireError | undefined;
    };

/** Coordinator → worker. */
export type ShardCommand =
  /** A prestarted worker's input (worker-pool.ts): the first message it gets. */
  | { readonly type: 'start'; readonly input: ShardInput }
  | { readonly type: 'stop'; readonly reason: string }
  | { readonly type: 'flush' };
