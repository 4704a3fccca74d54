// `run --workers K`: K worker threads, one contiguous shard of rows each, against the real
// CLI — identical bytes for every K, kill -9 and SIGTERM with two workers, a failing shard.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { readHeader } from '../../src/storage/npy.ts';
import {
  FIXTURES,
  hashFiles,
  json,
  mmrun,
  peekRun,
  segmentHashes,
  sleep,
  spawnMmrun,
  tempDirs,
  waitFor,
} from './cli.ts';

const runsDir = tempDirs();

const COUNTER = path.join(FIXTURES, 'counter.ts');
// Segments of 25 000 rows: the shard boundaries of K = 2 and 3 fall inside segments, so
// neighbouring workers share a segment file (each maps only its own rows of it).
const COMMON = ['--seed', '20261126', '--flush-every', '2000', '--segment-rows', '25_000'];
const SLOW = ['--iterations', '80_000', '--param', 'work=2500'];

interface ShardView {
  shard: number;
  startRow: number;
  endRow: number;
  flushedRows: number;
}

/** Whether every one of the run's two shards has flushed at least `rows` rows. */
const bothFlushed = (dir: string, id: string, rows: number) => {
  const shards = peekShards(dir, id);
  return (shards.length === 2 && shards.every((s) => s.flushedRows - s.startRow >= rows)) || undefined;
};

/** Each shard's flushed index, read straight from the catalog. */
function peekShards(dir: string, id: string): ShardView[] {
  const file = path.join(dir, 'mmrun.sqlite');
  if (!fs.existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        'SELECT shard, start_row AS startRow, end_row AS endRow, flushed_index AS flushedRows FROM shards WHERE run_id = ? ORDER BY shard',
      )
      .all(id) as ShardView[];
  } catch {
    return [];
  } finally {
    db.close();
  }
}

/** For each `shard-started` event in the run's log, in order: whether its worker was prestarted. */
function shardStarts(dir: string, id: string): boolean[] {
  return fs
    .readFileSync(path.join(dir, id, 'run.log'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event?: string; prestarted?: boolean })
    .filter((e) => e.event === 'shard-started')
    .map((e) => e.prestarted === true);
}

async function runToEnd(dir: string, id: string, fixture: string, args: string[]): Promise<Record<string, string>> {
  const r = await mmrun(['run', fixture, '--id', id, ...args, ...COMMON], dir);
  expect(r.code, r.stderr).toBe(0);
  return segmentHashes(dir, id);
}

/** Rows of a run as plain objects, decoded from its segments (u4/u2/f8 columns only). */
function readRows(dir: string, id: string, columns: [string, 'u4' | 'u2' | 'f8'][]): Record<string, number>[] {
  const rows: Record<string, number>[] = [];
  const size = { u4: 4, u2: 2, f8: 8 };
  const itemsize = columns.reduce((n, [, t]) => n + size[t], 0);
  for (const name of fs
    .readdirSync(path.join(dir, id))
    .filter((n) => n.endsWith('.npy'))
    .sort()) {
    const file = path.join(dir, id, name);
    const header = readHeader(file);
    const bytes = fs.readFileSync(file);
    const view = new DataView(bytes.buffer, bytes.byteOffset + header.dataOffset);
    for (let r = 0; r < header.shape[0]!; r++) {
      const row: Record<string, number> = {};
      let at = r * itemsize;
      for (const [col, t] of columns) {
        row[col] =
          t === 'u4' ? view.getUint32(at, true) : t === 'u2' ? view.getUint16(at, true) : view.getFloat64(at, true);
        at += size[t];
      }
      rows.push(row);
    }
  }
  return rows;
}

describe('run --workers K', () => {
  it('K = 1, 2, 3 write byte-identical segments for an experiment without state', async () => {
    const dir = runsDir();
    const args = ['--iterations', '60_000'];
    const one = await runToEnd(dir, 'k1', COUNTER, [...args, '--workers', '1']);
    expect(Object.keys(one)).toHaveLength(3);
    expect(await runToEnd(dir, 'k2', COUNTER, [...args, '--workers', '2'])).toEqual(one);
    expect(await runToEnd(dir, 'k3', COUNTER, [...args, '--workers', '3'])).toEqual(one);

    const show = json<{ workers: number; flushedRows: number; doneRows: number; shards: ShardView[] }>(
      await mmrun(['show', 'k3', '--json'], dir),
    );
    expect(show.workers).toBe(3);
    expect(show.flushedRows).toBe(60_000);
    expect(show.doneRows).toBe(60_000);
    expect(show.shards).toEqual([
      { shard: 0, startRow: 0, endRow: 20_000, flushedRows: 20_000 },
      { shard: 1, startRow: 20_000, endRow: 40_000, flushedRows: 40_000 },
      { shard: 2, startRow: 40_000, endRow: 60_000, flushedRows: 60_000 },
    ]);
    const verify = await mmrun(['verify', 'k3', '--recompute', '30'], dir);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    // The CLI started the three workers before it loaded its own modules (worker-pool.ts).
    expect(shardStarts(dir, 'k3')).toEqual([true, true, true]);
  });

  it('kill -9 with K = 2 at random moments, resume (keeping K) until complete → identical to K = 1', async () => {
    const dir = runsDir();
    const want = await runToEnd(dir, 'ref', COUNTER, [...SLOW, '--workers', '1']);
    // The first kill lands once both shards are mid-way; later ones at random moments.
    let cli = spawnMmrun(['run', COUNTER, '--id', 'k', ...SLOW, ...COMMON, '--workers', '2'], dir);
    await waitFor(() => bothFlushed(dir, 'k', 2000), 30_000, 'flushes in both shards');
    cli.child.kill('SIGKILL');
    expect((await cli.exited).signal).toBe('SIGKILL');
    const shards = peekShards(dir, 'k');
    expect(shards.every((s) => s.flushedRows > s.startRow && s.flushedRows < s.endRow)).toBe(true);
    expect(json(await mmrun(['show', 'k', '--json'], dir)).status).toBe('crashed');
    let kills = 1;
    cli = spawnMmrun(['resume', 'k'], dir);
    for (;;) {
      await cli.started;
      const delay = 300 + Math.floor(Math.random() * 700);
      const done = await Promise.race([cli.exited.then(() => true), sleep(delay).then(() => false)]);
      if (!done && kills < 3) {
        cli.child.kill('SIGKILL');
        const r = await cli.exited;
        // Either the kill landed, or the resume had just completed on its own (exit 0).
        if (r.signal === 'SIGKILL') kills++;
        else expect(r.code, r.stderr).toBe(0);
        if (peekRun(dir, 'k')?.status === 'completed') break;
      } else {
        const r = await cli.exited;
        expect(r.code, r.stderr).toBe(0);
        if (peekRun(dir, 'k')?.status === 'completed') break;
      }
      cli = spawnMmrun(['resume', 'k'], dir);
    }
    expect(kills).toBeGreaterThanOrEqual(1);
    expect(json(await mmrun(['show', 'k', '--json'], dir)).workers).toBe(2);
    expect(segmentHashes(dir, 'k')).toEqual(want);
    // `run` took workers the CLI started before loading its modules, and so did the resumes
    // (one per unfinished shard, counted in the catalog; a resume whose count failed, e.g.
    // during the catalog's recovery after a kill, would spawn its own: not an error).
    const starts = shardStarts(dir, 'k');
    expect(starts.slice(0, 2)).toEqual([true, true]);
    expect(starts.slice(2).filter((prestarted) => prestarted).length).toBeGreaterThan(0);
  });

  it('SIGTERM with K = 2: every shard flushes, the run is interrupted (143), resume is identical', async () => {
    const dir = runsDir();
    const want = await runToEnd(dir, 'ref', COUNTER, [...SLOW, '--workers', '2']);
    const cli = spawnMmrun(['run', COUNTER, '--id', 't', ...SLOW, ...COMMON, '--workers', '2'], dir);
    await waitFor(() => bothFlushed(dir, 't', 4000), 30_000, 'flushes in both shards');
    cli.child.kill('SIGTERM');
    const r = await cli.exited;
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toContain('interrupted t by SIGTERM');
    const show = json<{ status: string; shards: ShardView[]; events: { type: string; data: unknown }[] }>(
      await mmrun(['show', 't', '--json'], dir),
    );
    expect(show.status).toBe('interrupted');
    expect(show.events.at(-1)).toMatchObject({ type: 'signal', data: { signal: 'SIGTERM' } });
    for (const s of show.shards) {
      expect(s.flushedRows).toBeGreaterThan(s.startRow);
      expect(s.flushedRows).toBeLessThan(s.endRow);
    }
    const resumed = await mmrun(['resume', 't'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(segmentHashes(dir, 't')).toEqual(want);
  });

  it('a shard whose step throws fails the run naming the shard and iteration; the other shard’s rows stay valid', async () => {
    const dir = runsDir();
    const r = await mmrun(
      ['run', path.join(FIXTURES, 'throws.ts'), '--id', 'f', '--workers', '2', '--param', 'at=1500', ...COMMON],
      dir,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('STEP_FAILED');
    expect(r.stderr).toContain('shard 1 of 2 (rows 1000..2000)');
    expect(r.stderr).toContain('iteration 1500');
    const show = json<{ status: string; errorIteration: number; shards: ShardView[] }>(
      await mmrun(['show', 'f', '--json'], dir),
    );
    expect(show.status).toBe('failed');
    expect(show.errorIteration).toBe(1500);
    // Shard 1 keeps the rows before its failing iteration (no state), shard 0 whatever it flushed.
    expect(show.shards[1]!.flushedRows).toBe(1500);
    expect(show.shards[0]!.flushedRows).toBeGreaterThan(0);
    const verify = await mmrun(['verify', 'f', '--recompute', '40'], dir);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain('identical');
  });

  it('with state, each shard has its own: init gets the shard’s first row; kill and resume keep it', async () => {
    const dir = runsDir();
    const fixture = path.join(FIXTURES, 'shard-state.ts');
    const args = ['--iterations', '40_000', '--param', 'work=2500', '--workers', '2'];
    const want = await runToEnd(dir, 'ref', fixture, args);
    const cli = spawnMmrun(['run', fixture, '--id', 's', ...args, ...COMMON], dir);
    await waitFor(() => bothFlushed(dir, 's', 2000), 30_000, 'flushes in both shards');
    cli.child.kill('SIGKILL');
    await cli.exited;
    const resumed = await mmrun(['resume', 's'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(segmentHashes(dir, 's')).toEqual(want);
    const rows = readRows(dir, 's', [
      ['first', 'u4'],
      ['shard', 'u2'],
      ['n', 'u4'],
      ['x', 'f8'],
    ]);
    expect(rows).toHaveLength(40_000);
    expect(rows[0]).toMatchObject({ first: 0, shard: 0, n: 1 });
    expect(rows[19_999]).toMatchObject({ first: 0, shard: 0, n: 20_000 });
    expect(rows[20_000]).toMatchObject({ first: 20_000, shard: 1, n: 1 });
    expect(rows[39_999]).toMatchObject({ first: 20_000, shard: 1, n: 20_000 });
  });

  it('refuses --workers for a sequential experiment, and bad counts, writing nothing', async () => {
    const dir = runsDir();
    const cases: [string[], string, string][] = [
      [[path.join(FIXTURES, 'sequential.ts'), '--workers', '2'], 'SEQUENTIAL_EXPERIMENT', '--workers 1'],
      [[COUNTER, '--workers', '0'], 'BAD_OPTION', '--workers K'],
      [[COUNTER, '--workers', 'two'], 'BAD_OPTION', '--workers K'],
      [[COUNTER, '--iterations', '3', '--workers', '4'], 'BAD_OPTION', '--workers 3 or fewer'],
    ];
    for (const [args, code, remedy] of cases) {
      const r = await mmrun(['run', ...args, '--id', 'x'], dir);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(code);
      expect(r.stderr).toContain(remedy);
    }
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
    expect(json<unknown[]>(await mmrun(['list', '--json'], dir))).toEqual([]);
  });

  it('a sharded run cannot be extended with resume --iterations; nothing changes', async () => {
    const dir = runsDir();
    await runToEnd(dir, 'e', COUNTER, ['--iterations', '10_000', '--workers', '2']);
    const before = hashFiles(path.join(dir, 'e'));
    const r = await mmrun(['resume', 'e', '--iterations', '20_000'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('BAD_ITERATIONS');
    expect(r.stderr).toContain('cannot be extended');
    expect(hashFiles(path.join(dir, 'e'))).toEqual(before);
  });
});
