import { describe, expect, it } from 'vitest';
import { parseGrid, parseGridAxis } from '../../src/cli/sweep-args.ts';
import { MmrunError } from '../../src/errors.ts';
import { checkPointCount, expandGrid, gridSize, MAX_POINTS_WITHOUT_YES } from '../../src/sweep/grid.ts';

const defaults = { drift: 0.5, n: 3, label: 'a', on: false };

function codeOf(fn: () => unknown): { code: string; message: string; remedy: string | undefined } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MmrunError);
    const m = e as MmrunError;
    return { code: m.code, message: m.message, remedy: m.remedy };
  }
  throw new Error('did not throw');
}

describe('parseGridAxis', () => {
  it('types a list of values by the default, as --param does', () => {
    expect(parseGridAxis(defaults, 'drift=0.1,1e-3, 2_000')).toEqual({ key: 'drift', values: [0.1, 0.001, 2000] });
    expect(parseGridAxis(defaults, 'on=true,0,yes')).toEqual({ key: 'on', values: [true, false, true] });
    expect(parseGridAxis(defaults, 'label=x,y:z, w')).toEqual({ key: 'label', values: ['x', 'y:z', ' w'] });
  });

  it('expands a linear range a:b:n with both ends exact', () => {
    expect(parseGridAxis(defaults, 'drift=0:1:11').values).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(parseGridAxis(defaults, 'n=1:5:5').values).toEqual([1, 2, 3, 4, 5]);
    expect(parseGridAxis(defaults, 'drift=2:-2:3').values).toEqual([2, 0, -2]);
    expect(parseGridAxis(defaults, 'drift=7:9:1').values).toEqual([7]);
    expect(parseGridAxis(defaults, 'drift=0:1:5:lin').values).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it('expands a log range a:b:n:log', () => {
    const values = parseGridAxis(defaults, 'drift=1e-3:10:5:log').values as number[];
    expect(values[0]).toBe(0.001);
    expect(values[4]).toBe(10);
    for (const [k, v] of [0.01, 0.1, 1].entries()) expect(values[k + 1]).toBeCloseTo(v, 12);
  });

  it('refuses a key that is not a param, naming the params', () => {
    const e = codeOf(() => parseGridAxis(defaults, 'speed=1,2'));
    expect(e.code).toBe('BAD_GRID');
    expect(e.message).toContain("'speed'");
    expect(e.remedy).toContain('drift, n, label, on');
  });

  it('refuses a value of the wrong type with the --param error', () => {
    const e = codeOf(() => parseGridAxis(defaults, 'drift=0.1,abc'));
    expect(e.code).toBe('BAD_PARAM');
    expect(e.message).toContain("'abc'");
    expect(codeOf(() => parseGridAxis(defaults, 'on=maybe')).code).toBe('BAD_PARAM');
  });

  it('refuses a range with n < 1, a bad count, bad ends, a bad scale and a log range through 0', () => {
    for (const spec of [
      'drift=0:1:0',
      'drift=0:1:-2',
      'drift=0:1:2.5',
      'drift=0:1:x',
      'drift=a:1:3',
      'drift=0:1:3:cubic',
      'drift=0:1:3:log',
    ]) {
      const e = codeOf(() => parseGridAxis(defaults, spec));
      expect(e.code, spec).toBe('BAD_GRID');
      expect(e.remedy, spec).toBeTruthy();
    }
    expect(codeOf(() => parseGridAxis(defaults, 'drift=0:1:0')).message).toContain('at least 1');
  });

  it('refuses a spec without = or without values', () => {
    expect(codeOf(() => parseGridAxis(defaults, 'drift')).code).toBe('BAD_GRID');
    expect(codeOf(() => parseGridAxis(defaults, '=1,2')).code).toBe('BAD_GRID');
    expect(codeOf(() => parseGridAxis(defaults, 'drift=')).message).toContain('no values');
  });
});

describe('parseGrid and expandGrid', () => {
  it('is the cartesian product, the first grid varying slowest', () => {
    const axes = parseGrid(defaults, ['n=1,2', 'label=a,b,c']);
    expect(gridSize(axes)).toBe(6);
    expect(expandGrid(axes)).toEqual([
      { n: 1, label: 'a' },
      { n: 1, label: 'b' },
      { n: 1, label: 'c' },
      { n: 2, label: 'a' },
      { n: 2, label: 'b' },
      { n: 2, label: 'c' },
    ]);
  });

  it('refuses a key given twice', () => {
    expect(codeOf(() => parseGrid(defaults, ['n=1', 'n=2'])).message).toContain('twice');
  });
});

describe('checkPointCount', () => {
  it('refuses an empty sweep, and more than a million points without --yes', () => {
    expect(codeOf(() => checkPointCount(0, 3, false)).code).toBe('BAD_GRID');
    const e = codeOf(() => checkPointCount(MAX_POINTS_WITHOUT_YES / 2 + 1, 2, false));
    expect(e.code).toBe('SWEEP_TOO_LARGE');
    expect(e.remedy).toContain('--yes');
    expect(checkPointCount(MAX_POINTS_WITHOUT_YES / 2 + 1, 2, true)).toBe(MAX_POINTS_WITHOUT_YES + 2);
    expect(checkPointCount(MAX_POINTS_WITHOUT_YES, 1, false)).toBe(MAX_POINTS_WITHOUT_YES);
  });
});
