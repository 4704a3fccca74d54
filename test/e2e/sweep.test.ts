// A real `mmrun sweep` process killed with SIGKILL at several moments (inside a point's
// loop, between points, inside the transaction that records the sweep) and resumed: every
// point's .npy bytes equal those of `mmrun run` of that point alone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getSweepView } from '../../src/sweep/view.ts';
import { FIXTURES, hashFiles, json, mmrun, peekRun, segmentHashes, spawnMmrun, tempDirs, waitFor } from './cli.ts';

const newDir = tempDirs('mmrun-sweep-');
const COUNTER = path.join(FIXTURES, 'counter.ts');
const N = 10_000;
// Four points: work ∈ {0, 2} × seeds 11, 12. $COUNTER_SPIN slows a process without changing its rows.
const SWEEP = ['sweep', COUNTER, '--grid', 'work=0,2', '--seeds', '2', '--seed', '11', '-n', String(N)];
const SLOW = { COUNTER_SPIN: '40000' };
const POINTS = [
  { work: 0, seed: 11 },
  { work: 0, seed: 12 },
  { work: 2, seed: 11 },
  { work: 2, seed: 12 },
];

interface PointJson {
  runId: string;
  params: Record<string, unknown>;
  seed: number;
  status: string;
  flushedRows: number;
}
interface SweepJson {
  id: string;
  experiment: string;
  status: string;
  points: PointJson[];
}

// The reference: each point computed alone by `mmrun run`, once for the whole file.
let references: Promise<Record<string, string>[]> | undefined;
function referenceHashes(): Promise<Record<string, string>[]> {
  references ??= (async () => {
    const dir = newDir();
    return Promise.all(
      POINTS.map(async (p, k) => {
        const r = await mmrun(
          [
            'run',
            COUNTER,
            '--seed',
            String(p.seed),
            '--param',
            `work=${p.work}`,
            '-n',
            String(N),
            '--id',
            `ref${k}`,
            '-q',
          ],
          dir,
        );
        expect(r.code, r.stderr).toBe(0);
        return segmentHashes(dir, `ref${k}`);
      }),
    );
  })();
  return references;
}

// The sweep as `show --json` prints it, read in this process (the CLI's own output is
// checked once, in the first test): a spawn costs a second on a busy machine.
async function show(dir: string, id: string): Promise<SweepJson> {
  return getSweepView(dir, id) as unknown as SweepJson;
}

async function expectAllEqualReference(dir: string, id: string): Promise<void> {
  const view = await show(dir, id);
  expect(view.status).toBe('completed');
  expect(view.points.map((p) => ({ ...p.params, seed: p.seed }))).toEqual(POINTS);
  const refs = await referenceHashes();
  for (const [k, p] of view.points.entries()) {
    expect(p.status).toBe('completed');
    expect(p.flushedRows).toBe(N);
    expect(segmentHashes(dir, p.runId), p.runId).toEqual(refs[k]);
  }
}

const mtimes = (dir: string, runId: string) =>
  Object.fromEntries(
    fs
      .readdirSync(path.join(dir, runId))
      .filter((f) => f.endsWith('.npy'))
      .map((f) => [f, fs.statSync(path.join(dir, runId, f)).mtimeMs]),
  );

describe('mmrun sweep', () => {
  it('runs every point as `mmrun run` would, and list/show describe it', async () => {
    const dir = newDir();
    const cli = spawnMmrun([...SWEEP, '--id', 'plain', '--jobs', '2'], dir);
    const r = await cli.exited;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('plain');
    await expectAllEqualReference(dir, 'plain');
    // Every point ran inside the sweep's own process.
    for (const k of [0, 1, 2, 3]) {
      const first = fs.readFileSync(path.join(dir, `plain-p000${k}`, 'run.log'), 'utf8').split('\n')[0]!;
      expect((JSON.parse(first) as { pid: number }).pid).toBe(cli.child.pid);
    }
    expect(fs.readdirSync(dir).sort()).toEqual([
      'mmrun.sqlite',
      'plain-p0000',
      'plain-p0001',
      'plain-p0002',
      'plain-p0003',
    ]);

    const shown = await mmrun(['show', 'plain', '--json'], dir);
    expect(shown.code, shown.stderr).toBe(0);
    expect(json(shown)).toEqual(JSON.parse(JSON.stringify(await show(dir, 'plain'))));
    const list = json<{ id: string; kind?: string; points?: unknown[] }[]>(await mmrun(['list', '--json'], dir));
    expect(list.map((x) => x.id)).toEqual(['plain']);
    expect(list[0]!.kind).toBe('sweep');
    const all = json<{ id: string }[]>(await mmrun(['list', '--json', '--all'], dir));
    expect(all.map((x) => x.id).sort()).toEqual(['plain', 'plain-p0000', 'plain-p0001', 'plain-p0002', 'plain-p0003']);
    // stats: each point's figures are those of `mmrun stats <point>`; replicates pooled.
    const stats = json<{
      column: string;
      points: { runId: string; mean: number; std: number; count: number; params: { work: number } }[];
      sets: { params: { work: number }; replicates: number; mean: number; stderr: number }[];
    }>(await mmrun(['stats', 'plain', '--column', 'n', '--json'], dir));
    expect(stats.column).toBe('n');
    const alone = json<{ columns: { n: { mean: number; std: number } } }>(
      await mmrun(['stats', 'plain-p0002', '--columns', 'n', '--json'], dir),
    );
    const { mean: m, std, count: c } = alone.columns.n as unknown as { mean: number; std: number; count: number };
    expect(stats.points[2]).toMatchObject({ runId: 'plain-p0002', count: c, mean: m, std });
    expect(c).toBe(N);
    const means = stats.points.slice(2).map((p) => p.mean);
    const mean = (means[0]! + means[1]!) / 2;
    expect(stats.sets[1]).toMatchObject({ params: { work: 2 }, replicates: 2 });
    expect(stats.sets[1]!.mean).toBeCloseTo(mean, 14);
    expect(stats.sets[1]!.stderr).toBeCloseTo(Math.abs(means[0]! - means[1]!) / 2, 14);
    const csv = await mmrun(['export', 'plain', '--format', 'csv', '--column', 'n', '--out', '-'], dir);
    expect(csv.code, csv.stderr).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toBe('run_id,work,seed,status,column,count,mean,std,min,max,p01,p05,p25,p50,p75,p95,p99');
    expect(lines).toHaveLength(5);
    expect(lines[3]!.split(',').slice(0, 7)).toEqual([
      'plain-p0002',
      '2',
      '11',
      'completed',
      'n',
      String(N),
      String(stats.points[2]!.mean),
    ]);

    const text = await mmrun(['list'], dir);
    expect(text.stdout).toContain('sweep: 4/4 points');
    expect(text.stdout).not.toContain('plain-p0000');
  });

  it('resumes after kill -9 inside a point loop, twice; completed points are untouched', async () => {
    const dir = newDir();
    const first = spawnMmrun([...SWEEP, '--id', 'k', '--jobs', '1', '--flush-every', '500'], dir, SLOW);
    // Inside the second point's loop: the first is completed, the second has flushed some rows.
    await waitFor(
      () => {
        const p = peekRun(dir, 'k-p0001');
        return p && p.flushedRows > 0 && p.flushedRows < N;
      },
      60_000,
      'point 1 half-way',
    );
    // One point done in this session, three to go: an ETA at that pace.
    const running = getSweepView(dir, 'k');
    expect(running.status).toBe('running');
    expect(running.etaSeconds).not.toBeNull();
    expect(running.etaSeconds).toBeGreaterThanOrEqual(0);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const crashed = await show(dir, 'k');
    expect(crashed.status).toBe('crashed');
    expect(getSweepView(dir, 'k').etaSeconds).toBeNull();
    expect(crashed.points.map((p) => p.status)).toEqual(['completed', 'crashed', 'pending', 'pending']);
    const before = mtimes(dir, 'k-p0000');

    // Resumed slowly, and killed again inside a point.
    const second = spawnMmrun(['resume', 'k', '--jobs', '2'], dir, SLOW);
    await waitFor(
      () => {
        const p = peekRun(dir, 'k-p0002');
        return p && p.status === 'running' && p.flushedRows > 0 && p.flushedRows < N;
      },
      60_000,
      'point 2 half-way',
    );
    second.child.kill('SIGKILL');
    await second.exited;

    const third = await mmrun(['resume', 'k'], dir);
    expect(third.code, third.stderr).toBe(0);
    await expectAllEqualReference(dir, 'k');
    expect(mtimes(dir, 'k-p0000')).toEqual(before);
    expect(fs.readFileSync(path.join(dir, 'k-p0000', 'run.log'), 'utf8')).not.toContain('resumed');
  });

  it('resumes after kill -9 between points', async () => {
    const dir = newDir();
    const r = await mmrun([...SWEEP, '--id', 'b', '--jobs', '1'], dir, {
      MMRUN_FAULT: 'sweep-between-points',
      MMRUN_FAULT_AFTER: '2',
    });
    expect(r.signal).toBe('SIGKILL');
    const crashed = await show(dir, 'b');
    expect(crashed.status).toBe('crashed');
    expect(crashed.points.map((p) => p.status)).toEqual(['completed', 'completed', 'pending', 'pending']);
    const resumed = await mmrun(['resume', 'b'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectAllEqualReference(dir, 'b');
  });

  it('kill -9 while the sweep is recorded leaves nothing; the same command then runs it', async () => {
    const dir = newDir();
    const r = await mmrun([...SWEEP, '--id', 'rec'], dir, { MMRUN_FAULT: 'sweep-record' });
    expect(r.signal).toBe('SIGKILL');
    const gone = await mmrun(['show', 'rec', '--json'], dir); // the CLI: its error
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('RUN_NOT_FOUND');
    expect(fs.readdirSync(dir).filter((f) => !f.startsWith('mmrun.sqlite'))).toEqual([]);
    const again = await mmrun([...SWEEP, '--id', 'rec'], dir);
    expect(again.code, again.stderr).toBe(0);
    await expectAllEqualReference(dir, 'rec');
  });

  it('refuses a second resume of a live sweep; SIGTERM interrupts it; resume completes it', async () => {
    const dir = newDir();
    const live = spawnMmrun([...SWEEP, '--id', 'live', '--jobs', '1', '--flush-every', '500'], dir, SLOW);
    await waitFor(() => (peekRun(dir, 'live-p0000')?.flushedRows ?? 0) > 0, 60_000, 'the sweep computing');
    const refused = await mmrun(['resume', 'live'], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('RUN_LOCKED');
    expect(refused.stderr).toContain(`pid ${live.child.pid}`);
    live.child.kill('SIGTERM');
    const stopped = await live.exited;
    expect(stopped.code).toBe(143);
    expect(stopped.stderr).toContain('interrupted sweep live');
    const view = await show(dir, 'live');
    expect(view.status).toBe('interrupted');
    expect(view.points[0]!.status).toBe('interrupted');
    // A cluster's preemption signal stops a resumed sweep the same way (exit 128 + 10).
    const flushed = peekRun(dir, 'live-p0000')!.flushedRows;
    const preempted = spawnMmrun(['resume', 'live', '--preempt-signal', 'SIGUSR1', '--jobs', '1'], dir, SLOW);
    await waitFor(() => (peekRun(dir, 'live-p0000')?.flushedRows ?? 0) > flushed, 60_000, 'the resumed sweep flushing');
    preempted.child.kill('SIGUSR1');
    expect((await preempted.exited).code).toBe(138);
    expect((await show(dir, 'live')).status).toBe('interrupted');
    const resumed = await mmrun(['resume', 'live'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectAllEqualReference(dir, 'live');
  });

  it.each(['1', '2'])(
    'a point that throws leaves the others going; the sweep is failed and resumable (--jobs %s)',
    async (jobs) => {
      const dir = newDir();
      const exp = path.join(FIXTURES, 'sweep-throws.ts');
      const args = ['sweep', exp, '--grid', 'at=50,-1,70', '--seed', '3', '-n', '200', '--id', 'f', '--jobs', jobs];
      const r = await mmrun(args, dir, { SWEEP_THROW: '1' });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('STEP_FAILED');
      expect(r.stderr).toContain('boom at 50');
      const failed = await show(dir, 'f');
      expect(failed.status).toBe('failed');
      expect(failed.points.map((p) => p.status)).toEqual(['failed', 'completed', 'failed']);
      expect(failed.points.map((p) => p.flushedRows)).toEqual([50, 200, 70]);
      const done = hashFiles(path.join(dir, 'f-p0001'));

      const resumed = await mmrun(['resume', 'f'], dir);
      expect(resumed.code, resumed.stderr).toBe(0);
      const view = await show(dir, 'f');
      expect(view.status).toBe('completed');
      expect(hashFiles(path.join(dir, 'f-p0001'))).toEqual(done);
      const ref = newDir();
      const alone = await mmrun(['run', exp, '--seed', '3', '--param', 'at=50', '-n', '200', '--id', 'r', '-q'], ref);
      expect(alone.code, alone.stderr).toBe(0);
      expect(segmentHashes(dir, 'f-p0000')).toEqual(segmentHashes(ref, 'r'));
    },
  );

  it('--extend adds grid values and seeds without recomputing existing points', async () => {
    const dir = newDir();
    const base = ['sweep', COUNTER, '--seed', '11', '-n', String(N), '--id', 'x', '--jobs', '1'];
    const first = await mmrun([...base, '--grid', 'work=0'], dir);
    expect(first.code, first.stderr).toBe(0);
    const before = mtimes(dir, 'x-p0000');
    // Kept from the sweep: its seed, iterations and params; refused when given again.
    const conflict = await mmrun(['sweep', COUNTER, '--extend', '--id', 'x', '--grid', 'work=2', '-n', '5'], dir);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('BAD_OPTION');
    const wrongKey = await mmrun(['sweep', COUNTER, '--extend', '--id', 'x', '--grid', 'nope=1'], dir);
    expect(wrongKey.stderr).toContain('BAD_GRID');

    const more = await mmrun(['sweep', COUNTER, '--extend', '--id', 'x', '--grid', 'work=0,2', '--seeds', '2'], dir);
    expect(more.code, more.stderr).toBe(0);
    expect(more.stderr).toContain('(1 completed before)');
    await expectAllEqualReference(dir, 'x');
    expect(mtimes(dir, 'x-p0000')).toEqual(before);
    const view = await show(dir, 'x');
    expect(view.points.map((p) => p.runId)).toEqual(['x-p0000', 'x-p0001', 'x-p0002', 'x-p0003']);
    const none = await mmrun(['sweep', COUNTER, '--extend', '--id', 'x', '--seeds', '2'], dir);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('adds no point');
  });

  it('refuses to resume or extend a sweep whose experiment changed', async () => {
    const dir = newDir();
    const exp = path.join(newDir(), 'changing.ts');
    fs.copyFileSync(path.join(FIXTURES, 'sweep-throws.ts'), exp);
    const args = ['sweep', exp, '--grid', 'at=50,-1', '--seed', '3', '-n', '200', '--id', 'c', '--jobs', '1'];
    expect((await mmrun(args, dir, { SWEEP_THROW: '1' })).code).toBe(1);
    fs.appendFileSync(exp, '// changed\n');
    const resumed = await mmrun(['resume', 'c'], dir);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain('EXPERIMENT_CHANGED');
    const extended = await mmrun(['sweep', exp, '--extend', '--id', 'c', '--seeds', '2'], dir);
    expect(extended.code).toBe(1);
    expect(extended.stderr).toContain('EXPERIMENT_CHANGED');
    expect((await show(dir, 'c')).points.map((p) => p.status)).toEqual(['failed', 'completed']);
    const allowed = await mmrun(['resume', 'c', '--allow-changed'], dir);
    expect(allowed.code, allowed.stderr).toBe(0);
  });

  it('refuses bad input with a coded error and creates nothing', async () => {
    const parent = newDir();
    const dir = path.join(parent, 'runs');
    const cases: [string[], string][] = [
      [['sweep', COUNTER], 'BAD_GRID'],
      [['sweep', COUNTER, '--grid', 'speed=1,2'], 'BAD_GRID'],
      [['sweep', COUNTER, '--grid', 'work=1,fast'], 'BAD_PARAM'],
      [['sweep', COUNTER, '--grid', 'work=0:1:0'], 'BAD_GRID'],
      [['sweep', COUNTER, '--grid', 'work=0:1:1001', '--seeds', '1000'], 'SWEEP_TOO_LARGE'],
    ];
    const results = await Promise.all(cases.map(([args]) => mmrun(args, dir)));
    for (const [k, r] of results.entries()) {
      expect(r.code, cases[k]![0].join(' ')).toBe(1);
      expect(r.stderr).toContain(cases[k]![1]);
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    }
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('--jobs 2 computes two points at once, each in its own worker thread', async () => {
    const dir = newDir();
    const probe = newDir();
    const r = await mmrun(
      ['sweep', path.join(FIXTURES, 'thread-probe.ts'), '--grid', 'point=1,2', '--id', 'par', '--jobs', '2', '-q'],
      dir,
      { MMRUN_THREAD_PROBE: probe },
    );
    expect(r.code, r.stderr).toBe(0);
    // Both points announced themselves from two different threads, neither the main one (0)...
    const threads = fs.readdirSync(probe).map((f) => Number(f.split('-thread-')[1]));
    expect(threads).toHaveLength(2);
    expect(new Set(threads).size).toBe(2);
    expect(threads).not.toContain(0);
    // ...and each saw the other before its first row: they ran at the same time.
    const view = await show(dir, 'par');
    for (const p of view.points) {
      const row = (await mmrun(['export', p.runId, '--format', 'jsonl', '--rows', '0:1', '--out', '-'], dir)).stdout;
      expect(JSON.parse(row.trim().split('\n')[0]!).peers, p.runId).toBe(2);
    }
  });
});
