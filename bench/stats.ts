/**
 * statsVsBareSum, statsVsBareSumK1, statsRssAnonMiB: `summarizeRun` (what `mmrun stats` runs)
 * over a warm multi-GiB run of the cheap 4×f8 experiment, with 1 and 2 reading threads,
 * against a bare single-threaded sum of a Float64Array view of each mapped segment.
 * Every measurement is a fresh process (`node --import tsx bench/stats.ts <task> <json>`),
 * interleaved; the parent samples each child's /proc/<pid>/status for peak RssAnon.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { RunRows } from '../src/read/rows.ts';
import { startRun } from '../src/runner/run.ts';
import { summarizeRun } from '../src/stats/stats.ts';
import { describeExit, FIXTURES, RESULT_PREFIX, removeTemp, sampleMemory, spawnNode, tempDir } from './lib/proc.ts';
import { interleave, paired, type Summary, summarize } from './lib/stats.ts';

export interface StatsBenchConfig {
  readonly reps: number;
  /** Bytes of rows in the run (2 GiB in full mode). */
  readonly bytes: number;
  readonly log: (line: string) => void;
}

export interface StatsBenchResult {
  /** stats with 2 threads ÷ the bare sum, GB/s per repetition (paired). */
  readonly statsVsBareSum: Summary;
  readonly statsVsBareSumK1: Summary;
  /** Peak RssAnon (MiB) of the process during stats with 2 threads. */
  readonly statsRssAnonMiB: Summary;
  readonly rssAnonK1MiB: Summary;
  /** RssAnon of the same process just before the call. */
  readonly rssAnonBeforeMiB: Summary;
  readonly bareGBps: Summary;
  readonly k1GBps: Summary;
  readonly k2GBps: Summary;
  readonly k1RowsPerSecond: Summary;
  readonly k2RowsPerSecond: Summary;
  /** Share of batches the calling thread read with 2 threads (the worker took the rest). */
  readonly k2CallerShare: Summary;
  readonly rows: number;
  readonly bytes: number;
  readonly segments: number;
  readonly createSeconds: number;
}

const CHEAP = path.join(FIXTURES, 'cheap.ts');
const ITEMSIZE = 32;
const SELF = import.meta.filename;

interface Measured {
  readonly ms: number;
  readonly cpuMs: number;
  readonly rssBeforeKiB: number;
  readonly callerShare?: number;
}

const rssAnonKiB = (): number =>
  Number(/^RssAnon:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1]);

/** The measured tasks, run in a fresh process each. */
const TASKS = {
  /** Creates the run through the real runner (startRun). */
  async create(args: { runsDir: string; rows: number }) {
    const t0 = performance.now();
    const r = await startRun({ experiment: CHEAP, runsDir: args.runsDir, id: 'big', iterations: args.rows, seed: 1 });
    if (r.status !== 'completed') throw new Error(`creating the run ended ${r.status}: ${r.error?.message ?? ''}`);
    return { seconds: (performance.now() - t0) / 1000, rows: r.flushedRows };
  },
  /** A plain loop summing a Float64Array view of each mapped segment (mode `r`), one thread. */
  bare(args: { runsDir: string }): Measured {
    const rssBeforeKiB = rssAnonKiB();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const source = RunRows.open(args.runsDir, 'big');
    let sum = 0;
    for (const s of source.segments(0, source.flushedRows)) {
      const a = new Float64Array(s.data.buffer, s.data.byteOffset, s.data.length / 8);
      for (let i = 0; i < a.length; i++) sum += a[i]!;
    }
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (!(sum > 0)) throw new Error(`the bare sum is ${sum}`);
    return { ms, cpuMs: (c.user + c.system) / 1000, rssBeforeKiB };
  },
  /** summarizeRun with `workers` reading threads, every column. */
  async stats(args: { runsDir: string; workers: number }): Promise<Measured> {
    const rssBeforeKiB = rssAnonKiB();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await summarizeRun({ runId: 'big', runsDir: args.runsDir, workers: args.workers });
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const callerRows = r.rowsByThread[0] ?? 0;
    if (r.stats.length !== 4 || r.stats[0]!.count !== r.rows) throw new Error('stats did not count every row');
    return { ms, cpuMs: (c.user + c.system) / 1000, rssBeforeKiB, callerShare: callerRows / r.rows };
  },
};

type Task = keyof typeof TASKS;

/** Runs one task in a fresh process, sampling its memory; returns its result and peak RssAnon (KiB). */
async function child<T>(task: Task, args: object): Promise<{ value: T; peakRssAnonKiB: number }> {
  const p = spawnNode(['--import', 'tsx', SELF, task, JSON.stringify(args)]);
  const sampler = sampleMemory(p.child.pid!, 10);
  const r = await p.exited;
  const peak = sampler.stop();
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(RESULT_PREFIX));
  if (r.code !== 0 || line === undefined) throw new Error(describeExit(`bench/stats.ts ${task}`, r));
  return { value: JSON.parse(line.slice(RESULT_PREFIX.length)) as T, peakRssAnonKiB: peak.RssAnon ?? Number.NaN };
}

export async function statsBench(cfg: StatsBenchConfig): Promise<StatsBenchResult> {
  const runsDir = tempDir('stats');
  try {
    const rows = Math.round(cfg.bytes / ITEMSIZE);
    const created = await child<{ seconds: number; rows: number }>('create', { runsDir, rows });
    const segments = fs.readdirSync(path.join(runsDir, 'big')).filter((f) => f.endsWith('.npy')).length;
    cfg.log(
      `  created ${((rows * ITEMSIZE) / 2 ** 30).toFixed(2)} GiB (${rows} rows, ${segments} segments) in ${created.value.seconds.toFixed(1)} s; the page cache holds it`,
    );
    const gbps = (m: Measured) => (rows * ITEMSIZE) / 1e6 / m.ms;
    const runs = await interleave(cfg.reps, ['bare', 'k1', 'k2'] as const, async (variant, rep) => {
      const r =
        variant === 'bare'
          ? await child<Measured>('bare', { runsDir })
          : await child<Measured>('stats', { runsDir, workers: variant === 'k1' ? 1 : 2 });
      cfg.log(
        `  rep ${rep + 1}/${cfg.reps} ${variant.padEnd(4)} ${r.value.ms.toFixed(0).padStart(5)} ms  ${gbps(r.value).toFixed(2)} GB/s  CPU ${r.value.cpuMs.toFixed(0)} ms  peak RssAnon ${(r.peakRssAnonKiB / 1024).toFixed(1)} MiB (${(r.value.rssBeforeKiB / 1024).toFixed(1)} before)`,
      );
      return r;
    });
    const rate = (xs: { value: Measured }[]) => xs.map((x) => gbps(x.value));
    const mib = (xs: { peakRssAnonKiB: number }[]) => xs.map((x) => x.peakRssAnonKiB / 1024);
    return {
      statsVsBareSum: summarize(paired(rate(runs.k2), rate(runs.bare), (s, b) => s / b)),
      statsVsBareSumK1: summarize(paired(rate(runs.k1), rate(runs.bare), (s, b) => s / b)),
      statsRssAnonMiB: summarize(mib(runs.k2)),
      rssAnonK1MiB: summarize(mib(runs.k1)),
      rssAnonBeforeMiB: summarize([...runs.k1, ...runs.k2].map((x) => x.value.rssBeforeKiB / 1024)),
      bareGBps: summarize(rate(runs.bare)),
      k1GBps: summarize(rate(runs.k1)),
      k2GBps: summarize(rate(runs.k2)),
      k1RowsPerSecond: summarize(runs.k1.map((x) => rows / (x.value.ms / 1000))),
      k2RowsPerSecond: summarize(runs.k2.map((x) => rows / (x.value.ms / 1000))),
      k2CallerShare: summarize(runs.k2.map((x) => x.value.callerShare ?? Number.NaN)),
      rows,
      bytes: rows * ITEMSIZE,
      segments,
      createSeconds: created.value.seconds,
    };
  } finally {
    removeTemp(runsDir);
  }
}

// As a child process: run one task and report it on stdout.
if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const [task = '', json = '{}'] = process.argv.slice(2);
  const run = TASKS[task as Task] as ((args: never) => unknown) | undefined;
  if (!run) {
    process.stderr.write(`bench/stats.ts: unknown task '${task}'; one of ${Object.keys(TASKS).join(', ')}\n`);
    process.exit(2);
  }
  const result = await run(JSON.parse(json) as never);
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}
