import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { packedLayout, parseRowRange, resolveRowRange, selectColumns } from '../../src/export/select.ts';
import { layoutOf } from '../../src/storage/dtype.ts';

const layout = layoutOf({ x: 'f8', k: 'i2', v: ['f4', 3], flag: 'bool' });

function error(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MmrunError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

describe('parseRowRange', () => {
  it.each([
    ['10:20', { start: 10, end: 20 }],
    [':500', { end: 500 }],
    ['-100:', { start: -100 }],
    ['10:-10', { start: 10, end: -10 }],
    [':', {}],
    ['1_000:2_000', { start: 1000, end: 2000 }],
    [' 3 : 4 ', { start: 3, end: 4 }],
  ])('%j → %j', (text, range) => {
    expect(parseRowRange(text)).toEqual(range);
  });

  it.each([
    ['5', 'it has no ":"'],
    ['1:2:3', 'a step'],
    ['a:b', "START 'a' is not an integer"],
    ['1.5:3', "START '1.5' is not an integer"],
    ['0:1e3', "END '1e3' is not an integer"],
    ['0:99999999999999999999', 'too large'],
    ['1__0:', 'not an integer'],
  ])('%j is refused: %s', (text, why) => {
    const err = error(() => parseRowRange(text));
    expect(err.code).toBe('BAD_ROW_RANGE');
    expect(err.message).toContain(`'${text}'`);
    expect(err.message).toContain(why);
    expect(err.remedy).toContain('START:END');
  });
});

describe('resolveRowRange', () => {
  // Expected values are Python's: range(10)[start:end].
  it.each([
    [{}, 0, 10],
    [{ start: 3 }, 3, 10],
    [{ end: 4 }, 0, 4],
    [{ start: -3 }, 7, 10],
    [{ start: 2, end: -2 }, 2, 8],
    [{ start: -100, end: 100 }, 0, 10],
    [{ start: 8, end: 3 }, 8, 8],
    [{ start: 10 }, 10, 10],
    [{ start: 50, end: 60 }, 10, 10],
    [{ end: -20 }, 0, 0],
  ])('%j of 10 rows → [%i, %i)', (range, start, end) => {
    expect(resolveRowRange(range, 10)).toEqual({ start, end });
  });

  it('clips to zero rows', () => {
    expect(resolveRowRange({ start: -5, end: 5 }, 0)).toEqual({ start: 0, end: 0 });
  });
});

describe('selectColumns', () => {
  it('keeps every column in order by default, and the order asked for otherwise', () => {
    expect(selectColumns(layout, undefined, "run 'r'").map((f) => f.name)).toEqual(['x', 'k', 'v', 'flag']);
    expect(selectColumns(layout, ['flag', 'x'], "run 'r'").map((f) => f.name)).toEqual(['flag', 'x']);
  });

  it('names an unknown column and lists the valid ones', () => {
    const err = error(() => selectColumns(layout, ['x', 'nope'], "run 'r'"));
    expect(err.code).toBe('UNKNOWN_COLUMN');
    expect(err.message).toBe("run 'r' has no column 'nope'; its columns are x, k, v, flag");
  });

  it('refuses a repeated or empty selection', () => {
    expect(error(() => selectColumns(layout, ['x', 'x'], 'r')).message).toContain("column 'x' twice");
    expect(error(() => selectColumns(layout, [], 'r')).code).toBe('BAD_OPTION');
  });

  it('packs the selection into a new layout', () => {
    const packed = packedLayout(selectColumns(layout, ['v', 'x'], 'r'));
    expect(packed.itemsize).toBe(20);
    expect(packed.fields.map((f) => [f.name, f.offset, f.size])).toEqual([
      ['v', 0, 12],
      ['x', 12, 8],
    ]);
  });
});
