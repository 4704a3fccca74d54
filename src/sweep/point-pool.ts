// Worker threads that run a sweep's points in parallel (`--jobs J` > 1): a synchronous
// experiment step holds its thread, so J points computing at once need J threads. Each is
// started once and reused for point after point; the experiment is the one the sweep
// bundled. With `--jobs 1` the sweep runs its points in its own thread instead.
import type { Worker } from 'node:worker_threads';
import type { PointRecord } from '../catalog/sweeps.ts';
import { MmrunError, mmrunErrorFromWire } from '../errors.ts';
import type { LoadedExperiment } from '../experiment/load.ts';
import type { Progress, RunResult } from '../runner/run.ts';
import { siblingModule, startModuleWorker } from '../threads.ts';
import type { SweepSpecJson } from './point.ts';
import type { PointCommand, PointMessage, PointWorkerInput } from './point-worker.ts';

const POINT_WORKER = siblingModule(import.meta.url, 'point-worker');

/** One point worker: runs one point at a time. */
export class PointWorker {
  readonly #worker: Worker;
  #exited: Error | undefined;
  #pending: ((m: PointMessage | Error) => void) | undefined;
  #onProgress: ((p: Progress) => void) | undefined;

  constructor(loaded: LoadedExperiment, runsDir: string) {
    const input: PointWorkerInput = {
      bundle: loaded.bundle,
      experimentPath: loaded.path,
      sourceHash: loaded.sourceHash,
      runsDir,
    };
    this.#worker = startModuleWorker(POINT_WORKER, input);
    this.#worker.on('message', (m: PointMessage) => {
      if (m.type === 'progress') this.#onProgress?.(m.progress);
      else this.#settle(m);
    });
    const gone = (error: Error) => {
      this.#exited ??= error;
      this.#settle(error);
    };
    this.#worker.on('error', gone);
    this.#worker.on('exit', (code) => gone(new Error(`the point worker thread exited (code ${code})`)));
  }

  #settle(m: PointMessage | Error): void {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.(m);
  }

  /** Runs one session of `point` in the thread: its result, as runOne's in this thread. */
  run(point: PointRecord, spec: SweepSpecJson, onProgress: (p: Progress) => void): Promise<RunResult> {
    if (this.#exited) return Promise.reject(workerFailed(this.#exited));
    this.#onProgress = onProgress;
    return new Promise<RunResult>((resolve, reject) => {
      this.#pending = (m) => {
        if (m instanceof Error) reject(workerFailed(m));
        else if (m.type === 'error') reject(mmrunErrorFromWire(m.error));
        else if (m.type === 'done') {
          const { error, ...rest } = m.result;
          resolve({ ...rest, ...(error ? { error: mmrunErrorFromWire(error) } : {}) });
        }
      };
      this.#worker.postMessage({ type: 'run', point, spec } satisfies PointCommand);
    });
  }

  /** Stops the point it runs (it flushes and ends interrupted) and every later one. */
  stop(reason: string): void {
    if (!this.#exited) this.#worker.postMessage({ type: 'stop', reason } satisfies PointCommand);
  }

  /** Lets the thread end (its timer stopped, its catalog closed); waits at most a second. */
  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.postMessage({ type: 'close' } satisfies PointCommand);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
    clearTimeout(timer);
    await this.#worker.terminate();
  }
}

function workerFailed(cause: Error): MmrunError {
  return new MmrunError('WORKER_FAILED', `a sweep's point worker thread failed: ${cause.message}`, {
    cause,
    remedy: 'resume the sweep (`mmrun resume <sweep>`); with --jobs 1 its points run in the main thread',
  });
}
