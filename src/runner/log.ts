import * as fs from 'node:fs';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';

/** The run's log file inside its directory. */
export const LOG_FILE = 'run.log';

/**
 * A pino logger appending JSON lines to `<runDir>/run.log`. Writes are synchronous: the
 * last lines before a kill -9 must be in the file, and the log is not on the hot path.
 */
export function openRunLog(runDir: string, bindings: Record<string, unknown>): Logger {
  fs.mkdirSync(runDir, { recursive: true });
  const dest = pino.destination({ dest: path.join(runDir, LOG_FILE), sync: true, append: true });
  return pino({ base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}
