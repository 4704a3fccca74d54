import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { decodeState, encodeState } from '../../src/runner/state.ts';

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

const roundTrip = (state: unknown): unknown => decodeState(encodeState(state, 0));

describe('encodeState / decodeState', () => {
  it('keeps NaN, -0 and the infinities that JSON would bend', () => {
    const out = roundTrip({ nan: Number.NaN, negZero: -0, inf: Number.POSITIVE_INFINITY, ninf: -Infinity }) as Record<
      string,
      number
    >;
    expect(out.nan).toBeNaN();
    expect(Object.is(out.negZero, -0)).toBe(true);
    expect(out.inf).toBe(Number.POSITIVE_INFINITY);
    expect(out.ninf).toBe(Number.NEGATIVE_INFINITY);
  });

  it('keeps typed arrays with their type and bits', () => {
    const f64 = new Float64Array([1.5, Number.NaN, -0, 1e-310]);
    const out = roundTrip({ f64, u8: new Uint8Array([1, 255]), i32: new Int32Array([-7]) }) as {
      f64: Float64Array;
      u8: Uint8Array;
      i32: Int32Array;
    };
    expect(out.f64).toBeInstanceOf(Float64Array);
    expect(Buffer.from(out.f64.buffer, out.f64.byteOffset, out.f64.byteLength)).toEqual(Buffer.from(f64.buffer));
    expect(out.u8).toEqual(new Uint8Array([1, 255]));
    expect(out.i32).toEqual(new Int32Array([-7]));
  });

  it('keeps nested objects, arrays, strings, booleans, null, Map and bigint', () => {
    const state = {
      position: 1.25,
      label: 'é ✓',
      flags: [true, false, null],
      deep: { a: { b: { c: [1, [2, [3]]] } } },
      seen: new Map([['x', 1]]),
      big: 2n ** 70n,
    };
    expect(roundTrip(state)).toEqual(state);
  });

  it('keeps numbers and strings as the whole state', () => {
    expect(roundTrip(42)).toBe(42);
    expect(roundTrip('s')).toBe('s');
    expect(roundTrip(null)).toBeNull();
  });

  it('stores undefined as null (no state) and restores it as undefined', () => {
    expect(encodeState(undefined, 0)).toBeNull();
    expect(decodeState(null)).toBeUndefined();
  });

  it('returns a Buffer that is independent of the live state', () => {
    const state = { n: 1 };
    const blob = encodeState(state, 0);
    expect(Buffer.isBuffer(blob)).toBe(true);
    state.n = 2;
    expect(decodeState(blob)).toEqual({ n: 1 });
  });

  it.each([
    ['a function', { f: () => 1 }],
    ['a symbol', { s: Symbol('x') }],
    ['a class with a method in a Map', new Map([['k', { m() {} }]])],
  ])('refuses %s (STATE_NOT_SERIALIZABLE) naming the row count', (_, state) => {
    const e = thrown(() => encodeState(state, 1234));
    expect(e.code).toBe('STATE_NOT_SERIALIZABLE');
    expect(e.message).toContain('1234 rows');
    expect(e.remedy).toContain('plain data');
    expect(e.cause).toBeInstanceOf(Error);
  });
});
