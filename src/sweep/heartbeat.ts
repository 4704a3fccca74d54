import { createRequire } from 'node:module';
import { HEARTBEAT_MS } from '../catalog/heartbeat.ts';
import type { Owner } from '../catalog/ownership.ts';
import { type Helper, startHelper } from '../threads.ts';

// One thread beats for the sweep and for every run this process owns: a point costs no
// thread of its own (runner/run.ts SharedResources.heartbeat).
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file, { timeout: 10000 });
db.pragma('synchronous = FULL');
const runs = db.prepare("UPDATE runs SET heartbeat_at = ? WHERE status = 'running' AND owner_pid = ? AND owner_start = ?");
const sweep = db.prepare('UPDATE sweeps SET heartbeat_at = ? WHERE id = ? AND owner_pid = ?');
const tick = () => {
  const t = new Date().toISOString();
  try { runs.run(t, workerData.pid, workerData.start); sweep.run(t, workerData.id, workerData.pid); } catch {}
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.once('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
`;

/** Starts beating for sweep `id` and every running run owned by `owner`, in catalog `file`. */
export function startSweepHeartbeat(file: string, id: string, owner: Owner, intervalMs = HEARTBEAT_MS): Helper {
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  return startHelper(WORKER, { sqlite, file, id, pid: owner.pid, start: owner.start, intervalMs });
}
