import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import type { LoadedExperiment } from '../../src/experiment/load.ts';
import { paramArgs, planSweep, pointRunId } from '../../src/sweep/sweep.ts';

const loaded = {
  name: 'walk',
  experiment: { iterations: 100, columns: { x: 'f8' }, step: () => ({ x: 0 }) },
  params: { drift: 0.5, label: 'a' },
} as unknown as LoadedExperiment;

const THOUSAND_AND_ONE = Array.from({ length: 1001 }, (_, i) => i / 1000);

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

describe('planSweep', () => {
  it('lists every parameter set × K replicates, replicate r with seed S + r', () => {
    const plan = planSweep(loaded, { grid: { drift: [0, 0.5, 1], label: ['x', 'y'] }, seeds: 2, seed: 40, id: 'g' });
    expect(plan.points).toHaveLength(12);
    expect(plan.points.slice(0, 3)).toEqual([
      { params: { drift: 0, label: 'x' }, seed: 40, runId: 'g-p0000' },
      { params: { drift: 0, label: 'x' }, seed: 41, runId: 'g-p0001' },
      { params: { drift: 0, label: 'y' }, seed: 40, runId: 'g-p0002' },
    ]);
    expect(plan.points[11]).toEqual({ params: { drift: 1, label: 'y' }, seed: 41, runId: 'g-p0011' });
    expect(plan.spec).toMatchObject({ seeds: 2, seed: 40, iterations: 100, params: [] });
  });

  it('names points with enough digits and reproduces a set with --param texts', () => {
    expect(pointRunId('s', 7, 10)).toBe('s-p0007');
    expect(pointRunId('s', 12345, 20000)).toBe('s-p12345');
    expect(paramArgs({ drift: 0.1 + 0.2, label: 'a=b', on: true })).toEqual([
      'drift=0.30000000000000004',
      'label=a=b',
      'on=true',
    ]);
  });

  it('refuses bad input before anything is created', () => {
    expect(thrown(() => planSweep(loaded, {})).code).toBe('BAD_GRID');
    expect(thrown(() => planSweep(loaded, { grid: { drift: [1] }, points: 'p.csv' })).code).toBe('BAD_OPTION');
    expect(thrown(() => planSweep(loaded, { grid: { drift: [1] }, seeds: 0 })).code).toBe('BAD_OPTION');
    expect(thrown(() => planSweep(loaded, { grid: { drift: [1] }, params: { nope: 1 } })).code).toBe('BAD_PARAM');
    expect(thrown(() => planSweep(loaded, { grid: { drift: [1] }, iterations: 0 })).code).toBe('BAD_ITERATIONS');
    expect(thrown(() => planSweep(loaded, { grid: { drift: [1] }, id: 'a/b' })).code).toBe('BAD_RUN_ID');
    expect(thrown(() => planSweep(loaded, { grid: { drift: [1] }, id: 'x-p0001' })).code).toBe('BAD_RUN_ID');
    expect(
      thrown(() => planSweep(loaded, { grid: { drift: [1] }, seed: Number.MAX_SAFE_INTEGER, seeds: 2 })).code,
    ).toBe('BAD_OPTION');
    expect(thrown(() => planSweep(loaded, { grid: { drift: THOUSAND_AND_ONE, label: ['x'] }, seeds: 1000 })).code).toBe(
      'SWEEP_TOO_LARGE',
    );
    // Typed values are checked against the params' defaults: keys, types, empty axes, repeats.
    expect(thrown(() => planSweep(loaded, { grid: { nope: [1] } })).code).toBe('BAD_GRID');
    expect(thrown(() => planSweep(loaded, { grid: { drift: ['0.1'] } })).message).toContain('default 0.5 is a number');
    expect(thrown(() => planSweep(loaded, { grid: { drift: [] } })).code).toBe('BAD_GRID');
    expect(
      thrown(() =>
        planSweep(loaded, {
          grid: [
            { key: 'drift', values: [1] },
            { key: 'drift', values: [2] },
          ],
        }),
      ).code,
    ).toBe('BAD_GRID');
    expect(thrown(() => planSweep(loaded, { grid: { drift: [1] }, params: { label: 3 } })).code).toBe('BAD_PARAM');
    expect(planSweep(loaded, { grid: { drift: [1] }, params: { label: 'b=c' } }).spec.params).toEqual(['label=b=c']);
    expect(
      planSweep(loaded, { grid: [{ key: 'drift', values: THOUSAND_AND_ONE }], seeds: 1000, yes: true }).points,
    ).toHaveLength(1_001_000);
  });
});
