// Ownership as the catalog records it, for both tables that have an owner (`runs` and
// `sweeps`): taking a record over, releasing it, and recording a dead owner's record as
// crashed. One process writes a run or a sweep at a time (DESIGN invariant 3).
import type { MmrunError } from '../errors.ts';
import { type Connection, now } from './connection.ts';
import { type Owned, type Owner, ownerGone, ownerLiveness } from './ownership.ts';

/** A table whose rows have an owner, a status, an error and a heartbeat. */
export type OwnedTable = 'runs' | 'sweeps';

/** More of the row to set with an ownership change: `, col = ?` fragments and their values. */
export interface AlsoSet {
  readonly sql: string;
  readonly args: readonly unknown[];
}

const NONE: AlsoSet = { sql: '', args: [] };

/** The heartbeat of `table`'s row `id` (the time, the id, the owner's pid): its owner is alive. */
export const heartbeatSql = (table: OwnedTable): string =>
  `UPDATE ${table} SET heartbeat_at = ? WHERE id = ? AND owner_pid = ?`;

/** Makes `owner` the owner of `id`, status `running`, its error cleared and its heartbeat now. */
export function takeOwnership(c: Connection, table: OwnedTable, id: string, owner: Owner, also = NONE): void {
  const t = now();
  c.stmt(
    `UPDATE ${table} SET status = 'running', owner_pid = ?, owner_start = ?, owner_boot = ?, owner_host = ?,
         error = NULL, heartbeat_at = ?, updated_at = ?${also.sql} WHERE id = ?`,
  ).run(owner.pid, owner.start, owner.boot, owner.host, t, t, ...also.args, id);
}

/** Records how the owner's session of `id` ended (or paused), releasing ownership. */
export function releaseOwnership(
  c: Connection,
  table: OwnedTable,
  id: string,
  status: string,
  error: string | null,
  also = NONE,
): void {
  c.stmt(
    `UPDATE ${table} SET status = ?, owner_pid = NULL, owner_start = NULL, owner_boot = NULL, owner_host = NULL,
         error = ?, updated_at = ?${also.sql} WHERE id = ?`,
  ).run(status, error, now(), ...also.args, id);
}

/** Records `id` as crashed: its owner died without saying how it ended. */
export function markCrashed(c: Connection, table: OwnedTable, id: string): void {
  c.stmt(`UPDATE ${table} SET status = 'crashed', updated_at = ? WHERE id = ?`).run(now(), id);
}

/**
 * The record, with a `running` one whose owner is gone recorded as crashed first (by
 * `crash`, in a write transaction that reads it again: another process may have taken it
 * over meanwhile). A catalog that cannot be written still shows the truth: `crashed`.
 */
export function detectCrash<T extends Owned>(c: Connection, record: T, reread: () => T, crash: (fresh: T) => void): T {
  if (!ownerGone(record)) return record;
  try {
    return c.write(() => {
      const fresh = reread();
      if (ownerGone(fresh)) crash(fresh);
      return reread();
    });
  } catch {
    return { ...record, status: 'crashed' };
  }
}

/**
 * Before taking a record over (inside the write transaction that will): refuses it while
 * its owner is alive, or on another host and still beating (`locked`, told whether it is
 * another host); a dead owner's `running` record is recorded as crashed (`crash`). Returns
 * whether it was.
 */
export function checkTakeOver<T extends Owned>(
  record: T,
  locked: (otherHost: boolean) => MmrunError,
  crash: (record: T) => void,
): boolean {
  if (record.status !== 'running') return false;
  const live = record.owner ? ownerLiveness(record.owner, record.heartbeatAt) : 'dead';
  if (live !== 'dead') throw locked(live === 'unknown');
  crash(record);
  return true;
}
