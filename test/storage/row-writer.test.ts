import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { layoutOf } from '../../src/storage/dtype.ts';
import { compileRowWriter, KEY_CHECK_EVERY } from '../../src/storage/row-writer.ts';

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

const FILL = 0xaa;

// Aligned: every field's offset and the row size are multiples of its element size.
// a f8 @0, b i4 @8, c u4 @12, v f4×2 @16 → 24 bytes.
const ALIGNED = layoutOf({ a: 'f8', b: 'i4', c: 'u4', v: ['f4', 2] });
interface AlignedRow {
  a: number;
  b: number;
  c: number;
  v: ArrayLike<number>;
}
function encodeAligned(dv: DataView, r: number, row: AlignedRow): void {
  const o = r * 24;
  dv.setFloat64(o, row.a, true);
  dv.setInt32(o + 8, row.b, true);
  dv.setUint32(o + 12, row.c, true);
  dv.setFloat32(o + 16, row.v[0]!, true);
  dv.setFloat32(o + 20, row.v[1]!, true);
}

// Unaligned, every dtype and a vector:
// x f8 @0, n u2 @8, h bool @10, v f4×3 @11, i i1 @23, j i2 @24, k i4 @26, u u1 @30, w u4 @31, f f4 @35 → 39.
const MIXED = layoutOf({
  x: 'f8',
  n: 'u2',
  h: 'bool',
  v: ['f4', 3],
  i: 'i1',
  j: 'i2',
  k: 'i4',
  u: 'u1',
  w: 'u4',
  f: 'f4',
});
interface MixedRow {
  x: number;
  n: number;
  h: boolean | number;
  v: ArrayLike<number>;
  i: number;
  j: number;
  k: number;
  u: number;
  w: number;
  f: number;
}
function encodeMixed(dv: DataView, r: number, row: MixedRow): void {
  const o = r * 39;
  dv.setFloat64(o, row.x, true);
  dv.setUint16(o + 8, row.n, true);
  dv.setUint8(o + 10, row.h ? 1 : 0);
  for (let e = 0; e < 3; e++) dv.setFloat32(o + 11 + 4 * e, row.v[e]!, true);
  dv.setInt8(o + 23, row.i);
  dv.setInt16(o + 24, row.j, true);
  dv.setInt32(o + 26, row.k, true);
  dv.setUint8(o + 30, row.u);
  dv.setUint32(o + 31, row.w, true);
  dv.setFloat32(o + 35, row.f, true);
}

const mixedRow = (over: Partial<Record<keyof MixedRow, unknown>> = {}): Record<string, unknown> => ({
  x: 1.25,
  n: 7,
  h: true,
  v: [1, 2, 3],
  i: -5,
  j: 300,
  k: -70000,
  u: 200,
  w: 3_000_000_000,
  f: 0.5,
  ...over,
});

describe('compileRowWriter: bytes', () => {
  it('aligned layout: rows equal a manual little-endian encoding, at the right offsets', () => {
    expect(ALIGNED.itemsize).toBe(24);
    const rows: AlignedRow[] = [
      { a: Math.PI, b: -2_147_483_648, c: 4_294_967_295, v: [0.1, -2.5] },
      { a: -0, b: 2_147_483_647, c: 0, v: new Float32Array([Number.POSITIVE_INFINITY, 1e-3]) },
      { a: Number.NaN, b: -1, c: 123_456, v: new Float64Array([1 / 3, -1e30]) },
    ];
    const buf = Buffer.alloc(4 * 24, FILL);
    const expected = Buffer.alloc(4 * 24, FILL);
    const dv = new DataView(expected.buffer, expected.byteOffset, expected.byteLength);
    const write = compileRowWriter(ALIGNED).bind(buf);
    // Rows 0, 1 and 3: row 2 must keep its bytes.
    [0, 1, 3].forEach((r, n) => {
      write(rows[n], 100 + n, r);
      encodeAligned(dv, r, rows[n]!);
    });
    expect(buf.equals(expected)).toBe(true);
    expect(buf.subarray(48, 72).every((b) => b === FILL)).toBe(true);
  });

  it('aligned layout: writes through a view that starts past a header (like a segment)', () => {
    const file = Buffer.alloc(128 + 2 * 24, FILL);
    const data = file.subarray(128);
    const write = compileRowWriter(ALIGNED).bind(data);
    const row = { a: 2.5, b: 42, c: 43, v: [4, 5] };
    write(row, 0, 1);
    const expected = Buffer.alloc(2 * 24, FILL);
    encodeAligned(new DataView(expected.buffer), 1, row);
    expect(data.equals(expected)).toBe(true);
    expect(file.subarray(0, 128).every((b) => b === FILL)).toBe(true);
  });

  it('unaligned layout with every dtype: rows equal a manual little-endian encoding', () => {
    expect(MIXED.itemsize).toBe(39);
    const rows: MixedRow[] = [
      {
        x: 1.25,
        n: 65535,
        h: true,
        v: [1.5, -2.25, 3.1],
        i: -128,
        j: -32768,
        k: -2_147_483_648,
        u: 255,
        w: 4_294_967_295,
        f: 0.1,
      },
      {
        x: -0,
        n: 0,
        h: false,
        v: new Float32Array([7, 8, 9]),
        i: 127,
        j: 32767,
        k: 2_147_483_647,
        u: 0,
        w: 0,
        f: -1e-7,
      },
      { x: Number.NEGATIVE_INFINITY, n: 1, h: 1, v: [0, 0, 1e38], i: 0, j: -1, k: 5, u: 1, w: 1, f: Number.NaN },
      { x: 1e-300, n: 2, h: 0, v: new Float64Array([1 / 3, 2 / 3, 1]), i: -1, j: 1, k: -1, u: 128, w: 2 ** 31, f: 3 },
    ];
    const buf = Buffer.alloc(5 * 39, FILL);
    const expected = Buffer.alloc(5 * 39, FILL);
    const dv = new DataView(expected.buffer, expected.byteOffset, expected.byteLength);
    const write = compileRowWriter(MIXED).bind(buf);
    [0, 1, 2, 4].forEach((r, n) => {
      write(rows[n], n, r);
      encodeMixed(dv, r, rows[n]!);
    });
    expect(buf.equals(expected)).toBe(true);
    expect(buf.subarray(3 * 39, 4 * 39).every((b) => b === FILL)).toBe(true);
  });

  it('stores bool true/false/1/0 as the bytes 1 and 0', () => {
    const layout = layoutOf({ b: 'bool', bv: ['bool', 4] });
    const buf = Buffer.alloc(4 * 5, FILL);
    const write = compileRowWriter(layout).bind(buf);
    write({ b: true, bv: [true, false, 1, 0] }, 0, 0);
    write({ b: false, bv: [0, 1, false, true] }, 1, 1);
    write({ b: 1, bv: new Uint8Array([1, 1, 0, 0]) }, 2, 2);
    write({ b: 0, bv: [false, false, false, false] }, 3, 3);
    expect([...buf]).toEqual([1, 1, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('overwrites a row in place when written twice', () => {
    const buf = Buffer.alloc(39, FILL);
    const write = compileRowWriter(MIXED).bind(buf);
    write(mixedRow(), 0, 0);
    const second = mixedRow({ x: 9, w: 1 }) as unknown as MixedRow;
    write(second, 1, 0);
    const expected = Buffer.alloc(39);
    encodeMixed(new DataView(expected.buffer), 0, second);
    expect(buf.equals(expected)).toBe(true);
  });
});

describe('compileRowWriter: bad rows (BAD_ROW naming the column and the iteration)', () => {
  const bad = (row: unknown, layout = MIXED): MmrunError => {
    const write = compileRowWriter(layout).bind(Buffer.alloc(layout.itemsize));
    const e = thrown(() => write(row, 4321, 0));
    expect(e.code).toBe('BAD_ROW');
    expect(e.message).toContain('iteration 4321');
    expect(e.remedy).toBeTruthy();
    return e;
  };

  it('an unknown column', () => {
    const e = bad({ ...mixedRow(), extra: 1 });
    expect(e.message).toContain("unknown column 'extra'");
  });

  it('an unknown column on any of the first KEY_CHECK_EVERY rows, and from then on within KEY_CHECK_EVERY rows', () => {
    const rows = 3 * KEY_CHECK_EVERY;
    const write = compileRowWriter(MIXED).bind(Buffer.alloc(MIXED.itemsize * rows));
    for (let r = 0; r < KEY_CHECK_EVERY - 1; r++) write(mixedRow(), r, r);
    const early = thrown(() => write({ ...mixedRow(), extra: 1 }, 1023, KEY_CHECK_EVERY - 1));
    expect(early.message).toContain("iteration 1023: unknown column 'extra'");

    // A fresh writer (a new session) whose step starts returning an extra key from row 1500 on.
    const later = compileRowWriter(MIXED).bind(Buffer.alloc(MIXED.itemsize * rows));
    const from = KEY_CHECK_EVERY + 476;
    let failedAt = -1;
    for (let r = 0; r < rows && failedAt < 0; r++) {
      try {
        later(r < from ? mixedRow() : { ...mixedRow(), extra: r }, 10_000 + r, r);
      } catch (error) {
        expect((error as MmrunError).message).toContain(`iteration ${10_000 + r}: unknown column 'extra'`);
        failedAt = r;
      }
    }
    expect(failedAt).toBe(2 * KEY_CHECK_EVERY);

    // Rows whose keys are not counted still have every declared column checked.
    const { j: _, ...missing } = mixedRow();
    const e = thrown(() => later(missing, 7, 2 * KEY_CHECK_EVERY + 5));
    expect(e.message).toContain("iteration 7: missing column 'j'");
    expect(thrown(() => later({ ...mixedRow(), j: 1.5 }, 8, 2 * KEY_CHECK_EVERY + 6)).message).toContain("column 'j'");
  });

  it('a missing column', () => {
    const { j: _, ...row } = mixedRow();
    expect(bad(row).message).toContain("missing column 'j'");
  });

  it('a misspelled column (one missing, one unknown)', () => {
    const { k: _, ...row } = mixedRow();
    const e = bad({ ...row, kk: 1 });
    expect(e.message).toContain("missing column 'k' (i4)");
  });

  it.each([
    ['too short', [1, 2]],
    ['too long', [1, 2, 3, 4]],
    ['a typed array too short', new Float32Array(2)],
    ['a scalar', 5],
  ])('a vector that is %s', (_, v) => {
    const e = bad(mixedRow({ v }));
    expect(e.message).toContain("column 'v'");
    expect(e.message).toContain('length 3');
  });

  it('a vector element of the wrong type names the element', () => {
    const e = bad(mixedRow({ v: [1, 'two', 3] }));
    expect(e.message).toContain("column 'v[1]'");
    expect(e.message).toContain("'two'");
  });

  it.each([
    ['NaN', 'k', Number.NaN],
    ['Infinity', 'i', Number.POSITIVE_INFINITY],
    ['-Infinity', 'w', Number.NEGATIVE_INFINITY],
    ['3.5', 'j', 3.5],
    ['3.5', 'u', 3.5],
    ['256', 'u', 256],
    ['-1', 'u', -1],
    ['-1', 'w', -1],
    ['4294967296', 'w', 2 ** 32],
    ['65536', 'n', 65536],
    ['128', 'i', 128],
    ['-129', 'i', -129],
    ['32768', 'j', 32768],
    ['2147483648', 'k', 2 ** 31],
    ["'5'", 'k', '5'],
  ])('%s in integer column %s', (shown, column, value) => {
    const e = bad(mixedRow({ [column]: value }));
    expect(e.message).toContain(`column '${column}'`);
    expect(e.message).toContain(shown);
    expect(e.message).toContain('whole number');
  });

  it('a string in an f8 column', () => {
    const e = bad(mixedRow({ x: '1.5' }));
    expect(e.message).toContain("column 'x'");
    expect(e.message).toContain("'1.5'");
  });

  it.each([
    ['2', 2],
    ["'true'", 'true'],
    ['null', null],
  ])('%s in a bool column', (shown, h) => {
    const e = bad(mixedRow({ h }));
    expect(e.message).toContain("column 'h'");
    expect(e.message).toContain(shown);
  });

  it('a null row', () => {
    expect(bad(null).message).toContain('step returned null');
  });

  it('a number instead of a row', () => {
    expect(bad(42).message).toContain('step returned 42');
  });

  it('undefined (a step that forgot to return)', () => {
    expect(bad(undefined).message).toContain('step returned undefined');
  });

  it('the aligned writer refuses the same things', () => {
    const e = bad({ a: 1, b: 1.5, c: 1, v: [1, 2] }, ALIGNED);
    expect(e.message).toContain("column 'b'");
    expect(e.message).toContain('1.5');
    const f = bad({ a: 1, b: 1, c: 1, v: new Float32Array(3) }, ALIGNED);
    expect(f.message).toContain("column 'v'");
  });
});
