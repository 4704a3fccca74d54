// A run's progress: checkpoints (the flushed index and the experiment's state, committed
// together after the rows were msync'ed) and the CRC32C of every flushed range.
import { type Connection, now } from './connection.ts';
import { KEEP_HISTORY, pruneFlushedEvents, recordEvent } from './events.ts';
import type { RangeChecksum } from './records.ts';

/**
 * Commits a checkpoint of a run of one worker, in one transaction: rows [0, flushedRows)
 * are durable (the caller msync'ed them before calling), `state` is the experiment's state
 * after row flushedRows - 1, and `checksum` covers the rows this flush made durable.
 */
export function commitCheckpoint(
  c: Connection,
  id: string,
  flushedRows: number,
  state: Buffer | null,
  checksum?: RangeChecksum,
): void {
  c.write(() => {
    recordChecksum(c, id, checksum);
    recordProgress(c, id, flushedRows, state, now());
    recordEvent(c, id, 'flushed', { rows: flushedRows });
    pruneFlushedEvents(c, id);
  });
}

/**
 * Appends to the checkpoint history (the latest few are kept) and, since a commit is proof
 * of life too, refreshes the heartbeat: it never lags the owner's last flush.
 */
export function recordProgress(c: Connection, id: string, rows: number, state: Buffer | null, t: string): void {
  const seq = ((c.stmt('SELECT MAX(seq) FROM checkpoints WHERE run_id = ?').pluck().get(id) as number | null) ?? 0) + 1;
  c.stmt('INSERT INTO checkpoints (run_id, seq, flushed_index, state, created_at) VALUES (?, ?, ?, ?, ?)').run(
    id,
    seq,
    rows,
    state,
    t,
  );
  c.stmt('DELETE FROM checkpoints WHERE run_id = ? AND seq <= ?').run(id, seq - KEEP_HISTORY);
  c.stmt('UPDATE runs SET updated_at = ?, heartbeat_at = ? WHERE id = ?').run(t, t, id);
}

/** Records the checksum of a flushed range (an empty range has none). */
export function recordChecksum(c: Connection, id: string, checksum: RangeChecksum | undefined): void {
  if (!checksum || checksum.endRow <= checksum.startRow) return;
  c.stmt('INSERT OR REPLACE INTO checksums (run_id, start_row, end_row, crc32c) VALUES (?, ?, ?, ?)').run(
    id,
    checksum.startRow,
    checksum.endRow,
    checksum.crc32c,
  );
}

const CHECKSUM = 'SELECT start_row AS startRow, end_row AS endRow, crc32c FROM checksums WHERE run_id = ?';
const CHECKSUM_ENDING_AT = `${CHECKSUM} AND end_row = ? ORDER BY start_row DESC LIMIT 1`;
const CHECKSUMS = `${CHECKSUM} ORDER BY start_row`;

/** The checksum of the flushed range that ends at `endRow`, if one does. */
export function checksumEndingAt(c: Connection, id: string, endRow: number): RangeChecksum | undefined {
  return c.stmt(CHECKSUM_ENDING_AT).get(id, endRow) as RangeChecksum | undefined;
}

/** Every flushed range's checksum, in row order. */
export function checksums(c: Connection, id: string): RangeChecksum[] {
  return c.stmt(CHECKSUMS).all(id) as RangeChecksum[];
}

/** The retained checkpoints (the latest few), oldest first, with their states. */
export function checkpoints(c: Connection, id: string): { flushedRows: number; state: Buffer | null }[] {
  return c
    .stmt('SELECT flushed_index AS flushedRows, state FROM checkpoints WHERE run_id = ? ORDER BY seq')
    .all(id) as { flushedRows: number; state: Buffer | null }[];
}

/** The experiment state saved with the latest checkpoint (null if none). */
export function latestState(c: Connection, id: string): Buffer | null {
  const row = c.stmt('SELECT state FROM checkpoints WHERE run_id = ? ORDER BY seq DESC LIMIT 1').pluck().get(id) as
    | Buffer
    | null
    | undefined;
  return row ?? null;
}
