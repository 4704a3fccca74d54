// Axis ticks at round numbers (1, 2 or 5 × 10^k apart) and their labels.

/** Ticks inside [lo, hi], about `count` of them, `step` apart. */
export interface Ticks {
  readonly values: readonly number[];
  readonly step: number;
  /** The power of ten of the step: step = (1, 2 or 5) × 10^power. */
  readonly power: number;
}

/**
 * Round-number ticks within [lo, hi] (the algorithm of d3-array's `ticks`: each value is
 * computed as an integer times, or divided by, a power of ten, so 0.1 + 0.2 never shows).
 * @example ticks(0, 1, 5).values // [0, 0.2, 0.4, 0.6, 0.8, 1]
 */
export function ticks(lo: number, hi: number, count: number): Ticks {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return { values: [lo], step: 0, power: 0 };
  const raw = (hi - lo) / Math.max(1, count);
  const power = Math.floor(Math.log10(raw));
  const error = raw / 10 ** power;
  const factor = error >= Math.sqrt(50) ? 10 : error >= Math.sqrt(10) ? 5 : error >= Math.sqrt(2) ? 2 : 1;
  const values: number[] = [];
  if (power < 0) {
    // Divide integers by 10^-power / factor, which is exact where multiplying by step is not.
    const inverse = 10 ** -power / factor;
    const i1 = Math.ceil(lo * inverse - 1e-9);
    const i2 = Math.floor(hi * inverse + 1e-9);
    for (let i = i1; i <= i2; i++) values.push(i / inverse + 0); // + 0: never -0
    return { values, step: 1 / inverse, power: factor === 10 ? power + 1 : power };
  }
  const step = 10 ** power * factor;
  const i1 = Math.ceil(lo / step - 1e-9);
  const i2 = Math.floor(hi / step + 1e-9);
  for (let i = i1; i <= i2; i++) values.push(i * step + 0);
  return { values, step, power: factor === 10 ? power + 1 : power };
}

const MINUS = '\u2212';

/**
 * A labeller for one axis' ticks that shows just enough digits to tell them apart:
 * `0.5`, `1.5`; `20,000`; `2.5e6` once values reach a million or are all below 0.001.
 * Negative numbers use a true minus sign.
 */
export function tickFormat(t: Ticks): (v: number) => string {
  const largest = Math.max(...t.values.map(Math.abs));
  if (largest >= 1e6 || (largest > 0 && largest < 1e-3)) {
    // Each label its own exponent, with the digits the step needs: 8e6, 1e7, 1.2e7.
    return (v) => {
      if (v === 0) return '0';
      const exponent = Math.floor(Math.log10(Math.abs(v)) + 1e-9);
      const [mantissa = '', e = ''] = v.toExponential(Math.max(0, exponent - t.power)).split('e');
      return `${trimZeros(mantissa)}e${Number(e)}`.replaceAll('-', MINUS);
    };
  }
  const digits = Math.max(0, -t.power);
  // Thousands are grouped on every label of an axis that reaches 10,000.
  const group = digits === 0 && largest >= 1e4;
  return (v) => {
    if (v === 0) return '0';
    const text = group ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits);
    return text.replace('-', MINUS);
  };
}

/** `2.50` → `2.5`, `3.0` → `3`. */
function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** A number for a sentence: `1,234,567`, `0.012346`, `12,345.7`, `−4.5678e−7` (at most 6 significant digits). */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  const text =
    abs !== 0 && (abs >= 1e15 || abs < 1e-4)
      ? v.toExponential(5).replace(/\.?0*e\+?/, 'e')
      : v.toLocaleString('en-US', { maximumSignificantDigits: Number.isInteger(v) ? 21 : 6 });
  return text.replaceAll('-', MINUS);
}
