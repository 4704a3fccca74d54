import { Worker } from 'node:worker_threads';

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
