// A job split across machines: `run --shard I/N` (or the scheduler's variables), each shard
// in its own runs directory, then `merge` — byte-identical to a run on one machine.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, hashFiles, json, mmrun, peekRun, segmentHashes, spawnMmrun, tempDirs, waitFor } from './cli.ts';

const tmp = tempDirs();

const COUNTER = path.join(FIXTURES, 'counter.ts');
const N = '40_000';
const REST = ['--flush-every', '2000', '--segment-rows', '15_000', '--iterations', N];
const COMMON = ['--seed', '777', ...REST];
// About 10 µs a row: a shard of 10 000 rows takes long enough to be stopped mid-way.
const SLOW = ['--param', 'work=30000'];

/** Every file under a directory, with its hash (to prove nothing was written). */
function tree(dir: string): Record<string, string> {
  if (!fs.existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const rel = path.relative(dir, path.join(entry.parentPath, entry.name));
    Object.assign(out, { [rel]: hashFiles(entry.parentPath, (n) => n === entry.name)[entry.name] });
  }
  return out;
}

async function ok(args: string[], dir: string, env: Record<string, string> = {}, cwd?: string) {
  const r = await mmrun(args, dir, env, cwd);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** Four shards of the counter job, each its own way of being told which shard it is. */
async function fourShards(root: string): Promise<string[]> {
  const dirs = [0, 1, 2, 3].map((i) => path.join(root, `shard${i}`));
  const run = ['run', COUNTER, '--id', 'job', ...COMMON];
  await ok([...run, '--shard', '0/4'], dirs[0]!);
  // A Slurm array numbered from 1: task 2 of 4 is shard 1.
  await ok(run, dirs[1]!, { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1' });
  // A Kubernetes Indexed Job, run from another working directory with two worker threads.
  await ok([...run, '--workers', '2'], dirs[2]!, { JOB_COMPLETION_INDEX: '2', MMRUN_SHARD_COUNT: '4' }, root);
  await ok([...run, '--shard', '3/4'], dirs[3]!);
  return dirs;
}

describe('shards across machines', () => {
  it('four shards (--shard, Slurm and Kubernetes variables) merge into segments identical to one run', async () => {
    const root = tmp();
    const single = path.join(root, 'single');
    await ok(['run', COUNTER, '--id', 'job', ...COMMON], single);
    const dirs = await fourShards(root);

    const shard1 = json<{ iterations: number; jobShard: unknown }>(await mmrun(['show', 'job', '--json'], dirs[1]!));
    expect(shard1.iterations).toBe(10_000);
    expect(shard1.jobShard).toEqual({ index: 1, count: 4, firstIteration: 10_000, jobIterations: 40_000 });
    // A shard's verify recomputes its own iterations (stored from row 0).
    await ok(['verify', 'job', '--recompute', '20'], dirs[1]!);

    const into = path.join(root, 'merged');
    const r = await ok(['merge', ...dirs.reverse(), '--into', into, '--id', 'job'], into);
    expect(r.stdout.trim()).toBe('job');
    expect(r.stderr).toContain('merged 4 shards');
    expect(segmentHashes(into, 'job')).toEqual(segmentHashes(single, 'job'));
    const show = json<{ status: string; flushedRows: number; iterations: number }>(
      await mmrun(['show', 'job', '--json'], into),
    );
    expect(show).toMatchObject({ status: 'completed', flushedRows: 40_000, iterations: 40_000 });
    await ok(['verify', 'job', '--recompute', '30'], into);
  });

  it('a merge killed part-way (SIGKILL) has claimed no rows, and merging again replaces it: identical to one run', async () => {
    const root = tmp();
    const single = path.join(root, 'single');
    await ok(['run', COUNTER, '--id', 'job', ...COMMON], single);
    const dirs = await fourShards(root);
    const into = path.join(root, 'merged');
    const merge = ['merge', ...dirs, '--into', into, '--id', 'job'];
    // Killed inside the transaction that claims the rows: every segment is written, none claimed.
    const killed = await mmrun(merge, into, { MMRUN_FAULT: 'merge-point' });
    expect(killed.signal).toBe('SIGKILL');
    const left = json<{ status: string; doneRows: number }>(await mmrun(['show', 'job', '--json'], into));
    expect(left).toMatchObject({ status: 'crashed', doneRows: 0 });

    const again = await ok(merge, into);
    expect(again.stderr).toContain('replaced the run an earlier merge left when it stopped');
    expect(segmentHashes(into, 'job')).toEqual(segmentHashes(single, 'job'));
    const shown = json<{ status: string; flushedRows: number; events: { type: string }[] }>(
      await mmrun(['show', 'job', '--json'], into),
    );
    expect(shown).toMatchObject({ status: 'completed', flushedRows: 40_000 });
    expect(shown.events.filter((e) => e.type === 'merged')).toHaveLength(1);
    await ok(['verify', 'job', '--recompute', '20'], into);

    // A finished merge is final: merging again is refused, nothing changed.
    const snapshot = tree(into);
    const third = await mmrun(merge, into);
    expect(third.code).toBe(1);
    expect(third.stderr).toContain('RUN_EXISTS');
    expect(tree(into)).toEqual(snapshot);
  });

  it('a stateful experiment: merged shards equal a run with --workers N (one state per shard)', async () => {
    const root = tmp();
    const fixture = path.join(FIXTURES, 'shard-state.ts');
    const args = ['run', fixture, '--id', 'st', '--seed', '5', '--iterations', '30_000', '--segment-rows', '7_000'];
    await ok([...args, '--workers', '3'], path.join(root, 'local'));
    const dirs = [0, 1, 2].map((i) => path.join(root, `s${i}`));
    for (const [i, dir] of dirs.entries()) await ok([...args, '--shard', `${i}/3`], dir);
    const into = path.join(root, 'merged');
    await ok(['merge', ...dirs, '--into', into, '--id', 'st'], into);
    expect(segmentHashes(into, 'st')).toEqual(segmentHashes(path.join(root, 'local'), 'st'));
  });

  it('--partial merges what is there; resume computes the rest; the result is identical', async () => {
    const root = tmp();
    const single = path.join(root, 'single');
    await ok(['run', COUNTER, '--id', 'job', ...COMMON, ...SLOW], single);
    const dirs = [0, 1, 2, 3].map((i) => path.join(root, `shard${i}`));
    await ok(['run', COUNTER, '--id', 'job', ...COMMON, ...SLOW, '--shard', '0/4'], dirs[0]!);
    await ok(['run', COUNTER, '--id', 'job', ...COMMON, ...SLOW, '--shard', '3/4'], dirs[3]!);
    // Shard 1 is stopped half-way; shard 2 never ran.
    const slow = spawnMmrun(['run', COUNTER, '--id', 'job', ...COMMON, '--shard', '1/4', ...SLOW], dirs[1]!);
    await waitFor(() => (peekRun(dirs[1]!, 'job')?.flushedRows ?? 0) >= 2000 || undefined, 60_000, 'a flush');
    slow.child.kill('SIGTERM');
    expect((await slow.exited).code).toBe(143);
    const into = path.join(root, 'merged');
    const present = [dirs[0]!, dirs[1]!, dirs[3]!];

    const refused = await mmrun(['merge', ...present, '--into', into, '--id', 'job'], into);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('SHARDS_MISMATCH');
    expect(refused.stderr).toContain('shard 2 of 4 missing');
    expect(refused.stderr).toContain('shard 1 is interrupted');
    expect(refused.stderr).toContain('--partial');
    expect(tree(into)).toEqual({});

    const r = await ok(['merge', ...present, '--into', into, '--id', 'job', '--partial'], into);
    expect(r.stderr).toContain('missing shards 2; unfinished shards 1');
    expect(json(await mmrun(['show', 'job', '--json'], into)).status).toBe('interrupted');
    await ok(['resume', 'job'], into);
    expect(segmentHashes(into, 'job')).toEqual(segmentHashes(single, 'job'));
  });

  it('refuses shards that do not belong together, with the values named and nothing written', async () => {
    const root = tmp();
    const dirs = await fourShards(root);
    const other = path.join(root, 'other-seed');
    await ok(['run', COUNTER, '--id', 'job', '--seed', '778', ...REST, '--shard', '1/4'], other);
    const plain = path.join(root, 'plain');
    await ok(['run', COUNTER, '--id', 'job', ...COMMON], plain);
    const corrupt = path.join(root, 'corrupt');
    fs.cpSync(dirs[3]!, corrupt, { recursive: true });
    const seg = path.join(corrupt, 'job', '000000.npy');
    const bytes = fs.readFileSync(seg);
    bytes[bytes.length - 100]! ^= 0xff;
    fs.writeFileSync(seg, bytes);
    const into = path.join(root, 'merged');
    const state = () => ({ into: tree(into), shards: dirs.map(tree) });
    const snapshot = state();

    const cases: [string[], string, string[]][] = [
      [[dirs[0]!, other, dirs[2]!, dirs[3]!], 'SHARDS_MISMATCH', ['seed is 777', 'but 778']],
      [[dirs[0]!, dirs[1]!, dirs[1]!, dirs[3]!], 'SHARDS_MISMATCH', ['shard 1 of 4 is in both']],
      [[dirs[0]!, plain], 'SHARDS_MISMATCH', ['not a shard of a job', '--shard I/N']],
      [[dirs[0]!, dirs[1]!, dirs[2]!, corrupt], 'CHECKSUM_MISMATCH', ['shard 3', 'run that shard again']],
      [[path.join(root, 'nowhere')], 'RUN_NOT_FOUND', []],
    ];
    for (const [sources, code, says] of cases) {
      const r = await mmrun(['merge', ...sources, '--into', into, '--id', 'job'], into);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(code);
      for (const s of says) expect(r.stderr).toContain(s);
    }
    expect(state()).toEqual(snapshot);

    await ok(['merge', ...dirs, '--into', into, '--id', 'job'], into);
    const again = await mmrun(['merge', ...dirs, '--into', into, '--id', 'job'], into);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('RUN_EXISTS');
  });

  it('bad shard specifications are refused before anything is created', async () => {
    const dir = tmp();
    const cases: [string[], Record<string, string>, string][] = [
      [['--shard', '4/4'], {}, 'the shard index must be 0 to 3'],
      [['--shard', 'two'], {}, 'is not I/N'],
      [[], { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_STEP: '2' }, 'step 2'],
      [[], { JOB_COMPLETION_INDEX: '1' }, '--shard-count N'],
      [['--shard', '0/50000'], {}, 'use fewer shards than iterations'],
    ];
    for (const [args, env, says] of cases) {
      const r = await mmrun(['run', COUNTER, '--id', 'x', ...COMMON, ...args], dir, env);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('BAD_SHARD');
      expect(r.stderr).toContain(says);
    }
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
  });

  it('--preempt-signal SIGUSR1: flush, interrupted, exit 138 (for the batch script to requeue); resume is identical', async () => {
    const dir = tmp();
    const ref = path.join(dir, 'ref');
    await ok(['run', COUNTER, '--id', 'p', ...COMMON, '--shard', '1/4'], ref);
    const runs = path.join(dir, 'runs');
    const cli = spawnMmrun(
      ['run', COUNTER, '--id', 'p', ...COMMON, '--shard', '1/4', ...SLOW, '--preempt-signal', 'USR1'],
      runs,
    );
    await waitFor(() => (peekRun(runs, 'p')?.flushedRows ?? 0) >= 2000 || undefined, 60_000, 'a flush');
    cli.child.kill('SIGUSR1');
    const r = await cli.exited;
    expect(r.code, r.stderr).toBe(138);
    expect(r.stderr).toContain('interrupted p by SIGUSR1');
    const show = json<{ status: string; events: { type: string; data: unknown }[] }>(
      await mmrun(['show', 'p', '--json'], runs),
    );
    expect(show.status).toBe('interrupted');
    expect(show.events.at(-1)).toMatchObject({ type: 'signal', data: { signal: 'SIGUSR1' } });
    await ok(['resume', 'p'], runs);
    expect(segmentHashes(runs, 'p')).toEqual(segmentHashes(ref, 'p'));

    const clash = await mmrun(
      ['run', COUNTER, '--id', 'q', '--preempt-signal', 'USR1', '--checkpoint-signal', 'SIGUSR1'],
      runs,
    );
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain('cannot both checkpoint');
  });
});
