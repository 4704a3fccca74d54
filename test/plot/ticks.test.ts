import { describe, expect, it } from 'vitest';
import { formatNumber, tickFormat, ticks } from '../../src/plot/ticks.ts';

const labels = (lo: number, hi: number, count: number): string[] => {
  const t = ticks(lo, hi, count);
  return t.values.map(tickFormat(t));
};

describe('ticks', () => {
  it('puts ticks at round numbers 1, 2 or 5 × 10^k apart, inside the range', () => {
    expect(ticks(0, 1, 5).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(ticks(-72.1, 773.2, 8).values).toEqual([0, 100, 200, 300, 400, 500, 600, 700]);
    expect(ticks(0, 199_999, 9).values).toEqual([
      0, 20_000, 40_000, 60_000, 80_000, 100_000, 120_000, 140_000, 160_000, 180_000,
    ]);
  });

  it('never shows floating-point noise', () => {
    expect(ticks(0, 0.3, 3).values).toEqual([0, 0.1, 0.2, 0.3]);
    expect(ticks(1e-7, 7e-7, 6).values).toEqual([1e-7, 2e-7, 3e-7, 4e-7, 5e-7, 6e-7, 7e-7]);
  });
});

describe('tickFormat', () => {
  it('shows as many decimals as the step needs, the same on every label', () => {
    expect(labels(0, 1, 5)).toEqual(['0', '0.2', '0.4', '0.6', '0.8', '1.0']);
    expect(labels(-1.1, 1.1, 5)).toEqual(['\u22121.0', '\u22120.5', '0', '0.5', '1.0']);
  });

  it('groups thousands on an axis that reaches 10,000, and switches to exponents at a million', () => {
    expect(labels(0, 12_000, 3)).toEqual(['0', '5,000', '10,000']);
    expect(labels(0, 9000, 3)).toEqual(['0', '2000', '4000', '6000', '8000']);
    expect(labels(0, 1e7, 4)).toEqual(['0', '2e6', '4e6', '6e6', '8e6', '1e7']);
    expect(labels(1.1e7, 1.5e7, 2)).toEqual(['1.2e7', '1.4e7']);
    expect(labels(0, 0.0004, 4)).toEqual(['0', '1e\u22124', '2e\u22124', '3e\u22124', '4e\u22124']);
  });
});

describe('formatNumber', () => {
  it('writes numbers for a sentence', () => {
    expect(formatNumber(1_234_567)).toBe('1,234,567');
    expect(formatNumber(-72.098_912_3)).toBe('\u221272.0989');
    expect(formatNumber(16.905_213)).toBe('16.9052');
    expect(formatNumber(4.5678e-7)).toBe('4.5678e\u22127');
    expect(formatNumber(0)).toBe('0');
  });
});
