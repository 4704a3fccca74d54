// The script `mmrun slurm` writes, run by bash the way Slurm would run each array task (its
// #SBATCH lines are comments to bash): a task warned with USR1 flushes, copies its runs
// directory out and asks to be requeued; run again (on a fresh node: no local copy), it
// stages in and resumes; the merged shards equal one run. `npm run test:slurm` does the
// same on a real Slurm.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, mmrun, peekRun, segmentHashes, tempDirs, waitFor } from './cli.ts';

const tmp = tempDirs();
const COUNTER = path.join(FIXTURES, 'counter.ts');

interface Task {
  readonly exited: Promise<{ code: number | null; out: string }>;
  readonly pid: number;
}

/** Runs the script as array task `task` of `count`, with a fake `scontrol` that logs its calls. */
function runTask(script: string, task: number, count: number, env: Record<string, string>): Task {
  const child = spawn('bash', [script], {
    env: {
      ...process.env,
      SLURM_ARRAY_TASK_ID: String(task),
      SLURM_ARRAY_TASK_COUNT: String(count),
      SLURM_ARRAY_TASK_MIN: '0',
      SLURM_JOB_ID: String(1000 + task),
      SLURM_ARRAY_JOB_ID: '1000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  return {
    pid: child.pid!,
    exited: new Promise((resolve) => child.on('close', (code) => resolve({ code, out }))),
  };
}

describe('the sbatch script of `mmrun slurm`', () => {
  it('tasks run their shards; a warned task flushes, stages out, requeues, then resumes elsewhere; merge = one run', async () => {
    const root = tmp();
    const results = path.join(root, 'results');
    const bin = path.join(root, 'bin');
    fs.mkdirSync(bin);
    const calls = path.join(root, 'scontrol.log');
    fs.writeFileSync(path.join(bin, 'scontrol'), `#!/bin/sh\necho "$@" >> ${calls}\n`, { mode: 0o755 });
    const args = ['--seed', '11', '-n', '30_000', '--id', 'job'];
    const w = await mmrun(
      ['slurm', COUNTER, '--shards', '3', '--results', results, '--flush-every', '1000', ...args],
      root,
    );
    expect(w.code, w.stderr).toBe(0);
    const script = w.stdout.trim();
    expect(script).toBe(path.join(results, 'job.sbatch'));
    const text = fs.readFileSync(script, 'utf8');
    for (const line of ['#SBATCH --array=0-2', '#SBATCH --requeue', '#SBATCH --signal=B:USR1@120']) {
      expect(text).toContain(line);
    }

    const env = { PATH: `${bin}:${process.env.PATH}`, MMRUN_LOCAL_DIR: path.join(root, 'node-a') };
    for (const task of [0, 2]) {
      const r = await runTask(script, task, 3, env).exited;
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`shard ${task} completed`);
    }
    // Task 1 gets the time-limit warning mid-way.
    const local1 = path.join(root, 'node-a', 'mmrun-job-1');
    const t1 = runTask(script, 1, 3, { ...env, COUNTER_SPIN: '40000' });
    await waitFor(() => (peekRun(local1, 'job')?.flushedRows ?? 0) >= 1000 || undefined, 60_000, 'a flush');
    process.kill(t1.pid, 'SIGUSR1');
    const r1 = await t1.exited;
    expect(r1.code, r1.out).toBe(0);
    expect(r1.out).toContain('shard 1 preempted (flushed): requeueing');
    expect(fs.readFileSync(calls, 'utf8').trim()).toBe('requeue 1000_1');
    const copied = peekRun(path.join(results, 'shards', '1'), 'job');
    expect(copied?.status).toBe('interrupted');
    expect(copied?.flushedRows).toBeGreaterThan(0);

    // Requeued onto another node: nothing local, so it stages in from the copy and resumes.
    const again = await runTask(script, 1, 3, { ...env, MMRUN_LOCAL_DIR: path.join(root, 'node-b') }).exited;
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('shard 1 completed');

    const into = path.join(results, 'runs');
    const merged = await mmrun(
      ['merge', ...[0, 1, 2].map((i) => path.join(results, 'shards', String(i))), '--into', into, '--id', 'job'],
      into,
    );
    expect(merged.code, merged.stderr).toBe(0);
    const single = path.join(root, 'single');
    const one = await mmrun(['run', COUNTER, ...args, '--flush-every', '5000'], single);
    expect(one.code, one.stderr).toBe(0);
    expect(segmentHashes(into, 'job')).toEqual(segmentHashes(single, 'job'));
  });

  it('refuses a bad shard count and an existing script, writing nothing', async () => {
    const root = tmp();
    const bad = await mmrun(['slurm', COUNTER, '--shards', '0', '--results', root], root);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('BAD_SHARD');
    expect(fs.readdirSync(root)).toEqual([]);
    const args = ['slurm', COUNTER, '--shards', '2', '--results', root, '--id', 'j', '--seed', '1'];
    expect((await mmrun(args, root)).code).toBe(0);
    const before = fs.readFileSync(path.join(root, 'j.sbatch'));
    const again = await mmrun(args, root);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('OUTPUT_EXISTS');
    expect(fs.readFileSync(path.join(root, 'j.sbatch'))).toEqual(before);
  });
});
