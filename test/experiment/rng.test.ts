import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { loadWasmPhilox } from '../../src/experiment/philox-wasm.ts';
import { CounterRng, PHILOX_KERNEL, philox4x32, randomSeed } from '../../src/experiment/rng.ts';

const TWO_32 = 2 ** 32;

function block(c: readonly number[], k: readonly number[]): number[] {
  const out = new Uint32Array(4);
  philox4x32(c[0] ?? 0, c[1] ?? 0, c[2] ?? 0, c[3] ?? 0, k[0] ?? 0, k[1] ?? 0, out);
  return [...out];
}

/** Philox4x32-10 written independently with BigInt (exact 64-bit products), per the paper. */
function philoxBigInt(c: readonly number[], k: readonly number[]): number[] {
  const mask = 0xffffffffn;
  let [x0, x1, x2, x3] = c.map(BigInt) as [bigint, bigint, bigint, bigint];
  let [key0, key1] = k.map(BigInt) as [bigint, bigint];
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      key0 = (key0 + 0x9e3779b9n) & mask;
      key1 = (key1 + 0xbb67ae85n) & mask;
    }
    const p0 = 0xd2511f53n * x0;
    const p1 = 0xcd9e8d57n * x2;
    [x0, x1, x2, x3] = [(p1 >> 32n) ^ x1 ^ key0, p1 & mask, (p0 >> 32n) ^ x3 ^ key1, p0 & mask];
  }
  return [x0, x1, x2, x3].map(Number);
}

function draws(rng: CounterRng, count: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < count; j++) out.push(rng.nextU32());
  return out;
}

function expectBadOption(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(MmrunError);
  const error = caught as MmrunError;
  expect(error.code).toBe('BAD_OPTION');
  expect(error.remedy).toBeTruthy();
}

describe('philox4x32 (Philox4x32-10 block function)', () => {
  // Random123 kat_vectors, philox4x32 R=10.
  it('matches the Random123 known-answer vectors', () => {
    expect(block([0, 0, 0, 0], [0, 0])).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    expect(block([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])).toEqual([
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd,
    ]);
    expect(block([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])).toEqual([
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
    ]);
  });

  it('agrees with an exact BigInt reference on many inputs', () => {
    const src = new CounterRng(123);
    src.reset(0);
    for (let t = 0; t < 2000; t++) {
      const c = draws(src, 4);
      const k = draws(src, 2);
      expect(block(c, k)).toEqual(philoxBigInt(c, k));
    }
  });
});

describe('the WebAssembly kernel', () => {
  it('is what CounterRng uses on Node (WebAssembly is there)', () => {
    expect(PHILOX_KERNEL).toBe('wasm');
  });

  it('matches the Random123 known-answer vectors and the JavaScript kernel word for word', () => {
    const wasm = loadWasmPhilox()!;
    const run = (c: readonly number[], k: readonly number[]) => {
      wasm.block(c[0]!, c[1]!, c[2]!, c[3]!, k[0]!, k[1]!);
      return [...wasm.out];
    };
    expect(run([0, 0, 0, 0], [0, 0])).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    expect(run([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])).toEqual([
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd,
    ]);
    const src = new CounterRng(99);
    src.reset(0);
    for (let t = 0; t < 100_000; t++) {
      const c = draws(src, 4);
      const k = draws(src, 2);
      expect(run(c, k)).toEqual(block(c, k));
    }
  });

  it('gives CounterRng the same draws as the JavaScript kernel, also past 2^32 iterations and for big seeds', () => {
    for (const seed of [0, 1, 2 ** 31, TWO_32 - 1, TWO_32 + 3, Number.MAX_SAFE_INTEGER]) {
      const rng = new CounterRng(seed);
      const k0 = seed >>> 0;
      const k1 = Math.floor(seed / TWO_32);
      for (const i of [0, 1, 2 ** 31, TWO_32 - 1, TWO_32, 2 ** 52 + 1]) {
        rng.reset(i);
        const got = draws(rng, 12);
        const want = [0, 1, 2].flatMap((b) => block([b, i >>> 0, Math.floor(i / TWO_32), 0], [k0, k1]));
        expect(got).toEqual(want);
      }
    }
  });
});

describe('CounterRng determinism', () => {
  it('nextU32 is the Philox stream of counter (block, i lo, i hi, 0) under key (seed lo, seed hi)', () => {
    const seed = 2 ** 40 + 5; // key (5, 256)
    const i = 2 ** 33 + 7; // counter words (b, 7, 2, 0)
    const rng = new CounterRng(seed);
    rng.reset(i);
    const expected = [
      ...block([0, 7, 2, 0], [5, 256]),
      ...block([1, 7, 2, 0], [5, 256]),
      ...block([2, 7, 2, 0], [5, 256]),
    ];
    expect(draws(rng, 12)).toEqual(expected);
  });

  it('gives iteration i the same draws regardless of earlier iterations (resume-safe)', () => {
    const walked = new CounterRng(42);
    for (let i = 0; i < 5; i++) {
      walked.reset(i);
      walked.random();
      walked.normal(); // leaves a cached spare behind
      walked.int(7);
      walked.nextU32(); // leaves a partially used block behind
    }
    walked.reset(5);
    const a = [
      walked.random(),
      walked.normal(),
      walked.normal(),
      walked.normal(),
      walked.int(1000),
      walked.exponential(),
    ];

    const fresh = new CounterRng(42);
    fresh.reset(5);
    const b = [fresh.random(), fresh.normal(), fresh.normal(), fresh.normal(), fresh.int(1000), fresh.exponential()];
    expect(a).toEqual(b);
  });

  it('reset() clears the cached spare normal', () => {
    const rng = new CounterRng(9);
    rng.reset(3);
    const first = rng.normal();
    rng.reset(3);
    expect(rng.normal()).toBe(first);
  });

  it('replays the same iteration identically, also on a new instance', () => {
    const rng = new CounterRng(7);
    rng.reset(11);
    const a = draws(rng, 9);
    rng.reset(11);
    expect(draws(rng, 9)).toEqual(a);
    const other = new CounterRng(7);
    other.reset(11);
    expect(draws(other, 9)).toEqual(a);
  });

  it('starts at iteration 0 when constructed', () => {
    const a = new CounterRng(3);
    const b = new CounterRng(3);
    b.reset(0);
    expect(draws(a, 6)).toEqual(draws(b, 6));
  });

  it('gives different streams for different seeds and different iterations', () => {
    const streams = new Set<string>();
    for (const seed of [0, 1, 2, TWO_32, TWO_32 + 1]) {
      const rng = new CounterRng(seed);
      for (const i of [0, 1, 2, TWO_32, TWO_32 + 1]) {
        rng.reset(i);
        streams.add(draws(rng, 4).join(','));
      }
    }
    expect(streams.size).toBe(25);
  });

  it('works for iterations beyond 2^32 and up to 2^53 - 1', () => {
    const rng = new CounterRng(1);
    rng.reset(TWO_32 + 3);
    const above = draws(rng, 4);
    rng.reset(3);
    expect(draws(rng, 4)).not.toEqual(above);
    expect(above).toEqual(block([0, 3, 1, 0], [1, 0]));
    rng.reset(Number.MAX_SAFE_INTEGER);
    expect(draws(rng, 4)).toEqual(block([0, 0xffffffff, 0x1fffff, 0], [1, 0]));
  });

  it('works for seeds up to 2^53 - 1', () => {
    const rng = new CounterRng(Number.MAX_SAFE_INTEGER);
    expect(rng.seed).toBe(Number.MAX_SAFE_INTEGER);
    rng.reset(0);
    expect(draws(rng, 4)).toEqual(block([0, 0, 0, 0], [0xffffffff, 0x1fffff]));
    const u = rng.random();
    expect(u).toBeGreaterThanOrEqual(0);
    expect(u).toBeLessThan(1);
  });

  it('builds random() from two u32 words as documented', () => {
    const a = new CounterRng(5);
    const b = new CounterRng(5);
    const [w0, w1] = draws(b, 2) as [number, number];
    expect(a.random()).toBe(((w0 >>> 5) * 67108864 + (w1 >>> 6)) / 2 ** 53);
  });
});

describe('CounterRng statistics (fixed seed)', () => {
  const N = 100_000;

  it('random() is uniform on [0, 1) and never 1', () => {
    const rng = new CounterRng(20240601);
    let sum = 0;
    let sumSq = 0;
    let min = 1;
    let max = 0;
    for (let j = 0; j < N; j++) {
      if (j % 100 === 0) rng.reset(j / 100);
      const u = rng.random();
      sum += u;
      sumSq += u * u;
      if (u < min) min = u;
      if (u > max) max = u;
    }
    const mean = sum / N;
    const variance = sumSq / N - mean * mean;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01); // sd of mean ~ 0.0009
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.003);
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
  });

  it('normal() has mean ~0 and variance ~1, and honours mean/sd', () => {
    const rng = new CounterRng(77);
    rng.reset(0);
    let sum = 0;
    let sumSq = 0;
    for (let j = 0; j < N; j++) {
      const z = rng.normal();
      sum += z;
      sumSq += z * z;
    }
    expect(Number.isFinite(sumSq)).toBe(true);
    const mean = sum / N;
    expect(Math.abs(mean)).toBeLessThan(0.02); // sd of mean ~ 0.003
    expect(Math.abs(sumSq / N - mean * mean - 1)).toBeLessThan(0.03);

    let scaled = 0;
    for (let j = 0; j < N; j++) scaled += rng.normal(10, 3);
    expect(Math.abs(scaled / N - 10)).toBeLessThan(0.1);
  });

  it('exponential() has mean 1/rate and is non-negative', () => {
    const rng = new CounterRng(5);
    rng.reset(1);
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    for (let j = 0; j < N; j++) {
      const x = rng.exponential(4);
      if (x < min) min = x;
      sum += x;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(Math.abs(sum / N - 0.25)).toBeLessThan(0.01);
  });

  it('int(n) stays in range and is roughly uniform (chi-square)', () => {
    const rng = new CounterRng(31337);
    rng.reset(0);
    for (const n of [2, 6, 10, 1000, 2 ** 31 + 1]) {
      const bins = Math.min(n, 10);
      const counts = new Array<number>(bins).fill(0);
      let outOfRange = 0;
      for (let j = 0; j < N; j++) {
        const x = rng.int(n);
        if (!(Number.isInteger(x) && x >= 0 && x < n)) outOfRange++;
        const bin = Math.floor((x * bins) / n);
        counts[bin] = (counts[bin] ?? 0) + 1;
      }
      const expected = N / bins;
      expect(outOfRange).toBe(0);
      const chi2 = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
      // df <= 9: the 0.9999 quantile is ~33; 60 only trips on real bias.
      expect(chi2).toBeLessThan(60);
    }
  });

  it('int(n) covers large ranges: 2^32, 2^40, odd n above 2^32, 2^53', () => {
    const rng = new CounterRng(8);
    rng.reset(0);
    for (const n of [TWO_32, 2 ** 40, 3 * 2 ** 40 + 7, 2 ** 52 + 1, 2 ** 53]) {
      let sum = 0;
      let outOfRange = 0;
      const M = 20_000;
      for (let j = 0; j < M; j++) {
        const x = rng.int(n);
        if (!(Number.isInteger(x) && x >= 0 && x < n)) outOfRange++;
        sum += x / n;
      }
      expect(outOfRange).toBe(0);
      expect(Math.abs(sum / M - 0.5)).toBeLessThan(0.02);
    }
  });

  it('int(1) is 0 and draws nothing', () => {
    const a = new CounterRng(4);
    const b = new CounterRng(4);
    expect(a.int(1)).toBe(0);
    expect(a.nextU32()).toBe(b.nextU32());
  });
});

describe('CounterRng argument checks', () => {
  it('rejects bad seeds with BAD_OPTION', () => {
    for (const seed of [-1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectBadOption(() => new CounterRng(seed));
    }
    expect(() => new CounterRng(-1)).toThrow(/-1/);
  });

  it('rejects bad int(n) with BAD_OPTION', () => {
    const rng = new CounterRng(1);
    for (const n of [0, -3, 2.5, 2 ** 53 + 2, Number.NaN]) expectBadOption(() => rng.int(n));
    expect(() => rng.int(2.5)).toThrow(/2\.5/);
    expect(() => rng.int(Number.NaN)).toThrow(/NaN/);
  });

  it('rejects bad iterations, sd and rate with BAD_OPTION', () => {
    const rng = new CounterRng(1);
    expectBadOption(() => rng.reset(-1));
    expectBadOption(() => rng.reset(0.5));
    expectBadOption(() => rng.reset(2 ** 53));
    expectBadOption(() => rng.normal(0, -1));
    expectBadOption(() => rng.normal(Number.NaN, 1));
    expectBadOption(() => rng.exponential(0));
    expectBadOption(() => rng.exponential(-2));
  });
});

describe('randomSeed', () => {
  it('returns distinct non-negative safe integers usable as seeds', () => {
    const seen = new Set<number>();
    for (let j = 0; j < 100; j++) {
      const s = randomSeed();
      expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
      seen.add(s);
      expect(new CounterRng(s).seed).toBe(s);
    }
    expect(seen.size).toBe(100);
  });
});
