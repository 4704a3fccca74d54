// The code a run was computed with: its source hash (`runs.source_hash`) and its code
// fingerprint (`fingerprints`, the parts as JSON; src/fingerprint/ makes and compares them),
// and recording a change of either at resume.
import { crashPoint } from '../faults.ts';
import { type Connection, now } from './connection.ts';
import { recordEvent } from './events.ts';
import type { EventType } from './records.ts';

/** The run's code fingerprint (JSON of its parts), or undefined for a run made before fingerprints. */
export function readFingerprint(c: Connection, id: string): string | undefined {
  const row = c.stmt('SELECT parts FROM fingerprints WHERE run_id = ?').get(id) as { parts: string } | undefined;
  return row?.parts;
}

/** Records the fingerprint of a new run (inside the caller's transaction). */
export function insertFingerprint(c: Connection, id: string, fingerprint: string): void {
  c.stmt('INSERT INTO fingerprints (run_id, parts) VALUES (?, ?)').run(id, fingerprint);
}

/**
 * Makes `fingerprint` and `sourceHash` the run's code and, if given, appends `event` (what
 * changed), all in one transaction: a crash leaves the old code recorded or the new code
 * with its event, never one without the other.
 */
export function recordCodeChange(
  c: Connection,
  id: string,
  fingerprint: string,
  sourceHash: string,
  event?: { readonly type: EventType; readonly data?: unknown },
): void {
  c.write(() => {
    c.stmt('UPDATE runs SET source_hash = ?, updated_at = ? WHERE id = ?').run(sourceHash, now(), id);
    c.stmt('INSERT OR REPLACE INTO fingerprints (run_id, parts) VALUES (?, ?)').run(id, fingerprint);
    crashPoint('code-change');
    if (event) recordEvent(c, id, event.type, event.data);
  });
}

/** Accepts a changed experiment source (`--allow-changed`), recording both hashes. */
export function acceptSourceChange(c: Connection, id: string, from: string, to: string): void {
  c.write(() => {
    c.stmt('UPDATE runs SET source_hash = ?, updated_at = ? WHERE id = ?').run(to, now(), id);
    recordEvent(c, id, 'allow-changed', { from, to });
  });
}
