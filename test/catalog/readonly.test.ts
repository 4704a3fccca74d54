// Catalog.openReadOnly: what a dashboard reads the catalog through. It never writes: not a
// migration, not a pragma, not a detected crash.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CATALOG_FILE, Catalog, type RunSpec } from '../../src/catalog/catalog.ts';
import { currentOwner } from '../../src/catalog/ownership.ts';
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

describe('Catalog.openReadOnly', () => {
  it('refuses a missing catalog, a file that is not SQLite and another schema version, creating and changing nothing', () => {
    const dir = tmpDir('mmrun-ro-');
    expect(thrown(() => Catalog.openReadOnly(dir)).code).toBe('CATALOG_INVALID');
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.writeFileSync(path.join(dir, CATALOG_FILE), 'not a database, just text'.repeat(100));
    const before = fileHash(path.join(dir, CATALOG_FILE));
    expect(thrown(() => Catalog.openReadOnly(dir)).code).toBe('CATALOG_INVALID');
    expect(fileHash(path.join(dir, CATALOG_FILE))).toBe(before);
    fs.rmSync(path.join(dir, CATALOG_FILE));
    const db = new Database(path.join(dir, CATALOG_FILE));
    db.pragma('user_version = 1');
    db.close();
    const old = thrown(() => Catalog.openReadOnly(dir));
    expect(old.code).toBe('CATALOG_INVALID');
    expect(old.message).toContain('schema version 1');
  });

  it('reads a dead owner’s run as crashed without recording it, sees commits, and cannot write', async () => {
    const dir = tmpDir('mmrun-ro-');
    const writer = Catalog.open(dir);
    onTestFinished(() => writer.close());
    const child = spawn('sleep', ['0'], { stdio: 'ignore' });
    await once(child, 'exit');
    writer.createRun(spec('dead'), { ...currentOwner(), pid: child.pid! });
    writer.createRun(spec('alive'), currentOwner());
    const reader = Catalog.openReadOnly(dir);
    onTestFinished(() => reader.close());
    const version = reader.dataVersion();
    expect(Object.fromEntries(reader.listRuns().map((r) => [r.id, r.status]))).toEqual({
      dead: 'crashed',
      alive: 'running',
    });
    expect(reader.getRun('dead').status).toBe('crashed');
    expect(reader.events('dead').map((e) => e.type)).toEqual(['started']);
    expect(reader.dataVersion()).toBe(version);
    writer.checkpoint('alive', 10, null);
    expect(reader.dataVersion()).not.toBe(version);
    expect(reader.getRun('alive').flushedRows).toBe(10);
    expect(() => reader.addEvent('alive', 'signal')).toThrow(/readonly/i);
    // The writer still sees the truth it recorded: running, until a writer detects the crash.
    const raw = new Database(path.join(dir, CATALOG_FILE), { readonly: true });
    onTestFinished(() => {
      raw.close();
    });
    expect(raw.prepare("SELECT status FROM runs WHERE id = 'dead'").pluck().get()).toBe('running');
  });
});
