// Start-up figures: cliStartVsNode (wall time of `mmrun list` on an empty runs directory ÷
// `node -e 0`, spawn → exit, paired and interleaved) and workerBootMs (a shard worker
// thread, spawned → its first row computed, wall clock).
import * as fs from 'node:fs';
import module from 'node:module';
import * as path from 'node:path';
import { loadExperiment } from '../src/experiment/load.ts';
import { codeIdentity } from '../src/fingerprint/check.ts';
import type { ShardInput } from '../src/runner/shard-protocol.ts';
import { startShardWorker } from '../src/runner/worker-pool.ts';
import { layoutOf } from '../src/storage/dtype.ts';
import { SegmentedArray } from '../src/storage/segmented-array.ts';
import { BIN, FIXTURES, removeTemp, spawnNode, tempDir, wallNow } from './lib/proc.ts';
import { interleave, paired, type Summary, summarize } from './lib/stats.ts';

export interface StartupConfig {
  readonly reps: number;
  readonly log: (line: string) => void;
}

export interface StartupResult {
  readonly cliStartVsNode: Summary;
  readonly listMs: Summary;
  readonly helpMs: Summary;
  readonly nodeMs: Summary;
  readonly workerBootMs: Summary;
  /** Loading (bundling) and fingerprinting an experiment of 50 local modules, in-process. */
  readonly fingerprint50Ms: Summary;
}

async function timeNode(args: readonly string[]): Promise<number> {
  const t0 = wallNow();
  const p = spawnNode(args);
  const r = await p.exited;
  if (r.code !== 0) throw new Error(`node ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return wallNow() - t0;
}

/** Spawns one shard worker for the probe experiment; ms from spawn to its first row. */
async function workerBoot(dir: string, input: ShardInput, stamp: string): Promise<number> {
  fs.rmSync(stamp, { force: true });
  const t0 = wallNow();
  const worker = startShardWorker(input);
  await new Promise<void>((resolve, reject) => {
    worker.onMessage((m) => {
      if (m.type === 'done') {
        worker.finish();
        resolve();
      }
    });
    worker.onFailure(reject);
  });
  await worker.terminate();
  if (!fs.existsSync(stamp)) throw new Error(`the shard worker in ${dir} never reached its first row`);
  return Number(fs.readFileSync(stamp, 'utf8')) - t0;
}

export async function startup(cfg: StartupConfig): Promise<StartupResult> {
  const dir = tempDir('startup');
  try {
    const runsDir = path.join(dir, 'runs');
    fs.mkdirSync(runsDir);
    const list = [BIN, 'list', '--runs-dir', runsDir];
    // Untimed first: the first start writes Node's compile cache.
    await timeNode(list);
    await timeNode([BIN, '--help']);
    const ms = await interleave(cfg.reps, ['node', 'list', 'help'] as const, (what) =>
      timeNode(what === 'node' ? ['-e', '0'] : what === 'list' ? list : [BIN, '--help']),
    );
    cfg.log(`  list ${summarize(ms.list).median.toFixed(0)} ms, node -e 0 ${summarize(ms.node).median.toFixed(0)} ms`);

    // A shard worker as a run spawns it (compiled JS, the experiment bundled once).
    (module as { enableCompileCache?: () => void }).enableCompileCache?.();
    const loaded = await loadExperiment(path.join(FIXTURES, 'probe.ts'));
    const runDir = path.join(dir, 'run');
    fs.mkdirSync(runDir);
    const rows = 1000;
    const layout = layoutOf(loaded.experiment.columns, 'probe');
    new SegmentedArray(runDir, layout, { totalRows: rows, segmentRows: rows }, 'probe').ensure(0);
    const stamp = path.join(dir, 'stamp');
    process.env.MMRUN_BENCH_STAMP = stamp;
    const input: ShardInput = {
      runId: 'boot',
      runDir,
      experimentPath: loaded.path,
      sourceHash: loaded.sourceHash,
      bundle: loaded.bundle,
      columns: loaded.experiment.columns,
      totalRows: rows,
      segmentRows: rows,
      seed: 1,
      params: {},
      policy: { every: 1000, intervalSeconds: 10 },
      shard: { index: 0, count: 1, firstRow: 0, endRow: rows },
      iterationOffset: 0,
      startRow: 0,
      state: null,
    };
    await workerBoot(dir, input, stamp);
    const boot: number[] = [];
    for (let rep = 0; rep < cfg.reps; rep++) boot.push(await workerBoot(dir, input, stamp));
    delete process.env.MMRUN_BENCH_STAMP;

    // An experiment importing a chain of 50 local modules: what every run and resume pays
    // for the bundle and the fingerprint (sha256 and a comment-free hash of every file).
    const chain = path.join(dir, 'chain');
    fs.mkdirSync(chain);
    for (let k = 0; k < 50; k++) {
      const next = k < 49 ? `import { f${k + 1} } from './m${k + 1}.ts';\n` : '';
      const consts = Array.from({ length: 40 }, (_, j) => `export const c${k}_${j} = ${j};`).join('\n');
      fs.writeFileSync(
        path.join(chain, `m${k}.ts`),
        `${next}// module ${k}\nexport function f${k}(x: number): number { return ${k < 49 ? `f${k + 1}(x) + ` : ''}x * ${k + 1}; }\n${consts}\n`,
      );
    }
    const entry = path.join(chain, 'exp.ts');
    fs.writeFileSync(
      entry,
      "import { f0 } from './m0.ts';\nexport default { columns: { x: 'f8' }, step: (i: number) => ({ x: f0(i) }) };\n",
    );
    const fp: number[] = [];
    for (let rep = 0; rep <= cfg.reps; rep++) {
      const t0 = performance.now();
      codeIdentity(await loadExperiment(entry));
      if (rep > 0) fp.push(performance.now() - t0);
    }
    cfg.log(`  50 local modules: bundled and fingerprinted in ${summarize(fp).median.toFixed(0)} ms`);
    cfg.log(`  shard worker: first row after ${summarize(boot).median.toFixed(0)} ms (median of ${cfg.reps})`);
    return {
      cliStartVsNode: summarize(paired(ms.list, ms.node, (l, n) => l / n)),
      listMs: summarize(ms.list),
      helpMs: summarize(ms.help),
      nodeMs: summarize(ms.node),
      workerBootMs: summarize(boot),
      fingerprint50Ms: summarize(fp),
    };
  } finally {
    removeTemp(dir);
  }
}
