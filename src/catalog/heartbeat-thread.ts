// The heartbeat's thread (see heartbeat.ts): every intervalMs it runs its UPDATE
// statements, each with the time first. It has its own SQLite connection: a synchronous
// experiment step that blocks the main thread for minutes cannot starve it.
import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { helperStopped } from '../threads.ts';

/** One statement a beat runs: `sql` with the ISO time, then `args`. */
export interface Beat {
  readonly sql: string;
  readonly args: readonly (string | number | null)[];
}

/** What the thread is started with (its workerData). */
export interface HeartbeatThreadData {
  readonly file: string;
  readonly intervalMs: number;
  readonly beats: readonly Beat[];
}

const { file, intervalMs, beats } = workerData as HeartbeatThreadData;
const db = new Database(file, { timeout: 10000 });
db.pragma('synchronous = FULL');
const statements = beats.map((b) => ({ statement: db.prepare(b.sql), args: b.args }));
const beat = db.transaction((at: string) => {
  for (const { statement, args } of statements) statement.run(at, ...args);
});
const tick = () => {
  try {
    beat(new Date().toISOString());
  } catch {
    // A busy catalog misses one beat; the next one comes in intervalMs.
  }
};
const timer = setInterval(tick, intervalMs);
helperStopped(() => {
  clearInterval(timer);
  db.close();
});
