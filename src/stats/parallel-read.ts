// Reading every batch of a run's rows with the calling thread and worker threads: when
// worker threads pay off, starting them, sharing the batches through a shared counter, and
// collecting each thread's partial results (summarizeRun in stats.ts merges them).
import { errorFromWire } from '../errors.ts';
import type { RunRows } from '../read/rows.ts';
import { siblingModule, WorkerThread } from '../threads.ts';
import { CTL_OWNERS, CTL_STOP, Scanner, type ScanPlan, type ThreadResult } from './scan.ts';
import type { WorkerInput, WorkerMessage } from './worker.ts';

/** How often progress is reported, at most. */
export const PROGRESS_MS = 100;
/** Bytes the calling thread reads before it measures its pace (JIT warm-up). */
const WARM_BYTES = 16 << 20;
/** CPU milliseconds over which it measures its pace to judge whether worker threads would help. */
const PROBE_MS = 30;
/**
 * Worker threads start if the calling thread alone would read for longer than this: twice a
 * worker's start-up (0.3 s; 0.3–0.5 s of CPU). With a free core, a worker that is up after
 * 0.3 s saves half of what is left then; on a busy machine its start-up is a cost, so it
 * must have enough to gain.
 */
const WORKER_WORTH_MS = 600;

const WORKER = siblingModule(import.meta.url, 'worker');

interface StartedWorker {
  readonly worker: WorkerThread<WorkerMessage, never>;
  readonly done: Promise<ThreadResult>;
}

function startWorker(input: WorkerInput): StartedWorker {
  const worker = new WorkerThread<WorkerMessage, never>(WORKER, input, {
    name: `stats worker ${input.thread}`,
    remedy: 'read with the calling thread alone (`mmrun stats --workers 1`)',
  });
  // It posts one message: its results, or the error that stopped it.
  const done = new Promise<ThreadResult>((resolve, reject) => {
    worker.onMessage((message) => {
      worker.finish();
      if (message.type === 'done') resolve(message.result);
      else reject(errorFromWire(message.error));
    });
    worker.onFailure(reject);
  });
  // Awaited only if the worker claimed rows; a worker let go unused must not leave a rejection behind.
  done.catch(() => {});
  return { worker, done };
}

/**
 * Reads every batch with `threads` threads: worker threads are started first, then the
 * calling thread claims batches too (if `callerReads`). Resolves with each thread's results.
 */
export async function readAll(
  source: RunRows,
  runsDir: string,
  plan: ScanPlan,
  threads: number,
  callerReads: boolean,
  report: (slots: BigInt64Array, force?: boolean) => void,
): Promise<{ results: ThreadResult[]; rowsByThread: number[] }> {
  const controlBuffer = new SharedArrayBuffer((CTL_OWNERS + plan.batches) * Int32Array.BYTES_PER_ELEMENT);
  // Thread 0 is the calling thread, 1… the worker threads.
  const workerCount = callerReads ? threads - 1 : threads;
  const progressBuffer = new SharedArrayBuffer((workerCount + 1) * BigInt64Array.BYTES_PER_ELEMENT);
  const control = new Int32Array(controlBuffer);
  const slots = new BigInt64Array(progressBuffer);
  const workers: StartedWorker[] = [];
  const stopAll = () => {
    Atomics.store(control, CTL_STOP, 1);
    for (const w of workers) void w.worker.terminate();
  };
  const startWorkers = () => {
    for (let t = 1; t <= workerCount; t++) {
      workers.push(
        startWorker({ run: source.run, runsDir, plan, control: controlBuffer, progress: progressBuffer, thread: t }),
      );
    }
  };
  let own: ThreadResult;
  try {
    const scanner = new Scanner(source, plan);
    if (callerReads) {
      // Worker threads start only if, at the pace the calling thread reads once warm, it
      // would read for long enough that they pay off: a worker that arrives near the end
      // costs its start-up (0.3–0.5 s of CPU) and reads little. The pace is measured after
      // the first WARM_BYTES (the generated kernels are being compiled until then), over
      // PROBE_MS of CPU time, not wall time, so that a busy machine does not look like a
      // long read.
      const cpuMs = () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      };
      const warmRows = Math.ceil(WARM_BYTES / source.layout.itemsize);
      let read = 0;
      let mark: { read: number; cpu: number } | undefined;
      let decided = workerCount === 0;
      scanner.claimAll(control, 0, (rows) => {
        read += rows;
        Atomics.store(slots, 0, BigInt(read));
        report(slots);
        if (decided) return;
        if (!mark) {
          if (read >= warmRows) mark = { read, cpu: cpuMs() };
          return;
        }
        const ms = cpuMs() - mark.cpu;
        if (ms < PROBE_MS) return;
        decided = true;
        if (((plan.rows - read) / (read - mark.read)) * ms > WORKER_WORTH_MS) startWorkers();
      });
    } else {
      startWorkers();
    }
    own = scanner.result();
  } catch (error) {
    stopAll();
    throw error;
  }
  const timer = setInterval(() => report(slots), PROGRESS_MS);
  try {
    const results = [own];
    let owners: Set<number> | undefined;
    if (callerReads) {
      // Every batch is claimed. A claim writes its owner just after taking the batch: wait for
      // those writes, then let go the workers that own nothing (they may not even have started).
      for (let b = 0; b < plan.batches; b++) {
        while (Atomics.load(control, CTL_OWNERS + b) === 0) Atomics.wait(control, CTL_OWNERS + b, 0, 1);
      }
      owners = new Set<number>();
      for (let b = 0; b < plan.batches; b++) owners.add(control[CTL_OWNERS + b]! - 1);
    }
    for (let t = 1; t <= workers.length; t++) {
      const w = workers[t - 1]!;
      if (owners && !owners.has(t)) {
        void w.worker.terminate();
        continue;
      }
      results.push(await w.done);
      void w.worker.terminate();
    }
    report(slots, true);
    return { results, rowsByThread: Array.from(slots, Number) };
  } catch (error) {
    stopAll();
    throw error;
  } finally {
    clearInterval(timer);
  }
}
