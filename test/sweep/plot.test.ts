import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MmrunError } from '../../src/errors.ts';
import { plotSweep } from '../../src/sweep/plot.ts';
import { summarizeSweep } from '../../src/sweep/stats.ts';
import { type SweepGrid, startSweep } from '../../src/sweep/sweep.ts';
import { tmpDir } from '../helpers/tmp.ts';

// Two number params: `a` shifts the values, `b` is left alone or swept too.
const FIXTURE = `export default {
  name: 'two',
  columns: { y: 'f8' },
  iterations: 50,
  params: { a: 0, b: 1 },
  step(i, ctx) { return { y: ctx.params.a + ctx.params.b * ctx.rng.random() }; },
};
`;

async function sweep(dir: string, grid: SweepGrid): Promise<string> {
  const exp = path.join(dir, 'two.mjs');
  fs.writeFileSync(exp, FIXTURE);
  const r = await startSweep({
    experiment: exp,
    runsDir: path.join(dir, 'runs'),
    grid,
    seeds: 3,
    seed: 5,
    id: 's',
    jobs: 1,
  });
  expect(r.status).toBe('completed');
  return path.join(dir, 'runs');
}

describe('plotSweep', () => {
  it('draws the mean over seeds ± standard error at each value of --x, in x order', async () => {
    const dir = tmpDir();
    const runsDir = await sweep(dir, { a: [2, 0, 1] });
    const out = path.join(dir, 'p.svg');
    const r = await plotSweep({ sweepId: 's', runsDir, x: 'a', out });
    const stats = await summarizeSweep({ sweepId: 's', runsDir });
    expect(r.series.map((p) => p.x)).toEqual([0, 1, 2]);
    for (const p of r.series) {
      const set = stats.sets.find((s) => s.params.a === p.x)!;
      expect(p).toEqual({ x: p.x, mean: set.mean, stderr: set.stderr });
      expect(p.stderr).toBeGreaterThan(0);
    }
    const svg = fs.readFileSync(out, 'utf8');
    expect(svg).toContain('s: mean of y vs a');
    expect(svg).toContain('± standard error over 3 seeds');
    const png = await plotSweep({ sweepId: 's', runsDir, x: 'a', out: path.join(dir, 'p.png') });
    expect(fs.readFileSync(png.out).subarray(1, 4).toString()).toBe('PNG');
  });

  it('refuses an --x that is not swept, and a second swept param (no --by yet)', async () => {
    const dir = tmpDir();
    const runsDir = await sweep(dir, { a: [0, 1], b: [1, 2] });
    const refusal = async (x: string) => {
      try {
        await plotSweep({ sweepId: 's', runsDir, x, out: path.join(dir, 'p.svg') });
      } catch (e) {
        return e as MmrunError;
      }
      throw new Error('did not throw');
    };
    expect((await refusal('c')).message).toContain("--x 'c' is not a swept param");
    const both = await refusal('a');
    expect(both.code).toBe('BAD_OPTION');
    expect(both.message).toContain('also varies b');
    expect(fs.existsSync(path.join(dir, 'p.svg'))).toBe(false);
  });
});
