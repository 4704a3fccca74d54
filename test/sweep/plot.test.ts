import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MmrunError } from '../../src/errors.ts';
import { SERIES_COLORS } from '../../src/plot/render.ts';
import { plotSweep } from '../../src/sweep/plot.ts';
import { summarizeSweep } from '../../src/sweep/stats.ts';
import { type SweepGrid, startSweep } from '../../src/sweep/sweep.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { decodePng } from '../plot/png.ts';

// Number params: `a` shifts the values, `b` scales the noise; `c` and `tag` change nothing.
const FIXTURE = `export default {
  name: 'two',
  columns: { y: 'f8' },
  iterations: 50,
  params: { a: 0, b: 1, c: 0, tag: 'x' },
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
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]!.points.map((p) => p.x)).toEqual([0, 1, 2]);
    for (const p of r.lines[0]!.points) {
      const set = stats.sets.find((s) => s.params.a === p.x)!;
      expect(p).toEqual({ x: p.x, value: set.mean, stderr: set.stderr, replicates: 3 });
      expect(p.stderr).toBeGreaterThan(0);
    }
    const svg = fs.readFileSync(out, 'utf8');
    expect(svg).toContain('s: mean of y vs a');
    expect(svg).toContain('± standard error over 3 seeds');
    expect(svg.match(/class="series"/g)).toHaveLength(1);
    expect(svg).not.toContain('class="legend"');
    const png = await plotSweep({ sweepId: 's', runsDir, x: 'a', out: path.join(dir, 'p.png') });
    expect(fs.readFileSync(png.out).subarray(1, 4).toString()).toBe('PNG');
  });

  it('with --by draws one line per value of a second param, each with its legend entry and colour', async () => {
    const dir = tmpDir();
    const runsDir = await sweep(dir, { a: [0, 1, 2], b: [4, 1, 2] });
    const r = await plotSweep({ sweepId: 's', runsDir, x: 'a', by: 'b', out: path.join(dir, 'p.svg') });
    expect(r.lines.map((l) => l.label)).toEqual(['b = 1', 'b = 2', 'b = 4']);
    const stats = await summarizeSweep({ sweepId: 's', runsDir });
    for (const line of r.lines) {
      expect(line.points.map((p) => p.x)).toEqual([0, 1, 2]);
      for (const p of line.points) {
        const set = stats.sets.find((s) => s.params.a === p.x && s.params.b === line.by)!;
        expect(p.value).toBe(set.mean);
        expect(p.stderr).toBe(set.stderr);
      }
    }
    const svg = fs.readFileSync(r.out, 'utf8');
    expect(svg.match(/class="series"/g)).toHaveLength(3);
    expect(svg).toContain('class="legend"');
    for (const label of ['b = 1', 'b = 2', 'b = 4']) expect(svg).toContain(`>${label}</text>`);
    expect(svg).toContain('s: mean of y vs a by b');

    // The PNG shows the three palette colours (blue, orange, green), not only the first.
    const png = decodePng(
      fs.readFileSync((await plotSweep({ sweepId: 's', runsDir, x: 'a', by: 'b', out: path.join(dir, 'p.png') })).out),
    );
    const near = (hex: string) => {
      const [r0, g0, b0] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
      let n = 0;
      for (let p = 0; p < png.pixels.length; p += 4) {
        const d = Math.abs(png.pixels[p]! - r0) + Math.abs(png.pixels[p + 1]! - g0) + Math.abs(png.pixels[p + 2]! - b0);
        if (d < 30) n++;
      }
      return n;
    };
    for (const color of SERIES_COLORS.slice(0, 3)) expect(near(color), color).toBeGreaterThan(100);
    expect(near(SERIES_COLORS[3])).toBe(0);
  });

  it('--stat averages another statistic of each point over the seeds', async () => {
    const dir = tmpDir();
    const runsDir = await sweep(dir, { a: [0, 1] });
    const r = await plotSweep({ sweepId: 's', runsDir, x: 'a', stat: 'max', out: path.join(dir, 'p.svg') });
    const stats = await summarizeSweep({ sweepId: 's', runsDir });
    for (const p of r.lines[0]!.points) {
      const maxes = stats.points.filter((q) => q.params.a === p.x).map((q) => q.max!);
      expect(p.value).toBeCloseTo(maxes.reduce((a, b) => a + b, 0) / maxes.length, 12);
    }
    expect(fs.readFileSync(r.out, 'utf8')).toContain('s: max of y vs a');
  });

  it('refuses a third varying param, a --by that is --x or not swept, and an unknown --stat', async () => {
    const dir = tmpDir();
    const runsDir = await sweep(dir, { a: [0, 1], b: [1, 2], tag: ['x', 'y'] });
    const refusal = async (options: Partial<Parameters<typeof plotSweep>[0]>) => {
      try {
        await plotSweep({ sweepId: 's', runsDir, x: 'a', out: path.join(dir, 'p.svg'), ...options });
      } catch (e) {
        return e as MmrunError;
      }
      throw new Error('did not throw');
    };
    const two = await refusal({});
    expect(two.message).toContain('also varies b (2 values), tag (2 values)');
    expect(two.remedy).toContain('--by b');
    const third = await refusal({ by: 'b' });
    expect(third.message).toContain('also varies tag (2 values)');
    expect(third.remedy).toContain('one --by');
    expect((await refusal({ by: 'a' })).message).toContain("--by 'a' is also --x");
    expect((await refusal({ by: 'c' })).message).toContain("--by 'c' is not a swept param");
    expect((await refusal({ stat: 'median' as 'mean' })).code).toBe('BAD_OPTION');
    expect(fs.existsSync(path.join(dir, 'p.svg'))).toBe(false);
  });

  it('refuses an --x that is not swept, and a second swept param without --by', async () => {
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
    expect(both.message).toContain('also varies b (2 values)');
    expect(both.remedy).toBe('draw one line per value of it: --by b');
    expect(fs.existsSync(path.join(dir, 'p.svg'))).toBe(false);
  });
});
