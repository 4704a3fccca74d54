// Worker threads that run a sweep's points in parallel (`--jobs J` > 1): a synchronous
// experiment step holds its thread, so J points computing at once need J threads. Each is
// started once and reused for point after point; the experiment is the one the sweep
// bundled. With `--jobs 1` the sweep runs its points in its own thread instead.
import type { PointRecord } from '../catalog/sweeps.ts';
import { mmrunErrorFromWire } from '../errors.ts';
import type { LoadedExperiment } from '../experiment/load.ts';
import type { Progress, RunResult } from '../runner/run.ts';
import { siblingModule, WorkerThread } from '../threads.ts';
import type { SweepSpecJson } from './point.ts';
import type { PointCommand, PointMessage, PointWorkerInput } from './point-worker.ts';

const POINT_WORKER = siblingModule(import.meta.url, 'point-worker');

/** One point worker: runs one point at a time. */
export class PointWorker {
  readonly #thread: WorkerThread<PointMessage, PointCommand>;
  #pending: ((m: PointMessage | Error) => void) | undefined;
  #onProgress: ((p: Progress) => void) | undefined;

  constructor(loaded: LoadedExperiment, runsDir: string) {
    const input: PointWorkerInput = {
      bundle: loaded.bundle,
      experimentPath: loaded.path,
      sourceHash: loaded.sourceHash,
      runsDir,
    };
    this.#thread = new WorkerThread<PointMessage, PointCommand>(POINT_WORKER, input, {
      name: "a sweep's point worker thread",
      remedy: 'resume the sweep (`mmrun resume <sweep>`); with --jobs 1 its points run in the main thread',
    });
    this.#thread.onMessage((m) => {
      if (m.type === 'progress') this.#onProgress?.(m.progress);
      else this.#settle(m);
    });
    this.#thread.onFailure((error) => this.#settle(error));
  }

  #settle(m: PointMessage | Error): void {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.(m);
  }

  /** Runs one session of `point` in the thread: its result, as runOne's in this thread. */
  run(point: PointRecord, spec: SweepSpecJson, onProgress: (p: Progress) => void): Promise<RunResult> {
    const failure = this.#thread.failure;
    if (failure) return Promise.reject(failure);
    this.#onProgress = onProgress;
    return new Promise<RunResult>((resolve, reject) => {
      this.#pending = (m) => {
        if (m instanceof Error) reject(m);
        else if (m.type === 'error') reject(mmrunErrorFromWire(m.error));
        else if (m.type === 'done') {
          const { error, ...rest } = m.result;
          resolve({ ...rest, ...(error ? { error: mmrunErrorFromWire(error) } : {}) });
        }
      };
      this.#thread.post({ type: 'run', point, spec });
    });
  }

  /** Stops the point it runs (it flushes and ends interrupted) and every later one. */
  stop(reason: string): void {
    if (!this.#thread.failure) this.#thread.post({ type: 'stop', reason });
  }

  /** Lets the thread end (its timer stopped, its catalog closed); waits at most a second. */
  async close(): Promise<void> {
    if (this.#thread.failure) return;
    await this.#thread.stop({ type: 'close' });
  }
}
