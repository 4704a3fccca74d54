import { config } from '../config.ts';
import { type Helper, siblingModule, startHelper } from '../threads.ts';
import type { Beat, HeartbeatThreadData } from './heartbeat-thread.ts';
import { heartbeatSql } from './owned.ts';

/**
 * How often the owner of a run records that it is alive.
 * @default 5000 ms ($MMRUN_HEARTBEAT_MS overrides, for tests: see config.ts)
 */
export const heartbeatMs = (): number => config().heartbeatMs;

const HEARTBEAT_THREAD = siblingModule(import.meta.url, 'heartbeat-thread');

/** A heartbeat running in a worker thread until `stop()`. */
export type Heartbeat = Helper;

/** Starts beating for run `id` owned by this process, in the catalog file `file`. */
export function startHeartbeat(file: string, id: string, intervalMs = heartbeatMs()): Heartbeat {
  return startBeats(file, [{ sql: heartbeatSql('runs'), args: [id, process.pid] }], intervalMs);
}

/** Starts a heartbeat thread that runs `beats` (each with the time first) every `intervalMs`. */
export function startBeats(file: string, beats: readonly Beat[], intervalMs = heartbeatMs()): Heartbeat {
  return startHelper(HEARTBEAT_THREAD, { file, intervalMs, beats } satisfies HeartbeatThreadData);
}
