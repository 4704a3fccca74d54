// A run's event history (`events`): what happened to it and when, by which pid. `flushed`
// events are pruned to the latest few; the others are kept for a post-mortem.
import { type Connection, now } from './connection.ts';
import type { EventType, RunEvent } from './records.ts';

/**
 * How many checkpoints and `flushed` events to keep per run: the latest is what matters, a
 * few more help a post-mortem, millions would bloat the catalog of a week-long run.
 */
export const KEEP_HISTORY = 20;

/** Appends an event (inside the caller's transaction). */
export function recordEvent(c: Connection, id: string, type: EventType, data?: unknown): void {
  c.stmt('INSERT INTO events (run_id, type, at, pid, data) VALUES (?, ?, ?, ?, ?)').run(
    id,
    type,
    now(),
    process.pid,
    data === undefined ? null : JSON.stringify(data),
  );
}

/** Drops all but the latest {@link KEEP_HISTORY} `flushed` events of a run. */
export function pruneFlushedEvents(c: Connection, id: string): void {
  c.stmt(
    `DELETE FROM events WHERE run_id = ? AND type = 'flushed' AND id <= (
         SELECT id FROM events WHERE run_id = ? AND type = 'flushed' ORDER BY id DESC LIMIT 1 OFFSET ?)`,
  ).run(id, id, KEEP_HISTORY);
}

/** A run's events, oldest first. */
export function readEvents(c: Connection, id: string): RunEvent[] {
  const rows = c.stmt('SELECT type, at, pid, data FROM events WHERE run_id = ? ORDER BY id').all(id) as {
    type: EventType;
    at: string;
    pid: number | null;
    data: string | null;
  }[];
  return rows.map((r) => ({ ...r, data: r.data === null ? null : JSON.parse(r.data) }));
}

/** The iteration count before the latest extension (`resume --iterations`), if any. */
export function extendedFrom(c: Connection, id: string): number | undefined {
  const data = c
    .stmt("SELECT data FROM events WHERE run_id = ? AND type = 'extended' ORDER BY id DESC LIMIT 1")
    .pluck()
    .get(id) as string | undefined;
  return data === undefined ? undefined : (JSON.parse(data) as { from: number }).from;
}
