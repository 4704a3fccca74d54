// overheadVsBareLoop, flushOverhead and speedupVsNumpy: the cheap experiment run by mmrun
// (default flush policy and flush-only-at-end), by a bare loop (into a Float64Array and
// into a mapped file), and by the NumPy recipe — interleaved, one fresh process each.
import * as path from 'node:path';
import { describeExit, findNumpyPython, ROOT, removeTemp, runProgram, runWorker, tempDir } from './lib/proc.ts';
import { interleave, paired, type Summary, summarize } from './lib/stats.ts';

export interface ThroughputConfig {
  readonly reps: number;
  /** Rows of the cheap experiment per mmrun / bare-loop run. */
  readonly rows: number;
  /** Rows per NumPy-recipe run (Python is slower; rows/s is what is compared). */
  readonly numpyRows: number;
  /**
   * Also run the diagnostic variants (bare loop into a mapped file; NumPy with
   * np.random.Generator; mmrun and end-only with drop-behind off).
   */
  readonly diagnostics: boolean;
  readonly log: (line: string) => void;
}

interface WorkerRun {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly sysMs: number;
  /** CPU time of the main thread: the loop's (helper threads excluded). */
  readonly mainCpuMs: number;
  readonly rows: number;
  readonly elapsedMs?: number;
  readonly rowsPerSecond?: number;
  readonly flushes?: number;
}

interface NumpyRun {
  readonly rows: number;
  readonly seconds: number;
  readonly rowsPerSecond: number;
  readonly flushes: number;
  readonly numpy: string;
  readonly python: string;
}

export interface ThroughputResult {
  readonly overheadVsBareLoop: Summary;
  /** The same ratio in CPU time (user + system): less sensitive to other load on the machine. */
  readonly overheadCpu: Summary;
  readonly flushOverhead: Summary;
  /** The same in CPU time of the whole process. */
  readonly flushOverheadCpu: Summary;
  readonly speedupVsNumpy: Summary | null;
  readonly speedupVsNumpyReason?: string;
  /** Against the recipe drawing from numpy.random.Generator instead of random.random. */
  readonly speedupVsNumpyGenerator: Summary | null;
  /** Bare loop into a mapped segment file ÷ into a Float64Array: the cost of page faults alone. */
  readonly mappedVsBare: Summary | null;
  /** flushOverhead with drop-behind off in both runs: the flushes' own cost, without page recycling. */
  readonly flushOverheadKeep: Summary | null;
  /** CPU time of the loop's thread, mmrun and the bare loop. */
  readonly mmrunMainCpuMs: Summary;
  readonly bareMainCpuMs: Summary;
  readonly mmrunWallMs: Summary;
  readonly bareWallMs: Summary;
  readonly mmrunRowsPerSecond: Summary;
  readonly endOnlyRowsPerSecond: Summary;
  readonly mmrunSysMs: Summary;
  readonly bareSysMs: Summary;
  readonly flushes: number;
  readonly numpyRowsPerSecond: Summary | null;
  readonly numpyGeneratorRowsPerSecond: Summary | null;
  readonly numpyVersion?: string;
}

type Variant = 'mmrun' | 'bare' | 'endOnly' | 'mmrunKeep' | 'endOnlyKeep' | 'mapped' | 'numpy' | 'numpyGenerator';

export async function throughput(cfg: ThroughputConfig): Promise<ThroughputResult> {
  const py = await findNumpyPython();
  const python = 'python' in py ? py.python : undefined;
  const variants: Variant[] = ['mmrun', 'bare', 'endOnly'];
  if (cfg.diagnostics) variants.push('mapped', 'mmrunKeep', 'endOnlyKeep');
  if (python) variants.push('numpy');
  if (python && cfg.diagnostics) variants.push('numpyGenerator');
  const warmRows = Math.min(200_000, Math.floor(cfg.rows / 10));
  const numpyDir = tempDir('numpy');
  try {
    const runs = await interleave(cfg.reps, variants, async (variant, rep): Promise<WorkerRun | NumpyRun> => {
      const started = performance.now();
      let r: WorkerRun | NumpyRun;
      switch (variant) {
        case 'mmrun':
        case 'endOnly':
        case 'mmrunKeep':
        case 'endOnlyKeep':
          r = await runWorker<WorkerRun>('mmrun-cheap', {
            rows: cfg.rows,
            warmRows,
            policy: variant === 'mmrun' || variant === 'mmrunKeep' ? 'default' : 'end',
            dropBehind: !variant.endsWith('Keep'),
          });
          break;
        case 'bare':
        case 'mapped':
          r = await runWorker<WorkerRun>('bare-cheap', { rows: cfg.rows, warmRows, mapped: variant === 'mapped' });
          break;
        case 'numpy':
        case 'numpyGenerator': {
          const out = await runProgram(python!, [
            path.join(ROOT, 'bench', 'numpy_baseline.py'),
            '--rows',
            String(cfg.numpyRows),
            '--dir',
            numpyDir,
            '--rng',
            variant === 'numpy' ? 'stdlib' : 'numpy',
          ]);
          if (out.code !== 0) throw new Error(describeExit('bench/numpy_baseline.py', out));
          r = JSON.parse(out.stdout.trim().split('\n').pop()!) as NumpyRun;
          break;
        }
      }
      const rate = 'seconds' in r ? r.rowsPerSecond : r.rows / (r.wallMs / 1000);
      cfg.log(
        `  rep ${rep + 1}/${cfg.reps} ${variant.padEnd(14)} ${(rate / 1e6).toFixed(2)}M rows/s (${((performance.now() - started) / 1000).toFixed(1)} s with process start)`,
      );
      return r;
    });
    const w = (v: Variant) => runs[v] as WorkerRun[];
    const n = (v: Variant) => runs[v] as NumpyRun[] | undefined;
    const mapped = runs.mapped as WorkerRun[] | undefined;
    const keep = runs.mmrunKeep as WorkerRun[] | undefined;
    const endKeep = runs.endOnlyKeep as WorkerRun[] | undefined;
    const mmrunRate = w('mmrun').map((r) => r.rows / (r.wallMs / 1000));
    const speedup = (v: Variant) => {
      const np = n(v);
      return np ? summarize(paired(mmrunRate, np, (m, p) => m / p.rowsPerSecond)) : null;
    };
    return {
      overheadVsBareLoop: summarize(paired(w('mmrun'), w('bare'), (m, b) => m.wallMs / b.wallMs)),
      overheadCpu: summarize(paired(w('mmrun'), w('bare'), (m, b) => m.cpuMs / b.cpuMs)),
      flushOverhead: summarize(paired(w('mmrun'), w('endOnly'), (m, e) => m.elapsedMs! / e.elapsedMs! - 1)),
      flushOverheadCpu: summarize(paired(w('mmrun'), w('endOnly'), (m, e) => m.cpuMs / e.cpuMs - 1)),
      speedupVsNumpy: speedup('numpy'),
      speedupVsNumpyReason: 'reason' in py ? py.reason : undefined,
      speedupVsNumpyGenerator: speedup('numpyGenerator'),
      mappedVsBare: mapped ? summarize(paired(mapped, w('bare'), (m, b) => m.wallMs / b.wallMs)) : null,
      flushOverheadKeep:
        keep && endKeep ? summarize(paired(keep, endKeep, (m, e) => m.elapsedMs! / e.elapsedMs! - 1)) : null,
      mmrunMainCpuMs: summarize(w('mmrun').map((r) => r.mainCpuMs)),
      bareMainCpuMs: summarize(w('bare').map((r) => r.mainCpuMs)),
      mmrunWallMs: summarize(w('mmrun').map((r) => r.wallMs)),
      bareWallMs: summarize(w('bare').map((r) => r.wallMs)),
      mmrunRowsPerSecond: summarize(mmrunRate),
      endOnlyRowsPerSecond: summarize(w('endOnly').map((r) => r.rowsPerSecond!)),
      mmrunSysMs: summarize(w('mmrun').map((r) => r.sysMs)),
      bareSysMs: summarize(w('bare').map((r) => r.sysMs)),
      flushes: w('mmrun')[0]!.flushes!,
      numpyRowsPerSecond: n('numpy') ? summarize(n('numpy')!.map((r) => r.rowsPerSecond)) : null,
      numpyGeneratorRowsPerSecond: n('numpyGenerator')
        ? summarize(n('numpyGenerator')!.map((r) => r.rowsPerSecond))
        : null,
      numpyVersion: n('numpy')?.[0] ? `numpy ${n('numpy')![0]!.numpy}, Python ${n('numpy')![0]!.python}` : undefined,
    };
  } finally {
    removeTemp(numpyDir);
  }
}
