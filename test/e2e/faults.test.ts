// Deterministic crashes at the dangerous points (MMRUN_FAULT), signals during the graceful
// stop, preemption checkpoints, ownership races, the heartbeat, checksums, I/O errors and a
// full disk — each with real processes and a byte comparison against an uninterrupted run.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/catalog/migrations.ts';
import { FIXTURES, json, mmrun, peekRun, segmentHashes, sleep, spawnMmrun, tempDirs, waitFor } from './cli.ts';

const fresh = tempDirs();

const ARGS = ['--iterations', '40_000', '--seed', '11', '--flush-every', '2000', '--segment-rows', '9000'];
const STATEFUL = path.join(FIXTURES, 'stateful.ts');
const refs = new Map<string, Record<string, string>>();

async function reference(fixture = STATEFUL, args = ARGS): Promise<Record<string, string>> {
  const key = fixture + args.join(' ');
  if (!refs.has(key)) {
    const dir = fresh();
    const r = await mmrun(['run', fixture, '--id', 'ref', ...args], dir);
    expect(r.code, r.stderr).toBe(0);
    refs.set(key, segmentHashes(dir, 'ref'));
  }
  return refs.get(key)!;
}

/** Resumes until completed (no faults armed), returning the number of resumes. */
async function resumeToEnd(dir: string, id: string): Promise<number> {
  for (let n = 1; n <= 5; n++) {
    const r = await mmrun(['resume', id], dir);
    if (r.code === 0) return n;
    expect(r.stderr).not.toContain('error');
  }
  throw new Error('did not complete');
}

describe('a crash at each dangerous point loses no flushed row', () => {
  const points = [
    ['before-msync', '3'],
    ['after-msync', '3'],
    ['after-commit', '3'],
    ['segment-create', '2'],
  ] as const;
  for (const [point, after] of points) {
    it(`SIGKILL ${point} (#${after}) → resume → byte-identical`, async () => {
      const want = await reference();
      const dir = fresh();
      const r = await mmrun(['run', STATEFUL, '--id', 'f', ...ARGS], dir, {
        MMRUN_FAULT: point,
        MMRUN_FAULT_AFTER: after,
      });
      expect(r.signal, r.stderr).toBe('SIGKILL');
      const flushed = peekRun(dir, 'f')!.flushedRows;
      // The catalog claims exactly what was committed before the crash.
      if (point === 'after-commit') expect(flushed).toBe(6000);
      else if (point === 'segment-create') expect(flushed).toBe(9000);
      else expect(flushed).toBe(4000);
      await resumeToEnd(dir, 'f');
      expect(segmentHashes(dir, 'f')).toEqual(want);
      expect(fs.readdirSync(path.join(dir, 'f')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    });
  }

  it('SIGKILL during the catalog migration leaves a usable catalog', async () => {
    const dir = fresh();
    const r = await mmrun(['run', STATEFUL, '--id', 'm', ...ARGS], dir, { MMRUN_FAULT: 'migration' });
    expect(r.signal).toBe('SIGKILL');
    const again = await mmrun(['run', STATEFUL, '--id', 'm', ...ARGS], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(segmentHashes(dir, 'm')).toEqual(await reference());
    const db = new Database(path.join(dir, 'mmrun.sqlite'), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
  });

  it('SIGKILL during the graceful stop (after msync, before commit) → resume → identical', async () => {
    const dir = fresh();
    const cli = spawnMmrun(['run', STATEFUL, '--id', 'g', ...ARGS, '--param', 'work=3000'], dir, {
      MMRUN_FAULT: 'graceful-stop',
    });
    await waitFor(() => (peekRun(dir, 'g')?.flushedRows ?? 0) >= 2000, 30_000, 'a flush');
    cli.child.kill('SIGTERM');
    expect((await cli.exited).signal).toBe('SIGKILL');
    await resumeToEnd(dir, 'g');
    expect(segmentHashes(dir, 'g')).toEqual(await reference());
  });
});

describe('signals', () => {
  it('a second SIGINT during the graceful stop exits at once; the run resumes identically', async () => {
    const dir = fresh();
    const cli = spawnMmrun(['run', STATEFUL, '--id', 's', ...ARGS, '--param', 'work=3000'], dir, {
      MMRUN_FAULT: 'graceful-stop:delay=5000',
    });
    await waitFor(() => (peekRun(dir, 's')?.flushedRows ?? 0) >= 2000, 30_000, 'a flush');
    cli.child.kill('SIGINT');
    await sleep(300);
    const t = Date.now();
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.code).toBe(130);
    expect(Date.now() - t).toBeLessThan(2000);
    expect(json(await mmrun(['show', 's', '--json'], dir)).status).toBe('crashed');
    await resumeToEnd(dir, 's');
    expect(segmentHashes(dir, 's')).toEqual(await reference());
  });

  it('a signal is handled promptly after a synchronous loop slows down by 1000x', async () => {
    const dir = fresh();
    const cli = spawnMmrun(['run', path.join(FIXTURES, 'slowdown.ts'), '--id', 'slow', '--flush-every', '250000'], dir);
    await waitFor(() => (peekRun(dir, 'slow')?.flushedRows ?? 0) >= 1_000_000, 60_000, 'the fast phase');
    await sleep(500);
    const t = Date.now();
    cli.child.kill('SIGTERM');
    const r = await cli.exited;
    expect(r.code, r.stderr).toBe(143);
    // The loop looks every 2 ms whatever the pace; the margin is for a shared machine.
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it('--checkpoint-signal SIGUSR1 flushes and keeps running', async () => {
    const dir = fresh();
    const cli = spawnMmrun(
      [
        'run',
        STATEFUL,
        '--id',
        'u',
        '-n',
        '1e6',
        '--param',
        'work=3000',
        '--flush-every',
        '1e9',
        '--flush-interval',
        '1e6',
        '--checkpoint-signal',
        'SIGUSR1',
      ],
      dir,
    );
    await cli.started;
    await sleep(300);
    expect(peekRun(dir, 'u')?.flushedRows).toBe(0);
    cli.child.kill('SIGUSR1');
    await waitFor(() => (peekRun(dir, 'u')?.flushedRows ?? 0) > 0, 10_000, 'the requested flush');
    expect(peekRun(dir, 'u')?.status).toBe('running');
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(143);
  });
});

describe('ownership', () => {
  it('two resumes started together: exactly one runs, the other is RUN_LOCKED naming pid and host', async () => {
    const dir = fresh();
    const first = spawnMmrun(
      ['run', STATEFUL, '--id', 'o', '-n', '200_000', '--param', 'work=3000', '--seed', '1'],
      dir,
    );
    await waitFor(() => (peekRun(dir, 'o')?.flushedRows ?? -1) >= 0, 30_000, 'the run');
    first.child.kill('SIGTERM');
    await first.exited;
    const a = spawnMmrun(['resume', 'o'], dir);
    const b = spawnMmrun(['resume', 'o'], dir);
    const loser = await Promise.race([
      a.exited.then((r) => ({ r, other: b })),
      b.exited.then((r) => ({ r, other: a })),
    ]);
    expect(loser.r.code).toBe(1);
    expect(loser.r.stderr).toContain('RUN_LOCKED');
    expect(loser.r.stderr).toContain(`pid ${loser.other.child.pid} on host `);
    loser.other.child.kill('SIGTERM');
    expect((await loser.other.exited).code).toBe(143);
  });

  it('a slow synchronous step keeps its heartbeat and is never taken for a crash', async () => {
    const dir = fresh();
    const cli = spawnMmrun(['run', path.join(FIXTURES, 'blocking.ts'), '--id', 'h', '--param', 'blockMs=5000'], dir, {
      MMRUN_HEARTBEAT_MS: '100',
    });
    await cli.started;
    await sleep(500);
    const beats = new Set<string>();
    const db = new Database(path.join(dir, 'mmrun.sqlite'), { readonly: true });
    for (let k = 0; k < 10; k++) {
      beats.add(String(db.prepare("SELECT heartbeat_at FROM runs WHERE id = 'h'").pluck().get()));
      await sleep(120);
    }
    db.close();
    expect(beats.size).toBeGreaterThanOrEqual(4);
    expect(json(await mmrun(['show', 'h', '--json'], dir)).status).toBe('running');
    expect((await cli.exited).code).toBe(0);
  });
});

describe('integrity', () => {
  it('an msync error stops the run (never retried); the flushed index does not move; resume completes', async () => {
    const dir = fresh();
    const r = await mmrun(['run', STATEFUL, '--id', 'e', ...ARGS], dir, {
      MMRUN_FAULT: 'msync-error',
      MMRUN_FAULT_AFTER: '3',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('IO_ERROR');
    expect(r.stderr).toContain('EIO');
    expect(peekRun(dir, 'e')).toMatchObject({ status: 'failed', flushedRows: 4000 });
    await resumeToEnd(dir, 'e');
    expect(segmentHashes(dir, 'e')).toEqual(await reference());
  });

  it('resume checks the last flushed range: a flipped byte is CHECKSUM_MISMATCH, nothing written', async () => {
    const dir = fresh();
    const fixture = path.join(FIXTURES, 'throws.ts');
    expect(
      (await mmrun(['run', fixture, '--id', 'c', '--segment-rows', '1000', '--flush-every', '100'], dir)).code,
    ).toBe(1);
    const seg = path.join(dir, 'c', '000000.npy');
    const bytes = fs.readFileSync(seg);
    const at = bytes.length - 1000 * 12 + 450 * 12 + 5; // inside row 450, in the last range [400, 500)
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    fs.writeFileSync(seg, bytes);
    const before = segmentHashes(dir, 'c');
    const r = await mmrun(['resume', 'c'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /CHECKSUM_MISMATCH: rows 400\.\.500 of run 'c' have CRC32C [0-9a-f]+ but the catalog recorded [0-9a-f]+/,
    );
    expect(segmentHashes(dir, 'c')).toEqual(before);
  });
});

describe('mmrun verify', () => {
  it('checks every flushed range and recomputes stored iterations (stateless and stateful)', async () => {
    const dir = fresh();
    const common = ['-n', '30_000', '--seed', '2', '--flush-every', '4000', '--segment-rows', '10000'];
    expect((await mmrun(['run', path.join(FIXTURES, 'counter.ts'), '--id', 'a', ...common], dir)).code).toBe(0);
    expect((await mmrun(['run', STATEFUL, '--id', 'b', ...common], dir)).code).toBe(0);
    const a = json<{
      ok: boolean;
      ranges: number;
      uncoveredRows: number;
      recomputed: { method: string; rows: number };
    }>(await mmrun(['verify', 'a', '--recompute', '40', '--json'], dir));
    expect(a).toMatchObject({
      ok: true,
      uncoveredRows: 0,
      recomputed: { method: 'stateless', rows: 40, mismatches: [] },
    });
    expect(a.ranges).toBe(9); // 4000-row flushes, cut at the 10000-row segment boundaries
    const b = json(await mmrun(['verify', 'b', '--recompute', '40', '--json'], dir));
    expect(b).toMatchObject({ ok: true, recomputed: { method: 'checkpoints', rows: 40, mismatches: [] } });

    const seg = path.join(dir, 'a', '000001.npy');
    const bytes = fs.readFileSync(seg);
    bytes[bytes.length - 7] = (bytes[bytes.length - 7] ?? 0) ^ 1;
    fs.writeFileSync(seg, bytes);
    const bad = await mmrun(['verify', 'a'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('CORRUPT');
    expect(bad.stderr).toMatch(/CHECKSUM_MISMATCH: rows 18000\.\.20000 have CRC32C/);
  });

  it('--recompute catches an experiment that no longer reproduces its rows', async () => {
    const dir = fresh();
    const fixture = path.join(dir, 'counter.ts');
    fs.copyFileSync(path.join(FIXTURES, 'counter.ts'), fixture);
    expect((await mmrun(['run', fixture, '--id', 'n', '-n', '5000', '--seed', '2'], dir)).code).toBe(0);
    fs.writeFileSync(
      fixture,
      fs.readFileSync(fixture, 'utf8').replace('const u = ctx.rng.random();', 'const u = ctx.rng.random() / 2;'),
    );
    const refused = await mmrun(['verify', 'n', '--recompute', '10'], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('EXPERIMENT_CHANGED');
    const r = await mmrun(['verify', 'n', '--recompute', '10', '--allow-changed'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('recomputed 10 iterations (stateless): 10 differ');
  });
});

describe('a full disk', () => {
  const canMount = process.getuid?.() === 0 && spawnSync('mount', ['--version']).status === 0;
  const ARGS = ['--iterations', '120_000', '--seed', '4', '--flush-every', '5000', '--segment-rows', '20000'];

  /**
   * Runs `body` with a 2 MiB tmpfs (the runs directory) and `grow()` to remount it at 64 MiB;
   * skips where it cannot mount (never in CI, which runs as root).
   */
  async function onSmallTmpfs(
    ctx: { skip: () => void },
    body: (mnt: string, grow: () => void) => Promise<void>,
  ): Promise<void> {
    if (!canMount) {
      if (process.env.CI) throw new Error('CI runs as root and must run the tmpfs test');
      ctx.skip();
      return;
    }
    const mnt = fresh();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    } catch (error) {
      if (process.env.CI) throw error;
      ctx.skip();
      return;
    }
    try {
      await body(mnt, () => execFileSync('mount', ['-o', 'remount,size=64m', mnt]));
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  }

  it('fails with DISK_FULL keeping every flushed row, and resumes to completion once space is freed', async (ctx) => {
    const want = await reference(path.join(FIXTURES, 'counter.ts'), ARGS);
    await onSmallTmpfs(ctx, async (mnt, grow) => {
      const r = await mmrun(['run', path.join(FIXTURES, 'counter.ts'), '--id', 'd', ...ARGS], mnt);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('DISK_FULL');
      expect(r.stderr).toContain('free disk space');
      const stuck = peekRun(mnt, 'd')!;
      expect(stuck.flushedRows).toBeGreaterThan(0);
      expect(stuck.flushedRows % 20000).toBe(0);
      grow();
      const resumed = await mmrun(['resume', 'd'], mnt);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(segmentHashes(mnt, 'd')).toEqual(want);
    });
  });

  it('with --workers 2 too: DISK_FULL, the run failed (not left running), identical after more space', async (ctx) => {
    const want = await reference(path.join(FIXTURES, 'counter.ts'), ARGS);
    await onSmallTmpfs(ctx, async (mnt, grow) => {
      const r = await mmrun(['run', path.join(FIXTURES, 'counter.ts'), '--id', 'w', '--workers', '2', ...ARGS], mnt);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('DISK_FULL');
      expect(peekRun(mnt, 'w')?.status).toBe('failed');
      grow();
      const resumed = await mmrun(['resume', 'w'], mnt);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(segmentHashes(mnt, 'w')).toEqual(want);
    });
  });
});
