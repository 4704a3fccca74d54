// The core promise, with real processes: kill a run any way you like, resume it, and the
// segments are byte-identical to a run that never stopped.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, json, mmrun, peekRun, segmentHashes, sleep, spawnMmrun, tempDirs, waitFor } from './cli.ts';

const runsDir = tempDirs();

// ~1 s of compute per uninterrupted run, four segments, many flushes.
const SCENARIOS = [
  { name: 'stateless', fixture: 'counter.ts', args: ['--iterations', '120_000', '--param', 'work=2500'] },
  { name: 'stateful', fixture: 'stateful.ts', args: ['--iterations', '120_000', '--param', 'work=2500'] },
];
const COMMON = ['--seed', '20261126', '--flush-every', '3000', '--segment-rows', '35000'];

async function reference(fixture: string, args: string[], common = COMMON): Promise<Record<string, string>> {
  const dir = runsDir();
  const r = await mmrun(['run', path.join(FIXTURES, fixture), '--id', 'ref', ...args, ...common], dir);
  expect(r.code, r.stderr).toBe(0);
  return segmentHashes(dir, 'ref');
}

describe('end to end', () => {
  it('runs to completion: exit 0, the run id on stdout, a summary on stderr, every row on disk', async () => {
    const dir = runsDir();
    const r = await mmrun(
      ['run', path.join(FIXTURES, 'counter.ts'), '--iterations', '1e4', '--seed', '1', '--segment-rows', '3_000'],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^counter-\d{8}-\d{6}-[0-9a-f]{4}$/);
    expect(r.stderr).toContain(`completed ${id}`);
    expect(r.stderr).toContain('rows/s');
    const show = json(await mmrun(['show', id, '--json'], dir));
    expect(show).toMatchObject({
      id,
      experiment: 'counter',
      status: 'completed',
      iterations: 10_000,
      flushedRows: 10_000,
      seed: 1,
    });
    expect(show.params).toEqual({ work: 0 });
    for (const key of ['createdAt', 'updatedAt']) expect(typeof show[key]).toBe('string');
    expect(show.segments).toEqual(['000000.npy', '000001.npy', '000002.npy', '000003.npy']);
    const list = json<Record<string, unknown>[]>(await mmrun(['list', '--json'], dir));
    expect(list.map((x) => [x.id, x.status])).toEqual([[id, 'completed']]);
    expect(fs.readFileSync(path.join(dir, id, 'run.log'), 'utf8')).toContain('"event":"completed"');
  });

  for (const sc of SCENARIOS) {
    it(`${sc.name}: SIGKILL at random moments, resume until complete → byte-identical segments`, async () => {
      const want = await reference(sc.fixture, sc.args);
      expect(Object.keys(want)).toHaveLength(4);
      const dir = runsDir();
      const delays: number[] = [];
      let cli = spawnMmrun(['run', path.join(FIXTURES, sc.fixture), '--id', 'k', ...sc.args, ...COMMON], dir);
      let kills = 0;
      let sawCrashed = false;
      for (;;) {
        await cli.started;
        const delay = 50 + Math.floor(Math.random() * 450);
        delays.push(delay);
        const done = await Promise.race([cli.exited.then(() => true), sleep(delay).then(() => false)]);
        if (!done && kills < 4) {
          cli.child.kill('SIGKILL');
          const r = await cli.exited;
          // The kill may come just after the run completed and the process exited (code 0) …
          if (r.code === 0 && peekRun(dir, 'k')?.status === 'completed') break;
          expect(r.signal, `exit code ${r.code}`).toBe('SIGKILL');
          kills++;
          // … or land while the process was exiting.
          if (peekRun(dir, 'k')?.status === 'completed') break;
          if (!sawCrashed) {
            // A killed run is detected as crashed by list and show.
            const list = json<{ id: string; status: string }[]>(await mmrun(['list', '--json'], dir));
            expect(list.find((x) => x.id === 'k')?.status).toBe('crashed');
            expect(json(await mmrun(['show', 'k', '--json'], dir)).status).toBe('crashed');
            sawCrashed = true;
          }
        } else {
          const r = await cli.exited;
          expect(r.code, `${r.stderr}\ndelays: ${delays}`).toBe(0);
          if (peekRun(dir, 'k')?.status === 'completed') break;
        }
        cli = spawnMmrun(['resume', 'k'], dir);
      }
      expect(kills, `delays ${delays}`).toBeGreaterThanOrEqual(2);
      expect(segmentHashes(dir, 'k')).toEqual(want);
    });
  }

  it('SIGTERM: flush, interrupted, exit 143; resume recomputes nothing before the flushed index', async () => {
    const want = await reference('stateful.ts', SCENARIOS[1]!.args);
    const dir = runsDir();
    const cli = spawnMmrun(
      ['run', path.join(FIXTURES, 'stateful.ts'), '--id', 't', ...SCENARIOS[1]!.args, ...COMMON],
      dir,
    );
    await waitFor(() => (peekRun(dir, 't')?.flushedRows ?? 0) >= 6000, 30_000, 'a few flushes');
    cli.child.kill('SIGTERM');
    const r = await cli.exited;
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toContain('interrupted t by SIGTERM');
    expect(r.stderr).toContain('mmrun resume t');
    const show = json<{ status: string; flushedRows: number; events: { type: string; data: unknown }[] }>(
      await mmrun(['show', 't', '--json'], dir),
    );
    expect(show.status).toBe('interrupted');
    expect(show.flushedRows).toBeGreaterThanOrEqual(6000);
    expect(show.flushedRows).toBeLessThan(120_000);
    expect(show.events.at(-1)).toMatchObject({ type: 'signal', data: { signal: 'SIGTERM' } });

    const trace = path.join(dir, 'trace.txt');
    const resumed = await mmrun(['resume', 't'], dir, { MMRUN_TRACE: trace });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(fs.readFileSync(trace, 'utf8').trim()).toBe(String(show.flushedRows));
    expect(segmentHashes(dir, 't')).toEqual(want);
  });

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const) {
    it(`${signal}: interrupted with exit ${code}`, async () => {
      const dir = runsDir();
      const cli = spawnMmrun(
        ['run', path.join(FIXTURES, 'counter.ts'), '--id', 's', ...SCENARIOS[0]!.args, ...COMMON],
        dir,
      );
      await waitFor(() => (peekRun(dir, 's')?.flushedRows ?? 0) >= 3000, 30_000, 'a flush');
      cli.child.kill(signal);
      const r = await cli.exited;
      expect(r.code, r.stderr).toBe(code);
      expect(peekRun(dir, 's')?.status).toBe('interrupted');
    });
  }

  it('a second resume of a live run is refused with RUN_LOCKED naming the owner', async () => {
    const dir = runsDir();
    const first = spawnMmrun(
      [
        'run',
        path.join(FIXTURES, 'stateful.ts'),
        '--id',
        'l',
        '--iterations',
        '1e6',
        '--param',
        'work=3000',
        ...COMMON,
      ],
      dir,
    );
    await waitFor(
      () => peekRun(dir, 'l')?.status === 'running' && (peekRun(dir, 'l')?.flushedRows ?? 0) > 0,
      30_000,
      'running',
    );
    const second = await mmrun(['resume', 'l'], dir);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('RUN_LOCKED');
    expect(second.stderr).toContain(`pid ${first.child.pid}`);
    // The refused process changed nothing: the first still owns the run and stops cleanly.
    expect(peekRun(dir, 'l')).toMatchObject({ status: 'running', ownerPid: first.child.pid });
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(143);
    expect(peekRun(dir, 'l')?.status).toBe('interrupted');
  });

  it('async steps run and resume identically', async () => {
    const args = ['--iterations', '20000', '--seed', '5', '--flush-every', '100', '--segment-rows', '7000'];
    const want = await reference('async.ts', args, []);
    const dir = runsDir();
    const cli = spawnMmrun(['run', path.join(FIXTURES, 'async.ts'), '--id', 'a', ...args], dir);
    await waitFor(() => (peekRun(dir, 'a')?.flushedRows ?? 0) >= 300, 30_000, 'a flush');
    cli.child.kill('SIGKILL');
    await cli.exited;
    const r = await mmrun(['resume', 'a'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(segmentHashes(dir, 'a')).toEqual(want);
  });
});
