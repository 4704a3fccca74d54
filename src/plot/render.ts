// Charts as SVG, written directly (the layout is simple and must be pixel-exact: a line
// chart draws one vertical stroke per device pixel column), and rasterized to PNG by resvg
// with an explicit font file. One file (~560 lines) on purpose: the plot area, the axes,
// the marks (lines, bars, series with error bars) and the legend share every pixel
// measurement (scales, sizes, text widths), and splitting them would scatter that arithmetic.
import { Resvg } from '@resvg/resvg-js';
import { FONT_FAMILY, textWidth } from './font.ts';
import { type Ticks, tickFormat, ticks } from './ticks.ts';

/** One axis: its title and the data range it shows. */
export interface AxisSpec {
  readonly title: string;
  readonly lo: number;
  readonly hi: number;
  /** Only integer ticks (iterations, counts, integer columns). */
  readonly integer?: boolean;
}

/**
 * A line through (x, y) points, possibly downsampled: at each x the series went from
 * `first` through `min` and `max` to `last`. NaN in `first` marks a gap.
 */
export interface LineData {
  readonly kind: 'line';
  readonly x: Float64Array;
  readonly first: Float64Array;
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly last: Float64Array;
  /** Also draw a dot at each point (for a few points). */
  readonly markers: boolean;
}

/** Histogram bars: bin k spans [edges[k], edges[k+1]] and is counts[k] high. */
export interface BarData {
  readonly kind: 'bars';
  readonly edges: Float64Array;
  readonly counts: Float64Array;
}

/** One line of a {@link SeriesData}: its points, each with an error bar from `lo` to `hi`. */
export interface Series {
  readonly label: string;
  readonly x: readonly number[];
  readonly y: readonly number[];
  readonly lo: readonly number[];
  readonly hi: readonly number[];
}

/**
 * A few lines of a few points each, with error bars, told apart by colour (and, past the
 * palette, by dashes) and named in a legend (none for a single series).
 */
export interface SeriesData {
  readonly kind: 'series';
  /** Shown above the legend's entries: what tells the series apart. */
  readonly legendTitle: string;
  readonly series: readonly Series[];
}

export interface ChartSpec {
  /** Size of the image in pixels. */
  readonly width: number;
  readonly height: number;
  readonly title: string;
  /** Short facts shown under the title, joined by ' · ' and wrapped. */
  readonly notes: readonly string[];
  readonly x: AxisSpec;
  readonly y: AxisSpec;
  readonly data: LineData | BarData | SeriesData;
}

/** Where the plot area ends up in the image: the pixel the data is drawn in. */
export interface PlotArea {
  readonly left: number;
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
}

const COLOR = {
  background: '#ffffff',
  text: '#1a1a1a',
  note: '#555555',
  frame: '#333333',
  grid: '#e3e3e3',
  zero: '#b8b8b8',
  data: '#1f77b4',
} as const;

/** Series colours (matplotlib's tab10: distinct, and readable on white). */
export const SERIES_COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
] as const;

/** Sizes at the reference size of 800 × 450; other sizes scale them, by 0.85 to 2.5. */
const BASE = { pad: 14, title: 16, note: 12, tick: 12, label: 13, tickLength: 5 } as const;

/** Where the data of a chart of this spec is drawn; its notes do not change the width. */
export function plotArea(spec: ChartSpec): PlotArea {
  return layout(spec).area;
}

/**
 * The chart as a standalone SVG document. Text is set in DejaVu Sans (falling back to
 * Verdana, Arial, sans-serif in other viewers); the layout uses DejaVu Sans' metrics.
 */
export function chartSvg(spec: ChartSpec): string {
  const l = layout(spec);
  const { area, size } = l;
  const { left, top, right, bottom } = area;
  const sx = scale(l.xLo, l.xHi, left, right);
  const sy = scale(l.yLo, l.yHi, bottom, top);
  const out: string[] = [];
  const w = spec.width;
  const h = spec.height;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="${FONT_FAMILY}, Verdana, Arial, sans-serif">`,
    `<rect width="${w}" height="${h}" fill="${COLOR.background}"/>`,
    `<defs><clipPath id="plot-area"><rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}"/></clipPath></defs>`,
  );

  // Grid lines under the data, the zero line a little darker. One on the frame would thicken
  // it, so none is drawn there; a tick at the frame's very edge is drawn just inside it.
  const grid: string[] = [];
  const inside = (p: number, lo: number, hi: number) => p > lo + 1 && p < hi - 1;
  const clamp = (p: number, lo: number, hi: number) => Math.min(Math.max(p, lo + 0.5), hi - 0.5);
  for (const v of l.yTicks.values) {
    const y = crisp(sy(v));
    if (!inside(y, top, bottom)) continue;
    grid.push(`<line x1="${left}" x2="${right}" y1="${y}" y2="${y}"${v === 0 ? ` stroke="${COLOR.zero}"` : ''}/>`);
  }
  if (spec.data.kind !== 'bars') {
    for (const v of l.xTicks.values) {
      const x = crisp(sx(v));
      if (!inside(x, left, right)) continue;
      grid.push(`<line x1="${x}" x2="${x}" y1="${top}" y2="${bottom}"/>`);
    }
  }
  out.push(`<g stroke="${COLOR.grid}" stroke-width="1" shape-rendering="crispEdges">${grid.join('')}</g>`);

  out.push(`<g clip-path="url(#plot-area)">`);
  if (spec.data.kind === 'line') out.push(...lineElements(spec.data, sx, sy, size));
  else if (spec.data.kind === 'series') out.push(...seriesElements(spec.data, sx, sy, size));
  else out.push(barElements(spec.data, sx, sy));
  out.push('</g>');
  if (spec.data.kind === 'series' && spec.data.series.length > 1) {
    out.push(legendElement(spec.data, area, sx, sy, size));
  }

  // The frame and the ticks over the data, then the labels.
  const marks: string[] = [
    `<rect x="${left + 0.5}" y="${top + 0.5}" width="${right - left - 1}" height="${bottom - top - 1}" fill="none"/>`,
  ];
  const tl = size.tickLength;
  for (const v of l.xTicks.values) {
    const x = clamp(crisp(sx(v)), left, right);
    marks.push(`<line x1="${x}" x2="${x}" y1="${bottom}" y2="${bottom + tl}"/>`);
  }
  for (const v of l.yTicks.values) {
    const y = clamp(crisp(sy(v)), top, bottom);
    marks.push(`<line x1="${left - tl}" x2="${left}" y1="${y}" y2="${y}"/>`);
  }
  out.push(`<g stroke="${COLOR.frame}" stroke-width="1" shape-rendering="crispEdges">${marks.join('')}</g>`);

  const text: string[] = [];
  const xLabelY = bottom + tl + 4 + size.tick * 0.76;
  for (const [i, v] of l.xTicks.values.entries()) {
    text.push(textAt(round(sx(v)), xLabelY, l.xLabels[i]!, size.tick, 'middle'));
  }
  for (const [i, v] of l.yTicks.values.entries()) {
    text.push(textAt(left - tl - 4, round(sy(v) + size.tick * 0.36), l.yLabels[i]!, size.tick, 'end'));
  }
  const xTitleY = spec.height - size.pad - size.label * 0.24;
  text.push(textAt(round((left + right) / 2), round(xTitleY), spec.x.title, size.label, 'middle'));
  const yTitleX = round(size.pad + size.label * 0.76);
  const yMid = round((top + bottom) / 2);
  text.push(
    `<text transform="translate(${yTitleX} ${yMid}) rotate(-90)" font-size="${size.label}" text-anchor="middle">${escapeXml(spec.y.title)}</text>`,
  );
  out.push(`<g fill="${COLOR.text}">${text.join('')}</g>`);

  const center = round(spec.width / 2);
  out.push(
    `<text x="${center}" y="${round(l.titleY)}" font-size="${round(l.titleSize)}" font-weight="bold" text-anchor="middle" fill="${COLOR.text}">${escapeXml(l.title)}</text>`,
  );
  for (const [i, line] of l.notes.entries()) {
    out.push(
      `<text x="${center}" y="${round(l.notesY + i * size.note * 1.3)}" font-size="${size.note}" text-anchor="middle" fill="${COLOR.note}">${escapeXml(line)}</text>`,
    );
  }
  out.push('</svg>\n');
  return out.join('\n');
}

/** Rasterizes an SVG to PNG (8-bit RGBA) at its own size, drawing text with `fontFiles` only. */
export function svgToPng(svg: string, fontFiles: readonly string[]): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'original' },
    background: COLOR.background,
    font: { fontFiles: [...fontFiles], loadSystemFonts: false, defaultFontFamily: FONT_FAMILY },
  });
  return resvg.render().asPng();
}

type Scale = (v: number) => number;

function scale(d0: number, d1: number, r0: number, r1: number): Scale {
  const k = (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

function lineElements(data: LineData, sx: Scale, sy: Scale, size: Sizes): string[] {
  const parts: string[] = [];
  let open = false;
  const point = (x: number, y: number) => {
    parts.push(`${open ? 'L' : 'M'}${round(x)} ${round(sy(y))}`);
    open = true;
  };
  // Points that fall into one pixel column are merged into one vertical stroke through the
  // first, the lowest, the highest and the last value: the pixels a line through them all
  // would light, whichever order they came in.
  let pixel = Number.NaN;
  let x = 0;
  let merged = 0;
  let first = 0;
  let min = 0;
  let max = 0;
  let last = 0;
  const flush = () => {
    if (merged === 0) return;
    const at = merged === 1 ? x : pixel + 0.5;
    point(at, first);
    if (min !== max) {
      point(at, min);
      point(at, max);
    }
    if (last !== first || min !== max) point(at, last);
    merged = 0;
  };
  for (let i = 0; i < data.x.length; i++) {
    const f = data.first[i]!;
    if (Number.isNaN(f)) {
      flush();
      open = false;
      continue;
    }
    const xi = sx(data.x[i]!);
    const p = Math.floor(xi);
    if (merged > 0 && p === pixel) {
      min = Math.min(min, data.min[i]!);
      max = Math.max(max, data.max[i]!);
      last = data.last[i]!;
      merged++;
      continue;
    }
    flush();
    pixel = p;
    x = xi;
    first = f;
    min = data.min[i]!;
    max = data.max[i]!;
    last = data.last[i]!;
    merged = 1;
  }
  flush();
  const stroke = round(Math.max(1, 1.25 * size.scale));
  const elements = [
    `<path d="${parts.join('')}" fill="none" stroke="${COLOR.data}" stroke-width="${stroke}" stroke-linejoin="round" stroke-linecap="round"/>`,
  ];
  if (data.markers) {
    const r = round(2.5 * size.scale);
    const dots: string[] = [];
    for (let i = 0; i < data.x.length; i++) {
      const y = data.first[i]!;
      if (!Number.isNaN(y)) dots.push(`<circle cx="${round(sx(data.x[i]!))}" cy="${round(sy(y))}" r="${r}"/>`);
    }
    elements.push(`<g fill="${COLOR.data}">${dots.join('')}</g>`);
  }
  return elements;
}

const seriesColor = (k: number) => SERIES_COLORS[k % SERIES_COLORS.length]!;
// Past the palette, colours repeat with a dash pattern.
const seriesDash = (k: number, scale: number) =>
  k < SERIES_COLORS.length ? '' : ` stroke-dasharray="${round(6 * scale)} ${round(3 * scale)}"`;

function seriesElements(data: SeriesData, sx: Scale, sy: Scale, size: Sizes): string[] {
  const n = data.series.length;
  const stroke = round(Math.max(1, 1.5 * size.scale));
  const r = round(3 * size.scale);
  const cap = 4 * size.scale;
  // Series side by side at one x are moved apart a little, so their error bars do not hide each other.
  const dodge = n > 1 ? Math.min(3 * size.scale, 24 / n) : 0;
  return data.series.map((s, k) => {
    const shift = (k - (n - 1) / 2) * dodge;
    const px = s.x.map((x) => round(sx(x) + shift));
    const path = px.map((x, i) => `${i === 0 ? 'M' : 'L'}${x} ${round(sy(s.y[i]!))}`).join('');
    const bars: string[] = [];
    for (let i = 0; i < px.length; i++) {
      const lo = s.lo[i]!;
      const hi = s.hi[i]!;
      if (!(hi > lo)) continue;
      const x = px[i]!;
      const y0 = round(sy(lo));
      const y1 = round(sy(hi));
      bars.push(
        `M${x} ${y0}L${x} ${y1}M${round(x - cap)} ${y0}L${round(x + cap)} ${y0}M${round(x - cap)} ${y1}L${round(x + cap)} ${y1}`,
      );
    }
    const dots = px.map((x, i) => `<circle cx="${x}" cy="${round(sy(s.y[i]!))}" r="${r}"/>`).join('');
    const color = seriesColor(k);
    return [
      `<g class="series" data-label="${escapeXml(s.label)}" stroke="${color}" fill="${color}">`,
      `<path d="${path}" fill="none" stroke-width="${stroke}" stroke-linejoin="round"${seriesDash(k, size.scale)}/>`,
      bars.length > 0
        ? `<path d="${bars.join('')}" fill="none" stroke-width="${round(Math.max(1, size.scale))}"/>`
        : '',
      `<g stroke="none">${dots}</g>`,
      '</g>',
    ].join('');
  });
}

/** The legend, in the corner of the plot area that covers the fewest points and error bars. */
function legendElement(data: SeriesData, area: PlotArea, sx: Scale, sy: Scale, size: Sizes): string {
  const font = size.tick;
  const lineH = Math.round(font * 1.45);
  const swatch = Math.round(22 * size.scale);
  const pad = Math.round(8 * size.scale);
  const labels = data.series.map((s) => s.label);
  const maxWidth = (area.right - area.left) / 2;
  const title = shorten(data.legendTitle, maxWidth - 2 * pad, font, true);
  const texts = labels.map((t) => shorten(t, maxWidth - 2 * pad - swatch - 6, font, false));
  const width = Math.ceil(
    Math.max(textWidth(title, font, true), ...texts.map((t) => swatch + 6 + textWidth(t, font))) + 2 * pad,
  );
  const height = (texts.length + 1) * lineH + pad;
  const inset = Math.round(6 * size.scale);
  const corners = [
    { x: area.right - inset - width, y: area.top + inset },
    { x: area.left + inset, y: area.top + inset },
    { x: area.right - inset - width, y: area.bottom - inset - height },
    { x: area.left + inset, y: area.bottom - inset - height },
  ];
  const covered = (c: { x: number; y: number }) => {
    let hits = 0;
    for (const s of data.series) {
      for (let i = 0; i < s.x.length; i++) {
        const x = sx(s.x[i]!);
        if (x < c.x - 4 || x > c.x + width + 4) continue;
        const top = sy(s.hi[i]!);
        const bottom = sy(s.lo[i]!);
        if (bottom >= c.y - 4 && top <= c.y + height + 4) hits++;
      }
    }
    return hits;
  };
  const best = corners.reduce((a, b) => (covered(b) < covered(a) ? b : a));
  const x0 = Math.round(best.x);
  const y0 = Math.round(best.y);
  const parts = [
    `<g class="legend">`,
    `<rect x="${x0 + 0.5}" y="${y0 + 0.5}" width="${width}" height="${height}" fill="#ffffff" fill-opacity="0.9" stroke="${COLOR.grid}"/>`,
    `<text x="${x0 + pad}" y="${round(y0 + pad / 2 + lineH * 0.75)}" font-size="${font}" font-weight="bold" fill="${COLOR.text}">${escapeXml(title)}</text>`,
  ];
  for (const [k, text] of texts.entries()) {
    const cy = y0 + pad / 2 + lineH * (k + 1) + lineH / 2;
    const color = seriesColor(k);
    parts.push(
      `<line x1="${x0 + pad}" x2="${x0 + pad + swatch}" y1="${round(cy)}" y2="${round(cy)}" stroke="${color}" stroke-width="${round(Math.max(1, 1.5 * size.scale))}"${seriesDash(k, size.scale)}/>`,
      `<circle cx="${round(x0 + pad + swatch / 2)}" cy="${round(cy)}" r="${round(3 * size.scale)}" fill="${color}"/>`,
      `<text x="${x0 + pad + swatch + 6}" y="${round(cy + font * 0.36)}" font-size="${font}" fill="${COLOR.text}">${escapeXml(text)}</text>`,
    );
  }
  parts.push('</g>');
  return parts.join('');
}

function barElements(data: BarData, sx: Scale, sy: Scale): string {
  const bars: string[] = [];
  const y0 = sy(0);
  let narrowest = Number.POSITIVE_INFINITY;
  for (let k = 0; k < data.counts.length; k++) {
    const count = data.counts[k]!;
    if (count === 0) continue;
    const x0 = sx(data.edges[k]!);
    const x1 = sx(data.edges[k + 1]!);
    narrowest = Math.min(narrowest, x1 - x0);
    const y = sy(count);
    // A bin of one value among millions still shows: at least 2 px above the frame line.
    const top = Math.min(y, y0 - 3);
    bars.push(`<rect x="${round(x0)}" y="${round(top)}" width="${round(x1 - x0)}" height="${round(y0 - top)}"/>`);
  }
  // Bars wider than a few pixels get a thin white edge so that neighbours stay apart.
  const edge = narrowest >= 4 ? ' stroke="#ffffff" stroke-width="0.75"' : '';
  return `<g fill="${COLOR.data}"${edge}>${bars.join('')}</g>`;
}

interface Sizes {
  readonly scale: number;
  readonly pad: number;
  readonly title: number;
  readonly note: number;
  readonly tick: number;
  readonly label: number;
  readonly tickLength: number;
}

interface Layout {
  readonly size: Sizes;
  readonly area: PlotArea;
  readonly xLo: number;
  readonly xHi: number;
  readonly yLo: number;
  readonly yHi: number;
  readonly xTicks: Ticks;
  readonly yTicks: Ticks;
  readonly xLabels: readonly string[];
  readonly yLabels: readonly string[];
  readonly title: string;
  readonly titleSize: number;
  readonly titleY: number;
  readonly notes: readonly string[];
  readonly notesY: number;
}

function layout(spec: ChartSpec): Layout {
  const k = Math.min(2.5, Math.max(0.85, Math.min(spec.width / 800, spec.height / 450)));
  const size: Sizes = {
    scale: k,
    pad: Math.round(BASE.pad * k),
    title: Math.round(BASE.title * k),
    note: Math.round(BASE.note * k),
    tick: Math.round(BASE.tick * k),
    label: Math.round(BASE.label * k),
    tickLength: Math.round(BASE.tickLength * k),
  };
  const textSpace = spec.width - 2 * size.pad;

  // Top: the title (shrunk, then shortened, to fit), then the notes wrapped to the width.
  let titleSize = size.title;
  while (titleSize > size.note && textWidth(spec.title, titleSize, true) > textSpace) titleSize--;
  const title = shorten(spec.title, textSpace, titleSize, true);
  const titleY = size.pad + titleSize * 0.76;
  const notes = wrap(spec.notes, textSpace, size.note).slice(0, 3);
  const notesY = titleY + size.note * 1.5;
  const top = Math.round((notes.length > 0 ? notesY + (notes.length - 1) * size.note * 1.3 : titleY) + size.note);

  // Bottom: tick labels, then the x axis title.
  const bottom = Math.round(spec.height - size.pad - size.label * 1.05 - 6 * k - size.tick * 1.0 - size.tickLength - 4);

  const [yLo, yHi] = [spec.y.lo, spec.y.hi];
  const yTicks = axisTicks(spec.y, Math.max(2, Math.round((bottom - top) / (size.tick * 3.5))));
  const yFormat = tickFormat(yTicks);
  const yLabels = yTicks.values.map(yFormat);
  const yLabelWidth = Math.max(0, ...yLabels.map((s) => textWidth(s, size.tick)));
  const left = Math.round(size.pad + size.label * 1.0 + 8 * k + yLabelWidth + size.tickLength + 4);

  // Right: room for half of the last x label; ticks thinned until their labels do not touch.
  const [xLo, xHi] = [spec.x.lo, spec.x.hi];
  let right = spec.width - size.pad;
  let xTicks = axisTicks(spec.x, 2);
  let xLabels: string[] = [];
  for (let pass = 0; pass < 2; pass++) {
    const room = right - left;
    for (let count = Math.max(2, Math.round(room / (90 * k))); count >= 2; count--) {
      xTicks = axisTicks(spec.x, count);
      const format = tickFormat(xTicks);
      xLabels = xTicks.values.map(format);
      const widest = Math.max(...xLabels.map((s) => textWidth(s, size.tick)));
      const spacing = xTicks.values.length > 1 ? (room * (xTicks.step || 1)) / (xHi - xLo) : room;
      if (widest + 16 * k <= spacing) break;
    }
    const last = xLabels[xLabels.length - 1] ?? '';
    const lastX = left + (((xTicks.values.at(-1) ?? xHi) - xLo) / (xHi - xLo)) * room;
    const overhang = lastX + textWidth(last, size.tick) / 2 - (spec.width - size.pad / 2);
    if (overhang <= 0) break;
    right = Math.floor(right - overhang);
  }

  return {
    size,
    area: { left, top, right, bottom },
    xLo,
    xHi,
    yLo,
    yHi,
    xTicks,
    yTicks,
    xLabels,
    yLabels,
    title,
    titleSize,
    titleY,
    notes,
    notesY,
  };
}

/** Ticks for an axis; integer axes never get a fractional tick. */
function axisTicks(axis: AxisSpec, count: number): Ticks {
  const t = ticks(axis.lo, axis.hi, count);
  if (!axis.integer || t.step >= 1 || t.step === 0) return t;
  const values: number[] = [];
  for (let v = Math.ceil(axis.lo); v <= axis.hi; v++) values.push(v);
  return { values, step: 1, power: 0 };
}

/** Greedy word wrap of `items`, joined by ' · ', into lines at most `width` wide. */
function wrap(items: readonly string[], width: number, size: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    const joined = line === '' ? item : `${line} · ${item}`;
    if (line === '' || textWidth(joined, size) <= width) line = joined;
    else {
      lines.push(line);
      line = item;
    }
  }
  if (line !== '') lines.push(line);
  return lines.map((l) => shorten(l, width, size, false));
}

/** `text`, cut in the middle with an ellipsis if it is wider than `width`. */
function shorten(text: string, width: number, size: number, bold: boolean): string {
  if (textWidth(text, size, bold) <= width) return text;
  const chars = [...text];
  for (let keep = chars.length - 1; keep > 1; keep--) {
    const head = Math.ceil(keep / 2);
    const cut = `${chars.slice(0, head).join('')}…${chars.slice(chars.length - (keep - head)).join('')}`;
    if (textWidth(cut, size, bold) <= width) return cut;
  }
  return '…';
}

function textAt(x: number, y: number, text: string, size: number, anchor: 'start' | 'middle' | 'end'): string {
  return `<text x="${round(x)}" y="${round(y)}" font-size="${size}" text-anchor="${anchor}">${escapeXml(text)}</text>`;
}

/** A pixel-center coordinate, so a 1 px line covers exactly one row of pixels. */
const crisp = (v: number): number => Math.floor(v) + 0.5;

const round = (v: number): number => Math.round(v * 100) / 100;

const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
