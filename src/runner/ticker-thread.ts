// The ticker's thread (see ticker.ts): raises a flag in shared memory every `ms`.
import { helperStopped, threadData } from '../threads.ts';

/** What the thread is started with (its workerData). */
export interface TickerThreadData {
  readonly shared: SharedArrayBuffer;
  readonly ms: number;
}

const { shared, ms } = threadData<TickerThreadData>();
const flag = new Int32Array(shared);
const timer = setInterval(() => Atomics.store(flag, 0, 1), ms);
helperStopped(() => clearInterval(timer));
