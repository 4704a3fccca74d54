/**
 * One measured in-process task per process: `node --import tsx bench/worker.ts <task> <json>`.
 * bench/run.ts starts a fresh process for every repetition of every variant, so no variant
 * runs with another's JIT feedback, heap or page cache warm-up. Each task first does a
 * short untimed warm-up of exactly what it then times, and reports one JSON line on stdout
 * prefixed with `@bench `. Temporary files live under os.tmpdir() and are removed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import pino from 'pino';
import { Catalog } from '../src/catalog/catalog.ts';
import type { Context } from '../src/experiment/define.ts';
import { loadExperiment } from '../src/experiment/load.ts';
import { CounterRng } from '../src/experiment/rng.ts';
import { type RunResult, startRun } from '../src/index.ts';
import { layoutOf } from '../src/storage/dtype.ts';
import { Segment } from '../src/storage/segment.ts';
import cheap from './fixtures/cheap.ts';
import { RESULT_PREFIX } from './lib/proc.ts';

const CHEAP = path.join(import.meta.dirname, 'fixtures', 'cheap.ts');
const SEED = 1;

/** Flush only at the end: a count and an interval that a benchmark never reaches. */
const END_ONLY = { flushEvery: 1e15, flushInterval: 1e9 } as const;

interface Timed {
  /** Wall-clock milliseconds of the timed part. */
  readonly wallMs: number;
  /** CPU milliseconds (user + system) of this process during the timed part. */
  readonly cpuMs: number;
  readonly sysMs: number;
  /** CPU milliseconds of the main thread alone (the loop's thread; helpers excluded). */
  readonly mainCpuMs: number;
  /** The user part of it. */
  readonly mainUserMs: number;
}

const CLOCK_TICKS_PER_MS = 100 / 1000; // USER_HZ, 100 on Linux

/** CPU time of the main thread (utime, stime of /proc/self/task/<pid>/stat), ms; 0 off Linux. */
function mainThreadCpuMs(): { user: number; system: number } {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / CLOCK_TICKS_PER_MS, system: Number(fields[12]) / CLOCK_TICKS_PER_MS };
  } catch {
    return { user: 0, system: 0 };
  }
}

async function timed<T>(body: () => Promise<T> | T): Promise<Timed & { value: T }> {
  const c0 = process.cpuUsage();
  const m0 = mainThreadCpuMs();
  const t0 = performance.now();
  const value = await body();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const m = mainThreadCpuMs();
  const mainUserMs = m.user - m0.user;
  const mainCpuMs = mainUserMs + m.system - m0.system;
  return { wallMs, cpuMs: (c.user + c.system) / 1000, sysMs: c.system / 1000, mainCpuMs, mainUserMs, value };
}

function resultOf(r: RunResult) {
  if (r.status !== 'completed') throw new Error(`run ${r.id} ended ${r.status}: ${r.error?.message ?? ''}`);
  return { elapsedMs: r.elapsedMs, rowsPerSecond: r.rowsPerSecond, flushes: r.flushes };
}

type Args = Record<string, unknown>;
const num = (args: Args, key: string): number => {
  const v = args[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`worker: ${key} must be a number, got ${v}`);
  return v;
};

/**
 * mmrun's in-process run of the cheap experiment: the whole startRun call is timed. With
 * `dropBehind: false`, flushed pages stay in the page cache (MMRUN_DROP_BEHIND=off).
 */
async function mmrunCheap(dir: string, args: Args) {
  const rows = num(args, 'rows');
  if (args.dropBehind === false) process.env.MMRUN_DROP_BEHIND = 'off';
  const policy = args.policy === 'end' ? END_ONLY : {};
  await startRun({ experiment: CHEAP, runsDir: dir, iterations: num(args, 'warmRows'), seed: SEED, ...policy });
  const t = await timed(() => startRun({ experiment: CHEAP, runsDir: dir, iterations: rows, seed: SEED, ...policy }));
  return {
    wallMs: t.wallMs,
    cpuMs: t.cpuMs,
    sysMs: t.sysMs,
    mainCpuMs: t.mainCpuMs,
    mainUserMs: t.mainUserMs,
    rows,
    ...resultOf(t.value),
  };
}

interface CheapRow {
  n: number;
  x: number;
  y: number;
  r2: number;
}

/**
 * The bare loop: the same step function object mmrun calls (loaded the same way), the same
 * rng reset per iteration, the same four fields stored into a Float64Array. With
 * `mapped`, the array is a mapped segment file instead (no msync): that isolates what
 * writing through a shared file mapping costs (page faults) from mmrun's own work.
 */
async function bareCheap(dir: string, args: Args) {
  const rows = num(args, 'rows');
  const loaded = await loadExperiment(CHEAP);
  const experiment = loaded.experiment;
  const step = experiment.step;
  const rng = new CounterRng(SEED);
  // The same shape mmrun gives ctx, so the step's property loads see the same hidden class.
  const ctx: Context = {
    params: Object.freeze({ ...loaded.params }),
    seed: SEED,
    runId: 'bare',
    state: undefined,
    log: pino({ enabled: false }),
    rng,
    shard: Object.freeze({ index: 0, count: 1, firstRow: 0, endRow: rows }),
  };
  const loop = (out: Float64Array, n: number) => {
    for (let i = 0; i < n; i++) {
      rng.reset(i);
      const row = step.call(experiment, i, ctx) as unknown as CheapRow;
      const b = i * 4;
      out[b] = row.n;
      out[b + 1] = row.x;
      out[b + 2] = row.y;
      out[b + 3] = row.r2;
    }
    return out[n * 4 - 4]!;
  };
  let segments = 0;
  const target = (n: number): Float64Array => {
    if (args.mapped !== true) return new Float64Array(n * 4);
    const seg = Segment.create(path.join(dir, `${segments++}.npy`), {
      layout: layoutOf(cheap.columns),
      rows: n,
      source: 'bench',
    });
    return new Float64Array(seg.data.buffer, seg.data.byteOffset, n * 4);
  };
  loop(target(num(args, 'warmRows')), num(args, 'warmRows'));
  const t = await timed(() => loop(target(rows), rows));
  if (t.value !== rows) throw new Error(`bare loop wrote ${t.value} in the last row, expected ${rows}`);
  return { wallMs: t.wallMs, cpuMs: t.cpuMs, sysMs: t.sysMs, mainCpuMs: t.mainCpuMs, mainUserMs: t.mainUserMs, rows };
}

/** rows/s of an example experiment (RunResult.rowsPerSecond: the loop, its flushes and commits). */
async function example(dir: string, args: Args) {
  const name = String(args.name);
  const rows = num(args, 'rows');
  await startRun({ experiment: name, runsDir: dir, iterations: Math.max(1, Math.floor(rows / 10)), seed: SEED });
  const r = await startRun({ experiment: name, runsDir: dir, iterations: rows, seed: SEED });
  return { name, rows, ...resultOf(r) };
}

/**
 * msync of one flush's worth of new rows: a segment is filled `rowsPerFlush` rows at a
 * time and each new range is synced as the runner does (Segment.sync: MS_SYNC of the pages
 * holding those rows).
 */
function msync(dir: string, args: Args) {
  const per = num(args, 'rowsPerFlush');
  const flushes = num(args, 'flushes');
  const layout = layoutOf(cheap.columns);
  const seg = Segment.create(path.join(dir, '000000.npy'), { layout, rows: per * flushes, source: 'bench' });
  const f64 = new Float64Array(seg.data.buffer, seg.data.byteOffset, per * flushes * 4);
  const ms: number[] = [];
  for (let k = 0; k < flushes; k++) {
    for (let i = k * per; i < (k + 1) * per; i++) {
      f64[i * 4] = i + 1;
      f64[i * 4 + 1] = i * 0.5;
      f64[i * 4 + 2] = -i;
      f64[i * 4 + 3] = i * i;
    }
    const t0 = performance.now();
    seg.sync(k * per, (k + 1) * per, layout.itemsize);
    ms.push(performance.now() - t0);
  }
  return { ms, bytesPerFlush: per * layout.itemsize };
}

/** The cost of one catalog commit: Catalog.checkpoint (one IMMEDIATE transaction, WAL, synchronous=FULL). */
async function commit(dir: string, args: Args) {
  const commits = num(args, 'commits');
  const r = await startRun({ experiment: CHEAP, runsDir: dir, iterations: 1, seed: SEED });
  const catalog = Catalog.open(dir);
  try {
    // A small state like walk's, as a stateful experiment commits with every flush.
    const state = v8.serialize({ position: 1.5, max: 2.5 });
    for (let k = 0; k < 10; k++) catalog.checkpoint(r.id, k + 1, state);
    const ms: number[] = [];
    for (let k = 0; k < commits; k++) {
      const t0 = performance.now();
      catalog.checkpoint(r.id, 100 + k, state);
      ms.push(performance.now() - t0);
    }
    return { ms };
  } finally {
    catalog.close();
  }
}

const TASKS: Record<string, (dir: string, args: Args) => unknown> = {
  'mmrun-cheap': mmrunCheap,
  'bare-cheap': bareCheap,
  example,
  // msync first, then the catalog in a directory of its own.
  io: async (dir, args) => ({ ...msync(dir, args), commitMs: (await commit(path.join(dir, 'runs'), args)).ms }),
};

const [task = '', json = '{}'] = process.argv.slice(2);
const run = TASKS[task];
if (!run) {
  process.stderr.write(`worker: unknown task '${task}'; one of ${Object.keys(TASKS).join(', ')}\n`);
  process.exit(2);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mmrun-bench-${task}-`));
try {
  const result = await run(dir, JSON.parse(json) as Args);
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
