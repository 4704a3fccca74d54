// Shard workers started ahead of a run (worker-pool.ts): which command lines ask for them,
// and a prestarted worker runs a shard from the input it is sent.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { workersWanted } from '../../src/cli/prestart.ts';
import { loadExperiment } from '../../src/experiment/load.ts';
import type { ShardCommand, ShardInput, ShardMessage } from '../../src/runner/shard-protocol.ts';
import {
  MAX_PRESTARTED,
  prestartedShardWorkers,
  prestartShardWorkers,
  takeShardWorker,
} from '../../src/runner/worker-pool.ts';
import { SegmentedArray } from '../../src/storage/segmented-array.ts';
import { tmpDir } from '../helpers/tmp.ts';

describe('workersWanted', () => {
  it.each([
    [['run', 'pi', '--workers', '2'], 2],
    [['run', 'pi', '-w', '4'], 4],
    [['run', 'pi', '--workers=3', '-n', '1e6'], 3],
    [['run', 'pi', '-w=2'], 2],
    [['--runs-dir', '/tmp/r', 'run', 'pi', '--workers', '2'], 2],
    [['-v', 'run', 'pi', '--workers', '2'], 2],
    [['run', 'pi', '-w3'], 3],
    [['run', '--seed', '1', 'run', '--workers', '2'], 2], // an experiment named `run`
    [['--runs-dir', 'run', 'run', 'pi', '-w', '2'], 2],
  ])('%j → %i', async (args, k) => expect(await workersWanted(args, {}, () => 99)).toBe(k));

  it('resume <id>: the unfinished shards the catalog counts, in --runs-dir, else $MMRUN_RUNS_DIR, else ./runs', async () => {
    const asked: [string, string][] = [];
    const peek = (dir: string, id: string) => {
      asked.push([dir, id]);
      return id === 'sharded' ? 3 : 0;
    };
    expect(await workersWanted(['resume', 'sharded', '--runs-dir', '/r'], {}, peek)).toBe(3);
    expect(await workersWanted(['--runs-dir=/q', 'resume', 'plain'], {}, peek)).toBe(0);
    expect(await workersWanted(['resume', 'sharded'], { MMRUN_RUNS_DIR: '/e' }, peek)).toBe(3);
    expect(await workersWanted(['resume', 'sharded'], {}, peek)).toBe(3);
    // Options with values before the id (as a batch script writes them).
    expect(await workersWanted(['resume', '--preempt-signal', 'SIGUSR1', '-q', 'sharded'], {}, peek)).toBe(3);
    expect(await workersWanted(['resume', '--checkpoint-signal=SIGUSR2', '-n', '2e6', 'sharded'], {}, peek)).toBe(3);
    expect(await workersWanted(['resume'], {}, peek)).toBe(0);
    expect(asked).toEqual([
      ['/r', 'sharded'],
      ['/q', 'plain'],
      ['/e', 'sharded'],
      [path.resolve('runs'), 'sharded'],
      [path.resolve('runs'), 'sharded'],
      [path.resolve('runs'), 'sharded'],
    ]);
  });

  it.each([
    [['run', 'pi']],
    [['run', 'pi', '--workers', '1']],
    [['run', 'pi', '--workers', 'two']],
    [['run', 'pi', '--workers', '2.5']],
    [['run', 'pi', '--workers']],
    [['list', '--workers', '2']],
    [['--runs-dir', 'run', 'list', '--workers', '2']],
    [['show', 'run']],
    [[]],
  ])('%j → 0 (none started)', async (args) => expect(await workersWanted(args, {}, () => 99)).toBe(0));
});

describe('a prestarted shard worker', () => {
  it('waits for its input, then runs its shard; unused ones are kept, up to a cap', async () => {
    const dir = tmpDir('mmrun-pool-');
    const file = path.join(dir, 'count.ts');
    fs.writeFileSync(file, "export default { columns: { n: 'u4' }, step(i: number) { return { n: i * 3 }; } };\n");
    const loaded = await loadExperiment(file);
    const runDir = path.join(dir, 'run');
    fs.mkdirSync(runDir);
    const rows = 10_000;
    const array = new SegmentedArray(runDir, loaded.layout, { totalRows: rows, segmentRows: rows }, 'test');
    array.ensure(0);

    prestartShardWorkers(2);
    prestartShardWorkers(1); // already enough
    expect(prestartedShardWorkers()).toBe(2);
    const worker = takeShardWorker()!;
    expect(prestartedShardWorkers()).toBe(1);
    // Let it boot first: it must wait, not fail, without its input.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const input: ShardInput = {
      runId: 'r',
      runDir,
      experimentPath: loaded.path,
      sourceHash: loaded.sourceHash,
      bundle: loaded.bundle,
      columns: { n: 'u4' },
      totalRows: rows,
      segmentRows: rows,
      seed: 1,
      params: {},
      policy: { every: 4000, intervalSeconds: 100 },
      shard: { index: 1, count: 2, firstRow: 5000, endRow: rows },
      iterationOffset: 0,
      startRow: 5000,
      state: null,
    };
    const messages: ShardMessage[] = [];
    const done = new Promise<ShardMessage>((resolve) =>
      worker.on('message', (m: ShardMessage) => {
        messages.push(m);
        if (m.type === 'done') resolve(m);
      }),
    );
    worker.postMessage({ type: 'start', input } satisfies ShardCommand);
    expect(await done).toMatchObject({ type: 'done', status: 'completed', rows });
    expect(messages.filter((m) => m.type === 'flushed').map((m) => (m as { rows: number }).rows)).toEqual([
      9000, 10_000,
    ]);
    const data = new Uint32Array(array.openForRead(0).data.buffer, array.openForRead(0).data.byteOffset, rows);
    expect(data[5000]).toBe(15_000);
    expect(data[rows - 1]).toBe((rows - 1) * 3);
    expect(data[4999]).toBe(0); // shard 0's rows: not this worker's
    await worker.terminate();

    expect(MAX_PRESTARTED).toBe(64);
    prestartShardWorkers(10, 3); // the cap (MAX_PRESTARTED by default)
    expect(prestartedShardWorkers()).toBe(3);
    // Ended while they boot (nothing waits for them).
    const all: Promise<number>[] = [];
    for (let w = takeShardWorker(); w; w = takeShardWorker()) all.push(w.terminate());
    expect(all).toHaveLength(3);
    await Promise.all(all);
    expect(prestartedShardWorkers()).toBe(0);
  }, 60_000);
});
