// `mmrun plot` end to end: real runs, the real CLI, and the images decoded and looked at.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { plotRun } from '../../src/plot/plot.ts';
import { SPIKE, special } from '../plot/fixtures/signal.ts';
import { decodePng, inkCounts, PNG_SIGNATURE, pngSize } from '../plot/png.ts';
import { mmrun, peekRun, ROOT, spawnMmrun, tempDirs, waitFor } from './cli.ts';

const SIGNAL = path.join(ROOT, 'test/plot/fixtures/signal.ts');
const ROWS = 200_000;

const fresh = tempDirs('mmrun-plot-e2e-');
let runsDir: string;
let outDir: string;

beforeAll(async () => {
  runsDir = fresh();
  outDir = path.join(runsDir, 'out');
  fs.mkdirSync(outDir);
  const [walk, signal] = await Promise.all([
    mmrun(['run', 'walk', '-n', '200_000', '--seed', '42', '--id', 'walk'], runsDir),
    mmrun(['run', SIGNAL, '--id', 'sig'], runsDir),
  ]);
  expect(walk.code, walk.stderr).toBe(0);
  expect(signal.code, signal.stderr).toBe(0);
});

const out = (name: string) => path.join(outDir, name);

describe('mmrun plot', () => {
  it('draws a column over iterations as a PNG of the requested size, with text and data', async () => {
    const file = out('position.png');
    const r = await mmrun(
      ['plot', 'walk', '--column', 'position', '--out', file, '--width', '800', '--height', '450'],
      runsDir,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(file);
    expect(r.stderr).toMatch(/plotted position of walk \(line, 200,000 values\) to .*position\.png \(800×450 png/);
    const bytes = fs.readFileSync(file);
    expect(bytes.subarray(0, 8)).toEqual(PNG_SIGNATURE);
    expect(pngSize(bytes)).toEqual({ width: 800, height: 450 });
    const png = decodePng(bytes);
    const ink = inkCounts(png);
    expect(ink.ink / ink.total).toBeGreaterThan(0.05);
    expect(ink.dark).toBeGreaterThan(1500);
    expect(ink.blue).toBeGreaterThan(2000);
  });

  it('draws a histogram', async () => {
    const file = out('hist.png');
    const r = await mmrun(['plot', 'walk', '-c', 'position', '--kind', 'hist', '--bins', '40', '-o', file], runsDir);
    expect(r.code, r.stderr).toBe(0);
    const png = decodePng(fs.readFileSync(file));
    expect([png.width, png.height]).toEqual([900, 500]);
    const ink = inkCounts(png);
    // Bars fill much of the plot.
    expect(ink.blue / ink.total).toBeGreaterThan(0.1);
    expect(ink.dark).toBeGreaterThan(1500);
  });

  it('writes an SVG with the run and column in the title and labelled axes', async () => {
    const line = out('position.svg');
    const hist = out('position-hist.svg');
    const [a, b] = await Promise.all([
      mmrun(['plot', 'walk', '-c', 'position', '-o', line], runsDir),
      mmrun(['plot', 'walk', '-c', 'position', '-k', 'hist', '-o', hist], runsDir),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const svg = fs.readFileSync(line, 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="900" height="500"')).toBe(true);
    expect(svg).toContain('font-weight="bold" text-anchor="middle" fill="#1a1a1a">walk: position</text>');
    expect(svg).toContain('>iteration</text>');
    // The plot area is the clip rectangle; each of its pixel columns stands for rows / width rows.
    const plotWidth = Number(/<clipPath id="plot-area"><rect x="\d+" y="\d+" width="(\d+)"/.exec(svg)![1]);
    expect(plotWidth).toBeGreaterThan(700);
    const perPixel = Math.round(ROWS / plotWidth).toLocaleString('en-US');
    expect(svg).toContain(`>200,000 rows · min–max of ≈${perPixel} rows per pixel column</text>`);
    const h = fs.readFileSync(hist, 'utf8');
    expect(h).toContain('>walk: position</text>');
    expect(h).toContain('>count</text>');
    expect(h).toMatch(/>200,000 values · 50 bins of width [\d.]+ · min −[\d.]+, max [\d.]+<\/text>/);
  });

  it('keeps a single spike, and skips non-finite values, counting them in the notes', async () => {
    let nan = 0;
    let posInf = 0;
    let negInf = 0;
    for (let i = 0; i < ROWS; i++) {
      const v = special(i);
      if (v === undefined || i === SPIKE.row) continue;
      if (Number.isNaN(v)) nan++;
      else if (v > 0) posInf++;
      else negInf++;
    }
    const svgFile = out('y.svg');
    const pngFile = out('y.png');
    const [svgRun, pngRun] = await Promise.all([
      mmrun(['plot', 'sig', '-c', 'y', '-o', svgFile], runsDir),
      mmrun(['plot', 'sig', '-c', 'y', '-o', pngFile], runsDir),
    ]);
    expect(svgRun.code, svgRun.stderr).toBe(0);
    expect(pngRun.code, pngRun.stderr).toBe(0);
    const skipped = nan + posInf + negInf;
    expect(svgRun.stderr).toContain(
      `${(ROWS - skipped).toLocaleString('en-US')} values, ${skipped} non-finite skipped`,
    );
    expect(fs.readFileSync(svgFile, 'utf8')).toContain(
      `${skipped} non-finite values skipped (${nan} NaN, ${posInf} +∞, ${negInf} −∞)`,
    );
    // The sine stays within ±1.1; only the spike to 50 reaches the upper part of the plot.
    const png = decodePng(fs.readFileSync(pngFile));
    let topmost = png.height;
    for (let p = 0; p < png.width * png.height; p++) {
      const [r, g, b] = png.pixels.subarray(p * 4, p * 4 + 3);
      if (b! > r! + 60 && b! > 120 && g! < 200) topmost = Math.min(topmost, Math.floor(p / png.width));
    }
    expect(topmost).toBeLessThan(png.height * 0.25);
  });

  it('plots one element of a vector column, and refuses a vector without an index', async () => {
    const ok = await mmrun(['plot', 'sig', '-c', 'v[2]', '-o', out('v2.svg')], runsDir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(fs.readFileSync(out('v2.svg'), 'utf8')).toContain('>sig: v[2]</text>');
    const bare = await mmrun(['plot', 'sig', '-c', 'v', '-o', out('v.svg')], runsDir);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain("mmrun: error BAD_COLUMN_INDEX: run 'sig': column 'v' is a vector of 3 f4");
    expect(bare.stderr).toContain('the valid forms are y, v[0]…v[2], k, on');
    expect(fs.existsSync(out('v.svg'))).toBe(false);
  });

  it('refuses an unknown column with UNKNOWN_COLUMN, listing the valid ones, and writes nothing', async () => {
    const r = await mmrun(['plot', 'walk', '--column', 'velocity', '--out', out('velocity.png')], runsDir);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(
      "mmrun: error UNKNOWN_COLUMN: run 'walk' has no column 'velocity'; its columns are position, steps, hit, maxPosition",
    );
    expect(fs.readdirSync(outDir).some((f) => f.startsWith('velocity') || f.startsWith('.velocity'))).toBe(false);
  });

  it('refuses conflicting or unusable flags as usage errors (exit 2), and an unknown run (exit 1)', async () => {
    const [bins, ext, size, run] = await Promise.all([
      mmrun(['plot', 'walk', '-c', 'position', '--bins', '10', '-o', out('a.png')], runsDir),
      mmrun(['plot', 'walk', '-c', 'position', '-o', out('a.jpg')], runsDir),
      mmrun(['plot', 'walk', '-c', 'position', '--width', '50', '-o', out('a.png')], runsDir),
      mmrun(['plot', 'nope', '-c', 'position', '-o', out('a.png')], runsDir),
    ]);
    expect(bins.code).toBe(2);
    expect(bins.stderr).toContain('--bins conflicts with --kind line');
    expect(ext.code).toBe(2);
    expect(ext.stderr).toContain("--out '");
    expect(ext.stderr).toContain('ends neither in .png nor .svg');
    expect(size.code).toBe(1);
    expect(size.stderr).toContain('BAD_OPTION: width 50 is not an integer from 200 to 8000 pixels');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('RUN_NOT_FOUND');
    expect(fs.existsSync(out('a.png'))).toBe(false);
  });

  it('of a sweep: --by draws a line per value, --stat picks the statistic; a varying param needs --by', async () => {
    const dir = fresh();
    const exp = path.join(dir, 'two.mjs');
    fs.writeFileSync(
      exp,
      "export default { name: 'two', columns: { y: 'f8' }, iterations: 50, params: { a: 0, b: 1 },\n" +
        '  step(i, ctx) { return { y: ctx.params.a * ctx.params.b + ctx.rng.random() }; } };\n',
    );
    const made = await mmrun(['sweep', exp, '-g', 'a=0:1:3', '-g', 'b=1,2', '--seeds', '2', '--id', 's', '-q'], dir);
    expect(made.code, made.stderr).toBe(0);
    const svg = path.join(dir, 's.svg');
    const by = await mmrun(['plot', 's', '--x', 'a', '--by', 'b', '--stat', 'max', '-o', svg], dir);
    expect(by.code, by.stderr).toBe(0);
    expect(by.stderr).toContain('drew the max of y at 3 values of a, 2 lines by b');
    expect(fs.readFileSync(svg, 'utf8').match(/class="series"/g)).toHaveLength(2);
    const [mixed, noX] = await Promise.all([
      mmrun(['plot', 's', '--x', 'a', '-o', path.join(dir, 'no.svg')], dir),
      mmrun(['plot', 's', '--by', 'b', '-o', path.join(dir, 'no.svg')], dir),
    ]);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain('BAD_OPTION');
    expect(mixed.stderr).toContain('--by b');
    expect(noX.code).toBe(2);
    expect(noX.stderr).toContain("--by is for a sweep's plot, which needs --x");
    expect(fs.existsSync(path.join(dir, 'no.svg'))).toBe(false);
  }, 60_000);

  it('plots the flushed rows of an interrupted run and says so', async () => {
    const cli = spawnMmrun(['run', SIGNAL, '--id', 'part', '-n', '1e9', '--flush-every', '20000'], runsDir);
    await waitFor(() => (peekRun(runsDir, 'part')?.flushedRows ?? 0) >= 60_000, 30_000, 'three flushes');
    cli.child.kill('SIGTERM');
    const stopped = await cli.exited;
    expect(stopped.code, stopped.stderr).toBe(143);
    const flushed = peekRun(runsDir, 'part')!.flushedRows;
    const file = out('part.svg');
    const r = await mmrun(['plot', 'part', '-c', 'k', '-o', file], runsDir);
    expect(r.code, r.stderr).toBe(0);
    const rows = flushed.toLocaleString('en-US');
    expect(r.stderr).toContain(`run part is interrupted: plotting its ${rows} flushed rows (of 1,000,000,000)`);
    expect(fs.readFileSync(file, 'utf8')).toContain(`run interrupted: ${rows} of 1,000,000,000 rows flushed`);
  });

  it('is a library function too, naming its output after the run and column by default', () => {
    const result = plotRun({ runId: 'sig', column: 'v[1]', runsDir, cwd: outDir, kind: 'hist' });
    expect(result.out).toBe(path.join(outDir, 'sig-v1.png'));
    expect(result).toMatchObject({ rows: ROWS, values: ROWS, kind: 'hist', format: 'png', status: 'completed' });
    expect(pngSize(fs.readFileSync(result.out))).toEqual({ width: 900, height: 500 });
  });
});
