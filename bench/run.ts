/**
 * mmrun's benchmarks against its anchors (issue 6): `npm run bench` (full, several minutes)
 * or `npm run bench -- --quick` (under two minutes, smaller sizes, for CI, which does not
 * assert speed). Progress goes to stderr; stdout gets a table and, last, one JSON line with
 * every figure: `{ "<key>": { value, median, min, max, n, target, met } | null, … }`.
 * See bench/README.md for what each figure means and how it is measured.
 */
import * as os from 'node:os';
import { extras } from './extras.ts';
import { kills } from './kills.ts';
import { killChildren, removeAllTemps } from './lib/proc.ts';
import { fmt, fmtSummary, type Summary, table } from './lib/stats.ts';
import { liveReaders } from './live-readers.ts';
import { memory } from './memory.ts';
import { resumeStart } from './resume.ts';
import { startup } from './startup.ts';
import { statsBench } from './stats.ts';
import { sweepBench } from './sweep.ts';
import { throughput } from './throughput.ts';
import { uiBench } from './ui.ts';
import { workers } from './workers.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

const argv = process.argv.slice(2);
// `--only a,b`: run only the sections that measure figure a or b (for working on one figure).
const onlyAt = argv.indexOf('--only');
const only = onlyAt < 0 ? undefined : new Set((argv[onlyAt + 1] ?? '').split(',').filter(Boolean));
const unknown = argv.filter((a, k) => a !== '--quick' && (onlyAt < 0 || (k !== onlyAt && k !== onlyAt + 1)));
if (unknown.length > 0 || only?.size === 0) {
  process.stderr.write(
    `bench: unknown argument ${unknown.join(' ')}; usage: npm run bench [-- --quick] [--only figure,figure]\n`,
  );
  process.exit(2);
}
const quick = argv.includes('--quick');

const CONFIG = quick
  ? {
      reps: 3,
      rows: 4_000_000,
      numpyRows: 200_000,
      exampleRows: { pi: 100_000, walk: 500_000, lorenz: 20_000 },
      msyncFlushes: 3,
      commits: 50,
      kills: 3,
      killDelayMs: [300, 1200] as const,
      bigBytes: 256 * MiB,
      smallBytes: 4 * MiB,
      rssBytes: 1 * GiB,
      workerRows: 400_000,
      statsBytes: 256 * MiB,
      startupReps: 10,
      uiReps: 3,
      uiRunMs: 4000,
      sweepReps: 1,
      live: { pairs: 6, windowMs: 400 },
    }
  : {
      reps: 5,
      rows: 16_000_000,
      numpyRows: 1_000_000,
      exampleRows: { pi: 1_000_000, walk: 4_000_000, lorenz: 200_000 },
      msyncFlushes: 6,
      commits: 200,
      kills: 10,
      killDelayMs: [300, 3000] as const,
      bigBytes: 4 * GiB,
      smallBytes: 4 * MiB,
      rssBytes: 8 * GiB,
      workerRows: 3_000_000,
      statsBytes: 2 * GiB,
      startupReps: 20,
      uiReps: 5,
      uiRunMs: 8000,
      sweepReps: 3,
      live: { pairs: 30, windowMs: 800 },
    };

const log = (line: string) => process.stderr.write(`${line}\n`);

const cleanUp = () => {
  killChildren();
  removeAllTemps();
};
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    cleanUp();
    process.exit(128 + (os.constants.signals[signal] ?? 0));
  });
}

const KEYS = [
  'overheadVsBareLoop',
  'speedupVsNumpy',
  'flushOverhead',
  'resumeStartRatio',
  'rssAnonMiB',
  'lostRowsPerKillMax',
  'workersSpeedup',
  'rssAnonPerWorkerMiB',
  'statsVsBareSum',
  'statsVsBareSumK1',
  'statsRssAnonMiB',
  'cliStartVsNode',
  'workerBootMs',
  'writerWithDashboard',
  'sweepOverheadPerPointMs',
  'liveReadersSlowdown',
] as const;
type Key = (typeof KEYS)[number];

const TARGETS: Record<Key, { op: '<=' | '>='; limit: number }> = {
  overheadVsBareLoop: { op: '<=', limit: 1.1 },
  speedupVsNumpy: { op: '>=', limit: 20 },
  flushOverhead: { op: '<=', limit: 0.03 },
  resumeStartRatio: { op: '<=', limit: 1.2 },
  rssAnonMiB: { op: '<=', limit: 100 },
  lostRowsPerKillMax: { op: '<=', limit: 1 },
  workersSpeedup: { op: '>=', limit: 1.85 },
  rssAnonPerWorkerMiB: { op: '<=', limit: 64 },
  statsVsBareSum: { op: '>=', limit: 0.5 },
  statsVsBareSumK1: { op: '>=', limit: 0.5 },
  statsRssAnonMiB: { op: '<=', limit: 150 },
  cliStartVsNode: { op: '<=', limit: 2.5 },
  workerBootMs: { op: '<=', limit: 100 },
  writerWithDashboard: { op: '>=', limit: 0.95 },
  sweepOverheadPerPointMs: { op: '<=', limit: 10 },
  liveReadersSlowdown: { op: '<=', limit: 0.05 },
};

interface Figure extends Summary {
  /** The figure itself: the median of the repetitions (for lostRowsPerKillMax, the max over kills). */
  readonly value: number;
  readonly target: string;
  readonly met: boolean;
}

const figures: Partial<Record<Key, Figure | null>> = {};
const notes: Partial<Record<Key, string>> = {};
const reasons: Partial<Record<Key, string>> = {};
const also: [string, string, string][] = [];
const errors: string[] = [];

function record(key: Key, s: Summary | null, note: string, value = s?.median): void {
  if (s === null || value === undefined) {
    figures[key] = null;
    reasons[key] ??= note;
    return;
  }
  const t = TARGETS[key];
  const round = (x: number) => Number(x.toPrecision(4));
  figures[key] = {
    value: round(value),
    median: round(s.median),
    min: round(s.min),
    max: round(s.max),
    n: s.n,
    target: `${t.op} ${t.limit}`,
    met: t.op === '<=' ? value <= t.limit : value >= t.limit,
  };
  notes[key] = note;
}

async function section<T>(name: string, keys: readonly Key[], run: () => Promise<T>): Promise<T | undefined> {
  if (only && !keys.some((key) => only.has(key))) {
    for (const key of keys) {
      figures[key] = null;
      reasons[key] = 'not run (--only)';
    }
    return undefined;
  }
  log(`== ${name}`);
  const t0 = performance.now();
  try {
    return await run();
  } catch (error) {
    const message = (error as Error)?.message ?? String(error);
    errors.push(`${name}: ${message}`);
    for (const key of keys) {
      figures[key] = null;
      reasons[key] = `${name} failed: ${message}`;
    }
    log(`  FAILED: ${message}`);
    return undefined;
  } finally {
    log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
}

const started = new Date();
const loadBefore = os.loadavg()[0]!;
const benchT0 = performance.now();
const mb = (bytes: number) => (bytes >= GiB ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`);
const rate = (s: Summary) => `${fmtSummary(s)} rows/s`;

const su = await section(
  'start-up: `mmrun list` vs `node -e 0`; a shard worker to its first row',
  ['cliStartVsNode', 'workerBootMs'],
  () => startup({ reps: CONFIG.startupReps, log }),
);
if (su) {
  record(
    'cliStartVsNode',
    su.cliStartVsNode,
    `wall time of \`node bin/mmrun.js list\` on an empty runs directory ÷ \`node -e 0\`, spawn → exit, paired: ${fmtSummary(su.listMs)} ms vs ${fmtSummary(su.nodeMs)} ms (Node's compile cache ${Number(process.versions.node.split('.')[0]) >= 22 ? 'on' : 'not available on Node 20'})`,
  );
  record(
    'workerBootMs',
    su.workerBootMs,
    'a shard worker thread (compiled JS, the experiment bundled by the main thread), new Worker → its first row computed, wall clock',
  );
  also.push(['`mmrun --help` (ms)', fmtSummary(su.helpMs), 'spawn → exit']);
  also.push([
    'bundle + fingerprint, 50 local modules (ms)',
    fmtSummary(su.fingerprint50Ms),
    'loadExperiment + codeIdentity in-process: what each run and resume pays',
  ]);
}

const tp = await section(
  'throughput: mmrun vs bare loop vs NumPy recipe',
  ['overheadVsBareLoop', 'speedupVsNumpy', 'flushOverhead'],
  () => throughput({ reps: CONFIG.reps, rows: CONFIG.rows, numpyRows: CONFIG.numpyRows, diagnostics: !quick, log }),
);
if (tp) {
  record(
    'overheadVsBareLoop',
    tp.overheadVsBareLoop,
    `${fmt(CONFIG.rows)} rows of the cheap 4×f8 experiment: whole startRun ${fmt(tp.mmrunWallMs.median)} ms vs bare loop ${fmt(tp.bareWallMs.median)} ms (medians); in CPU time ${fmtSummary(tp.overheadCpu)}`,
  );
  record(
    'speedupVsNumpy',
    tp.speedupVsNumpy,
    tp.speedupVsNumpy
      ? `mmrun ${rate(tp.mmrunRowsPerSecond)} vs NumPy recipe (random.random) ${rate(tp.numpyRowsPerSecond!)}, ${fmt(CONFIG.numpyRows)} rows, ${tp.numpyVersion}`
      : (tp.speedupVsNumpyReason ?? 'NumPy recipe not run'),
  );
  record(
    'flushOverhead',
    tp.flushOverhead,
    `loop time (RunResult.elapsedMs) with the default policy (${tp.flushes} flushes of 1M rows) vs one flush at the end; end-only ${rate(tp.endOnlyRowsPerSecond)}; in CPU time ${fmtSummary(tp.flushOverheadCpu)}`,
  );
  if (tp.mappedVsBare) {
    also.push([
      'bare loop into a mapped segment ÷ into a Float64Array',
      fmtSummary(tp.mappedVsBare),
      'the page faults of a shared file mapping alone',
    ]);
  }
  also.push([
    'system CPU time: mmrun run / bare loop (ms)',
    `${fmt(tp.mmrunSysMs.median)} / ${fmt(tp.bareSysMs.median)}`,
    'medians',
  ]);
  also.push([
    "CPU time of the loop's thread: mmrun / bare loop (ms)",
    `${fmt(tp.mmrunMainCpuMs.median)} / ${fmt(tp.bareMainCpuMs.median)}`,
    'medians; the page helper thread works beside mmrun’s',
  ]);
  if (tp.flushOverheadKeep) {
    also.push([
      'flushOverhead with drop-behind off in both runs',
      fmtSummary(tp.flushOverheadKeep),
      'MMRUN_DROP_BEHIND=off: the flushes’ own cost, without page recycling',
    ]);
  }
  if (tp.speedupVsNumpyGenerator) {
    also.push([
      'speedup vs NumPy recipe drawing from np.random.Generator',
      fmtSummary(tp.speedupVsNumpyGenerator),
      `recipe ${rate(tp.numpyGeneratorRowsPerSecond!)}`,
    ]);
  }
}

const ex = await section('examples, msync per flush, catalog commit', [], () =>
  extras({
    reps: CONFIG.reps,
    exampleRows: CONFIG.exampleRows,
    msyncFlushes: CONFIG.msyncFlushes,
    commits: CONFIG.commits,
    log,
  }),
);
if (ex) {
  for (const [name, s] of Object.entries(ex.examples)) {
    also.push([
      `experiments/${name}.ts rows/s`,
      fmtSummary(s),
      `${fmt(CONFIG.exampleRows[name as keyof typeof CONFIG.exampleRows])} rows, RunResult.rowsPerSecond`,
    ]);
  }
  also.push([
    'msync per flush (ms)',
    fmtSummary(ex.msyncMs),
    `${mb(ex.msyncBytes)} of new rows (1M cheap rows), ${fmt(ex.msyncBytes / 1e6 / (ex.msyncMs.median / 1000))} MB/s`,
  ]);
  also.push(['catalog commit (ms)', fmtSummary(ex.commitMs), 'Catalog.checkpoint: WAL, synchronous=FULL']);
}

const kl = await section(`kill -9 × ${CONFIG.kills}`, ['lostRowsPerKillMax'], () =>
  kills({ kills: CONFIG.kills, delayMs: CONFIG.killDelayMs, log }),
);
if (kl) {
  record(
    'lostRowsPerKillMax',
    kl.ratios,
    `${CONFIG.kills} kill -9s of the CLI ${CONFIG.killDelayMs[0]}–${CONFIG.killDelayMs[1]} ms into a run; recomputed rows ${fmtSummary(kl.lostRows)}; bound min(N, T·rate) = ${fmt(kl.bound)} rows at ${rate(kl.rowsPerSecond)}`,
    kl.lostRowsPerKillMax,
  );
}

const rs = await section(
  `resume start: ${mb(CONFIG.bigBytes)} vs ${mb(CONFIG.smallBytes)} flushed`,
  ['resumeStartRatio'],
  () => resumeStart({ reps: CONFIG.reps, bigBytes: CONFIG.bigBytes, smallBytes: CONFIG.smallBytes, log }),
);
if (rs) {
  record(
    'resumeStartRatio',
    rs.resumeStartRatio,
    `resumeStartMs = ${fmtSummary(rs.smallMs)} (4 MiB flushed); \`mmrun resume\`, spawn → first new iteration: ${mb(rs.bigFlushedBytes)} flushed (${rs.segmentsBig} segments) ${fmtSummary(rs.bigMs)} ms vs ${mb(rs.smallFlushedBytes)} ${fmtSummary(rs.smallMs)} ms${quick ? ' — quick mode: 256 MiB stands in for 4 GiB' : ''}`,
  );
}

const mem = await section(`memory while writing ${mb(CONFIG.rssBytes)}`, ['rssAnonMiB'], () =>
  memory({ reps: CONFIG.reps, bytes: CONFIG.rssBytes, log }),
);
if (mem) {
  record(
    'rssAnonMiB',
    mem.rssAnonMiB,
    `peak RssAnon of \`mmrun run\` writing ${mb(CONFIG.rssBytes)} (256-byte rows), sampled every 50 ms; peak RssFile ${fmtSummary(mem.rssFileMiB)} MiB; ${fmtSummary(mem.mbPerSecond)} MB/s${quick ? ' — quick mode: 1 GiB stands in for 8 GiB' : ''}`,
  );
}

const wk = await section(
  `--workers 1 vs 2: ${fmt(CONFIG.workerRows)} rows of a CPU-bound experiment`,
  ['workersSpeedup', 'rssAnonPerWorkerMiB'],
  () => workers({ reps: CONFIG.reps, rows: CONFIG.workerRows, log }),
);
if (wk) {
  record(
    'workersSpeedup',
    wk.speedup,
    `\`mmrun run bench/fixtures/cpu.ts --workers 2\` ÷ \`--workers 1\`, rows/s over the run's life in the catalog (what of the workers' start-up does not overlap the CLI's): ${rate(wk.rowsPerSecond2)} vs ${rate(wk.rowsPerSecond1)}, ${os.availableParallelism()} cores; the machine's own ceiling for two CPU-bound processes is ${fmtSummary(wk.hardwareCeiling)}`,
  );
  also.push([
    'whole commands: time with --workers 1 ÷ with 2',
    fmtSummary(wk.commandSpeedup),
    `spawn → exit, the CLI's start-up included: ${fmtSummary(wk.commandMs1)} vs ${fmtSummary(wk.commandMs2)} ms`,
  ]);
  also.push([
    'hardware ceiling: 2 spin loops at once ÷ 1',
    fmtSummary(wk.hardwareCeiling),
    `2 × (alone) ÷ (beside another); workersSpeedup is ${fmt((wk.speedup.median / wk.hardwareCeiling.median) * 100)} % of it`,
  ]);
  record(
    'rssAnonPerWorkerMiB',
    wk.rssPerWorker,
    `(peak RssAnon with 2 workers − with 1) ÷ 2: (${fmtSummary(wk.rssAnon2)} − ${fmtSummary(wk.rssAnon1)}) ÷ 2 MiB — a worker's V8 isolate (heap ~19 MiB, 8 of it new space) and native memory; it maps its rows (file-backed pages, not anonymous) and copies none`,
  );
}

const sb = await section(
  `stats: ${mb(CONFIG.statsBytes)} with 1 and 2 threads vs a bare sum`,
  ['statsVsBareSum', 'statsVsBareSumK1', 'statsRssAnonMiB'],
  () => statsBench({ reps: CONFIG.reps, bytes: CONFIG.statsBytes, log }),
);
if (sb) {
  const gbps = (s: Summary) => `${fmtSummary(s)} GB/s`;
  const sized = `${mb(sb.bytes)} of the cheap 4×f8 experiment (${fmt(sb.rows)} rows, ${sb.segments} segments, in the page cache)${quick ? ' — quick mode: 256 MiB stands in for 2 GiB' : ''}`;
  record(
    'statsVsBareSum',
    sb.statsVsBareSum,
    `summarizeRun (every column, 2 threads) ${gbps(sb.k2GBps)} ÷ a bare single-threaded sum of each mapped segment ${gbps(sb.bareGBps)}, per repetition; ${sized}`,
  );
  record(
    'statsVsBareSumK1',
    sb.statsVsBareSumK1,
    `the same with 1 thread (the calling thread alone): ${gbps(sb.k1GBps)}, ${fmtSummary(sb.k1RowsPerSecond)} rows/s`,
  );
  record(
    'statsRssAnonMiB',
    sb.statsRssAnonMiB,
    `peak RssAnon of the process during summarizeRun with 2 threads, sampled every 10 ms; ${fmtSummary(sb.rssAnonK1MiB)} MiB with 1 thread; ${fmtSummary(sb.rssAnonBeforeMiB)} MiB just before the call`,
  );
  also.push([
    'stats rows/s with 1 / 2 threads',
    `${fmtSummary(sb.k1RowsPerSecond)} / ${fmtSummary(sb.k2RowsPerSecond)}`,
    `${fmt(sb.rows)} rows of 32 bytes`,
  ]);
  also.push([
    'stats, 2 threads: share read by the calling thread',
    fmtSummary(sb.k2CallerShare),
    'the worker thread (compiled JS) starts, then claims batches from then on',
  ]);
  also.push([
    'stats RssAnon per worker thread (MiB)',
    fmt(sb.statsRssAnonMiB.median - sb.rssAnonK1MiB.median),
    'peak with 2 threads − peak with 1 (medians): one more isolate',
  ]);
}

const ub = await section(
  `writer rows/s with \`mmrun ui\` open and a page refreshing, ${CONFIG.uiRunMs / 1000} s runs`,
  ['writerWithDashboard'],
  () => uiBench({ reps: CONFIG.uiReps, runMs: CONFIG.uiRunMs, log }),
);
if (ub) {
  record(
    'writerWithDashboard',
    ub.ratio,
    `\`mmrun run bench/fixtures/cheap.ts --flush-interval 1\` rows/s with \`mmrun ui\` serving its runs directory and a page (histogram and stats on opening, the SSE stream, every second the run, a 4000-point series and the log) ÷ the same run alone, paired by repetition: ${rate(ub.rowsPerSecondWith)} vs ${rate(ub.rowsPerSecondWithout)}; ${fmtSummary(ub.refreshes)} page refreshes per run`,
  );
}

const SWEEP = { points: 500, rows: 2000 };
const sw = await section('sweep: overhead per point', ['sweepOverheadPerPointMs'], () =>
  sweepBench({ reps: CONFIG.sweepReps, ...SWEEP, log }),
);
if (sw) {
  record(
    'sweepOverheadPerPointMs',
    sw.perPointMs,
    `(wall of a sweep of ${SWEEP.points} points × ${fmt(SWEEP.rows)} rows of the cheap experiment, --jobs 1, ${fmt(sw.sweepWallMs.median)} ms − the same ${fmt(SWEEP.points * SWEEP.rows)} rows as one run, ${fmt(sw.runWallMs.median)} ms) ÷ ${SWEEP.points}; a point's cost is its three fsync'ed catalog commits, its directory, segment and log files`,
  );
}

const lr = await section(
  `live readers: a writer's rate in windows with and without 4 readers polling (${CONFIG.live.pairs} pairs of ${CONFIG.live.windowMs} ms)`,
  ['liveReadersSlowdown'],
  () => liveReaders({ ...CONFIG.live, readers: 4, intervalMs: 100, log }),
);
if (lr) {
  record(
    'liveReadersSlowdown',
    lr.slowdown,
    `1 − (the writer's rows/s in a window with 4 reader processes polling openRun/refresh every 100 ms and reading the new rows ÷ in the adjacent window without), median over ${CONFIG.live.pairs} pairs of ${CONFIG.live.windowMs} ms windows of one \`mmrun run bench/fixtures/cheap.ts --flush-every 20000\`, rates from its commits: ${rate(lr.withReadersRowsPerSecond)} with readers vs ${rate(lr.aloneRowsPerSecond)} without; ${fmt(lr.pollsPerSecond)} snapshots/s over the 4 readers, ${fmt(lr.cpuMsPerPoll)} ms of a reader's CPU each (the snapshot and reading the new rows); ${os.availableParallelism()} cores`,
  );
  also.push([
    'writer rows/s without / with 4 live readers',
    `${fmtSummary(lr.aloneRowsPerSecond)} / ${fmtSummary(lr.withReadersRowsPerSecond)}`,
    'liveReadersSlowdown is 1 − their ratio per pair of windows',
  ]);
}

const seconds = (performance.now() - benchT0) / 1000;
const cpu = os.cpus();
const header = `mmrun bench — ${quick ? 'quick' : 'full'} mode, ${started.toISOString()}, node ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, load average ${loadBefore.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)}, ${seconds.toFixed(0)} s`;
const rows = KEYS.map((key) => {
  const f = figures[key];
  const t = TARGETS[key];
  if (!f) return [key, 'null', '—', '—', '—', `${t.op === '<=' ? '≤' : '≥'} ${t.limit}`, '—'];
  return [
    key,
    fmt(f.value),
    fmt(f.median),
    fmt(f.min),
    fmt(f.max),
    `${t.op === '<=' ? '≤' : '≥'} ${t.limit}`,
    f.met ? 'yes' : 'NO',
  ];
});
const out: string[] = [header, ''];
out.push(table(['figure', 'value', 'median', 'min', 'max', 'target', 'met'], rows));
out.push('');
for (const key of KEYS) out.push(`${key}: ${figures[key] ? notes[key] : `null — ${reasons[key] ?? 'not measured'}`}`);
out.push('', 'also measured (table only):');
out.push(table(['what', 'median (min–max)', 'notes'], also));
if (errors.length > 0) out.push('', ...errors.map((e) => `ERROR ${e}`));
out.push('');
const json: Record<string, unknown> = {};
for (const key of KEYS) json[key] = figures[key] ?? null;
Object.assign(json, {
  resumeStartMs: rs ? Number(rs.smallMs.median.toPrecision(4)) : null,
  reasons,
  mode: quick ? 'quick' : 'full',
  date: started.toISOString(),
  node: process.version,
  cpus: cpu.length,
  seconds: Math.round(seconds),
});
process.stdout.write(`${out.join('\n')}\n${JSON.stringify(json)}\n`);
process.exitCode = errors.length > 0 ? 1 : 0;
