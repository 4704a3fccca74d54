import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CATALOG_FILE, Catalog, type RunSpec } from '../../src/catalog/catalog.ts';
import { SCHEMA_VERSION } from '../../src/catalog/migrations.ts';
import {
  currentOwner,
  HEARTBEAT_STALE_MS,
  type Owner,
  ownerLiveness,
  processStartTime,
} from '../../src/catalog/ownership.ts';
import { getRun, listRuns } from '../../src/catalog/query.ts';
import { MmrunError } from '../../src/errors.ts';
import { shardRanges } from '../../src/shards.ts';
import { fileHash, tmpDir } from '../helpers/tmp.ts';

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

const spec = (id: string, over: Partial<RunSpec> = {}): RunSpec => ({
  id,
  experiment: 'walk',
  experimentPath: '/somewhere/walk.ts',
  sourceHash: 'a'.repeat(64),
  params: { drift: 0.5, label: 'x', on: true },
  seed: 42,
  iterations: 1000,
  columns: { position: 'f8', v: ['f4', 3] },
  dtype: "[('position', '<f8'), ('v', '<f4', (3,))]",
  itemsize: 20,
  segmentRows: 300,
  flushEvery: 100,
  flushInterval: 2.5,
  ...over,
});

/** A catalog in a fresh runs directory, closed when the test ends. */
function openCatalog(): { catalog: Catalog; dir: string } {
  const dir = tmpDir('mmrun-catalog-');
  const catalog = Catalog.open(dir);
  onTestFinished(() => catalog.close());
  return { catalog, dir };
}

/** The pid of a process that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn('sleep', ['0'], { stdio: 'ignore' });
  await once(child, 'exit');
  const pid = child.pid!;
  expect(processStartTime(pid)).toBeUndefined();
  return pid;
}

describe('Catalog.open', () => {
  it('creates mmrun.sqlite in WAL mode at the current schema version', () => {
    const { catalog, dir } = openCatalog();
    const file = path.join(dir, CATALOG_FILE);
    expect(catalog.file).toBe(file);
    expect(fs.existsSync(file)).toBe(true);
    expect(catalog.schemaVersion).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(1);

    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(expect.arrayContaining(['checkpoints', 'events', 'runs']));
    } finally {
      db.close();
    }
  });

  it('creates the runs directory if needed', () => {
    const dir = path.join(tmpDir('mmrun-catalog-'), 'a', 'b');
    const catalog = Catalog.open(dir);
    catalog.close();
    expect(fs.existsSync(path.join(dir, CATALOG_FILE))).toBe(true);
  });

  it('reopens an existing catalog with its runs', () => {
    const dir = tmpDir('mmrun-catalog-');
    const first = Catalog.open(dir);
    first.createRun(spec('r1'), currentOwner());
    first.finish('r1', 'completed', { type: 'completed' });
    first.close();
    const again = Catalog.open(dir);
    try {
      expect(again.getRun('r1').status).toBe('completed');
      expect(again.schemaVersion).toBe(SCHEMA_VERSION);
    } finally {
      again.close();
    }
  });

  it('refuses a file that is not SQLite (CATALOG_INVALID) and leaves it unchanged', () => {
    const dir = tmpDir('mmrun-catalog-');
    const file = path.join(dir, CATALOG_FILE);
    fs.writeFileSync(file, 'these are my notes, not a database\n'.repeat(100));
    const before = fileHash(file);
    const e = thrown(() => Catalog.open(dir));
    expect(e.code).toBe('CATALOG_INVALID');
    expect(e.message).toContain(file);
    expect(e.remedy).toBeTruthy();
    expect(fileHash(file)).toBe(before);
    expect(fs.readdirSync(dir)).toEqual([CATALOG_FILE]);
  });

  it('refuses a catalog of a newer schema (CATALOG_TOO_NEW) naming both versions, unchanged', () => {
    const dir = tmpDir('mmrun-catalog-');
    const file = path.join(dir, CATALOG_FILE);
    const db = new Database(file);
    db.exec('CREATE TABLE future (x)');
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const before = fileHash(file);
    const e = thrown(() => Catalog.open(dir));
    expect(e.code).toBe('CATALOG_TOO_NEW');
    expect(e.message).toContain(`schema version ${SCHEMA_VERSION + 1}`);
    expect(e.message).toContain(`up to ${SCHEMA_VERSION}`);
    expect(fileHash(file)).toBe(before);
    expect(fs.readdirSync(dir)).toEqual([CATALOG_FILE]);
  });

  it('with create: false, refuses a directory without a catalog and creates nothing', () => {
    const dir = tmpDir('mmrun-catalog-');
    const e = thrown(() => Catalog.open(dir, { create: false }));
    expect(e.code).toBe('CATALOG_INVALID');
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('runs and checkpoints', () => {
  it('createRun records the spec, status running and the owner', () => {
    const { catalog } = openCatalog();
    const owner = currentOwner();
    const run = catalog.createRun(spec('r1'), owner);
    expect(run).toMatchObject({ ...spec('r1'), status: 'running', flushedRows: 0, owner, error: undefined });
    expect(catalog.getRun('r1')).toEqual(run);
    expect(Date.parse(run.createdAt)).not.toBeNaN();
  });

  it('createRun of an existing id is refused (RUN_EXISTS) and the first run is unchanged', () => {
    const { catalog } = openCatalog();
    catalog.createRun(spec('r1'), currentOwner());
    catalog.checkpoint('r1', 10, null);
    const before = catalog.getRun('r1');
    const e = thrown(() => catalog.createRun(spec('r1', { seed: 7, iterations: 5 }), currentOwner()));
    expect(e.code).toBe('RUN_EXISTS');
    expect(e.message).toContain("'r1'");
    expect(catalog.getRun('r1')).toEqual(before);
  });

  it('getRun of an unknown id is RUN_NOT_FOUND', () => {
    const { catalog } = openCatalog();
    const e = thrown(() => catalog.getRun('nope'));
    expect(e.code).toBe('RUN_NOT_FOUND');
    expect(e.message).toContain("'nope'");
  });

  it('checkpoint sets flushedRows and the latest state', () => {
    const { catalog } = openCatalog();
    catalog.createRun(spec('r1'), currentOwner());
    expect(catalog.latestState('r1')).toBeNull();
    catalog.checkpoint('r1', 100, Buffer.from('state at 100'));
    catalog.checkpoint('r1', 250, Buffer.from('state at 250'));
    expect(catalog.getRun('r1').flushedRows).toBe(250);
    expect(catalog.latestState('r1')?.toString()).toBe('state at 250');
    catalog.checkpoint('r1', 300, null);
    expect(catalog.getRun('r1').flushedRows).toBe(300);
    expect(catalog.latestState('r1')).toBeNull();
  });

  it('keeps at most 20 checkpoints and 20 flushed events per run, the newest', () => {
    const { catalog, dir } = openCatalog();
    catalog.createRun(spec('r1'), currentOwner());
    catalog.createRun(spec('r2'), currentOwner());
    catalog.checkpoint('r2', 1, null);
    for (let k = 1; k <= 45; k++) catalog.checkpoint('r1', k * 10, Buffer.from([k]));
    expect(catalog.getRun('r1').flushedRows).toBe(450);
    expect([...catalog.latestState('r1')!]).toEqual([45]);

    const flushed = catalog.events('r1').filter((e) => e.type === 'flushed');
    expect(flushed).toHaveLength(20);
    expect(flushed.map((e) => (e.data as { rows: number }).rows)).toEqual(
      Array.from({ length: 20 }, (_, k) => (26 + k) * 10),
    );
    expect(catalog.events('r1')[0]?.type).toBe('started');

    const db = new Database(path.join(dir, CATALOG_FILE), { readonly: true });
    try {
      const kept = db
        .prepare("SELECT flushed_index FROM checkpoints WHERE run_id = 'r1' ORDER BY seq")
        .pluck()
        .all() as number[];
      expect(kept).toEqual(Array.from({ length: 20 }, (_, k) => (26 + k) * 10));
      // Another run's history is not pruned with it.
      expect(db.prepare("SELECT COUNT(*) FROM checkpoints WHERE run_id = 'r2'").pluck().get()).toBe(1);
    } finally {
      db.close();
    }
  });

  it('finish records status and error and releases the owner', () => {
    const { catalog } = openCatalog();
    catalog.createRun(spec('r1'), currentOwner());
    catalog.checkpoint('r1', 37, null);
    catalog.finish(
      'r1',
      'failed',
      { type: 'failed', data: { iteration: 37 } },
      { message: 'STEP_FAILED: boom', iteration: 37 },
    );
    const run = catalog.getRun('r1');
    expect(run).toMatchObject({ status: 'failed', error: 'STEP_FAILED: boom', errorIteration: 37, flushedRows: 37 });
    expect(run.owner).toBeUndefined();
    expect(catalog.events('r1').at(-1)).toMatchObject({ type: 'failed', data: { iteration: 37 } });
  });

  it('events come back oldest first with their data and the writer pid', () => {
    const { catalog } = openCatalog();
    catalog.createRun(spec('r1'), currentOwner());
    catalog.checkpoint('r1', 10, null);
    catalog.addEvent('r1', 'signal', { signal: 'SIGTERM' });
    catalog.finish('r1', 'interrupted', { type: 'signal', data: { flushedRows: 10 } });
    catalog.claim('r1', currentOwner());
    catalog.acceptSourceChange('r1', 'a'.repeat(64), 'b'.repeat(64));
    catalog.finish('r1', 'completed', { type: 'completed', data: { rows: 1000 } });
    const events = catalog.events('r1');
    expect(events.map((e) => e.type)).toEqual([
      'started',
      'flushed',
      'signal',
      'signal',
      'resumed',
      'allow-changed',
      'completed',
    ]);
    expect(events[0]?.data).toEqual({ iterations: 1000, seed: 42, workers: 1 });
    expect(events[4]?.data).toEqual({ from: 10, previousStatus: 'interrupted' });
    expect(events[5]?.data).toEqual({ from: 'a'.repeat(64), to: 'b'.repeat(64) });
    expect(events.every((e) => e.pid === process.pid)).toBe(true);
    const times = events.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(catalog.getRun('r1').sourceHash).toBe('b'.repeat(64));
  });

  it('listRuns returns every run', () => {
    const { catalog } = openCatalog();
    catalog.createRun(spec('r1'), currentOwner());
    catalog.createRun(spec('r2'), currentOwner());
    expect(
      catalog
        .listRuns()
        .map((r) => r.id)
        .sort(),
    ).toEqual(['r1', 'r2']);
  });
});

describe('claim and ownership', () => {
  it('refuses a completed run (RUN_COMPLETED) and leaves it completed', () => {
    const { catalog } = openCatalog();
    catalog.createRun(spec('r1'), currentOwner());
    catalog.checkpoint('r1', 1000, null);
    catalog.finish('r1', 'completed', { type: 'completed' });
    const e = thrown(() => catalog.claim('r1', currentOwner()));
    expect(e.code).toBe('RUN_COMPLETED');
    expect(e.message).toContain("'r1'");
    expect(e.message).toContain('1000 rows');
    expect(catalog.getRun('r1').status).toBe('completed');
    expect(catalog.getRun('r1').owner).toBeUndefined();
  });

  it('refuses a run whose owner is alive (RUN_LOCKED) naming pid and host', () => {
    const { catalog } = openCatalog();
    const owner = currentOwner();
    catalog.createRun(spec('r1'), owner);
    const e = thrown(() => catalog.claim('r1', owner));
    expect(e.code).toBe('RUN_LOCKED');
    expect(e.message).toContain(`pid ${process.pid}`);
    expect(e.message).toContain(os.hostname());
    expect(e.remedy).toBeTruthy();
    expect(catalog.getRun('r1')).toMatchObject({ status: 'running', owner });
    expect(catalog.events('r1').map((x) => x.type)).toEqual(['started']);
  });

  it('refuses a run owned on another host, which it cannot check', () => {
    const { catalog } = openCatalog();
    const owner: Owner = { ...currentOwner(), host: 'elsewhere.example' };
    catalog.createRun(spec('r1'), owner);
    const e = thrown(() => catalog.claim('r1', currentOwner()));
    expect(e.code).toBe('RUN_LOCKED');
    expect(e.message).toContain('elsewhere.example');
    expect(e.message).toContain('another machine');
    expect(catalog.getRun('r1').status).toBe('running');
  });

  it('a dead owner: getRun shows crashed, records a crashed event, and claim takes the run over', async () => {
    const { catalog } = openCatalog();
    const pid = await deadPid();
    const owner: Owner = { ...currentOwner(), pid, start: '12345' };
    catalog.createRun(spec('r1'), owner);
    catalog.checkpoint('r1', 200, Buffer.from('s'));

    const run = catalog.getRun('r1');
    expect(run.status).toBe('crashed');
    expect(run.flushedRows).toBe(200);
    const crashed = catalog.events('r1').filter((e) => e.type === 'crashed');
    expect(crashed).toHaveLength(1);
    expect(crashed[0]?.data).toMatchObject({ pid, flushedRows: 200 });
    // Detected once, recorded once.
    catalog.getRun('r1');
    expect(catalog.events('r1').filter((e) => e.type === 'crashed')).toHaveLength(1);

    const me = currentOwner();
    const claimed = catalog.claim('r1', me);
    expect(claimed).toMatchObject({ status: 'running', owner: me, flushedRows: 200 });
    expect(catalog.events('r1').at(-1)).toMatchObject({
      type: 'resumed',
      data: { from: 200, previousStatus: 'crashed' },
    });
  });

  it('claim of a running run whose owner died marks it crashed first', async () => {
    const { catalog } = openCatalog();
    const pid = await deadPid();
    catalog.createRun(spec('r1'), { ...currentOwner(), pid });
    const claimed = catalog.claim('r1', currentOwner());
    expect(claimed.status).toBe('running');
    expect(catalog.events('r1').map((e) => e.type)).toEqual(['started', 'crashed', 'resumed']);
  });

  it('recognises pid reuse: our own pid with another start time is a dead owner', () => {
    const { catalog } = openCatalog();
    catalog.createRun(spec('r1'), { ...currentOwner(), start: 'bogus' });
    expect(catalog.getRun('r1').status).toBe('crashed');
    expect(catalog.events('r1').map((e) => e.type)).toEqual(['started', 'crashed']);
  });

  it('listRuns detects crashes too', async () => {
    const { catalog } = openCatalog();
    catalog.createRun(spec('alive'), currentOwner());
    catalog.createRun(spec('dead'), { ...currentOwner(), pid: await deadPid() });
    const byId = Object.fromEntries(catalog.listRuns().map((r) => [r.id, r.status]));
    expect(byId).toEqual({ alive: 'running', dead: 'crashed' });
  });

  it('a failed or interrupted run can be claimed, clearing its error', () => {
    const { catalog } = openCatalog();
    catalog.createRun(spec('r1'), currentOwner());
    catalog.finish('r1', 'failed', { type: 'failed' }, { message: 'boom', iteration: 3 });
    const run = catalog.claim('r1', currentOwner());
    expect(run).toMatchObject({ status: 'running', error: undefined, errorIteration: undefined });
  });

  it('claim with extendTo raises the iteration count, records the extension, and reopens a completed run', () => {
    const { catalog } = openCatalog();
    catalog.createRun(spec('r1'), currentOwner());
    catalog.finish('r1', 'completed', { type: 'completed' });
    expect(() => catalog.claim('r1', currentOwner())).toThrow(/RUN_COMPLETED|already completed/);
    const run = catalog.claim('r1', currentOwner(), { extendTo: spec('r1').iterations * 2 });
    expect(run).toMatchObject({ status: 'running', iterations: spec('r1').iterations * 2 });
    expect(catalog.extendedFrom('r1')).toBe(spec('r1').iterations);
  });

  it('claim of an unknown run is RUN_NOT_FOUND', () => {
    const { catalog } = openCatalog();
    expect(thrown(() => catalog.claim('ghost', currentOwner())).code).toBe('RUN_NOT_FOUND');
  });
});

describe('ownerLiveness', () => {
  it('this process is alive', () => {
    const me = currentOwner();
    expect(me.pid).toBe(process.pid);
    expect(me.start).toMatch(/^\d+$/);
    expect(me.host).toBe(os.hostname());
    expect(ownerLiveness(me)).toBe('alive');
  });

  it('an exited process is dead', async () => {
    expect(ownerLiveness({ ...currentOwner(), pid: await deadPid() })).toBe('dead');
  });

  it('a reused pid (same pid, other start time) is dead', () => {
    expect(ownerLiveness({ ...currentOwner(), start: 'bogus' })).toBe('dead');
    const start = Number(currentOwner().start);
    expect(ownerLiveness({ ...currentOwner(), start: String(start + 1) })).toBe('dead');
  });

  it('an owner from an earlier boot is dead', () => {
    expect(ownerLiveness({ ...currentOwner(), boot: 'another-boot' })).toBe('dead');
  });

  it('an owner on another host is unknown while it beats, dead once its heartbeat is stale', () => {
    const remote = { ...currentOwner(), host: 'elsewhere.example' };
    expect(ownerLiveness(remote, new Date().toISOString())).toBe('unknown');
    expect(ownerLiveness(remote, new Date(Date.now() - HEARTBEAT_STALE_MS - 1000).toISOString())).toBe('dead');
    expect(ownerLiveness(remote)).toBe('dead');
  });

  it('a live process of another user (pid 1) is judged by its start time', () => {
    const start = processStartTime(1);
    expect(start).toBeDefined();
    expect(ownerLiveness({ ...currentOwner(), pid: 1, start: start! })).toBe('alive');
    expect(ownerLiveness({ ...currentOwner(), pid: 1, start: `${start}9` })).toBe('dead');
  });

  it('a running child is alive until it exits', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      const owner: Owner = { ...currentOwner(), pid, start: processStartTime(pid)! };
      expect(ownerLiveness(owner)).toBe('alive');
      child.kill('SIGKILL');
      await once(child, 'exit');
      expect(ownerLiveness(owner)).toBe('dead');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('query helpers', () => {
  it('listRuns of a directory without a catalog is empty and creates nothing', () => {
    const dir = tmpDir('mmrun-catalog-');
    expect(listRuns(dir)).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('getRun of a directory without a catalog is RUN_NOT_FOUND', () => {
    const dir = tmpDir('mmrun-catalog-');
    expect(thrown(() => getRun(dir, 'r1')).code).toBe('RUN_NOT_FOUND');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('getRun returns the run and its events', () => {
    const { catalog, dir } = openCatalog();
    catalog.createRun(spec('r1'), currentOwner());
    const { run, events } = getRun(dir, 'r1');
    expect(run.id).toBe('r1');
    expect(events.map((e) => e.type)).toEqual(['started']);
  });
});

describe('sharded runs', () => {
  it('shardRanges splits rows into contiguous, nearly equal shards that cover everything', () => {
    expect(shardRanges(10, 3)).toEqual([
      [0, 4],
      [4, 7],
      [7, 10],
    ]);
    expect(shardRanges(6, 2)).toEqual([
      [0, 3],
      [3, 6],
    ]);
    expect(shardRanges(5, 1)).toEqual([[0, 5]]);
  });

  it('each shard commits its own flushed index; flushedRows is the contiguous prefix, doneRows the sum', () => {
    const { catalog } = openCatalog();
    const run = catalog.createRun(spec('s', { iterations: 900, workers: 3 }), currentOwner());
    expect(run.workers).toBe(3);
    expect(run.shards).toEqual([
      { shard: 0, startRow: 0, endRow: 300, flushedRows: 0 },
      { shard: 1, startRow: 300, endRow: 600, flushedRows: 300 },
      { shard: 2, startRow: 600, endRow: 900, flushedRows: 600 },
    ]);
    expect([run.flushedRows, run.doneRows]).toEqual([0, 0]);

    catalog.checkpointShard('s', 1, 450, Buffer.from([1]), { startRow: 300, endRow: 450, crc32c: 7 });
    catalog.checkpointShard('s', 2, 700, null);
    let now = catalog.getRun('s');
    expect([now.flushedRows, now.doneRows]).toEqual([0, 250]);
    catalog.checkpointShard('s', 0, 120, null);
    expect(catalog.getRun('s').flushedRows).toBe(120);
    catalog.checkpointShard('s', 0, 300, null);
    now = catalog.getRun('s');
    expect([now.flushedRows, now.doneRows]).toEqual([450, 550]);
    catalog.checkpointShard('s', 1, 600, null);
    catalog.checkpointShard('s', 2, 900, null);
    now = catalog.getRun('s');
    expect([now.flushedRows, now.doneRows]).toEqual([900, 900]);
    expect(catalog.shardState('s', 1)).toBeNull();
    expect(catalog.checksumEndingAt('s', 450)).toEqual({ startRow: 300, endRow: 450, crc32c: 7 });
    // A shard never moves backwards, and never past its end.
    expect(() => catalog.checkpointShard('s', 1, 500, null)).toThrow(/shard 1/);
    expect(() => catalog.checkpointShard('s', 1, 601, null)).toThrow();
  });

  it('peekUnfinishedShards: unfinished shards of a sharded run, read-only; 0 for anything else', () => {
    const { catalog, dir } = openCatalog();
    catalog.createRun(spec('s', { iterations: 900, workers: 3 }), currentOwner());
    catalog.createRun(spec('one'), currentOwner());
    expect(Catalog.peekUnfinishedShards(dir, 's')).toBe(3);
    catalog.checkpointShard('s', 1, 600, null);
    expect(Catalog.peekUnfinishedShards(dir, 's')).toBe(2);
    catalog.close();
    // Closed (no -wal or -shm left): a read-only connection still reads it and writes nothing
    // into it (SQLite may create an empty -wal and the -shm beside it).
    const before = fileHash(path.join(dir, CATALOG_FILE));
    expect(Catalog.peekUnfinishedShards(dir, 's')).toBe(2);
    expect(fileHash(path.join(dir, CATALOG_FILE))).toBe(before);
    const wal = path.join(dir, `${CATALOG_FILE}-wal`);
    expect(fs.existsSync(wal) ? fs.statSync(wal).size : 0).toBe(0);
    expect(Catalog.peekUnfinishedShards(dir, 'one')).toBe(0);
    expect(Catalog.peekUnfinishedShards(dir, 'nope')).toBe(0);
    expect(Catalog.peekUnfinishedShards(path.join(dir, 'missing'), 's')).toBe(0);
    expect(fs.existsSync(path.join(dir, 'missing'))).toBe(false);
    const junk = tmpDir('mmrun-catalog-');
    fs.writeFileSync(path.join(junk, CATALOG_FILE), 'not sqlite'.repeat(1000));
    expect(Catalog.peekUnfinishedShards(junk, 's')).toBe(0);
  });

  it('a run with one worker has no shards and keeps its checkpoint history', () => {
    const { catalog } = openCatalog();
    const run = catalog.createRun(spec('one'), currentOwner());
    expect([run.workers, run.shards]).toEqual([1, []]);
    catalog.checkpoint('one', 100, null);
    expect(catalog.getRun('one')).toMatchObject({ flushedRows: 100, doneRows: 100 });
  });
});
