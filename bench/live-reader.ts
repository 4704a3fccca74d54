/**
 * One reader of a live run for the liveReadersSlowdown benchmark:
 * `node --import tsx bench/live-reader.ts <runs-dir> <run-id> <interval-ms> <on-file>`.
 * Prints "waiting" once started. While <on-file> exists it polls like a user's reader: a
 * new snapshot (openRun, then refresh) every interval, and the running mean of the column
 * `r2` over the rows flushed since the previous one (each new row read once); otherwise it
 * only sleeps. When <on-file> appears again it joins the run as a new follower would: its
 * first snapshot sets where it reads from and reads no rows, so that a window with readers
 * measures polling, not a catch-up read of every row written while it slept (1 s of the
 * writer's rows, 10× a poll's, and from the disk: the writer's drop-behind had released
 * them). On SIGTERM it prints `@bench {"polls", "rows", "mean", "pollCpuMs"}` and exits.
 */
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { MmrunError } from '../src/errors.ts';
import { openRun, type RunReader, type SegmentView } from '../src/read/open-run.ts';
import { RESULT_PREFIX } from './lib/proc.ts';

const [runsDir, id, interval, onFile] = process.argv.slice(2);
const intervalMs = Number(interval);

/** A running mean of one column, fed segment by segment. */
class RunningMean {
  count = 0;
  sum = 0;
  constructor(readonly column: string) {}

  add(seg: SegmentView): void {
    const c = seg.column(this.column);
    let s = 0;
    if (c.aligned) {
      const { array, stride } = c;
      for (let r = 0; r < seg.rows; r++) s += array[r * stride]!;
    } else {
      for (let r = 0; r < seg.rows; r++) s += c.view.getFloat64(c.byteOffset + r * c.byteStride, true);
    }
    this.sum += s;
    this.count += seg.rows;
  }

  get mean(): number {
    return this.sum / this.count;
  }
}

const state = { reader: undefined as RunReader | undefined, polls: 0, read: 0, pollCpuMs: 0, joining: true };
const mean = new RunningMean('r2');

/** One poll: a newer snapshot, then the new rows into the mean. */
function poll(): void {
  const { reader } = state;
  let next: RunReader;
  try {
    next = reader ? reader.refresh() : openRun(id!, { runsDir });
  } catch (error) {
    if (error instanceof MmrunError && error.code === 'RUN_NOT_FOUND') return;
    throw error;
  }
  state.reader = next;
  state.polls++;
  if (state.joining) state.joining = false;
  else for (const seg of next.rangeSegments(state.read, next.flushedRows)) mean.add(seg);
  state.read = next.flushedRows;
}

// CPU milliseconds of the process while switched on: its snapshots and reading the new rows
// (and its sleeping between them, next to nothing). Read at each switch rather than around
// each poll: a getrusage per poll was ~8 % of a poll's CPU, load the bench itself added.
let onSince: NodeJS.CpuUsage | undefined;
const switchedOff = () => {
  if (!onSince) return;
  const used = process.cpuUsage(onSince);
  state.pollCpuMs += (used.user + used.system) / 1000;
  onSince = undefined;
};

process.on('SIGTERM', () => {
  switchedOff();
  const { polls, read, pollCpuMs } = state;
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify({ polls, rows: read, mean: mean.mean, pollCpuMs })}\n`);
  process.exit(0);
});
process.stdout.write('waiting\n');
for (;;) {
  await sleep(intervalMs);
  if (!fs.existsSync(onFile!)) {
    switchedOff();
    state.joining = true;
    continue;
  }
  onSince ??= process.cpuUsage();
  poll();
}
