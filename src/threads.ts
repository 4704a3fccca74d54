import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parentPort, type TransferListItem, Worker, workerData } from 'node:worker_threads';
import { MmrunError } from './errors.ts';

/**
 * The URL of module `name` in the folder of `base` (an `import.meta.url`), with `base`'s
 * extension: `.js` in the compiled package, `.ts` when running from the sources (tests).
 * @example siblingModule(import.meta.url, 'shard-worker') // …/runner/shard-worker.js
 */
export function siblingModule(base: string, name: string): string {
  return new URL(`./${name}${path.extname(new URL(base).pathname)}`, base).href;
}

// From the sources (vitest, the benchmarks), a worker module is TypeScript, which a worker
// thread cannot load: it runs the compiled twin in dist/ instead, the code users get
// (vitest's global set-up builds dist/ before any test runs). The published package runs
// compiled JavaScript and never gets here.
function compiledTwin(module: string): string {
  const file = fileURLToPath(module);
  const parts = file.split(path.sep);
  const src = parts.lastIndexOf('src');
  const twin = [...parts.slice(0, src), 'dist', ...parts.slice(src + 1)].join(path.sep).replace(/\.ts$/, '.js');
  if (src < 0 || !fs.existsSync(twin)) {
    throw new Error(
      `the compiled worker module ${twin} is missing: run \`npm run build\` (mmrun's worker threads run dist/)`,
    );
  }
  return pathToFileURL(twin).href;
}

/**
 * The process's Node options for a worker thread, without a TypeScript loader (`--import
 * tsx`, `--loader …`, `--require tsx/cjs`): mmrun's workers run compiled JavaScript, and a
 * loader registered in every thread costs each one tens of milliseconds to start (a library
 * user's script run with tsx, the benchmarks). Other options (a test's `--require`
 * preload) reach the threads as before.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let k = 0; k < execArgv.length; k++) {
    const arg = execArgv[k] ?? '';
    const next = execArgv[k + 1] ?? '';
    if (/^--(import|loader|experimental-loader|require|r)$/.test(arg) && /(^|[/@])tsx([/]|$)/.test(next)) {
      k++;
      continue;
    }
    if (/^--(import|loader|experimental-loader|require)=(.*[/@])?tsx([/]|$)/.test(arg)) continue;
    out.push(arg);
  }
  return out;
}

/** Starts a worker thread running the module at `module` (a file URL) with `workerData`. */
function spawn(module: string, workerData: unknown, transferList: readonly TransferListItem[] = []): Worker {
  const url = module.endsWith('.ts') ? compiledTwin(module) : module;
  return new Worker(new URL(url), { workerData, transferList: [...transferList], execArgv: workerExecArgv() });
}

/** What a helper thread answers to its stop message, once cleaned up ({@link helperStopped}). */
const STOPPED = 'mmrun-helper-stopped';

/** How a {@link WorkerThread} is named in its errors and what its user is told to do then. */
export interface WorkerThreadOptions {
  /** The thread in a sentence: "the worker of shard 2", "stats worker 1". */
  readonly name: string;
  /** The remedy of its WORKER_FAILED error. */
  readonly remedy: string;
  /** Buffers moved (not copied) to the thread with its data. */
  readonly transferList?: readonly TransferListItem[];
}

/**
 * A worker thread of mmrun, from the side that started it: every kind (shard workers, stats
 * readers, sweep point workers, the helper threads) starts, talks and ends through this.
 * It runs the module `module` (a file URL, see {@link siblingModule}; from the sources, its
 * compiled twin in dist/) with `data` as its workerData, without a TypeScript loader
 * ({@link workerExecArgv}). `Out` is what the thread posts, `In` what it is sent.
 *
 * A thread that throws (its `error` event) or exits before it is {@link finish}ed or
 * {@link terminate}d has failed: its failure is one MmrunError WORKER_FAILED naming it,
 * given to every {@link onFailure} handler (also to one added later) and rejecting
 * {@link ready} if it had not started. An error the thread reports in a message crosses as
 * a WireError (errors.ts `errorToWire` there, `errorFromWire` here).
 */
export class WorkerThread<Out = unknown, In = unknown> {
  /** The thread itself (for what this class does not cover). */
  readonly worker: Worker;
  /** Resolves once the thread runs; rejects with its failure if it could not start. */
  readonly ready: Promise<void>;
  #name: string;
  readonly #remedy: string;
  readonly #onFailure: ((error: MmrunError) => void)[] = [];
  #failure: MmrunError | undefined;
  #finished = false;

  constructor(module: string, data: unknown, options: WorkerThreadOptions) {
    this.#name = options.name;
    this.#remedy = options.remedy;
    this.worker = spawn(module, data, options.transferList);
    this.ready = new Promise<void>((resolve, reject) => {
      this.worker.once('online', () => resolve());
      this.onFailure(reject);
    });
    this.ready.catch(() => {});
    this.worker.on('error', (error) => this.#fail(`failed: ${error.message}`, error));
    this.worker.on('exit', (code) => this.#fail(`exited with code ${code} before it finished`));
  }

  #fail(reason: string, cause?: unknown): void {
    if (this.#finished || this.#failure) return;
    this.#failure = new MmrunError('WORKER_FAILED', `${this.#name} ${reason}`, { cause, remedy: this.#remedy });
    for (const handler of this.#onFailure) handler(this.#failure);
  }

  /** Names the thread anew in its errors (a prestarted thread given its task). */
  named(name: string): this {
    this.#name = name;
    return this;
  }

  /** Its failure, once it failed. */
  get failure(): MmrunError | undefined {
    return this.#failure;
  }

  /** Calls `handler` with every message the thread posts. */
  onMessage(handler: (message: Out) => void): this {
    this.worker.on('message', handler);
    return this;
  }

  /** Calls `handler` once if the thread fails (at once if it already did). */
  onFailure(handler: (error: MmrunError) => void): this {
    const failure = this.#failure;
    if (failure) queueMicrotask(() => handler(failure));
    else this.#onFailure.push(handler);
    return this;
  }

  /** Sends the thread a message. */
  post(message: In, transferList?: readonly TransferListItem[]): void {
    this.worker.postMessage(message, transferList ? [...transferList] : undefined);
  }

  /** The thread said its last word: its exit is no failure from now on. */
  finish(): void {
    this.#finished = true;
  }

  /** Lets the process end while the thread runs. */
  unref(): void {
    this.worker.unref();
  }

  /** Keeps the process alive while the thread runs (the default). */
  ref(): void {
    this.worker.ref();
  }

  /** Ends the thread at once (which is no failure). */
  async terminate(): Promise<void> {
    this.#finished = true;
    await this.worker.terminate();
  }

  /**
   * Asks the thread to finish with `message` and waits, at most `timeoutMs`, until it exits
   * or acknowledges ({@link helperStopped}); then ends it. Referenced while it waits, so
   * that the wait keeps the process alive.
   */
  async stop(message: In, timeoutMs = 1000): Promise<void> {
    this.#finished = true;
    this.worker.ref();
    // A module worker can take tens of milliseconds more to exit by itself once it has
    // cleaned up, so it is terminated at once then.
    const ended = new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.worker.on('message', (m) => {
        if (m === STOPPED) resolve();
      });
    });
    this.worker.postMessage(message);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    await this.worker.terminate();
  }
}

/** In a worker thread's module: its data (the `data` it was started with). */
export function threadData<T>(): T {
  return workerData as T;
}

/** In a worker thread's module: its side of the channel to the thread that started it. */
export interface ParentChannel<Out, In> {
  /** Posts `message` (moving the buffers in `transferList`). */
  send(message: Out, transferList?: readonly TransferListItem[]): void;
  /** Calls `handler` with every message sent to this thread. */
  onMessage(handler: (message: In) => void): void;
  /** Lets the thread end once nothing else keeps it alive. */
  unref(): void;
  close(): void;
}

/** The channel of this worker thread to the thread that started it (`Out` posted, `In` received). */
export function parentChannel<Out, In = never>(): ParentChannel<Out, In> {
  const port = parentPort;
  if (!port) throw new Error('parentChannel() is for a worker thread');
  return {
    send: (message, transferList) => port.postMessage(message, transferList ? [...transferList] : undefined),
    onMessage: (handler) => port.on('message', handler),
    unref: () => port.unref(),
    close: () => port.close(),
  };
}

/**
 * In a helper thread's module: on the stop message, runs `cleanup`, tells
 * {@link WorkerThread.stop} it is done and closes its port.
 */
export function helperStopped(cleanup: () => void = () => {}): void {
  parentPort?.once('message', () => {
    cleanup();
    parentPort?.postMessage(STOPPED);
    parentPort?.close();
  });
}

/** A small helper thread (a timer, a heartbeat, the page helper). */
export interface Helper {
  /** Resolves once the thread runs; rejects (WORKER_FAILED) if it could not start (e.g. the thread limit). */
  readonly ready: Promise<void>;
  /** Asks the thread to finish (it receives a message) and waits for it, at most a second. */
  stop(): Promise<void>;
}

/**
 * Starts the helper module `module` (see {@link siblingModule}) in a worker thread with
 * `data` as its workerData; `name` names it in errors (default: by its module). Once running,
 * the thread never keeps the process alive by itself; `stop()` sends it a message and waits
 * for it to exit.
 */
export function startHelper(
  module: string,
  data: object,
  name = `the helper thread ${path.basename(new URL(module).pathname)}`,
): Helper {
  const thread = new WorkerThread<unknown, 'stop'>(module, data, {
    name,
    remedy: 'the process may be at its thread limit (ulimit -u); free some and try again',
  });
  // Referenced until it runs, so that awaiting `ready` keeps the process alive.
  const ready = thread.ready.then(() => thread.unref());
  ready.catch(() => {});
  return { ready, stop: () => thread.stop('stop') };
}
