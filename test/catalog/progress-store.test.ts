// The catalog as the runner's ProgressStore (touch), and recordCodeChange: a resume's code
// change (event and fingerprint) recorded in one transaction, proved by killing a process
// between its two writes.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CATALOG_FILE, Catalog, type RunSpec } from '../../src/catalog/catalog.ts';
import { currentOwner, processStartTime } from '../../src/catalog/ownership.ts';
import { tmpDir } from '../helpers/tmp.ts';

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
  fingerprint: '{"v":1}',
});

const DIST_CATALOG = pathToFileURL(path.resolve(import.meta.dirname, '../../dist/catalog/catalog.js')).href;

function open(dir: string): Catalog {
  const catalog = Catalog.open(dir);
  onTestFinished(() => catalog.close());
  return catalog;
}

// Catalog implements ProgressStore (checked by the compiler); touch() is the method it adds.
describe('the catalog as a ProgressStore', () => {
  it('touch() refreshes the heartbeat of a run this process owns, and of no other', async () => {
    const catalog = open(tmpDir());
    catalog.createRun(spec('mine'), currentOwner());
    // Another live process (the test runner's parent) owns this one.
    catalog.createRun(spec('theirs'), { ...currentOwner(), pid: process.ppid, start: processStartTime(process.ppid)! });
    const beat = (id: string) => catalog.getRun(id).heartbeatAt!;
    const [mine, theirs] = [beat('mine'), beat('theirs')];
    // Until the clock has moved past the recorded beats (ISO timestamps have millisecond steps).
    while (Date.now() <= Date.parse(theirs)) await new Promise((resolve) => setImmediate(resolve));
    catalog.touch('mine');
    catalog.touch('theirs');
    expect(Date.parse(catalog.getRun('mine').heartbeatAt!)).toBeGreaterThan(Date.parse(mine));
    expect(catalog.getRun('theirs').heartbeatAt).toBe(theirs);
  });
});

describe('recordCodeChange', () => {
  it('records the new fingerprint and source hash with the event, or without one', () => {
    const catalog = open(tmpDir());
    catalog.createRun(spec('r'), currentOwner());
    catalog.recordCodeChange('r', '{"v":2}', 'b'.repeat(64), {
      type: 'code-warning',
      data: { changes: ['a comment'] },
    });
    expect(catalog.fingerprint('r')).toBe('{"v":2}');
    expect(catalog.getRun('r').sourceHash).toBe('b'.repeat(64));
    expect(catalog.events('r').at(-1)).toMatchObject({ type: 'code-warning', data: { changes: ['a comment'] } });
    catalog.recordCodeChange('r', '{"v":3}', 'c'.repeat(64));
    expect(catalog.fingerprint('r')).toBe('{"v":3}');
    expect(catalog.events('r').map((e) => e.type)).toEqual(['started', 'code-warning']);
  });

  it('is one transaction: a process killed between its writes leaves the old code and no event', () => {
    const dir = tmpDir();
    const setup = open(dir);
    setup.createRun(spec('r'), currentOwner());
    setup.close();
    const script = `
      import { Catalog } from ${JSON.stringify(DIST_CATALOG)};
      const catalog = Catalog.open(process.argv[1]);
      catalog.recordCodeChange('r', '{"v":2}', ${JSON.stringify('b'.repeat(64))}, { type: 'code-warning', data: { changes: ['x'] } });
      catalog.close();`;
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', script, dir], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const read = () => {
      const db = new Database(path.join(dir, CATALOG_FILE), { readonly: true });
      try {
        return {
          fingerprint: db.prepare("SELECT parts FROM fingerprints WHERE run_id = 'r'").pluck().get(),
          sourceHash: db.prepare("SELECT source_hash FROM runs WHERE id = 'r'").pluck().get(),
          events: db.prepare("SELECT type FROM events WHERE run_id = 'r' ORDER BY id").pluck().all(),
        };
      } finally {
        db.close();
      }
    };
    const killed = run({ MMRUN_FAULT: 'code-change' });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(read()).toEqual({ fingerprint: '{"v":1}', sourceHash: 'a'.repeat(64), events: ['started'] });
    const done = run({});
    expect(done.status, done.stderr).toBe(0);
    expect(read()).toEqual({ fingerprint: '{"v":2}', sourceHash: 'b'.repeat(64), events: ['started', 'code-warning'] });
  });
});
