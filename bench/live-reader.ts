/**
 * One reader of a live run for the liveReadersSlowdown benchmark:
 * `node --import tsx bench/live-reader.ts <runs-dir> <run-id> <interval-ms> <on-file>`.
 * Prints "waiting" once started. While <on-file> exists it polls like a user's reader: a
 * new snapshot (openRun, then refresh) every interval, summing the first column of the
 * rows flushed since the previous one; otherwise it only sleeps. On SIGTERM it prints
 * `@bench {"polls", "rows", "pollCpuMs"}` and exits.
 */
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { MmrunError } from '../src/errors.ts';
import { openRun, type RunReader } from '../src/read/open-run.ts';
import { RESULT_PREFIX } from './lib/proc.ts';

const [runsDir, id, interval, onFile] = process.argv.slice(2);
const intervalMs = Number(interval);
let reader: RunReader | undefined;
let polls = 0;
let read = 0;
let sum = 0;
// CPU milliseconds spent polling (the snapshots and reading the new rows), not sleeping.
let pollCpuMs = 0;
process.on('SIGTERM', () => {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify({ polls, rows: read, sum, pollCpuMs })}\n`);
  process.exit(0);
});
process.stdout.write('waiting\n');
for (;;) {
  await sleep(intervalMs);
  if (!fs.existsSync(onFile!)) continue;
  const cpu = process.cpuUsage();
  try {
    reader = reader ? reader.refresh() : openRun(id!, { runsDir });
  } catch (error) {
    if (error instanceof MmrunError && error.code === 'RUN_NOT_FOUND') continue;
    throw error;
  }
  polls++;
  for (const seg of reader.rangeSegments(read, reader.flushedRows)) {
    const c = seg.column(reader.columns[0]!);
    if (c.aligned) for (let r = 0; r < seg.rows; r++) sum += c.array[r * c.stride]!;
  }
  read = reader.flushedRows;
  const used = process.cpuUsage(cpu);
  pollCpuMs += (used.user + used.system) / 1000;
}
