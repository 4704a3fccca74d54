// The ticker: a flag raised every few ms by a helper thread; and the checkpoints the loop
// schedules itself until the first tick (TickerStart).
import { describe, expect, it } from 'vitest';
import { startTicker, type Ticker, TickerStart } from '../../src/runner/ticker.ts';

const fakeTicker = (ready: Promise<void>): Ticker => {
  ready.catch(() => {});
  return { flag: new Int32Array(1), ready, stop: async () => {} };
};

describe('startTicker', () => {
  it('raises its flag every few milliseconds', async () => {
    const ticker = startTicker(2);
    try {
      await ticker.ready;
      const t0 = Date.now();
      let ticks = 0;
      while (Date.now() - t0 < 200) {
        if (Atomics.exchange(ticker.flag, 0, 0) !== 0) ticks++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      expect(ticks).toBeGreaterThan(10);
    } finally {
      await ticker.stop();
    }
  });
});

describe('TickerStart (checkpoints before the first tick)', () => {
  it('checks after every row while rows are slow, and ever less often while they are fast', () => {
    const start = new TickerStart(fakeTicker(new Promise(() => {})), 0);
    // Slow rows (5 ms apart): a checkpoint after every row.
    let now = 0;
    for (let row = 1; row <= 10; row++) {
      now += 5;
      expect(start.nextCheck(row, now, false)).toBe(row + 1);
    }
    // Fast rows: the stride doubles at each checkpoint, up to a cap.
    const strides: number[] = [];
    let row = 10;
    for (let k = 0; k < 20; k++) {
      now += 0.1;
      const next = start.nextCheck(row, now, false);
      strides.push(next - row);
      row = next;
    }
    expect(strides.slice(0, 4)).toEqual([2, 4, 8, 16]);
    expect(Math.max(...strides)).toBe(1 << 16);
    // A slowdown halves it again at each checkpoint.
    now += 50;
    expect(start.nextCheck(row, now, false) - row).toBe(1 << 15);
    expect(start.ticking).toBe(false);
  });

  it('leaves checkpoints to the ticker from its first tick on', () => {
    const start = new TickerStart(fakeTicker(Promise.resolve()), 0);
    expect(start.nextCheck(5, 1, true)).toBe(Number.POSITIVE_INFINITY);
    expect(start.ticking).toBe(true);
    expect(start.nextCheck(6, 100, false)).toBe(Number.POSITIVE_INFINITY);
  });

  it('reports a ticker that could not start at the next checkpoint', async () => {
    const start = new TickerStart(fakeTicker(Promise.reject(new Error('EAGAIN: thread limit'))), 0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(() => start.nextCheck(1, 1, false)).toThrow('EAGAIN: thread limit');
  });
});
