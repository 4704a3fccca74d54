import * as fs from 'node:fs';
import * as os from 'node:os';

/** Who owns (writes) a run: enough to tell later whether that process still lives. */
export interface Owner {
  readonly pid: number;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  readonly start: string;
  /** The kernel's boot id: a pid from an earlier boot is never alive. */
  readonly boot: string;
  readonly host: string;
}

/** The start time of a process, or undefined if it does not exist or is a zombie. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** This process as an owner. */
export function currentOwner(): Owner {
  return { pid: process.pid, start: processStartTime(process.pid) ?? 'unknown', boot: bootId(), host: os.hostname() };
}

/** An owner on another host whose heartbeat is older than this is taken for dead. */
export const HEARTBEAT_STALE_MS = 60_000;

/**
 * Whether the owner is still running: `alive`, `dead` (gone, or its pid now belongs to a
 * process that started at another time, or the machine rebooted, or — on another host —
 * its heartbeat stopped), or `unknown` when it runs on another host and still beats.
 */
export function ownerLiveness(owner: Owner, heartbeatAt?: string): 'alive' | 'dead' | 'unknown' {
  if (owner.host !== os.hostname()) {
    const age = heartbeatAt ? Date.now() - Date.parse(heartbeatAt) : Number.POSITIVE_INFINITY;
    return age > HEARTBEAT_STALE_MS ? 'dead' : 'unknown';
  }
  if (owner.boot !== bootId()) return 'dead';
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return 'dead';
  }
  const start = processStartTime(owner.pid);
  if (start === undefined) return 'dead';
  return start === owner.start ? 'alive' : 'dead';
}

/** The owner columns of a `runs` or `sweeps` row. */
export interface OwnerColumns {
  owner_pid: number | null;
  owner_start: string | null;
  owner_boot: string | null;
  owner_host: string | null;
}

/** The owner a row records, if any. */
export function ownerOf(r: OwnerColumns): Owner | undefined {
  return r.owner_pid === null
    ? undefined
    : { pid: r.owner_pid, start: r.owner_start ?? '', boot: r.owner_boot ?? '', host: r.owner_host ?? '' };
}

/** What has an owner while it runs: a run or a sweep. */
export interface Owned {
  readonly status: string;
  readonly owner: Owner | undefined;
  readonly heartbeatAt: string | undefined;
}

/**
 * Whether a `running` record's owner is gone (or it has none): it has crashed, whether or
 * not anyone recorded it yet (the dead process could not).
 */
export function ownerGone(r: Owned): boolean {
  return r.status === 'running' && (!r.owner || ownerLiveness(r.owner, r.heartbeatAt) === 'dead');
}

/** The record as a reader shows it: `crashed` if its owner is gone, nothing recorded. */
export function withLiveness<T extends Owned>(r: T): T {
  return ownerGone(r) ? { ...r, status: 'crashed' } : r;
}
