import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { DEFAULT_FLUSH_POLICY, normalizeFlushPolicy, Pacer } from '../../src/runner/flush-policy.ts';

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

describe('normalizeFlushPolicy', () => {
  it('fills in the defaults: every 1,000,000 rows or 10 s', () => {
    expect(normalizeFlushPolicy()).toEqual({ every: 1_000_000, intervalSeconds: 10 });
    expect(normalizeFlushPolicy({})).toEqual(DEFAULT_FLUSH_POLICY);
    expect(normalizeFlushPolicy({ every: 5 })).toEqual({ every: 5, intervalSeconds: 10 });
    expect(normalizeFlushPolicy({ intervalSeconds: 0.25 })).toEqual({ every: 1_000_000, intervalSeconds: 0.25 });
    expect(normalizeFlushPolicy({ every: undefined, intervalSeconds: undefined })).toEqual(DEFAULT_FLUSH_POLICY);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])(
    'refuses every = %s (BAD_OPTION) naming --flush-every and the value',
    (every) => {
      const e = thrown(() => normalizeFlushPolicy({ every }));
      expect(e.code).toBe('BAD_OPTION');
      expect(e.message).toContain('--flush-every');
      expect(e.message).toContain(`got ${every}`);
    },
  );

  it.each([0, -5, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses intervalSeconds = %s (BAD_OPTION) naming --flush-interval and the value',
    (intervalSeconds) => {
      const e = thrown(() => normalizeFlushPolicy({ intervalSeconds }));
      expect(e.code).toBe('BAD_OPTION');
      expect(e.message).toContain('--flush-interval');
      expect(e.message).toContain(`got ${intervalSeconds}`);
    },
  );
});

/**
 * Drives a pacer the way the runner's loop does: after each row, nothing unless the row
 * count reached `next` or a tick came (`tickEvery` rows: the ticker thread's flag); then
 * check, flush if due or at the limit, schedule.
 * `clock(i)` gives the time in ms when row count i is reached.
 */
function simulate(
  policy: { every: number; intervalSeconds: number },
  rows: number,
  clock: (i: number) => number,
  tickEvery = Number.POSITIVE_INFINITY,
  start = 0,
): { flushes: number[]; checks: number[] } {
  const pacer = new Pacer(policy, start, clock(start));
  const flushes: number[] = [];
  const checks: number[] = [];
  pacer.schedule(rows);
  for (let i = start + 1; i <= rows; i++) {
    if (i < pacer.next && i % tickEvery !== 0) continue;
    checks.push(i);
    const now = clock(i);
    if (pacer.check(i, now) || i === rows) {
      pacer.flushed(i, now);
      flushes.push(i);
    }
    pacer.schedule(rows);
  }
  return { flushes, checks };
}

describe('Pacer', () => {
  it('first looks at the count-based flush after the flushed row', () => {
    expect(new Pacer(DEFAULT_FLUSH_POLICY, 0, 0).next).toBe(DEFAULT_FLUSH_POLICY.every);
    expect(new Pacer({ every: 100, intervalSeconds: 1 }, 750, 0).next).toBe(850);
  });

  it('count-based: due exactly when `every` rows were written since the last flush', () => {
    const pacer = new Pacer({ every: 100, intervalSeconds: 10 }, 0, 0);
    expect(pacer.check(1, 0)).toBe(false);
    expect(pacer.check(99, 0)).toBe(false);
    expect(pacer.check(100, 0)).toBe(true);
    pacer.flushed(100, 0);
    expect(pacer.check(150, 0)).toBe(false);
    expect(pacer.check(199, 0)).toBe(false);
    expect(pacer.check(200, 0)).toBe(true);
  });

  it('count-based from a resumed position counts from the flushed row', () => {
    const pacer = new Pacer({ every: 100, intervalSeconds: 10 }, 450, 0);
    expect(pacer.check(549, 0)).toBe(false);
    expect(pacer.check(550, 0)).toBe(true);
  });

  it('time-based: due once the interval passed since the last flush, measured from it', () => {
    const pacer = new Pacer({ every: 1_000_000, intervalSeconds: 2 }, 0, 1000);
    expect(pacer.check(5, 2000)).toBe(false);
    expect(pacer.check(6, 2999.9)).toBe(false);
    expect(pacer.check(7, 3000)).toBe(true);
    pacer.flushed(7, 3100);
    expect(pacer.check(8, 3200)).toBe(false);
    expect(pacer.check(9, 5099)).toBe(false);
    expect(pacer.check(10, 5100)).toBe(true);
  });

  it('without ticks, flushes happen exactly at every multiple of `every` and at the end', () => {
    const { flushes, checks } = simulate({ every: 1000, intervalSeconds: 10 }, 10_500, () => 0);
    expect(flushes).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000, 10_500]);
    expect(checks).toEqual(flushes);
  });

  it('a slow step (10 ms per row, a tick every row) flushes on time', () => {
    const { flushes } = simulate({ every: 1e9, intervalSeconds: 1 }, 500, (i) => i * 10, 1);
    expect(flushes).toEqual([100, 200, 300, 400, 500]);
  });

  it('time-based flushes land within one tick of the interval for a fast step', () => {
    // 1 µs per row, a tick every 2 ms (2,000 rows): a 10 ms interval is 10,000 rows.
    const { flushes } = simulate({ every: 1e9, intervalSeconds: 0.01 }, 100_000, (i) => i / 1000, 2000);
    expect(flushes.length).toBeGreaterThanOrEqual(9);
    let last = 0;
    for (const f of flushes.slice(0, -1)) {
      expect(f - last).toBeGreaterThanOrEqual(10_000);
      expect(f - last).toBeLessThanOrEqual(10_000 + 2_000);
      last = f;
    }
  });

  it('schedule never goes past the next count flush or the limit', () => {
    const pacer = new Pacer({ every: 100, intervalSeconds: 10 }, 0, 0);
    pacer.schedule(1e9);
    expect(pacer.next).toBe(100);
    pacer.schedule(37);
    expect(pacer.next).toBe(37);
    pacer.flushed(100, 0);
    pacer.schedule(1e9);
    expect(pacer.next).toBe(200);
  });
});
