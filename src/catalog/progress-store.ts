// The contract between the runner's loop and where it records progress (umzug keeps its
// storage contract in storage/contract.ts the same way): the loop depends on this, the
// catalog implements it (`Catalog`), and a test may hand the loop a fake.
import type { EventType, RangeChecksum, RunStatus } from './records.ts';

/**
 * Where a run's progress is committed. Every method is one transaction of its own, and
 * each call may be the last thing the process does: what it records is either all there
 * after a crash or not at all.
 *
 * The order is the caller's contract (DESIGN invariant 1): rows are msync'ed before the
 * checkpoint that claims them is committed.
 */
export interface ProgressStore {
  /**
   * Rows [0, flushedRows) of run `id` are durable, `state` is the experiment's state after
   * row flushedRows - 1, and `checksum` is the CRC32C of the rows this flush made durable.
   * Also proof that the owner is alive (its heartbeat).
   */
  checkpoint(id: string, flushedRows: number, state: Buffer | null, checksum?: RangeChecksum): void;

  /** As {@link checkpoint}, for shard `shard` of a sharded run: its rows [startRow, flushedRows). */
  checkpointShard(id: string, shard: number, flushedRows: number, state: Buffer | null, checksum?: RangeChecksum): void;

  /**
   * The owner of run `id` (this process) is alive, between checkpoints. A heartbeat thread
   * does the same on a connection of its own (`startHeartbeat`), so that a step that blocks
   * the event loop for minutes does not make the run look crashed.
   */
  touch(id: string): void;

  /** Records how the run ended (or paused) with its event, and releases its ownership. */
  finish(
    id: string,
    status: Exclude<RunStatus, 'running' | 'crashed'>,
    event: { type: EventType; data?: unknown },
    error?: { message: string; iteration?: number },
  ): void;
}
