// The everyday commands: progress, list and show at a glance, new, rm, gc, help, completion.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, FIXTURES, json, mmrun, peekRun, spawnMmrun, tempDirs, waitFor } from './cli.ts';

const fresh = tempDirs();

const COUNTER = path.join(FIXTURES, 'counter.ts');

describe('progress', () => {
  it('on a terminal: a live line with percent, rows/s, ETA, flushed index and what is at risk', () => {
    const dir = fresh();
    const cmd = `${process.execPath} ${BIN} run ${COUNTER} -n 400_000 --param work=1500 --runs-dir ${dir} --id p`;
    const r = spawnSync('script', ['-q', '-e', '-c', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\r').map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''));
    const progress = lines.find((l) => /^p\s+\d+\.\d%/.test(l));
    expect(progress, r.stdout.slice(0, 2000)).toBeDefined();
    expect(progress).toMatch(/rows\/s {2}ETA .+ {2}flushed [\d,]+ .+ ago {2}at risk [\d,]+ rows/);
  });

  it('on a terminal, a sweep: its line and one per running point, redrawn in place as a block', () => {
    const dir = fresh();
    const cmd = `${process.execPath} ${BIN} sweep ${COUNTER} --grid work=1500,1501 -n 300_000 --seed 7 --jobs 2 --runs-dir ${dir} --id sp`;
    const r = spawnSync('script', ['-q', '-e', '-c', cmd, '/dev/null'], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    // Each redraw goes back to the block's first line (\r, cursor up) and erases down.
    expect(r.stdout).toContain('\r\x1b[2A\x1b[J');
    const blocks = r.stdout
      .split(/\r\x1b\[\d+A\x1b\[J/)
      .map((b) => b.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').split(/\r?\n/))
      .filter((lines) => /^sp {2}\d\/2 points {2}[\d,]+ rows\/s {2}ETA /.test(lines[0] ?? ''));
    const full = blocks.find((lines) => lines.length === 3);
    expect(full, r.stdout.slice(0, 3000)).toBeDefined();
    expect(full![1]).toMatch(/^ {2}p0000 {2}work=1500 {2}seed 7 +\d+\.\d% {2}[\d,]+ rows\/s$/);
    expect(full![2]).toMatch(/^ {2}p0001 {2}work=1501 {2}seed 7 +\d+\.\d% {2}[\d,]+ rows\/s$/);
  }, 120_000);

  it('off a terminal, a sweep: pino JSON lines naming the sweep, its counts and running points', async () => {
    const dir = fresh();
    const r = await mmrun(
      ['sweep', COUNTER, '--grid', 'work=1500,1501', '-n', '200_000', '--jobs', '1', '--id', 'sl'],
      dir,
      {
        MMRUN_PROGRESS_LOG_MS: '100',
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const events = r.stderr
      .split('\n')
      .filter((l) => l.includes('"event":"progress"'))
      .map((l) => JSON.parse(l));
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events[0]).toMatchObject({ event: 'progress', sweep: 'sl', points: 2, msg: 'progress' });
    expect(events.some((e) => e.running.includes('sl-p0000'))).toBe(true);
    expect(r.stderr).not.toContain('\x1b[');
  }, 60_000);

  it('off a terminal: pino JSON progress lines on stderr; --quiet silences them and the summary', async () => {
    const dir = fresh();
    const args = ['run', COUNTER, '-n', '200_000', '--param', 'work=1500'];
    const r = await mmrun([...args, '--id', 'a'], dir, { MMRUN_PROGRESS_LOG_MS: '100' });
    expect(r.code).toBe(0);
    const events = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.length).toBeGreaterThan(0);
    expect(events[0]).toMatchObject({ event: 'progress', run: 'a', iterations: 200_000 });
    expect(typeof events[0]?.rowsPerSecond).toBe('number');
    const quiet = await mmrun([...args, '--id', 'b', '--quiet'], dir, { MMRUN_PROGRESS_LOG_MS: '100' });
    expect(quiet.code).toBe(0);
    expect(quiet.stdout.trim()).toBe('b');
    expect(quiet.stderr).toBe('');
  });
});

describe('list and show', () => {
  it('list filters by status and experiment, shows rate and age, and hints at resuming a crashed run', async () => {
    const dir = fresh();
    expect((await mmrun(['run', COUNTER, '--id', 'done', '-n', '20_000', '--flush-every', '5000'], dir)).code).toBe(0);
    const cli = spawnMmrun(
      ['run', path.join(FIXTURES, 'stateful.ts'), '--id', 'dead', '-n', '1e6', '--param', 'work=3000'],
      dir,
    );
    await waitFor(() => (peekRun(dir, 'dead')?.flushedRows ?? -1) >= 0, 30_000, 'the run');
    cli.child.kill('SIGKILL');
    await cli.exited;
    const all = await mmrun(['list'], dir);
    expect(all.stdout).toMatch(/^ID\s+EXPERIMENT\s+STATUS\s+PROGRESS\s+ROWS\/S\s+UPDATED/);
    expect(all.stdout).toMatch(/done\s+counter\s+completed\s+100\.0% of 20,000\s+[\d,]+\s+\d+ s ago/);
    expect(all.stdout).toContain('hint: dead is crashed: mmrun resume dead');
    const crashed = json<{ id: string }[]>(await mmrun(['list', '--json', '--status', 'crashed'], dir));
    expect(crashed.map((r) => r.id)).toEqual(['dead']);
    const counter = json<{ id: string; rowsPerSecond: number; worstCaseLoss: { rows: number } }[]>(
      await mmrun(['list', '--json', '--experiment', 'counter'], dir),
    );
    expect(counter.map((r) => r.id)).toEqual(['done']);
    expect(counter[0]?.rowsPerSecond).toBeGreaterThan(0);
    const show = await mmrun(['show', 'done'], dir);
    for (const label of ['flush:', 'at risk:', 'rate:', 'params:', 'seed:', 'source:      sha256', 'events:']) {
      expect(show.stdout).toContain(label);
    }
  });
});

describe('new, rm and gc', () => {
  it('new writes a template that runs as written, and never overwrites', async () => {
    const dir = fresh();
    const exp = path.join(dir, 'experiments');
    const made = await mmrun(['new', 'diffusion', '--dir', exp], dir);
    expect(made.code, made.stderr).toBe(0);
    const file = path.join(exp, 'diffusion.ts');
    expect(fs.readFileSync(file, 'utf8')).toContain('columns:');
    const r = await mmrun(['run', file, '-n', '5000', '--id', 'd'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(peekRun(dir, 'd')).toMatchObject({ status: 'completed', flushedRows: 5000 });
    const before = fs.readFileSync(file);
    const again = await mmrun(['new', 'diffusion', '--dir', exp], dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it('rm asks (and without a terminal needs --yes), refuses a live run, removes files and history', async () => {
    const dir = fresh();
    expect((await mmrun(['run', COUNTER, '--id', 'x', '-n', '1000'], dir)).code).toBe(0);
    const ask = await mmrun(['rm', 'x'], dir);
    expect(ask.code).toBe(2);
    expect(ask.stderr).toContain('pass --yes');
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(true);
    const live = spawnMmrun(
      ['run', path.join(FIXTURES, 'stateful.ts'), '--id', 'live', '-n', '1e6', '--param', 'work=3000'],
      dir,
    );
    await waitFor(() => peekRun(dir, 'live')?.status === 'running', 30_000, 'running');
    const refused = await mmrun(['rm', 'live', '--yes'], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('RUN_LOCKED');
    live.child.kill('SIGTERM');
    await live.exited;
    const ok = await mmrun(['rm', 'x', '--yes'], dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
    expect(json<{ id: string }[]>(await mmrun(['list', '--json'], dir)).map((r) => r.id)).toEqual(['live']);
  });

  it('rm <sweep-id> asks, refuses a live sweep, removes the sweep, its points and their runs; gc keeps sweeps whole', async () => {
    const dir = fresh();
    const sweep = ['sweep', COUNTER, '--jobs', '1', '--quiet'];
    expect((await mmrun([...sweep, '-n', '1000', '--grid', 'work=0,1', '--id', 'sw'], dir)).code).toBe(0);
    expect((await mmrun(['run', COUNTER, '--id', 'solo', '-n', '1000'], dir)).code).toBe(0);
    const ids = async () => json<{ id: string }[]>(await mmrun(['list', '--all', '--json'], dir)).map((r) => r.id);
    expect((await ids()).sort()).toEqual(['solo', 'sw', 'sw-p0000', 'sw-p0001']);

    // gc never takes a point of a sweep: that would leave half of it.
    const dry = await mmrun(['gc', '--status', 'completed', '--dry-run'], dir);
    expect(dry.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^would remove solo /)]);

    const ask = await mmrun(['rm', 'sw'], dir);
    expect(ask.code).toBe(2);
    expect(ask.stderr).toContain("remove sweep 'sw' (completed, 2/2 points completed, 2,000 rows)");
    expect(ask.stderr).toContain('pass --yes');
    expect(fs.existsSync(path.join(dir, 'sw-p0000'))).toBe(true);

    const live = spawnMmrun([...sweep, '--grid', 'work=3000,3001', '-n', '1e6', '--id', 'lv'], dir);
    await waitFor(() => peekRun(dir, 'lv-p0000')?.status === 'running', 30_000, 'a running point');
    const refused = await mmrun(['rm', 'lv', '--yes'], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('RUN_LOCKED');
    expect(refused.stderr).toMatch(/sweep 'lv' is being run by pid \d+/);
    expect(fs.existsSync(path.join(dir, 'lv-p0000'))).toBe(true);
    live.child.kill('SIGTERM');
    await live.exited;

    const ok = await mmrun(['rm', 'sw', '--yes'], dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('removed sweep sw and its 2 point runs');
    expect(fs.existsSync(path.join(dir, 'sw-p0000'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'sw-p0001'))).toBe(false);
    expect((await ids()).sort()).toEqual(['lv', 'lv-p0000', 'solo']); // lv-p0001 never started
    expect((await mmrun(['show', 'sw'], dir)).stderr).toContain('RUN_NOT_FOUND');

    // Killed between the catalog's commit and the directories: the catalog names nothing gone.
    const crashed = await mmrun(['rm', 'lv', '--yes'], dir, { MMRUN_FAULT: 'rm-sweep-dirs' });
    expect(crashed.code).not.toBe(0);
    expect(await ids()).toEqual(['solo']);
    expect(fs.existsSync(path.join(dir, 'lv-p0000'))).toBe(true);
    expect((await mmrun(['rm', 'lv', '--yes'], dir)).stderr).toContain('RUN_NOT_FOUND');
    expect(fs.existsSync(path.join(dir, 'solo'))).toBe(true);
  }, 90_000);

  it('gc shows what it would do with --dry-run and removes only what matches', async () => {
    const dir = fresh();
    expect((await mmrun(['run', COUNTER, '--id', 'ok', '-n', '1000'], dir)).code).toBe(0);
    expect((await mmrun(['run', path.join(FIXTURES, 'throws.ts'), '--id', 'bad'], dir)).code).toBe(1);
    const none = await mmrun(['gc'], dir);
    expect(none.code).toBe(2);
    const dry = await mmrun(['gc', '--status', 'failed', '--dry-run'], dir);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^would remove bad {2}failed {2}500 rows/);
    expect(fs.existsSync(path.join(dir, 'bad'))).toBe(true);
    expect((await mmrun(['gc', '--status', 'failed', '--older-than', '1d', '--yes'], dir)).stderr).toContain(
      'no run matches',
    );
    const gone = await mmrun(['gc', '--status', 'failed', '--yes'], dir);
    expect(gone.code).toBe(0);
    expect(fs.existsSync(path.join(dir, 'bad'))).toBe(false);
    expect(json<{ id: string }[]>(await mmrun(['list', '--json'], dir)).map((r) => r.id)).toEqual(['ok']);
  });
});

describe('help and completion', () => {
  it('every command has --help with an example; completion prints a script', async () => {
    const dir = fresh();
    for (const command of ['run', 'resume', 'list', 'show', 'verify', 'new', 'rm', 'gc']) {
      const r = await mmrun([command, '--help'], dir);
      expect(r.code, command).toBe(0);
      expect(r.stdout, command).toContain('Examples:');
    }
    const completion = await mmrun(['completion'], dir);
    expect(completion.stdout).toContain('mmrun');
    expect(completion.stdout).toContain('complete');
  });
});
