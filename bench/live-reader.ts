/**
 * One reader of a live run for the liveReadersSlowdown benchmark:
 * `node --import tsx bench/live-reader.ts <runs-dir> <run-id> <interval-ms>`. Prints
 * "waiting" once started, then polls: a new snapshot (openRun / refresh) every interval,
 * summing the first column of the rows flushed since the last one, until the run is no
 * longer running; prints `@bench {"polls", "rows"}`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MmrunError } from '../src/errors.ts';
import { openRun, type RunReader } from '../src/read/open-run.ts';
import { RESULT_PREFIX } from './lib/proc.ts';

const [runsDir, id, interval] = process.argv.slice(2);
const intervalMs = Number(interval);
process.stdout.write('waiting\n');
let reader: RunReader | undefined;
while (!reader) {
  try {
    reader = openRun(id!, { runsDir });
  } catch (error) {
    if (!(error instanceof MmrunError && error.code === 'RUN_NOT_FOUND')) throw error;
    await sleep(intervalMs);
  }
}
let polls = 1;
let read = 0;
let sum = 0;
for (;;) {
  for (const seg of reader.rangeSegments(read, reader.flushedRows)) {
    const c = seg.column(reader.columns[0]!);
    if (c.aligned) for (let r = 0; r < seg.rows; r++) sum += c.array[r * c.stride]!;
  }
  read = reader.flushedRows;
  if (!reader.live) break;
  await sleep(intervalMs);
  reader = reader.refresh();
  polls++;
}
process.stdout.write(`${RESULT_PREFIX}${JSON.stringify({ polls, rows: read, sum })}\n`);
