import { type TransferListItem, Worker } from 'node:worker_threads';

/** A small helper thread running plain CommonJS source (no TypeScript loader needed). */
export interface Helper {
  /** Resolves once the thread runs; rejects if it could not start (e.g. the thread limit). */
  readonly ready: Promise<void>;
  /** Asks the thread to finish (it receives a message) and waits for it, at most a second. */
  stop(): Promise<void>;
}

/**
 * Starts `source` in a worker thread with `data` as its workerData. Once running, the thread
 * never keeps the process alive by itself; `stop()` sends it a message and waits for it to exit.
 */
export function startHelper(source: string, data: unknown): Helper {
  const worker = new Worker(source, { eval: true, workerData: data });
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
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
      clearTimeout(timer);
      await worker.terminate();
    },
  };
}

// Every worker registers tsx before importing its module: loader hooks registered in the
// main thread do not reach worker threads on Node 20, and mmrun's sources are TypeScript.
// tsx is found from here, by absolute URL: an eval'd worker resolves bare names from the
// process's working directory, which may be anywhere.
const TS_WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx)
  .then(({ register }) => { register(); return import(workerData.module); })
  .catch((error) => { setImmediate(() => { throw error; }); });
`;

const TSX_API = import.meta.resolve('tsx/esm/api');

/**
 * Starts a worker thread that runs the TypeScript (or JavaScript) module at `module` (a
 * file URL, e.g. `new URL('./worker.ts', import.meta.url).href`). The module reads its
 * input from `workerData.input` and talks through `parentPort`. A failure to load is the
 * worker's `error` event.
 */
export function startModuleWorker(module: string, input: unknown, transferList: TransferListItem[] = []): Worker {
  return new Worker(TS_WORKER_SOURCE, {
    eval: true,
    workerData: { module, input, tsx: TSX_API },
    transferList,
  });
}
