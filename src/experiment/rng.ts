/**
 * Counter-based random numbers for experiments.
 *
 * Every draw is a pure function of `(seed, iteration, position of the draw inside the
 * iteration)`: the generator keeps no state that carries over from one iteration to the
 * next. Iteration `i` therefore sees exactly the same numbers whether the run went
 * straight through, was resumed from a checkpoint, or only ever computed iteration `i`.
 *
 * The block function is Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3", SC 2011; the Random123 library). `CounterRng` computes it
 * with a small WebAssembly function (philox-wasm.ts, ~3x faster) where WebAssembly exists,
 * else with {@link philox4x32}, written with 32-bit integer arithmetic only, so it is exact
 * in JavaScript numbers and allocation-free. Both give the same words (tested).
 */

import { getRandomValues } from 'node:crypto';
import { MmrunError, show } from '../errors.ts';
import { loadWasmPhilox } from './philox-wasm.ts';

const TWO_32 = 4294967296; // 2^32
const TWO_53 = 9007199254740992; // 2^53
const TWO_MINUS_53 = 1 / TWO_53;
const TWO_PI = 2 * Math.PI;

// Philox4x32 multipliers, split into 16-bit halves for the exact high-word product.
// M0 = 0xD2511F53, M1 = 0xCD9E8D57.
const M0 = 0xd2511f53;
const M0_HI = 0xd251;
const M0_LO = 0x1f53;
const M1 = 0xcd9e8d57;
const M1_HI = 0xcd9e;
const M1_LO = 0x8d57;
// Weyl sequence key increments (golden ratio, sqrt(3) - 1).
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/**
 * The Philox4x32-10 block function: encrypts the 128-bit counter `c0..c3` under the
 * 64-bit key `k0, k1` and writes the four 32-bit output words to `out[0..3]`.
 *
 * All arguments are taken modulo 2^32 (any integer-valued number works; pass u32s).
 * Matches Random123's `philox4x32_R(10, ctr, key)` word for word, including its
 * known-answer vectors.
 *
 * Each round computes `(hi0, lo0) = mulhilo(M0, c0)`, `(hi1, lo1) = mulhilo(M1, c2)` and
 * sets the counter to `[hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0]`; the key is bumped by the
 * Weyl increments between rounds. The low word of each product comes from `Math.imul`;
 * the high word is assembled from 16x16-bit partial products, every one of which (and
 * every sum of them) stays below 2^33, far inside the exact range of a double.
 */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  // Work in int32 (`| 0`); bit patterns are what matter, the sign is irrelevant.
  let x0 = c0 | 0;
  let x1 = c1 | 0;
  let x2 = c2 | 0;
  let x3 = c3 | 0;
  let key0 = k0 | 0;
  let key1 = k1 | 0;
  for (let round = 0; ; ) {
    // hi0 = high 32 bits of M0 * x0 and hi1 = high 32 bits of M1 * x2, from 16-bit
    // halves: M * x = Mh*xh * 2^32 + (Mh*xl + Ml*xh) * 2^16 + Ml*xl.
    const xl0 = x0 & 0xffff;
    const xh0 = x0 >>> 16;
    const a0 = M0_HI * xl0;
    const b0 = M0_LO * xh0;
    const carry0 = (((M0_LO * xl0) >>> 16) + (a0 & 0xffff) + (b0 & 0xffff)) >>> 16;
    const hi0 = M0_HI * xh0 + (a0 >>> 16) + (b0 >>> 16) + carry0;
    const xl2 = x2 & 0xffff;
    const xh2 = x2 >>> 16;
    const a2 = M1_HI * xl2;
    const b2 = M1_LO * xh2;
    const carry1 = (((M1_LO * xl2) >>> 16) + (a2 & 0xffff) + (b2 & 0xffff)) >>> 16;
    const hi1 = M1_HI * xh2 + (a2 >>> 16) + (b2 >>> 16) + carry1;
    // Low words: Math.imul gives the low 32 bits of the product directly.
    const lo0 = Math.imul(M0, x0);
    const lo1 = Math.imul(M1, x2);
    // hi0/hi1 are exact integers below 2^32; `^` reduces them to their 32-bit pattern.
    x0 = hi1 ^ x1 ^ key0;
    x1 = lo1;
    x2 = hi0 ^ x3 ^ key1;
    x3 = lo0;
    if (++round === 10) break;
    key0 = (key0 + W0) | 0;
    key1 = (key1 + W1) | 0;
  }
  // Typed-array stores reduce modulo 2^32, turning the int32 patterns into u32.
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
}

const WASM = loadWasmPhilox();

/** Which Philox kernel `CounterRng` uses here: `wasm`, or `javascript` without WebAssembly. */
export const PHILOX_KERNEL: 'wasm' | 'javascript' = WASM ? 'wasm' : 'javascript';

function badOption(message: string, remedy: string): MmrunError {
  return new MmrunError('BAD_OPTION', message, { remedy });
}

/** Like {@link show}, but prints NaN and ±Infinity as themselves (JSON would say null). */
function fmt(value: unknown): string {
  return typeof value === 'number' ? String(value) : show(value);
}

/**
 * A counter-based random generator (Philox4x32-10) whose draws depend only on the seed,
 * the iteration index and the order of the draws inside the iteration.
 *
 * - Key: the seed split into two 32-bit words (low word, high word).
 * - Counter of block `b` of iteration `i`: `(b, i mod 2^32, floor(i / 2^32), 0)`.
 * - Each block yields four u32 outputs; draws consume them in order and compute the next
 *   block on demand. An iteration can consume up to 2^34 u32 values.
 *
 * One instance is meant to be reused for a whole run: call {@link CounterRng.reset}
 * before each iteration. Neither `reset` nor any draw allocates. A new instance starts
 * at iteration 0.
 *
 * @example
 * ```ts
 * const rng = new CounterRng(42);
 * for (let i = start; i < end; i++) {
 *   rng.reset(i);                 // iteration i's stream, independent of earlier iterations
 *   const u = rng.random();       // [0, 1), 53 random bits
 *   const z = rng.normal(0, 2);   // N(0, 2^2)
 *   const k = rng.int(6);         // 0..5, unbiased
 * }
 * ```
 */
export class CounterRng {
  /** The seed: a safe integer in `[0, 2^53 - 1]`. */
  readonly seed: number;
  /** Key words: low and high 32 bits of the seed. */
  private readonly k0: number;
  private readonly k1: number;
  /** Counter words 1 and 2: low and high 32 bits of the current iteration. */
  private c1 = 0;
  private c2 = 0;
  /** Number of the next block to compute within the current iteration. */
  private block = 0;
  /** Index of the next unread word of `buf`; 4 means "compute a block first". */
  private pos = 4;
  private readonly buf = new Uint32Array(4);
  /** Box-Muller produces normals in pairs; the second one waits here until asked for. */
  private spare = 0;
  private hasSpare = false;

  /**
   * @param seed A safe integer in `[0, 2^53 - 1]`; otherwise throws `MmrunError`
   *   with code `BAD_OPTION`.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw badOption(
        `seed must be a non-negative safe integer (0 to ${Number.MAX_SAFE_INTEGER}), got ${fmt(seed)}`,
        'pass a whole number such as --seed 42, or omit --seed to draw a random one',
      );
    }
    this.seed = seed;
    this.k0 = seed >>> 0;
    this.k1 = Math.floor(seed / TWO_32);
  }

  /**
   * Starts the stream of iteration `iteration` (a safe integer in `[0, 2^53 - 1]`;
   * otherwise throws `MmrunError` `BAD_OPTION`). Also discards any cached spare normal.
   * Cheap: no block is computed until the first draw.
   */
  reset(iteration: number): void {
    if (!Number.isSafeInteger(iteration) || iteration < 0) {
      throw badOption(
        `iteration must be a non-negative safe integer, got ${fmt(iteration)}`,
        'pass the 0-based iteration index',
      );
    }
    this.c1 = iteration >>> 0;
    this.c2 = Math.floor(iteration / TWO_32);
    this.block = 0;
    this.pos = 4;
    this.hasSpare = false;
  }

  private refill(): void {
    const block = this.block;
    if (block === TWO_32) {
      throw badOption(
        `iteration ${this.c2 * TWO_32 + this.c1} drew more than 2^34 random words`,
        'draw fewer random numbers per iteration, or split the work over more iterations',
      );
    }
    if (WASM) {
      WASM.block(block, this.c1, this.c2, 0, this.k0, this.k1);
      const out = WASM.out;
      const buf = this.buf;
      buf[0] = out[0] as number;
      buf[1] = out[1] as number;
      buf[2] = out[2] as number;
      buf[3] = out[3] as number;
    } else {
      philox4x32(block, this.c1, this.c2, 0, this.k0, this.k1, this.buf);
    }
    this.block = block + 1;
    this.pos = 0;
  }

  /** The next raw 32-bit output, an integer in `[0, 2^32)`. */
  nextU32(): number {
    if (this.pos === 4) this.refill();
    return this.buf[this.pos++] as number;
  }

  /**
   * A uniform double in `[0, 1)` with 53 random bits, from two u32 draws `a`, `b`:
   * `((a >>> 5) * 2^26 + (b >>> 6)) / 2^53`. Never returns 1.
   */
  random(): number {
    const pos = this.pos;
    let a: number;
    let b: number;
    if (pos <= 2) {
      // Fast path: both words are in the current block.
      const buf = this.buf;
      a = buf[pos] as number;
      b = buf[pos + 1] as number;
      this.pos = pos + 2;
    } else {
      a = this.nextU32();
      b = this.nextU32();
    }
    return ((a >>> 5) * 67108864 + (b >>> 6)) * TWO_MINUS_53;
  }

  /**
   * A normal variate with the given mean and standard deviation (Box-Muller).
   *
   * Normals are made in pairs from two `random()` calls (four u32 words); the second of
   * the pair is cached and returned by the next `normal()` call (scaled by that call's
   * `mean` and `sd`), even if other draws happen in between. `reset()` clears the cache,
   * so the values are still a function of (seed, iteration, draw order).
   * Throws `BAD_OPTION` if `mean` is not finite or `sd` is not a finite number >= 0.
   */
  normal(mean = 0, sd = 1): number {
    if (!Number.isFinite(mean) || !(sd >= 0 && sd < Number.POSITIVE_INFINITY)) {
      throw badOption(
        `normal(mean, sd) needs a finite mean and a finite sd >= 0, got mean ${fmt(mean)}, sd ${fmt(sd)}`,
        'pass finite numbers, with sd >= 0',
      );
    }
    if (this.hasSpare) {
      this.hasSpare = false;
      return mean + sd * this.spare;
    }
    // 1 - u is in (0, 1], so the log is finite.
    const r = Math.sqrt(-2 * Math.log(1 - this.random()));
    const theta = TWO_PI * this.random();
    this.spare = r * Math.sin(theta);
    this.hasSpare = true;
    return mean + sd * (r * Math.cos(theta));
  }

  /**
   * A uniform integer in `[0, n)`, without modulo bias (rejection sampling).
   *
   * `n` must be an integer in `[1, 2^53]`; otherwise throws `MmrunError` `BAD_OPTION`.
   * - `n === 1` returns 0 **without drawing** (nothing is random about it).
   * - `n <= 2^32`: one u32 per attempt; attempts are rejected with probability
   *   `(2^32 mod n) / 2^32` (< 1/2), and never when `n` is a power of two.
   * - `n > 2^32`: two u32 per attempt forming a 53-bit integer; rejected with probability
   *   `(2^53 mod n) / 2^53` (< 1/2).
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_53) {
      throw badOption(
        `int(n) needs an integer n from 1 to 2^53, got ${fmt(n)}`,
        'pass the number of possible outcomes, e.g. int(6) for a die roll',
      );
    }
    if (n === 1) return 0;
    if (n <= TWO_32) {
      // Accept x < limit, where limit is the largest multiple of n not above 2^32.
      const limit = TWO_32 - (TWO_32 % n);
      let x = this.nextU32();
      while (x >= limit) x = this.nextU32();
      return x % n;
    }
    const limit = TWO_53 - (TWO_53 % n);
    for (;;) {
      const x = (this.nextU32() >>> 11) * TWO_32 + this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /**
   * An exponential variate with the given rate (mean `1 / rate`): `-log(1 - random()) / rate`.
   * Throws `BAD_OPTION` unless `rate` is a finite number > 0.
   */
  exponential(rate = 1): number {
    if (!(rate > 0 && rate < Number.POSITIVE_INFINITY)) {
      throw badOption(`exponential(rate) needs a finite rate > 0, got ${fmt(rate)}`, 'pass a positive rate');
    }
    return -Math.log(1 - this.random()) / rate;
  }
}

/**
 * A fresh random seed from the operating system's CSPRNG, uniform over the safe integers
 * `[0, 2^53 - 1]`, for runs started without `--seed`.
 */
export function randomSeed(): number {
  const words = getRandomValues(new Uint32Array(2));
  return ((words[0] as number) & 0x1fffff) * TWO_32 + (words[1] as number);
}
