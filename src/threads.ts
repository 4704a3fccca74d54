import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parentPort, type TransferListItem, Worker } from 'node:worker_threads';

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
function spawn(module: string, workerData: Record<string, unknown>, transferList: TransferListItem[] = []): Worker {
  const url = module.endsWith('.ts') ? compiledTwin(module) : module;
  return new Worker(new URL(url), { workerData, transferList, execArgv: workerExecArgv() });
}

const STOPPED = 'mmrun-helper-stopped';

/**
 * In a helper thread's module: on the stop message, runs `cleanup`, tells
 * {@link Helper.stop} it is done and closes its port.
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
  /** Resolves once the thread runs; rejects if it could not start (e.g. the thread limit). */
  readonly ready: Promise<void>;
  /** Asks the thread to finish (it receives a message) and waits for it, at most a second. */
  stop(): Promise<void>;
}

/**
 * Starts the module `module` (see {@link siblingModule}) in a worker thread with `data` as
 * its workerData. Once running, the thread never keeps the process alive by itself;
 * `stop()` sends it a message and waits for it to exit.
 */
export function startHelper(module: string, data: object): Helper {
  const worker = spawn(module, { ...data });
  // Referenced until it runs, so that awaiting `ready` keeps the process alive.
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('online', () => {
      worker.unref();
      resolve();
    });
    worker.once('error', reject);
  });
  ready.catch(() => {});
  worker.on('error', () => {});
  return {
    ready,
    async stop() {
      // Referenced while stopping, so the wait itself keeps the process alive.
      worker.ref();
      // The thread says when it has cleaned up (helperStopped); a module worker can take
      // tens of milliseconds more to exit by itself, so it is then terminated at once.
      const exited = new Promise<void>((resolve) => {
        worker.once('exit', () => resolve());
        worker.on('message', (m) => {
          if (m === STOPPED) resolve();
        });
      });
      worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
      clearTimeout(timer);
      await worker.terminate();
    },
  };
}

/**
 * Starts a worker thread that runs the module at `module` (see {@link siblingModule}). The
 * module reads its input from `workerData.input` and talks through `parentPort`. A failure
 * to load is the worker's `error` event.
 */
export function startModuleWorker(module: string, input: unknown, transferList: TransferListItem[] = []): Worker {
  return spawn(module, { input }, transferList);
}
