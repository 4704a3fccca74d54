import { heartbeatMs, startBeats } from '../catalog/heartbeat.ts';
import { heartbeatSql } from '../catalog/owned.ts';
import type { Owner } from '../catalog/ownership.ts';
import type { Helper } from '../threads.ts';

// One thread beats for the sweep and for every run this process owns: a point costs no
// thread of its own (runner/run.ts SharedResources.heartbeat).

/** Starts beating for sweep `id` and every running run owned by `owner`, in catalog `file`. */
export function startSweepHeartbeat(file: string, id: string, owner: Owner, intervalMs = heartbeatMs()): Helper {
  return startBeats(
    file,
    [
      {
        sql: "UPDATE runs SET heartbeat_at = ? WHERE status = 'running' AND owner_pid = ? AND owner_start = ?",
        args: [owner.pid, owner.start],
      },
      { sql: heartbeatSql('sweeps'), args: [id, owner.pid] },
    ],
    intervalMs,
  );
}
