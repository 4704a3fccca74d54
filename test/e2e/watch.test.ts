// mmrun watch off a terminal: one line per observed flush, then the outcome; exit 0 only
// for a completed run.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { fileHash } from '../helpers/tmp.ts';
import { BIN, FIXTURES, mmrun, peekRun, spawnMmrun, tempDirs, waitFor } from './cli.ts';

const tmp = tempDirs('mmrun-watch-');
const slow = path.join(FIXTURES, 'slowdown.ts');
const counter = path.join(FIXTURES, 'counter.ts');

/** The rows done that each line reports ("1,200/10,000 rows"). */
const doneOf = (line: string): number => Number(/ ([\d,]+)\/[\d,]+ rows/.exec(line)![1]!.replaceAll(',', ''));

describe('mmrun watch', () => {
  it('prints a line per flush while the run writes and exits 0 when it completes', async () => {
    const runsDir = tmp();
    // 0.3 ms a step: 6000 rows take about 2 s, flushed every 200.
    const writer = spawnMmrun(
      [
        'run',
        slow,
        '--iterations',
        '6000',
        '--param',
        'fastRows=0',
        '--param',
        'slowMs=0.3',
        '--flush-every',
        '200',
        '--id',
        'w',
      ],
      runsDir,
    );
    await waitFor(() => (peekRun(runsDir, 'w')?.flushedRows ?? 0) > 0, 30_000, 'a first flush');
    const watch = await mmrun(['watch', 'w', '--column', 'i'], runsDir);
    expect((await writer.exited).code).toBe(0);
    expect(watch.code, watch.stderr).toBe(0);
    const lines = watch.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines.slice(0, -1)) {
      expect(line).toMatch(
        /^w running, [\d,]+\/6,000 rows \(\d+\.\d%\), [\d,]+ rows\/s, ETA .*, last flush .* ago, at risk ~[\d,]+ rows, i [▁▂▃▄▅▆▇█]+ \(min /,
      );
    }
    expect(lines.at(-1)).toMatch(/^w completed, 6,000\/6,000 rows \(100\.0%\), .*i [▁▂▃▄▅▆▇█]+ \(.*last 5999\)$/);
    const done = lines.map(doneOf);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(new Set(done).size).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('exits 1 when the writer is killed, with the status it ended in', async () => {
    const runsDir = tmp();
    const writer = spawnMmrun(
      [
        'run',
        slow,
        '--iterations',
        '1e6',
        '--param',
        'fastRows=0',
        '--param',
        'slowMs=0.3',
        '--flush-every',
        '200',
        '--id',
        'k',
      ],
      runsDir,
    );
    await waitFor(() => (peekRun(runsDir, 'k')?.flushedRows ?? 0) > 0, 30_000, 'a first flush');
    const watch = spawnMmrun(['watch', 'k'], runsDir);
    let out = '';
    watch.child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await waitFor(() => out.split('\n').length > 3, 30_000, 'three lines of watch');
    writer.child.kill('SIGKILL');
    const r = await watch.exited;
    expect(r.code, r.stderr).toBe(1);
    const last = r.stdout.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^k crashed, /);
    expect(doneOf(last)).toBe(peekRun(runsDir, 'k')!.flushedRows);
  }, 60_000);

  it('of a finished run prints one line: exit 0 if completed, 1 if interrupted', async () => {
    const runsDir = tmp();
    expect((await mmrun(['run', counter, '--iterations', '500', '--id', 'done'], runsDir)).code).toBe(0);
    const ok = await mmrun(['watch', 'done', '--column', 'v[2]'], runsDir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^done completed, 500\/500 rows \(100\.0%\), .*, v\[2\] [▁▂▃▄▅▆▇█]+ \(min .*\)\n$/);

    const writer = spawnMmrun(
      [
        'run',
        slow,
        '--iterations',
        '1e6',
        '--param',
        'fastRows=0',
        '--param',
        'slowMs=0.3',
        '--flush-every',
        '100',
        '--id',
        'stopped',
      ],
      runsDir,
    );
    await waitFor(() => (peekRun(runsDir, 'stopped')?.flushedRows ?? 0) > 0, 30_000, 'a first flush');
    writer.child.kill('SIGTERM');
    expect((await writer.exited).code).toBe(143);
    const stopped = await mmrun(['watch', 'stopped'], runsDir);
    expect(stopped.code).toBe(1);
    expect(stopped.stdout).toMatch(/^stopped interrupted, [\d,]+\/1,000,000 rows/);
  }, 60_000);

  it('refuses an unknown run, an unknown column and a bad interval', async () => {
    const runsDir = tmp();
    expect((await mmrun(['run', counter, '--iterations', '100', '--id', 'c'], runsDir)).code).toBe(0);
    const noRun = await mmrun(['watch', 'nope'], runsDir);
    expect([noRun.code, noRun.stdout]).toEqual([1, '']);
    expect(noRun.stderr).toContain("RUN_NOT_FOUND: no run 'nope'");
    const noColumn = await mmrun(['watch', 'c', '--column', 'zz'], runsDir);
    expect([noColumn.code, noColumn.stdout]).toEqual([1, '']);
    expect(noColumn.stderr).toContain("UNKNOWN_COLUMN: run 'c' has no column 'zz'");
    const badInterval = await mmrun(['watch', 'c', '--interval', '0'], runsDir);
    expect(badInterval.code).toBe(2);
    expect(badInterval.stderr).toContain('--interval must be a number of seconds');
  }, 60_000);

  it('on a terminal redraws a panel in place at each commit, then exits 0 when completed', async () => {
    const runsDir = tmp();
    const writer = spawnMmrun(
      [
        'run',
        slow,
        '--iterations',
        '6000',
        '--param',
        'fastRows=0',
        '--param',
        'slowMs=0.3',
        '--flush-every',
        '200',
        '--id',
        't',
      ],
      runsDir,
    );
    await waitFor(() => (peekRun(runsDir, 't')?.flushedRows ?? 0) > 0, 30_000, 'a first flush');
    // util-linux script(1) gives the command a pseudo-terminal; -e passes its exit code on.
    const command = `'${process.execPath}' '${BIN}' watch t --runs-dir '${runsDir}'`;
    const tty = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    tty.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => tty.on('close', resolve));
    expect((await writer.exited).code).toBe(0);
    expect(code, out).toBe(0);
    expect(out).toContain('\x1b[4F\x1b[J'); // up four lines, clear: the panel redrawn
    const panels = out.split('\x1b[4F\x1b[J');
    expect(panels.length).toBeGreaterThanOrEqual(3);
    expect(panels[0]).toMatch(/^t · slowdown · running \(pid \d+\)\r?\n\[[█░]{30}\] /);
    expect(panels.at(-1)).toMatch(/^t · slowdown · completed\r?\n\[█{30}\] 100\.0% {2}6,000 \/ 6,000 rows/);
  }, 60_000);

  it('follows a sweep: a line per change of its points, exit 0 once every point completed', async () => {
    const runsDir = tmp();
    const sweep = spawnMmrun(
      [
        'sweep',
        slow,
        '--grid',
        'slowMs=0.2,0.3',
        '--param',
        'fastRows=0',
        '--iterations',
        '2000',
        '--flush-every',
        '250',
        '--id',
        'sw',
        '--quiet',
      ],
      runsDir,
    );
    await waitFor(() => peekRun(runsDir, 'sw-p0000') !== undefined, 30_000, 'the first point');
    const watch = await mmrun(['watch', 'sw'], runsDir);
    expect((await sweep.exited).code).toBe(0);
    expect(watch.code, watch.stderr).toBe(0);
    const lines = watch.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines.slice(0, -1))
      expect(line).toMatch(/^sw running: [0-2]\/2 points completed, [\d,]+ rows flushed/);
    expect(lines.at(-1)).toBe('sw completed: 2/2 points completed, 4,000 rows flushed');
  }, 60_000);

  it('of a sweep killed with SIGKILL exits 1, reporting it crashed', async () => {
    const runsDir = tmp();
    const sweep = spawnMmrun(
      [
        'sweep',
        slow,
        '--grid',
        'slowMs=0.5,0.6',
        '--param',
        'fastRows=0',
        '--iterations',
        '100000',
        '--id',
        'sk',
        '--quiet',
      ],
      runsDir,
    );
    await waitFor(() => peekRun(runsDir, 'sk-p0000') !== undefined, 30_000, 'the first point');
    const watching = spawnMmrun(['watch', 'sk'], runsDir);
    await watching.started;
    sweep.child.kill('SIGKILL');
    const r = await watching.exited;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout.trim().split('\n').at(-1), r.stderr).toMatch(/^sk crashed: 0\/2 points completed/);
  }, 60_000);

  it('of a dead sweep only reads: the catalog is byte-identical after, the sweep still recorded running', async () => {
    const runsDir = tmp();
    const sweep = spawnMmrun(
      ['sweep', slow, '--grid', 'slowMs=0.5,0.6', '--param', 'fastRows=0', '-n', '100000', '--id', 'ro', '--quiet'],
      runsDir,
    );
    await waitFor(() => (peekRun(runsDir, 'ro-p0000')?.flushedRows ?? 0) > 0, 30_000, 'a first flush');
    sweep.child.kill('SIGKILL');
    await sweep.exited;
    // The database and its WAL byte for byte (the -shm file is the WAL's index, which any
    // reader maintains), and no commit seen by a connection held across the watch.
    const files = () =>
      ['mmrun.sqlite', 'mmrun.sqlite-wal']
        .filter((f) => fs.existsSync(path.join(runsDir, f)))
        .map((f) => [f, fileHash(path.join(runsDir, f))]);
    const before = files();
    const db = new Database(path.join(runsDir, 'mmrun.sqlite'), { readonly: true });
    try {
      const version = db.pragma('data_version', { simple: true });
      const r = await mmrun(['watch', 'ro'], runsDir);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout.trim().split('\n').at(-1)).toMatch(/^ro crashed: 0\/2 points completed/);
      expect(db.pragma('data_version', { simple: true })).toBe(version);
      expect(files()).toEqual(before);
      expect(db.prepare("SELECT status FROM sweeps WHERE id = 'ro'").pluck().get()).toBe('running');
    } finally {
      db.close();
    }
  }, 60_000);
});
