// The heartbeat's thread (see heartbeat.ts). It has its own SQLite connection: a
// synchronous experiment step that blocks the main thread for minutes cannot starve it.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** What the thread is started with (its workerData). */
export interface HeartbeatThreadData {
  readonly file: string;
  readonly id: string;
  readonly pid: number;
  readonly intervalMs: number;
}

const { file, id, pid, intervalMs } = workerData as HeartbeatThreadData;
const db = new Database(file, { timeout: 10000 });
db.pragma('synchronous = FULL');
const beat = db.prepare('UPDATE runs SET heartbeat_at = ? WHERE id = ? AND owner_pid = ?');
const tick = () => {
  try {
    beat.run(new Date().toISOString(), id, pid);
  } catch {
    // A busy catalog misses one beat; the next one comes in intervalMs.
  }
};
const timer = setInterval(tick, intervalMs);
parentPort?.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
