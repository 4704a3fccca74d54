// `mmrun slurm --sweep`: the script it writes, run by bash the way Slurm runs each array
// task (its #SBATCH lines are comments to bash), one task per point: a task SIGKILLed
// mid-point and run again on a fresh node (stage in, resume), a task warned with USR1
// (flush, stage out, requeue, resume); then `mmrun merge --sweep` gathers the points into
// one sweep whose every point equals `mmrun run` of it, byte for byte. `npm run test:slurm`
// does the same on a real Slurm.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, hashFiles, json, mmrun, peekRun, segmentHashes, spawnMmrun, tempDirs, waitFor } from './cli.ts';

const tmp = tempDirs('mmrun-slurm-sweep-');
const COUNTER = path.join(FIXTURES, 'counter.ts');
const N = 20_000;
// Four points: work ∈ {0, 2} × seeds 11, 12 (point i = task i), as `mmrun sweep` orders them.
const SPEC = ['--grid', 'work=0,2', '--seeds', '2', '--seed', '11', '-n', String(N), '--flush-every', '1000'];
const POINTS = [
  { work: 0, seed: 11 },
  { work: 0, seed: 12 },
  { work: 2, seed: 11 },
  { work: 2, seed: 12 },
];
// $COUNTER_SPIN slows a process without changing its rows.
const SLOW = { COUNTER_SPIN: '100000' };

interface Task {
  readonly exited: Promise<{ code: number | null; out: string }>;
}

/** Runs the script as array task `task` of 4, with a fake `scontrol` that logs its calls. */
function runTask(script: string, task: number, env: Record<string, string>): Task {
  const child = spawn('bash', [script], {
    env: {
      ...process.env,
      SLURM_ARRAY_TASK_ID: String(task),
      SLURM_ARRAY_TASK_COUNT: '4',
      SLURM_ARRAY_TASK_MIN: '0',
      SLURM_ARRAY_JOB_ID: '2000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  return { exited: new Promise((resolve) => child.on('close', (code) => resolve({ code, out }))) };
}

/**
 * Every file under a directory with its hash (to prove nothing was written); SQLite's -wal
 * and -shm files, which a reader may create, are left out (the catalog's content is in).
 */
function tree(dir: string): Record<string, string> {
  if (!fs.existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || /-(wal|shm)$/.test(entry.name)) continue;
    const rel = path.relative(dir, path.join(entry.parentPath, entry.name));
    out[rel] = hashFiles(entry.parentPath, (n) => n === entry.name)[entry.name]!;
  }
  return out;
}

// The reference: each point computed alone by `mmrun run`, once for the whole file.
let references: Promise<Record<string, string>[]> | undefined;
function referenceHashes(): Promise<Record<string, string>[]> {
  references ??= (async () => {
    const dir = tmp();
    const out: Record<string, string>[] = [];
    for (const [k, p] of POINTS.entries()) {
      const args = ['run', COUNTER, '--seed', String(p.seed), '--param', `work=${p.work}`, '-n', String(N)];
      const r = await mmrun([...args, '--id', `ref${k}`, '-q'], dir);
      expect(r.code, r.stderr).toBe(0);
      out.push(segmentHashes(dir, `ref${k}`));
    }
    return out;
  })();
  return references;
}

/** Writes the sweep's script into `<root>/results`; returns its path. */
async function writeScript(root: string, id: string, extra: string[] = []): Promise<string> {
  const results = path.join(root, 'results');
  const w = await mmrun(['slurm', COUNTER, '--sweep', ...SPEC, '--results', results, '--id', id, ...extra], root);
  expect(w.code, w.stderr).toBe(0);
  return w.stdout.trim();
}

interface SweepJson {
  status: string;
  points: { runId: string; params: Record<string, unknown>; seed: number; status: string; flushedRows: number }[];
}

async function expectPointsEqualReference(runsDir: string, id: string): Promise<void> {
  const view = json<SweepJson>(await mmrun(['show', id, '--json'], runsDir));
  expect(view.status).toBe('completed');
  expect(view.points.map((p) => ({ ...p.params, seed: p.seed }))).toEqual(POINTS);
  const refs = await referenceHashes();
  for (const [k, p] of view.points.entries()) {
    expect(p.status).toBe('completed');
    expect(p.runId).toBe(`${id}-p000${k}`);
    const hashes = segmentHashes(runsDir, p.runId);
    expect(Object.keys(hashes).length).toBeGreaterThan(0);
    expect(hashes, `point ${k}`).toEqual(refs[k]);
  }
}

describe('mmrun slurm --sweep', () => {
  it('one array task per point (%N throttle); a SIGKILLed and a warned task resume; merge = a local sweep, byte for byte', async () => {
    const root = tmp();
    const results = path.join(root, 'results');
    const bin = path.join(root, 'bin');
    fs.mkdirSync(bin);
    const calls = path.join(root, 'scontrol.log');
    fs.writeFileSync(path.join(bin, 'scontrol'), `#!/bin/sh\necho "$@" >> ${calls}\n`, { mode: 0o755 });
    const script = await writeScript(root, 'sw', ['--throttle', '2', '--time', '00:30:00']);
    expect(script).toBe(path.join(results, 'sw.sbatch'));
    const text = fs.readFileSync(script, 'utf8');
    for (const line of [
      '#SBATCH --array=0-3%2',
      '#SBATCH --requeue',
      '#SBATCH --signal=B:USR1@120',
      '#SBATCH --time=00:30:00',
      `PLAN=${path.join(results, 'sw.sweep.json')}`,
      'point "$PLAN" --index "$TASK" --runs-dir "$LOCAL" --preempt-signal SIGUSR1',
      `scontrol requeue "\${SLURM_ARRAY_JOB_ID}_$TASK"`,
    ]) {
      expect(text).toContain(line);
    }
    // The plan: the points of a local sweep of the same command, in its order.
    const plan = JSON.parse(fs.readFileSync(path.join(results, 'sw.sweep.json'), 'utf8')) as {
      points: { params: unknown; seed: number; runId: string }[];
    };
    expect(plan.points).toEqual(
      POINTS.map((p, k) => ({ params: { work: p.work }, seed: p.seed, runId: `sw-p000${k}` })),
    );

    const env = { PATH: `${bin}:${process.env.PATH}`, MMRUN_LOCAL_DIR: path.join(root, 'node-a') };
    for (const task of [0, 3]) {
      const r = await runTask(script, task, env).exited;
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`point ${task} completed`);
    }

    // Task 1 is killed with SIGKILL mid-point (OOM, a node dying): nothing flushes.
    const local1 = path.join(root, 'node-a', 'mmrun-sw-1');
    const t1 = runTask(script, 1, { ...env, ...SLOW });
    const pid1 = await waitFor(
      () => {
        const run = peekRun(local1, 'sw-p0001');
        return ((run?.flushedRows ?? 0) >= 2000 && run?.status === 'running' && run.ownerPid) || undefined;
      },
      60_000,
      'point 1 to flush',
    );
    process.kill(pid1, 'SIGKILL');
    const r1 = await t1.exited;
    expect(r1.code, r1.out).toBe(137);
    expect(r1.out).toContain('point 1 stopped with status 137');
    const copied1 = peekRun(path.join(results, 'points', '1'), 'sw-p0001');
    expect(copied1?.flushedRows).toBeGreaterThan(0);
    expect(copied1?.flushedRows).toBeLessThan(N);

    // Task 2 gets the time-limit warning mid-point.
    const local2 = path.join(root, 'node-a', 'mmrun-sw-2');
    const t2 = runTask(script, 2, { ...env, ...SLOW });
    await waitFor(() => (peekRun(local2, 'sw-p0002')?.flushedRows ?? 0) >= 2000 || undefined, 60_000, 'a flush');
    const pid2 = peekRun(local2, 'sw-p0002')!.ownerPid!;
    // USR1 goes to the batch shell (--signal=B:): find it as mmrun's parent.
    const shell = Number(fs.readFileSync(`/proc/${pid2}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    process.kill(shell, 'SIGUSR1');
    const r2 = await t2.exited;
    expect(r2.code, r2.out).toBe(0);
    expect(r2.out).toContain('point 2 preempted (flushed): requeueing');
    expect(fs.readFileSync(calls, 'utf8').trim()).toBe('requeue 2000_2');
    expect(peekRun(path.join(results, 'points', '2'), 'sw-p0002')?.status).toBe('interrupted');

    // Both run again, as a requeue would, on another node (nothing local: stage in, resume).
    for (const task of [1, 2]) {
      const again = await runTask(script, task, { ...env, MMRUN_LOCAL_DIR: path.join(root, 'node-b') }).exited;
      expect(again.code, again.out).toBe(0);
      expect(again.out).toContain(`point ${task} completed`);
    }
    // A task that runs once more (a requeue after it completed) leaves its point as it is.
    const before = tree(path.join(results, 'points', '0'));
    const once = await runTask(script, 0, env).exited;
    expect(once.code, once.out).toBe(0);
    expect(tree(path.join(results, 'points', '0', 'sw-p0000'))).toEqual(
      Object.fromEntries(
        Object.entries(before)
          .filter(([k]) => k.startsWith('sw-p0000/'))
          .map(([k, v]) => [k.slice('sw-p0000/'.length), v]),
      ),
    );

    const into = path.join(results, 'runs');
    const merged = await mmrun(['merge', results, '--sweep', '--id', 'sw', '--into', into], into);
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stdout.trim()).toBe('sw');
    expect(merged.stderr).toContain('4 of 4 points completed');
    await expectPointsEqualReference(into, 'sw');
    // The gathered sweep reads as a local one: stats per point, verify of a point's checksums.
    const stats = json<{ points: unknown[] }>(await mmrun(['stats', 'sw', '--column', 'u', '--json'], into));
    expect(stats.points).toHaveLength(4);
    const verify = await mmrun(['verify', 'sw-p0001', '--recompute', '20'], into);
    expect(verify.code, verify.stderr).toBe(0);
    const list = await mmrun(['list'], into);
    expect(list.stdout).toContain('sw');
    expect(list.stdout).not.toContain('sw-p0001');

    // Merging again: refused, nothing changed.
    const snapshot = tree(into);
    const again = await mmrun(['merge', results, '--sweep', '--id', 'sw', '--into', into], into);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('RUN_EXISTS');
    expect(again.stderr).toContain("sweep 'sw' already exists");
    expect(tree(into)).toEqual(snapshot);
  }, 240_000);

  it('a merge killed part-way is continued by merging again: each point recorded whole, once, byte for byte', async () => {
    const root = tmp();
    const results = path.join(root, 'results');
    const script = await writeScript(root, 'mk');
    const env = { MMRUN_LOCAL_DIR: path.join(root, 'node') };
    for (const task of [0, 1, 2, 3]) expect((await runTask(script, task, env).exited).code).toBe(0);
    const into = path.join(root, 'runs');
    const args = ['merge', results, '--sweep', '--id', 'mk', '--into', into];
    const statuses = async () =>
      json<SweepJson>(await mmrun(['show', 'mk', '--json'], into)).points.map((p) => p.status);

    // 1. Held before point 2 (points 0 and 1 recorded): a second merge is refused while it
    //    lives; then it is SIGKILLed between two points.
    const held = spawnMmrun(args, into, { MMRUN_FAULT: 'merge-point:delay=60000', MMRUN_FAULT_AFTER: '3' });
    await waitFor(() => peekRun(into, 'mk-p0001')?.status === 'completed' || undefined, 60_000, 'point 1 recorded');
    expect(await statuses()).toEqual(['completed', 'completed', 'pending', 'pending']);
    const locked = await mmrun(args, into);
    expect(locked.code).toBe(1);
    expect(locked.stderr).toContain('RUN_LOCKED');
    held.child.kill('SIGKILL');
    expect((await held.exited).signal).toBe('SIGKILL');
    expect(json<SweepJson>(await mmrun(['show', 'mk', '--json'], into)).status).toBe('crashed');

    // 2. Merging again continues it, and is SIGKILLed inside point 2's transaction: its copy
    //    is in place, its record rolled back (the catalog names no file that is not all there).
    const killed = await mmrun(args, into, { MMRUN_FAULT: 'merge-point', MMRUN_FAULT_AFTER: '1' });
    expect(killed.signal).toBe('SIGKILL');
    expect(await statuses()).toEqual(['completed', 'completed', 'pending', 'pending']);
    expect(fs.existsSync(path.join(into, 'mk-p0002', '000000.npy'))).toBe(true);

    // 3. Merging again finishes: the unrecorded copy replaced, points 0 and 1 not copied again.
    const done = await mmrun(args, into);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain('4 of 4 points completed');
    expect(done.stderr).toContain('2 points were already there');
    await expectPointsEqualReference(into, 'mk');
    for (const k of [0, 1, 2, 3]) {
      const shown = json<{ events: { type: string }[] }>(await mmrun(['show', `mk-p000${k}`, '--json'], into));
      expect(
        shown.events.filter((e) => e.type === 'merged'),
        `point ${k}`,
      ).toHaveLength(1);
    }
    expect(fs.readdirSync(into).filter((n) => n.includes('.merging-'))).toEqual([]);

    // 4. A finished merge is final: merging again is refused, nothing changed.
    const snapshot = tree(into);
    const again = await mmrun(args, into);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('RUN_EXISTS');
    expect(tree(into)).toEqual(snapshot);
  }, 240_000);

  it('merge --partial records missing and unfinished points; `mmrun resume <sweep>` finishes them here', async () => {
    const root = tmp();
    const results = path.join(root, 'results');
    const script = await writeScript(root, 'pt');
    const env = { MMRUN_LOCAL_DIR: path.join(root, 'node') };
    for (const task of [0, 3]) expect((await runTask(script, task, env).exited).code).toBe(0);
    // Point 1 is stopped half-way (SIGTERM: flushed, interrupted); point 2 never ran.
    const local1 = path.join(root, 'node', 'mmrun-pt-1');
    const t1 = runTask(script, 1, { ...env, ...SLOW });
    const pid = await waitFor(
      () =>
        ((peekRun(local1, 'pt-p0001')?.flushedRows ?? 0) >= 2000 && peekRun(local1, 'pt-p0001')?.ownerPid) || undefined,
      60_000,
      'a flush',
    );
    process.kill(pid, 'SIGTERM');
    expect((await t1.exited).code).toBe(143);

    const into = path.join(root, 'runs');
    const refused = await mmrun(['merge', results, '--sweep', '--id', 'pt', '--into', into], into);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('SWEEP_INCOMPLETE');
    expect(refused.stderr).toContain('point 2 of 4 not in');
    expect(refused.stderr).toContain('point 1 (pt-p0001) is interrupted');
    expect(refused.stderr).toContain('--partial');
    expect(tree(into)).toEqual({});

    const r = await mmrun(['merge', results, '--sweep', '--id', 'pt', '--into', into, '--partial'], into);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('missing points 2; unfinished points 1');
    expect(r.stderr).toContain('mmrun resume pt');
    const view = json<SweepJson>(await mmrun(['show', 'pt', '--json'], into));
    expect(view.status).toBe('interrupted');
    expect(view.points.map((p) => p.status)).toEqual(['completed', 'interrupted', 'pending', 'completed']);
    expect(view.points[1]!.flushedRows).toBeGreaterThanOrEqual(2000);

    const resumed = await mmrun(['resume', 'pt', '--jobs', '1'], into);
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectPointsEqualReference(into, 'pt');
  }, 240_000);

  it('bad input: coded errors with a remedy, nothing created or overwritten', async () => {
    const root = tmp();
    const results = path.join(root, 'results');
    const slurm = (args: string[]) => mmrun(['slurm', COUNTER, ...args], root);
    const cases: [string[], number, string, string][] = [
      [['--sweep', '-n', '100', '--results', results], 1, 'BAD_GRID', 'empty grid'],
      [['--sweep', '--grid', 'nope=1,2', '--results', results], 1, 'BAD_GRID', 'not a param'],
      [['--sweep', '--grid', 'work=', '--results', results], 1, 'BAD_GRID', 'has no values'],
      [['--sweep', '--shards', '2', '--grid', 'work=0,1', '--results', results], 1, 'BAD_OPTION', '--shards'],
      [['--sweep', '--grid', 'work=0,1'], 1, 'BAD_OPTION', '--sweep needs --results'],
      [['--shards', '2', '--grid', 'work=0,1', '--results', results], 1, 'BAD_OPTION', '--grid need --sweep'],
      [['--sweep', '--grid', 'work=0,1', '--throttle', '0', '--results', results], 1, 'BAD_OPTION', '--throttle'],
      [['--sweep', '--grid', 'work=0,1', '--seeds', '0', '--results', results], 1, 'BAD_OPTION', '--seeds'],
      [['--results', results], 2, 'USAGE', '--shards N'],
    ];
    for (const [args, code, error, says] of cases) {
      const r = await slurm(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toContain(error);
      expect(r.stderr).toContain(says);
    }
    expect(fs.readdirSync(root)).toEqual([]);

    // An existing plan is never overwritten (same --results and --id).
    const script = await writeScript(root, 'bi');
    const snapshot = tree(results);
    const twice = await slurm(['--sweep', ...SPEC, '--results', results, '--id', 'bi']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('OUTPUT_EXISTS');
    expect(tree(results)).toEqual(snapshot);

    // `mmrun point`: an index outside the plan, or an array of another size.
    const plan = path.join(results, 'bi.sweep.json');
    const local = path.join(root, 'local');
    const outside = await mmrun(['point', plan, '--index', '4'], local);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain('BAD_OPTION');
    expect(outside.stderr).toContain('0 to 3');
    const wrongArray = await mmrun(['point', plan], local, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '5' });
    expect(wrongArray.code).toBe(1);
    expect(wrongArray.stderr).toContain('one of 5 tasks, but the sweep has 4');
    expect(fs.existsSync(local)).toBe(false);

    // Merge: no plan of that id; several directories.
    const into = path.join(root, 'runs');
    const noPlan = await mmrun(['merge', results, '--sweep', '--id', 'other', '--into', into], into);
    expect(noPlan.code).toBe(1);
    expect(noPlan.stderr).toContain('RUN_NOT_FOUND');
    const two = await mmrun(['merge', results, root, '--sweep', '--id', 'bi', '--into', into], into);
    expect(two.code).toBe(1);
    expect(two.stderr).toContain('BAD_OPTION');

    // A point copy that holds another run of the point's id; a corrupted byte.
    const env = { MMRUN_LOCAL_DIR: path.join(root, 'node') };
    for (const task of [0, 1, 2, 3]) expect((await runTask(script, task, env).exited).code).toBe(0);
    const p1 = path.join(results, 'points', '1');
    const saved = path.join(root, 'saved-1');
    fs.renameSync(p1, saved);
    const impostor = await mmrun(['run', COUNTER, '--id', 'bi-p0001', '--seed', '99', '-n', String(N), '-q'], p1);
    expect(impostor.code).toBe(0);
    const wrong = await mmrun(['merge', results, '--sweep', '--id', 'bi', '--into', into], into);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('SWEEP_MISMATCH');
    expect(wrong.stderr).toContain('seed is 99');
    fs.rmSync(p1, { recursive: true });
    fs.renameSync(saved, p1);
    const seg = path.join(results, 'points', '3', 'bi-p0003', '000000.npy');
    const bytes = fs.readFileSync(seg);
    bytes[bytes.length - 100]! ^= 0xff;
    fs.writeFileSync(seg, bytes);
    const corrupt = await mmrun(['merge', results, '--sweep', '--id', 'bi', '--into', into], into);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toContain('CHECKSUM_MISMATCH');
    expect(corrupt.stderr).toContain('point 3');
    expect(tree(into)).toEqual({});
  }, 120_000);

  it('a task refuses an experiment file changed since the sweep was planned', async () => {
    const root = tmp();
    const experiment = path.join(root, 'exp.ts');
    fs.copyFileSync(COUNTER, experiment);
    const results = path.join(root, 'results');
    const w = await mmrun(['slurm', experiment, '--sweep', ...SPEC, '--results', results, '--id', 'ch'], root);
    expect(w.code, w.stderr).toBe(0);
    fs.appendFileSync(experiment, '\nexport const changed = 1;\n');
    const local = path.join(root, 'local');
    const r = await mmrun(['point', path.join(results, 'ch.sweep.json'), '--index', '0'], local);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('EXPERIMENT_CHANGED');
    expect(peekRun(local, 'ch-p0000')).toBeUndefined();
  }, 120_000);
});
