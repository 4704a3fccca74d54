import { createRequire } from 'node:module';
import { type Helper, startHelper } from '../threads.ts';

/**
 * How often the owner of a run records that it is alive.
 * @default 5000 ms ($MMRUN_HEARTBEAT_MS overrides, for tests)
 */
export const HEARTBEAT_MS = Number(process.env.MMRUN_HEARTBEAT_MS ?? 5000);

// Plain CommonJS so the worker needs no TypeScript loader. It has its own SQLite connection:
// a synchronous experiment step that blocks the main thread for minutes cannot starve it.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file, { timeout: 10000 });
db.pragma('synchronous = FULL');
const beat = db.prepare('UPDATE runs SET heartbeat_at = ? WHERE id = ? AND owner_pid = ?');
const tick = () => {
  try { beat.run(new Date().toISOString(), workerData.id, workerData.pid); } catch {}
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.once('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
`;

/** A heartbeat running in a worker thread until `stop()`. */
export type Heartbeat = Helper;

/** Starts beating for run `id` owned by this process, in the catalog file `file`. */
export function startHeartbeat(file: string, id: string, intervalMs = HEARTBEAT_MS): Heartbeat {
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  return startHelper(WORKER, { sqlite, file, id, pid: process.pid, intervalMs });
}
