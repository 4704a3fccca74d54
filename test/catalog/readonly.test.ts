// CatalogReader: the one read-only view of the catalog, which the readers of live runs and
// the dashboard read through. It never writes: not a migration, not a pragma, not a
// detected crash (of a run or of a sweep).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CATALOG_FILE, Catalog, type RunSpec } from '../../src/catalog/catalog.ts';
import { SCHEMA_VERSION } from '../../src/catalog/migrations.ts';
import { currentOwner } from '../../src/catalog/ownership.ts';
import { CatalogReader, OlderSchema } from '../../src/catalog/read-only.ts';
import { SweepCatalog } from '../../src/catalog/sweeps.ts';
import { MmrunError } from '../../src/errors.ts';
import { fileHash, tmpDir } from '../helpers/tmp.ts';

const spec = (id: string): RunSpec => ({
  id,
  experiment: 'walk',
  experimentPath: '/somewhere/walk.ts',
  sourceHash: 'a'.repeat(64),
  params: {},
  seed: 1,
  iterations: 100,
  columns: { x: 'f8' },
  dtype: "[('x', '<f8')]",
  itemsize: 8,
  segmentRows: 100,
  flushEvery: 10,
  flushInterval: 1,
});

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

async function deadPid(): Promise<number> {
  const child = spawn('sleep', ['0'], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

function raw(dir: string): Database.Database {
  const db = new Database(path.join(dir, CATALOG_FILE), { readonly: true });
  onTestFinished(() => {
    db.close();
  });
  return db;
}

describe('CatalogReader', () => {
  it('refuses a missing catalog, a file that is not SQLite and another schema version, creating and changing nothing', () => {
    const dir = tmpDir('mmrun-ro-');
    expect(thrown(() => CatalogReader.open(dir)).code).toBe('RUN_NOT_FOUND');
    expect(fs.readdirSync(dir)).toEqual([]);
    const file = path.join(dir, CATALOG_FILE);
    fs.writeFileSync(file, 'not a database, just text'.repeat(100));
    const before = fileHash(file);
    expect(thrown(() => CatalogReader.open(dir)).code).toBe('CATALOG_INVALID');
    expect(fileHash(file)).toBe(before);
    fs.rmSync(file);
    for (const [version, code] of [
      [1, 'CATALOG_INVALID'],
      [SCHEMA_VERSION + 1, 'CATALOG_TOO_NEW'],
    ] as const) {
      const db = new Database(file);
      db.pragma(`user_version = ${version}`);
      db.close();
      const hash = fileHash(file);
      const error = thrown(() => CatalogReader.open(dir));
      expect(error.code).toBe(code);
      expect(error.message).toContain(`schema version ${version}`);
      // An older catalog is one only a writer may migrate: its own class, so readers can.
      expect(error instanceof OlderSchema).toBe(version < SCHEMA_VERSION);
      expect(fileHash(file)).toBe(hash);
      expect(fs.readdirSync(dir)).toEqual([CATALOG_FILE]);
      fs.rmSync(file);
    }
  });

  it('reads a dead owner’s run as crashed without recording it, sees commits, and holds no transaction', async () => {
    const dir = tmpDir('mmrun-ro-');
    const writer = Catalog.open(dir);
    onTestFinished(() => writer.close());
    writer.createRun(spec('dead'), { ...currentOwner(), pid: await deadPid() });
    writer.createRun(spec('alive'), currentOwner());
    const reader = CatalogReader.open(dir);
    onTestFinished(() => reader.close());
    const version = reader.dataVersion();
    expect(Object.fromEntries(reader.listRuns().map((r) => [r.id, r.status]))).toEqual({
      dead: 'crashed',
      alive: 'running',
    });
    expect(reader.readRun('dead').status).toBe('crashed');
    expect(reader.events('dead').map((e) => e.type)).toEqual(['started']);
    expect(reader.dataVersion()).toBe(version);
    // The writer commits between two reads: the reader holds no read transaction to block it.
    writer.checkpoint('alive', 10, null);
    expect(reader.dataVersion()).not.toBe(version);
    expect(reader.readRun('alive').flushedRows).toBe(10);
    expect(thrown(() => reader.readRun('nope')).code).toBe('RUN_NOT_FOUND');
    // The catalog still holds what the writer recorded: running, until a writer detects the crash.
    expect(
      raw(dir)
        .prepare("SELECT status, (SELECT COUNT(*) FROM events WHERE run_id = 'dead') AS n FROM runs WHERE id = 'dead'")
        .get(),
    ).toEqual({ status: 'running', n: 1 });
    expect(writer.getRun('dead').status).toBe('crashed');
  });

  it('reads sweeps and their points in one snapshot: a dead owner’s sweep and point runs crashed, not recorded', async () => {
    const dir = tmpDir('mmrun-ro-');
    const store = SweepCatalog.open(dir);
    onTestFinished(() => store.close());
    const pid = await deadPid();
    const owner = { ...currentOwner(), pid };
    store.createSweep(
      { id: 'sw', experiment: 'walk', experimentPath: '/x/walk.ts', sourceHash: 'a'.repeat(64), spec: { seeds: 2 } },
      [
        { params: { drift: 0 }, seed: 1, runId: 'sw-p0' },
        { params: { drift: 0 }, seed: 2, runId: 'sw-p1' },
      ],
      owner,
    );
    store.runs.createRun(spec('sw-p0'), owner);
    store.runs.checkpoint('sw-p0', 30, null);
    const reader = CatalogReader.open(dir);
    onTestFinished(() => reader.close());
    const { sweep, points } = reader.readSweep('sw');
    expect(sweep).toMatchObject({ id: 'sw', status: 'crashed', spec: { seeds: 2 } });
    expect(points.map((p) => [p.runId, p.status, p.flushedRows, p.iterations])).toEqual([
      ['sw-p0', 'crashed', 30, 100],
      ['sw-p1', 'pending', 0, undefined],
    ]);
    expect(reader.listSweeps().map((s) => s.sweep.id)).toEqual(['sw']);
    expect(thrown(() => reader.readSweep('nope')).code).toBe('RUN_NOT_FOUND');
    const db = raw(dir);
    expect(db.prepare("SELECT status FROM sweeps WHERE id = 'sw'").pluck().get()).toBe('running');
    expect(db.prepare("SELECT status FROM runs WHERE id = 'sw-p0'").pluck().get()).toBe('running');
    // The writer records both when it reads them.
    expect(store.getSweep('sw').status).toBe('crashed');
    expect(store.points('sw').map((p) => p.status)).toEqual(['crashed', 'pending']);
    expect(db.prepare("SELECT status FROM runs WHERE id = 'sw-p0'").pluck().get()).toBe('crashed');
  });
});
