// liveReadersSlowdown: how much 4 readers polling a live run slow its writer. One long
// `mmrun run` of the cheap experiment (flushing every 20,000 rows) is measured in short
// windows, with the 4 reader processes polling (a snapshot every 100 ms, reading the new
// rows) in every other window and idle in the rest; windows come in adjacent pairs, in
// alternating order (off-on, on-off, …), so drift and other load hit both alike. The
// writer's rate in a window is from its own commits (flushed index and commit time of the
// latest checkpoint at the window's start and end); the figure is the median over pairs
// of 1 − (rate with readers ÷ rate without). The readers poll for a second before the
// first window (their first snapshots compile code and map the segment). Switched on, a
// reader joins at the run's current end, as a new follower would, rather than first
// reading the rows written while it slept (bench/README.md, "Catch-up reads").
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CatalogReader } from '../src/catalog/read-only.ts';
import { describeExit, FIXTURES, removeTemp, spawnCli, spawnNode, tempDir } from './lib/proc.ts';
import { type Summary, summarize } from './lib/stats.ts';

export interface LiveReadersConfig {
  /** Pairs of windows (one with readers polling, one without). */
  readonly pairs: number;
  /** Milliseconds of a window. */
  readonly windowMs: number;
  readonly readers: number;
  readonly intervalMs: number;
  readonly log: (line: string) => void;
}

export interface LiveReadersResult {
  readonly slowdown: Summary;
  readonly aloneRowsPerSecond: Summary;
  readonly withReadersRowsPerSecond: Summary;
  /** Snapshots the readers took, over all of them, per second of windows with readers. */
  readonly pollsPerSecond: number;
  /** CPU milliseconds of a reader per snapshot: taking it and reading the new rows. */
  readonly cpuMsPerPoll: number;
}

const CHEAP = path.join(FIXTURES, 'cheap.ts');
const READER = path.join(import.meta.dirname, 'live-reader.ts');
// More than the writer computes during the windows (it is killed after them), in segments
// of 1.9 GB (32-byte rows; one mapping is < 2 GiB): a new one is created every 60 M rows,
// rarely during the windows, and then in one window of a pair only.
const ROWS = 1_000_000_000;
const SEGMENT_ROWS = 60_000_000;

export async function liveReaders(config: LiveReadersConfig): Promise<LiveReadersResult> {
  const runsDir = tempDir('mmrun-bench-live-');
  const onFile = path.join(runsDir, 'readers-on');
  const id = 'live';
  const readers = Array.from({ length: config.readers }, () =>
    spawnNode(['--import', 'tsx', READER, runsDir, id, String(config.intervalMs), onFile]),
  );
  let writer: ReturnType<typeof spawnCli> | undefined;
  let catalog: CatalogReader | undefined;
  try {
    await Promise.all(readers.map((r) => r.firstLine)); // booted, idle
    writer = spawnCli(
      [
        ...['run', CHEAP, '--id', id, '--seed', '1', '--iterations', String(ROWS)],
        ...['--segment-rows', String(SEGMENT_ROWS), '--flush-every', '20000'],
      ],
      runsDir,
    );
    const commits = (): { rows: number; at: number } => {
      catalog ??= CatalogReader.open(runsDir);
      const run = catalog.readRun(id);
      if (run.status !== 'running') throw new Error(`the writer is ${run.status} before the windows ended`);
      return { rows: run.doneRows, at: Date.parse(run.lastFlushAt ?? '') };
    };
    // Until it writes steadily: the catalog exists and a second has passed since its first flush.
    for (let t = 0; ; t++) {
      if (t > 600) throw new Error('the writer did not start within 60 s');
      await sleep(100);
      try {
        const c = commits();
        if (c.rows > 0 && Date.now() - c.at < 1000) {
          await sleep(1000);
          break;
        }
      } catch (error) {
        if (fs.existsSync(path.join(runsDir, 'mmrun.sqlite')) && catalog) throw error;
        catalog?.close();
        catalog = undefined;
      }
    }
    const window = async (on: boolean): Promise<number> => {
      if (on) fs.writeFileSync(onFile, '');
      else fs.rmSync(onFile, { force: true });
      await sleep(config.intervalMs + 50); // every reader has seen the switch
      const a = commits();
      await sleep(config.windowMs);
      const b = commits();
      if (b.at <= a.at) throw new Error('no commit in a window: make the window longer');
      return ((b.rows - a.rows) * 1000) / (b.at - a.at);
    };
    // The readers' first snapshots compile their code and map the segment: untimed.
    fs.writeFileSync(onFile, '');
    await sleep(1000);
    const alone: number[] = [];
    const withReaders: number[] = [];
    let onMs = 0;
    for (let p = 0; p < config.pairs; p++) {
      for (const on of p % 2 === 0 ? [false, true] : [true, false]) {
        const rate = await window(on);
        (on ? withReaders : alone).push(rate);
        if (on) onMs += config.windowMs + config.intervalMs + 50;
      }
      config.log(
        `  pair ${p + 1}: ${Math.round(alone.at(-1)!)} rows/s alone, ${Math.round(withReaders.at(-1)!)} with ${config.readers} readers`,
      );
    }
    fs.rmSync(onFile, { force: true });
    let polls = 0;
    let cpuMs = 0;
    for (const r of readers) {
      r.child.kill('SIGTERM');
      const e = await r.exited;
      const line = e.stdout.split('\n').find((l) => l.startsWith('@bench '));
      if (e.code !== 0 || !line) throw new Error(describeExit('a reader', e));
      const got = JSON.parse(line.slice('@bench '.length)) as { polls: number; pollCpuMs: number };
      polls += got.polls;
      cpuMs += got.pollCpuMs;
    }
    return {
      slowdown: summarize(withReaders.map((w, k) => 1 - w / alone[k]!)),
      aloneRowsPerSecond: summarize(alone),
      withReadersRowsPerSecond: summarize(withReaders),
      pollsPerSecond: (polls * 1000) / onMs,
      cpuMsPerPoll: cpuMs / polls,
    };
  } finally {
    catalog?.close();
    for (const r of readers) r.child.kill('SIGKILL');
    if (writer) {
      writer.child.kill('SIGKILL');
      await writer.exited;
    }
    removeTemp(runsDir);
  }
}
