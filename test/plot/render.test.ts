import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { MinMaxDownsampler } from '../../src/plot/downsample.ts';
import { findFontFiles, textWidth } from '../../src/plot/font.ts';
import { type ChartSpec, chartSvg, type LineData, svgToPng } from '../../src/plot/render.ts';
import { decodePng, inkCounts } from './png.ts';

/** A line chart of `values` as plotRun makes one: min/max per column, x at each column's middle row. */
function lineSpec(values: Float64Array, overrides: Partial<ChartSpec> = {}): ChartSpec {
  const width = overrides.width ?? 900;
  const d = new MinMaxDownsampler(values.length, width);
  d.push(values, values.length);
  const x = Float64Array.from({ length: d.columns }, (_, c) => (d.startOf(c) + d.startOf(c + 1) - 1) / 2);
  const data: LineData = { kind: 'line', x, first: d.first, min: d.min, max: d.max, last: d.last, markers: false };
  return {
    width,
    height: 500,
    title: 'walk-20261126-101500-1a2b: position',
    notes: ['1,000,000 rows', 'min–max of ≈1,111 rows per pixel column'],
    x: { title: 'iteration', lo: 0, hi: values.length - 1, integer: true },
    y: { title: 'position', lo: -5, hi: 105 },
    data,
    ...overrides,
  };
}

interface Box {
  readonly text: string;
  readonly x0: number;
  readonly x1: number;
  readonly y0: number;
  readonly y1: number;
}

const decodeEntities = (s: string) =>
  s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!);

/** The box every text element of a chart covers, from DejaVu Sans' metrics. */
function textBoxes(svg: string): Box[] {
  const boxes: Box[] = [];
  for (const m of svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)) {
    const attrs = Object.fromEntries([...m[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]));
    const text = decodeEntities(m[2]!);
    const size = Number(attrs['font-size']);
    const w = textWidth(text, size, attrs['font-weight'] === 'bold');
    const anchor = attrs['text-anchor'] ?? 'start';
    const shift = anchor === 'middle' ? w / 2 : anchor === 'end' ? w : 0;
    const rotated = /translate\(([\d.]+) ([\d.]+)\) rotate\(-90\)/.exec(attrs.transform ?? '');
    if (rotated) {
      const [x, y] = [Number(rotated[1]), Number(rotated[2])];
      boxes.push({ text, x0: x - 0.76 * size, x1: x + 0.24 * size, y0: y - w + shift, y1: y + shift });
    } else {
      const [x, y] = [Number(attrs.x), Number(attrs.y)];
      boxes.push({ text, x0: x - shift, x1: x - shift + w, y0: y - 0.76 * size, y1: y + 0.24 * size });
    }
  }
  return boxes;
}

function plotRect(svg: string): Box {
  const m = /<clipPath id="plot-area"><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/.exec(svg)!;
  const [x, y, w, h] = m.slice(1).map(Number) as [number, number, number, number];
  return { text: 'plot area', x0: x, y0: y, x1: x + w, y1: y + h };
}

const overlap = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

describe('chartSvg', () => {
  it('names the run and the column in the title, escaped', () => {
    const svg = chartSvg(lineSpec(Float64Array.of(1, 2, 3), { title: 'run <a&b>: v[2]' }));
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="900" height="500"/);
    expect(svg).toContain('>run &lt;a&amp;b&gt;: v[2]</text>');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });

  it('draws a single spike among 1e6 rows to its full height', () => {
    const values = new Float64Array(1_000_000);
    values[654_321] = 100;
    const svg = chartSvg(lineSpec(values));
    const path = /<path d="([^"]+)"/.exec(svg)![1]!;
    const ys = [...path.matchAll(/[ML][\d.]+ ([\d.]+)/g)].map((m) => Number(m[1]));
    const area = plotRect(svg);
    const sy = (v: number) => area.y1 + ((v - -5) / 110) * (area.y0 - area.y1);
    expect(Math.min(...ys)).toBeCloseTo(sy(100), 1);
    expect(Math.max(...ys)).toBeCloseTo(sy(0), 1);
    // One vertical stroke per pixel column at most: 4 points each.
    expect(ys.length).toBeLessThanOrEqual(4 * (area.x1 - area.x0) + 4);
  });

  const cases: [string, Partial<ChartSpec>][] = [
    ['a small image', { width: 240, height: 160 }],
    ['the default size', {}],
    ['a large image', { width: 2400, height: 1200 }],
    ['ten million iterations', { x: { title: 'iteration', lo: 0, hi: 9_999_999, integer: true } }],
    ['tiny values', { y: { title: 'v[2]', lo: -1.23e-7, hi: 3.4e-7 } }],
    ['huge values', { y: { title: 'energy', lo: -2.5e9, hi: 1e12 } }],
    ['a bool', { y: { title: 'hit', lo: -0.05, hi: 1.05, integer: true } }],
    ['a long title', { title: `${'very-long-run-id-'.repeat(8)}: a_really_long_column_name` }],
  ];
  it.each(cases)('lays out %s with no text overlapping other text or the plot, all inside the image', (_, o) => {
    const spec = lineSpec(
      new Float64Array(5000).map((_, i) => Math.sin(i / 300) * 50 + 50),
      o,
    );
    for (const svg of [
      chartSvg(spec),
      chartSvg({ ...spec, data: { kind: 'bars', edges: bars.edges, counts: bars.counts } }),
    ]) {
      const boxes = textBoxes(svg);
      const area = plotRect(svg);
      expect(boxes.length).toBeGreaterThan(6);
      for (const [i, a] of boxes.entries()) {
        expect(a.x0, a.text).toBeGreaterThanOrEqual(0);
        expect(a.y0, a.text).toBeGreaterThanOrEqual(0);
        expect(a.x1, a.text).toBeLessThanOrEqual(spec.width);
        expect(a.y1, a.text).toBeLessThanOrEqual(spec.height);
        expect(overlap(a, area), `${a.text} over the plot`).toBe(false);
        for (const b of boxes.slice(i + 1)) expect(overlap(a, b), `'${a.text}' and '${b.text}'`).toBe(false);
      }
    }
  });
});

const bars = {
  edges: Float64Array.from({ length: 51 }, (_, k) => k * 2),
  counts: Float64Array.from({ length: 50 }, (_, k) => Math.round(1e7 * Math.exp(-((k - 25) ** 2) / 50))),
};

describe('svgToPng', () => {
  it('rasterizes at the requested size, with dark text and the data in colour', () => {
    const spec = lineSpec(
      new Float64Array(100_000).map((_, i) => Math.sin(i / 5000) * 50 + 50),
      {
        width: 640,
        height: 360,
      },
    );
    const png = decodePng(svgToPng(chartSvg(spec), findFontFiles()));
    expect([png.width, png.height]).toEqual([640, 360]);
    const ink = inkCounts(png);
    expect(ink.dark).toBeGreaterThan(1000);
    expect(ink.blue).toBeGreaterThan(1000);
    expect(ink.ink / ink.total).toBeGreaterThan(0.05);
    // The top-left corner is background: white, opaque.
    expect([...png.pixels.subarray(0, 4)]).toEqual([255, 255, 255, 255]);
  });

  it('draws text with the font file it is given, not whatever the system has', () => {
    const svg = chartSvg(lineSpec(Float64Array.of(1, 2, 3), { width: 400, height: 250 }));
    const withFont = inkCounts(decodePng(svgToPng(svg, findFontFiles())));
    const withoutFont = inkCounts(decodePng(svgToPng(svg, [])));
    expect(withFont.dark).toBeGreaterThan(withoutFont.dark + 500);
  });
});

describe('findFontFiles', () => {
  it('takes $MMRUN_FONT when set, and refuses a file that does not exist with FONT_NOT_FOUND', () => {
    const [regular] = findFontFiles({});
    expect(regular).toMatch(/DejaVuSans\.ttf$/);
    expect(findFontFiles({ MMRUN_FONT: regular })).toEqual([regular]);
    expect(() => findFontFiles({ MMRUN_FONT: '/nonexistent/font.ttf' })).toThrow(MmrunError);
    try {
      findFontFiles({ MMRUN_FONT: '/nonexistent/font.ttf' });
    } catch (e) {
      expect((e as MmrunError).code).toBe('FONT_NOT_FOUND');
      expect((e as MmrunError).message).toContain('/nonexistent/font.ttf');
    }
  });
});
