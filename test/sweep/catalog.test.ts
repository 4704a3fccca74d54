import { describe, expect, it } from 'vitest';
import { currentOwner, type Owner, processStartTime } from '../../src/catalog/ownership.ts';
import { SweepCatalog } from '../../src/catalog/sweeps.ts';
import { MmrunError } from '../../src/errors.ts';
import { tmpDir } from '../helpers/tmp.ts';

const SWEEP = {
  id: 's',
  experiment: 'walk',
  experimentPath: '/x/walk.ts',
  sourceHash: 'a'.repeat(64),
  spec: { seeds: 2 },
};
const POINTS = [
  { params: { drift: 0 }, seed: 1, runId: 's-p0000' },
  { params: { drift: 0 }, seed: 2, runId: 's-p0001' },
];
// A process that is alive for sure (the test runner's parent), and one that is not.
const alive = (): Owner => ({ ...currentOwner(), pid: process.ppid, start: processStartTime(process.ppid)! });
const dead = (): Owner => ({ ...currentOwner(), pid: 2 ** 22 + 1, start: '1' });

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

describe('SweepCatalog', () => {
  it('records a sweep and its points, pending until their runs exist', () => {
    const dir = tmpDir();
    const store = SweepCatalog.open(dir);
    try {
      const sweep = store.createSweep(SWEEP, POINTS, currentOwner());
      expect(sweep).toMatchObject({ ...SWEEP, status: 'running', owner: currentOwner() });
      expect(store.points('s')).toEqual([
        { idx: 0, ...POINTS[0], status: 'pending', flushedRows: 0, iterations: undefined },
        { idx: 1, ...POINTS[1], status: 'pending', flushedRows: 0, iterations: undefined },
      ]);
      expect(SweepCatalog.isSweep(dir, 's')).toBe(true);
      expect(SweepCatalog.isSweep(dir, 's-p0000')).toBe(false);
      expect([...store.pointRunIds()]).toEqual(['s-p0000', 's-p0001']);
    } finally {
      store.close();
    }
  });

  it("refuses a run whose id is a sweep's", () => {
    const store = SweepCatalog.open(tmpDir());
    try {
      store.createSweep(SWEEP, POINTS, currentOwner());
      const run = {
        id: 's',
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
      };
      const e = thrown(() => store.runs.createRun(run, currentOwner()));
      expect(e.code).toBe('RUN_EXISTS');
      expect(e.message).toContain('sweep');
      expect(store.runs.listRuns()).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('refuses a taken sweep id, creating nothing', () => {
    const store = SweepCatalog.open(tmpDir());
    try {
      store.createSweep(SWEEP, POINTS, currentOwner());
      expect(thrown(() => store.createSweep({ ...SWEEP }, [], currentOwner())).code).toBe('RUN_EXISTS');
      expect(store.listSweeps()).toHaveLength(1);
    } finally {
      store.close();
    }
  });

  it('refuses to claim a sweep whose owner lives; takes over a dead one, recorded crashed first', () => {
    const store = SweepCatalog.open(tmpDir());
    try {
      store.createSweep(SWEEP, POINTS, alive());
      const e = thrown(() => store.claim('s', currentOwner()));
      expect(e.code).toBe('RUN_LOCKED');
      expect(e.message).toContain(`pid ${process.ppid}`);
      store.finish('s', 'interrupted');
      store.claim('s', dead());
      expect(store.getSweep('s').status).toBe('crashed');
      expect(store.claim('s', currentOwner()).owner).toEqual(currentOwner());
      store.finish('s', 'completed');
      expect(thrown(() => store.claim('s', currentOwner())).code).toBe('RUN_COMPLETED');
      expect(thrown(() => store.getSweep('nope')).code).toBe('RUN_NOT_FOUND');
    } finally {
      store.close();
    }
  });
});
