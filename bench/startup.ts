// Start-up figures: cliStartVsNode (wall time of `mmrun list` on an empty runs directory ÷
// `node -e 0`, spawn → exit, paired and interleaved) and workerBootMs (a shard worker
// thread, spawned → its first row computed, wall clock).
import * as fs from 'node:fs';
import module from 'node:module';
import * as path from 'node:path';
import { loadExperiment } from '../src/experiment/load.ts';
import type { ShardInput, ShardMessage } from '../src/runner/shard-protocol.ts';
import { SHARD_WORKER_MODULE } from '../src/runner/worker-pool.ts';
import { layoutOf } from '../src/storage/dtype.ts';
import { SegmentedArray } from '../src/storage/segmented-array.ts';
import { startModuleWorker } from '../src/threads.ts';
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
  const worker = startModuleWorker(SHARD_WORKER_MODULE, input);
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: ShardMessage) => {
      if (m.type === 'done') resolve();
    });
    worker.once('error', reject);
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
    cfg.log(`  shard worker: first row after ${summarize(boot).median.toFixed(0)} ms (median of ${cfg.reps})`);
    return {
      cliStartVsNode: summarize(paired(ms.list, ms.node, (l, n) => l / n)),
      listMs: summarize(ms.list),
      helpMs: summarize(ms.help),
      nodeMs: summarize(ms.node),
      workerBootMs: summarize(boot),
    };
  } finally {
    removeTemp(dir);
  }
}
