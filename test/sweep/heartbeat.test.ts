import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { RunSpec } from '../../src/catalog/catalog.ts';
import { currentOwner } from '../../src/catalog/ownership.ts';
import { SweepCatalog } from '../../src/catalog/sweeps.ts';
import { startSweepHeartbeat } from '../../src/sweep/heartbeat.ts';
import { tmpDir } from '../helpers/tmp.ts';

const run = (id: string): RunSpec => ({
  id,
  experiment: 'walk',
  experimentPath: '/x/walk.ts',
  sourceHash: 'a'.repeat(64),
  params: {},
  seed: 1,
  iterations: 10,
  columns: { x: 'f8' },
  dtype: "[('x', '<f8')]",
  itemsize: 8,
  segmentRows: 10,
  flushEvery: 10,
  flushInterval: 10,
});

describe('the sweep heartbeat', () => {
  it('beats for the sweep and for every running run this process owns, and no other', async () => {
    const dir = tmpDir();
    const store = SweepCatalog.open(dir);
    const me = currentOwner();
    store.createSweep(
      { id: 's', experiment: 'walk', experimentPath: '/x/walk.ts', sourceHash: 'a'.repeat(64), spec: {} },
      [],
      me,
    );
    store.runs.createRun(run('mine'), me);
    store.runs.createRun(run('theirs'), { ...me, pid: process.ppid });
    const db = new Database(path.join(dir, 'mmrun.sqlite'), { readonly: true });
    const beats = () => ({
      sweep: db.prepare("SELECT heartbeat_at FROM sweeps WHERE id = 's'").pluck().get() as string,
      mine: db.prepare("SELECT heartbeat_at FROM runs WHERE id = 'mine'").pluck().get() as string,
      theirs: db.prepare("SELECT heartbeat_at FROM runs WHERE id = 'theirs'").pluck().get() as string,
    });
    const before = beats();
    const heartbeat = startSweepHeartbeat(store.runs.file, 's', me, 10);
    try {
      for (let k = 0; k < 500; k++) {
        const now = beats();
        if (now.sweep > before.sweep && now.mine > before.mine) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const after = beats();
      expect(after.sweep > before.sweep).toBe(true);
      expect(after.mine > before.mine).toBe(true);
      expect(after.theirs).toBe(before.theirs);
    } finally {
      await heartbeat.stop();
      db.close();
      store.close();
    }
  });
});
