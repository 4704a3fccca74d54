import * as fs from 'node:fs';
import * as path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { summarizeRun } from '../../src/stats/stats.ts';
import { arrowTidy, formatTidy, summarizeSweep, tidyRows } from '../../src/sweep/stats.ts';
import { startSweep } from '../../src/sweep/sweep.ts';
import { tmpDir } from '../helpers/tmp.ts';

const FIXTURE = `export default {
  name: 'two',
  columns: { y: 'f8', k: 'i4' },
  iterations: 40,
  params: { a: 0, tag: 'p' },
  step(i, ctx) { return { y: ctx.params.a + ctx.rng.random(), k: i }; },
};
`;

describe('summarizeSweep', () => {
  it('summarises each point as summarizeRun does and pools replicates (mean ± standard error)', async () => {
    const dir = tmpDir();
    const exp = path.join(dir, 'two.mjs');
    fs.writeFileSync(exp, FIXTURE);
    const runsDir = path.join(dir, 'runs');
    const r = await startSweep({
      experiment: exp,
      runsDir,
      grid: { a: [0, 10], tag: ['x', '"y'] },
      seeds: 3,
      seed: 9,
      id: 's',
    });
    expect(r.status).toBe('completed');
    const s = await summarizeSweep({ sweepId: 's', runsDir });
    expect(s.column).toBe('y'); // the first column by default
    expect(s.keys).toEqual(['a', 'tag']);
    expect(s.points).toHaveLength(12);
    const alone = await summarizeRun({ runId: 's-p0004', runsDir, columns: ['y'] });
    expect(s.points[4]).toMatchObject({ runId: 's-p0004', params: { a: 0, tag: '"y' }, seed: 10 });
    expect(s.points[4]).toMatchObject({
      count: 40,
      mean: alone.stats[0]!.mean,
      std: alone.stats[0]!.std,
      min: alone.stats[0]!.min,
      max: alone.stats[0]!.max,
      quantiles: alone.stats[0]!.quantiles,
    });
    expect(s.sets).toHaveLength(4);
    const means = s.points.slice(3, 6).map((p) => p.mean!);
    const mean = (means[0]! + means[1]! + means[2]!) / 3;
    const sd = Math.sqrt(means.reduce((a, m) => a + (m - mean) ** 2, 0) / 2);
    expect(s.sets[1]!.params).toEqual({ a: 0, tag: '"y' });
    expect(s.sets[1]!.replicates).toBe(3);
    expect(s.sets[1]!.mean).toBeCloseTo(mean, 14);
    expect(s.sets[1]!.stderr).toBeCloseTo(sd / Math.sqrt(3), 14);
    expect(s.sets[1]!.count).toBe(120);

    // The tidy table: one record per point, a column per param and per statistic.
    const rows = tidyRows(s);
    expect(Object.keys(rows[0]!).slice(0, 6)).toEqual(['run_id', 'a', 'tag', 'seed', 'status', 'column']);
    const csv = formatTidy(rows, 'csv').split('\n');
    expect(csv[5]!.startsWith('s-p0004,0,"""y",10,completed,y,40,')).toBe(true);
    const jsonl = formatTidy(rows, 'jsonl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(jsonl[4]).toEqual(JSON.parse(JSON.stringify(rows[4])));
    const table = tableFromIPC(arrowTidy(rows));
    expect(table.numRows).toBe(12);
    expect(table.getChild('mean')!.get(4)).toBe(s.points[4]!.mean);
    expect(table.getChild('tag')!.get(4)).toBe('"y');

    const k = await summarizeSweep({ sweepId: 's', runsDir, column: 'k' });
    expect(k.points[0]).toMatchObject({ min: 0, max: 39, mean: 19.5 });
  });
});
