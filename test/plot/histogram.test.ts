import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { checkBins, chooseEdges, Histogram, histogramEdges } from '../../src/plot/histogram.ts';
import { ValueStats } from '../../src/plot/values.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { noise, numpyPython } from './helpers.ts';

/** The histogram a plot draws: one pass for the range, one for the counts. */
function histogram(values: Float64Array, integer: boolean, bins?: number): { stats: ValueStats; h: Histogram } {
  const stats = new ValueStats();
  stats.add(values, values.length);
  const h = new Histogram(chooseEdges(stats, integer, bins));
  h.add(values, values.length);
  return { stats, h };
}

const sum = (a: Float64Array): number => a.reduce((s, v) => s + v, 0);

describe('histogramEdges', () => {
  it('spans [min, max] exactly in equal steps, like np.linspace', () => {
    expect([...histogramEdges(0, 1, 4)]).toEqual([0, 0.25, 0.5, 0.75, 1]);
    const edges = histogramEdges(-0.1, 0.7, 7);
    expect(edges.length).toBe(8);
    expect(edges[0]).toBe(-0.1);
    expect(edges[7]).toBe(0.7);
    const step = (0.7 - -0.1) / 7;
    for (let k = 0; k < 7; k++) expect(edges[k]).toBe(k * step + -0.1);
  });

  it('widens an empty range to ±0.5, as NumPy does', () => {
    expect([...histogramEdges(3, 3, 2)]).toEqual([2.5, 3, 3.5]);
  });

  it('rejects a bad bin count with BAD_OPTION', () => {
    for (const bad of [0, -1, 2.5, Number.NaN, 10_001]) {
      expect(() => checkBins(bad)).toThrow(MmrunError);
      try {
        checkBins(bad);
      } catch (e) {
        expect((e as MmrunError).code).toBe('BAD_OPTION');
        expect((e as MmrunError).message).toContain(String(bad));
      }
    }
  });
});

describe('Histogram', () => {
  it('counts every finite value exactly once: the counts sum to their number', () => {
    const values = noise(200_001, 3);
    for (let i = 0; i < values.length; i += 97) values[i] = Number.NaN;
    values[5] = Number.POSITIVE_INFINITY;
    values[6] = Number.NEGATIVE_INFINITY;
    for (const bins of [1, 7, 50, 10_000]) {
      const { stats, h } = histogram(values, false, bins);
      expect(stats.skipped).toEqual({ nan: Math.ceil(values.length / 97), posInf: 1, negInf: 1 });
      expect(stats.finite).toBe(values.length - Math.ceil(values.length / 97) - 2);
      expect(sum(h.counts)).toBe(stats.finite);
      expect(h.total).toBe(stats.finite);
      expect(h.counts.length).toBe(bins);
    }
  });

  it('puts a value on an inner edge in the bin to its right, and the maximum in the last bin', () => {
    const h = new Histogram(histogramEdges(0, 10, 5));
    h.add(Float64Array.of(0, 1.999, 2, 4, 9.999, 10, -0.001, 10.001, Number.NaN), 9);
    expect([...h.counts]).toEqual([2, 1, 1, 0, 2]);
    expect(h.total).toBe(6);
  });

  it('gives integer values one bin per integer, and a bool column two bars at 0 and 1', () => {
    const bools = Float64Array.from({ length: 1000 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const b = histogram(bools, true).h;
    expect([...b.edges]).toEqual([-0.5, 0.5, 1.5]);
    expect([...b.counts]).toEqual([750, 250]);
    const ints = Float64Array.from({ length: 2100 }, (_, i) => (i % 21) - 10);
    const k = histogram(ints, true).h;
    expect(k.edges.length).toBe(22);
    expect([...k.counts]).toEqual(new Array(21).fill(100));
    // Integers spanning more than 100 values, and floats, get the default 50 bins.
    expect(histogram(Float64Array.of(0, 1000), true).h.counts.length).toBe(50);
    expect(histogram(Float64Array.of(0, 1), false).h.counts.length).toBe(50);
  });

  it('agrees with np.histogram, edges and counts, bit for bit', (ctx) => {
    const python = numpyPython();
    if (!python.exe) {
      if (process.env.CI) throw new Error(python.why);
      ctx.skip(python.why);
    }
    const values = noise(100_000, 11);
    // Values on and next to edges are where the index arithmetic needs NumPy's corrections.
    const edges = histogramEdges(Math.min(...values), Math.max(...values), 37);
    for (let k = 0; k < 37; k++) values[k * 101] = edges[k]!;
    const dir = tmpDir();
    const file = path.join(dir, 'values.f8');
    fs.writeFileSync(file, values);
    const ours = histogram(values, false, 37).h;
    const script = `import numpy as np, json, sys
a = np.fromfile(sys.argv[1], dtype='<f8')
counts, edges = np.histogram(a, bins=37)
print(json.dumps({'counts': counts.tolist(), 'edges': edges.astype('<f8').tobytes().hex()}))`;
    const r = spawnSync(python.exe!, ['-c', script, file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const numpy = JSON.parse(r.stdout) as { counts: number[]; edges: string };
    expect([...ours.counts]).toEqual(numpy.counts);
    expect(Buffer.from(ours.edges.buffer).toString('hex')).toBe(numpy.edges);
  });
});
