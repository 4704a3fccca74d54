import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { applyParams, overrideParams, parseCount } from '../../src/experiment/params.ts';

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

describe('parseCount', () => {
  it.each([
    ['1e6', 1_000_000],
    ['1E6', 1_000_000],
    ['1_000_000', 1_000_000],
    [1_000_000, 1_000_000],
    ['+5', 5],
    ['  42 ', 42],
    ['2.5e3', 2500],
    ['1', 1],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ])('accepts %j as %d', (value, expected) => {
    expect(parseCount(value)).toBe(expected);
  });

  it.each([
    ['-1', "'-1'"],
    ['1.5', "'1.5'"],
    ['abc', "'abc'"],
    ['0', "'0'"],
    ['', "''"],
    ['1e-3', "'1e-3'"],
    ['0x10', "'0x10'"],
    ['1e20', "'1e20'"],
    [0, '0'],
    [-3, '-3'],
    [2.5, '2.5'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [undefined, 'undefined'],
  ])('refuses %j (BAD_ITERATIONS) naming the value', (value, shown) => {
    const e = thrown(() => parseCount(value));
    expect(e.code).toBe('BAD_ITERATIONS');
    expect(e.message).toContain('iterations');
    expect(e.message).toContain(`got ${shown}`);
    expect(e.remedy).toContain('1e6');
  });

  it('names the option and uses its code when told', () => {
    const e = thrown(() => parseCount('ten', '--flush-every', 'BAD_OPTION'));
    expect(e.code).toBe('BAD_OPTION');
    expect(e.message).toContain('--flush-every');
    expect(e.message).toContain("'ten'");
  });
});

describe('applyParams', () => {
  const defaults = { rate: 0.5, count: 10, on: false, label: 'a' } as const;

  it('returns the defaults when nothing is overridden, without changing them', () => {
    const out = applyParams(defaults, []);
    expect(out).toEqual(defaults);
    expect(out).not.toBe(defaults);
  });

  it.each([
    ['rate=1e-3', 0.001],
    ['rate=-2.5', -2.5],
    ['count=1_000', 1000],
    ['count= 7 ', 7],
    ['rate=Infinity', Number.POSITIVE_INFINITY],
  ])('types %s as a number', (item, expected) => {
    const key = item.slice(0, item.indexOf('='));
    expect(applyParams(defaults, [item])[key]).toBe(expected);
  });

  it.each([
    ['true', true],
    ['false', false],
    ['yes', true],
    ['no', false],
    ['1', true],
    ['0', false],
    ['TRUE', true],
  ])('types on=%s as boolean %s', (raw, expected) => {
    expect(applyParams(defaults, [`on=${raw}`]).on).toBe(expected);
  });

  it('keeps strings as written, including = and spaces', () => {
    expect(applyParams(defaults, ['label=a=b c']).label).toBe('a=b c');
    expect(applyParams(defaults, ['label=']).label).toBe('');
    expect(applyParams(defaults, ['label=123']).label).toBe('123');
  });

  it('applies several overrides, the last one of a key winning', () => {
    expect(applyParams(defaults, ['rate=2', 'label=z', 'rate=3'])).toEqual({ ...defaults, rate: 3, label: 'z' });
  });

  it('refuses an unknown key (BAD_PARAM) listing the known keys', () => {
    const e = thrown(() => applyParams(defaults, ['speed=3']));
    expect(e.code).toBe('BAD_PARAM');
    expect(e.message).toContain("'speed'");
    expect(e.remedy).toContain('rate, count, on, label');
  });

  it('says when an experiment has no params at all', () => {
    const e = thrown(() => applyParams({}, ['x=1']));
    expect(e.code).toBe('BAD_PARAM');
    expect(e.toLine()).toContain('none');
  });

  it('does not treat inherited names as params', () => {
    const e = thrown(() => applyParams(defaults, ['toString=1']));
    expect(e.code).toBe('BAD_PARAM');
  });

  it.each([
    ['rate=fast', 'rate', "'fast'", 'a number'],
    ['count=', 'count', "''", 'a number'],
    ['count=1,000', 'count', "'1,000'", 'a number'],
    ['on=maybe', 'on', "'maybe'", 'a boolean'],
    ['on=2', 'on', "'2'", 'a boolean'],
  ])('refuses %s (BAD_PARAM) naming key, value and expected type', (item, key, shown, type) => {
    const e = thrown(() => applyParams(defaults, [item]));
    expect(e.code).toBe('BAD_PARAM');
    expect(e.message).toContain(`'${key}'`);
    expect(e.message).toContain(`got ${shown}`);
    expect(e.message).toContain(type);
  });

  it.each(['rate', '=5', ''])('refuses %j without key=value (BAD_PARAM)', (item) => {
    const e = thrown(() => applyParams(defaults, [item]));
    expect(e.code).toBe('BAD_PARAM');
    expect(e.message).toContain('key=value');
    expect(e.remedy).toContain('rate');
  });
});

describe('overrideParams (typed values, as the library takes them)', () => {
  const defaults = { rate: 0.5, verbose: false, label: 'a' };

  it("applies values of each default's type over the defaults", () => {
    expect(overrideParams(defaults, { rate: 2, label: 'b' })).toEqual({ rate: 2, verbose: false, label: 'b' });
    expect(overrideParams(defaults, {})).toEqual(defaults);
    expect(overrideParams(defaults, { rate: Number.NaN }).rate).toBeNaN();
  });

  it('refuses an unknown key (BAD_PARAM naming the known ones)', () => {
    const e = thrown(() => overrideParams(defaults, { speed: 3 }));
    expect(e.code).toBe('BAD_PARAM');
    expect(e.message).toContain("'speed'");
    expect(e.remedy).toContain('rate, verbose, label');
  });

  it.each([
    [{ rate: '2' }, "param 'rate' expects a number (its default is 0.5), got '2'"],
    [{ verbose: 1 }, "param 'verbose' expects a boolean (true/false) (its default is false), got 1"],
    [{ label: true }, "param 'label' expects a string (its default is 'a'), got true"],
  ])('refuses %j: a value of another type than the default (BAD_PARAM), never converted', (over, message) => {
    const e = thrown(() => overrideParams(defaults, over));
    expect(e.code).toBe('BAD_PARAM');
    expect(e.message).toBe(message);
  });
});
