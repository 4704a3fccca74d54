import { type Helper, startHelper } from '../threads.ts';

/** How often the loop leaves its fast path to read the clock, flush, yield and check for a stop. */
export const TICK_MS = 2;

// A timer in another thread raises a flag in shared memory. The loop reads that flag after
// each iteration — one memory read, no clock, no syscall — so it notices time passing
// however fast or slow its steps are, even if they change speed mid-run.
const SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const flag = new Int32Array(workerData.shared);
const timer = setInterval(() => Atomics.store(flag, 0, 1), workerData.ms);
parentPort.once('message', () => { clearInterval(timer); parentPort.close(); });
`;

/** A flag set every {@link TICK_MS} by a helper thread; the loop clears it when it looks. */
export interface Ticker extends Helper {
  readonly flag: Int32Array;
}

export function startTicker(ms = TICK_MS): Ticker {
  const shared = new SharedArrayBuffer(4);
  const helper = startHelper(SOURCE, { shared, ms });
  return { flag: new Int32Array(shared), ready: helper.ready, stop: () => helper.stop() };
}
