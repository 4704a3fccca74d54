import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { readColumn, selectColumn, ValueStats } from '../../src/plot/values.ts';
import { layoutOf } from '../../src/storage/dtype.ts';

const layout = layoutOf({ x: 'f8', v: ['f4', 3], k: 'i2', on: 'bool', one: ['u1', 2] });

function failure(f: () => unknown): MmrunError {
  try {
    f();
  } catch (e) {
    if (e instanceof MmrunError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('selectColumn', () => {
  it('takes a scalar by name and a vector element as v[i]', () => {
    expect(selectColumn(layout, 'x', 'run r')).toMatchObject({ element: 0, label: 'x', integer: false });
    expect(selectColumn(layout, 'v[2]', 'run r')).toMatchObject({ element: 2, label: 'v[2]', integer: false });
    expect(selectColumn(layout, 'on', 'run r')).toMatchObject({ label: 'on', integer: true });
    expect(selectColumn(layout, 'one[0]', 'run r').label).toBe('one[0]');
  });

  it('refuses an unknown column with UNKNOWN_COLUMN, listing every valid form', () => {
    const e = failure(() => selectColumn(layout, 'position', "run 'r'"));
    expect(e.code).toBe('UNKNOWN_COLUMN');
    expect(e.message).toBe("run 'r' has no column 'position'; its columns are x, v[0]…v[2], k, on, one[0]…one[1]");
  });

  it('refuses a vector without an index, or out of range, with BAD_COLUMN_INDEX naming the valid ones', () => {
    const bare = failure(() => selectColumn(layout, 'v', "run 'r'"));
    expect(bare.code).toBe('BAD_COLUMN_INDEX');
    expect(bare.message).toContain("column 'v' is a vector of 3 f4");
    expect(bare.remedy).toContain('pass --column v[0] through v[2]');
    expect(bare.remedy).toContain('x, v[0]…v[2], k, on, one[0]…one[1]');
    const out = failure(() => selectColumn(layout, 'v[3]', "run 'r'"));
    expect(out.code).toBe('BAD_COLUMN_INDEX');
    expect(out.message).toContain('has elements 0 to 2, not 3');
    const scalar = failure(() => selectColumn(layout, 'x[0]', "run 'r'"));
    expect(scalar.code).toBe('BAD_COLUMN_INDEX');
    expect(scalar.message).toContain("column 'x' is a scalar");
  });
});

describe('readColumn', () => {
  it('reads one element of every row as float64, bool as 0/1, at any alignment', () => {
    const rows = 5;
    const data = Buffer.alloc(rows * layout.itemsize);
    const field = (name: string) => layout.fields.find((f) => f.name === name)!;
    for (let r = 0; r < rows; r++) {
      const at = r * layout.itemsize;
      data.writeDoubleLE(r + 0.5, at + field('x').offset);
      data.writeFloatLE(-r, at + field('v').offset + 8);
      data.writeInt16LE(-300 * r, at + field('k').offset);
      data.writeUInt8(r === 2 ? 7 : 0, at + field('on').offset);
    }
    const chunk = { firstRow: 0, rows, data: data.subarray(0) };
    const out = new Float64Array(rows);
    const read = (name: string) => {
      readColumn(chunk, layout.itemsize, selectColumn(layout, name, 'r'), out);
      return [...out];
    };
    expect(layout.itemsize % 8).not.toBe(0);
    expect(read('x')).toEqual([0.5, 1.5, 2.5, 3.5, 4.5]);
    expect(read('v[2]')).toEqual([-0, -1, -2, -3, -4]);
    expect(read('k')).toEqual([0, -300, -600, -900, -1200]);
    expect(read('on')).toEqual([0, 0, 1, 0, 0]);
  });
});

describe('ValueStats', () => {
  it('finds the range of the finite values and counts the others by kind', () => {
    const s = new ValueStats();
    s.add(Float64Array.of(Number.NaN, 3, Number.NEGATIVE_INFINITY, -2), 4);
    s.add(Float64Array.of(Number.POSITIVE_INFINITY, 10, Number.NaN), 3);
    expect([s.finite, s.min, s.max]).toEqual([3, -2, 10]);
    expect(s.skipped).toEqual({ nan: 2, posInf: 1, negInf: 1 });
  });
});
