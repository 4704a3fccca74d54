// A worker thread of `mmrun stats`: it claims batches of rows from the shared counter, maps
// them itself read-only (mode `r`) and reads them, then posts its partial aggregates. It
// shares nothing with the main thread but the run's record, which fixes the rows it may
// read, and the counters.
import type { RunRecord } from '../catalog/catalog.ts';
import { errorToWire, type WireError } from '../errors.ts';
import { RunRows } from '../read/rows.ts';
import { parentChannel, threadData } from '../threads.ts';
import { Scanner, type ScanPlan, type ThreadResult } from './scan.ts';

/** What the main thread gives a worker. */
export interface WorkerInput {
  readonly run: RunRecord;
  readonly runsDir: string;
  readonly plan: ScanPlan;
  /** An Int32Array's buffer: the batch counter, the stop flag and each batch's owner. */
  readonly control: SharedArrayBuffer;
  /** A BigInt64Array's buffer: rows read so far, one slot per thread. */
  readonly progress: SharedArrayBuffer;
  /** This thread's index (0 is the main thread). */
  readonly thread: number;
}

/** What a worker posts, once. */
export type WorkerMessage =
  | { readonly type: 'done'; readonly result: ThreadResult }
  | { readonly type: 'error'; readonly error: WireError };

const input = threadData<WorkerInput>();
const port = parentChannel<WorkerMessage>();

try {
  const progress = new BigInt64Array(input.progress);
  let read = 0;
  const scanner = new Scanner(RunRows.fromRecord(input.run, input.runsDir), input.plan);
  scanner.claimAll(new Int32Array(input.control), input.thread, (rows) => {
    read += rows;
    Atomics.store(progress, input.thread, BigInt(read));
  });
  const result = scanner.result();
  const transfer = new Set<ArrayBuffer>();
  for (const b of result.batches) for (const a of [...b.units, ...b.samples]) transfer.add(a.buffer as ArrayBuffer);
  for (const h of result.histograms) if (h) transfer.add(h.buffer as ArrayBuffer);
  // The shared empty array of histogram columns is cloned, not transferred.
  for (const a of transfer) if (a.byteLength === 0) transfer.delete(a);
  port.send({ type: 'done', result } satisfies WorkerMessage, [...transfer]);
} catch (error) {
  port.send({ type: 'error', error: errorToWire(error) } satisfies WorkerMessage);
}
