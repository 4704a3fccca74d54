// The shards of a run computed by K worker threads (`--workers K`): K contiguous row ranges
// (`shardRanges` in src/shards.ts), each with its own flushed index and state.
import { shardRanges } from '../shards.ts';
import { type Connection, now, peekConnection } from './connection.ts';
import { pruneFlushedEvents, recordEvent } from './events.ts';
import { recordChecksum, recordProgress } from './progress.ts';
import { type RangeChecksum, type RunRow, SELECT_SHARDS, type ShardRecord } from './records.ts';

/** Records the shards of a new run of `workers` threads, none of their rows flushed. */
export function insertShards(c: Connection, id: string, iterations: number, workers: number, t: string): void {
  const insert = c.stmt(
    'INSERT INTO shards (run_id, shard, start_row, end_row, flushed_index, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  for (const [shard, [start, end]] of shardRanges(iterations, workers).entries()) {
    insert.run(id, shard, start, end, start, t);
  }
}

/** The shards of the run of `row`, in row order; none for a run of one worker. */
export function shardsOf(c: Connection, row: RunRow): ShardRecord[] {
  return row.workers <= 1 ? [] : (c.stmt(SELECT_SHARDS).all(row.id) as ShardRecord[]);
}

/**
 * Commits a checkpoint of one shard of a sharded run, in one transaction: its rows
 * [startRow, flushedRows) are durable (the worker msync'ed them before the message that
 * leads here was sent) and `state` is that shard's state after row flushedRows - 1.
 */
export function commitShardCheckpoint(
  c: Connection,
  id: string,
  shard: number,
  flushedRows: number,
  state: Buffer | null,
  checksum?: RangeChecksum,
): void {
  c.write(() => {
    const t = now();
    const changed = c
      .stmt(
        'UPDATE shards SET flushed_index = ?, state = ?, updated_at = ? WHERE run_id = ? AND shard = ? AND flushed_index <= ?',
      )
      .run(flushedRows, state, t, id, shard, flushedRows).changes;
    if (changed !== 1) throw new Error(`run '${id}' has no shard ${shard} below row ${flushedRows}`);
    recordChecksum(c, id, checksum);
    const done = c.stmt('SELECT SUM(flushed_index - start_row) FROM shards WHERE run_id = ?').pluck().get(id) as number;
    recordProgress(c, id, done, null, t);
    recordEvent(c, id, 'flushed', { shard, rows: flushedRows });
    pruneFlushedEvents(c, id);
  });
}

/** The experiment state saved with a shard's latest checkpoint (null if none). */
export function shardState(c: Connection, id: string, shard: number): Buffer | null {
  const row = c.stmt('SELECT state FROM shards WHERE run_id = ? AND shard = ?').pluck().get(id, shard) as
    | Buffer
    | null
    | undefined;
  return row ?? null;
}

/**
 * How many shards of run `id` are unfinished, read on a read-only connection of its own
 * (no migration, no write, no lock kept; SQLite may create the `-wal` and `-shm` files of a
 * cleanly closed catalog, which the next read-write close removes); 0 for a run of one
 * worker, an unknown run, or any error. Only a hint, for starting worker threads early
 * (`cli/prestart.ts`): the resume itself reads and checks everything again.
 */
export function peekUnfinishedShards(runsDir: string, id: string): number {
  let db: ReturnType<typeof peekConnection>;
  try {
    db = peekConnection(runsDir, 1000);
    const row = db
      ?.prepare(
        'SELECT COUNT(*) AS n FROM shards JOIN runs ON runs.id = shards.run_id WHERE run_id = ? AND runs.workers > 1 AND flushed_index < end_row',
      )
      .get(id) as { n: number } | undefined;
    return row?.n ?? 0;
  } catch {
    return 0;
  } finally {
    db?.close();
  }
}
