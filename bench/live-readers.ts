// liveReadersSlowdown: a writer's throughput (`mmrun run` of the cheap experiment, flushing
// often) with 4 reader processes polling snapshots of it (openRun/refresh every 100 ms,
// each reading the new rows) against the same run alone: 1 − (with readers ÷ alone), per
// pair of repetitions run back to back in alternating order. Throughput is rows ÷ the
// run's life in the catalog (its `started` to its `completed` event), so the CLI's and the
// readers' start-up are not part of it.
import * as path from 'node:path';
import { getRun } from '../src/index.ts';
import { describeExit, FIXTURES, removeTemp, spawnCli, spawnNode, tempDir } from './lib/proc.ts';
import { paired, type Summary, summarize } from './lib/stats.ts';

export interface LiveReadersConfig {
  readonly reps: number;
  readonly rows: number;
  readonly flushEvery: number;
  readonly readers: number;
  readonly intervalMs: number;
  readonly log: (line: string) => void;
}

export interface LiveReadersResult {
  readonly slowdown: Summary;
  readonly aloneRowsPerSecond: Summary;
  readonly withReadersRowsPerSecond: Summary;
  /** Snapshots the readers took per repetition, over all of them. */
  readonly polls: Summary;
}

const CHEAP = path.join(FIXTURES, 'cheap.ts');
const READER = path.join(import.meta.dirname, 'live-reader.ts');

async function once(config: LiveReadersConfig, readers: number): Promise<{ rowsPerSecond: number; polls: number }> {
  const runsDir = tempDir('mmrun-bench-live-');
  try {
    const id = 'live';
    const spawned = Array.from({ length: readers }, () =>
      spawnNode(['--import', 'tsx', READER, runsDir, id, String(config.intervalMs)]),
    );
    await Promise.all(spawned.map((r) => r.firstLine)); // booted, polling for the run
    const writer = spawnCli(
      [
        'run',
        CHEAP,
        '--id',
        id,
        '--seed',
        '1',
        '--iterations',
        String(config.rows),
        '--flush-every',
        String(config.flushEvery),
      ],
      runsDir,
    );
    const w = await writer.exited;
    if (w.code !== 0) throw new Error(describeExit('the writer', w));
    let polls = 0;
    for (const r of spawned) {
      const e = await r.exited;
      const line = e.stdout.split('\n').find((l) => l.startsWith('@bench '));
      if (e.code !== 0 || !line) throw new Error(describeExit('a reader', e));
      const got = JSON.parse(line.slice('@bench '.length)) as { polls: number; rows: number };
      if (got.rows !== config.rows) throw new Error(`a reader ended at row ${got.rows} of ${config.rows}`);
      polls += got.polls;
    }
    const { events } = getRun(runsDir, id);
    const started = events.find((e) => e.type === 'started');
    const completed = events.find((e) => e.type === 'completed');
    if (!started || !completed) throw new Error('the run has no started/completed events');
    const seconds = (Date.parse(completed.at) - Date.parse(started.at)) / 1000;
    return { rowsPerSecond: config.rows / seconds, polls };
  } finally {
    removeTemp(runsDir);
  }
}

export async function liveReaders(config: LiveReadersConfig): Promise<LiveReadersResult> {
  const alone: number[] = [];
  const withReaders: number[] = [];
  const polls: number[] = [];
  for (let rep = 0; rep < config.reps; rep++) {
    // Alternate which goes first, so drift hits both alike.
    for (const readers of rep % 2 === 0 ? [0, config.readers] : [config.readers, 0]) {
      const r = await once(config, readers);
      if (readers === 0) alone.push(r.rowsPerSecond);
      else {
        withReaders.push(r.rowsPerSecond);
        polls.push(r.polls);
      }
      config.log(
        `  rep ${rep + 1}, ${readers} readers: ${Math.round(r.rowsPerSecond)} rows/s${readers ? `, ${r.polls} snapshots` : ''}`,
      );
    }
  }
  return {
    slowdown: summarize(paired(withReaders, alone, (w, a) => 1 - w / a)),
    aloneRowsPerSecond: summarize(alone),
    withReadersRowsPerSecond: summarize(withReaders),
    polls: summarize(polls),
  };
}
