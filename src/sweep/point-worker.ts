// A point worker thread (point-pool.ts): runs the points the sweep hands it, one at a time,
// each exactly as the sweep's own thread would (point.ts runOne), with its own catalog
// connection and timer, and the experiment the sweep bundled (nothing is compiled here).
// The sweep's heartbeat thread beats for every run this process owns, these included.
import type { Bundle } from '../bundle/bundle.ts';
import { Catalog } from '../catalog/catalog.ts';
import type { PointRecord } from '../catalog/sweeps.ts';
import { errorToWire, type WireError } from '../errors.ts';
import { loadBundledExperiment } from '../experiment/load.ts';
import type { SharedResources } from '../runner/run.ts';
import { startTicker } from '../runner/ticker.ts';
import { parentChannel, threadData } from '../threads.ts';
import { runOne, type SweepSpecJson } from './point.ts';

/** What the thread is started with (its workerData.input). */
export interface PointWorkerInput {
  readonly bundle: Bundle;
  readonly experimentPath: string;
  readonly sourceHash: string;
  readonly runsDir: string;
}

/** Sweep → worker. */
export type PointCommand =
  | { readonly type: 'run'; readonly point: PointRecord; readonly spec: SweepSpecJson }
  | { readonly type: 'stop'; readonly reason: string }
  | { readonly type: 'close' };

/** Worker → sweep. */
export type PointMessage =
  | { readonly type: 'progress'; readonly progress: import('../runner/run.ts').Progress }
  | {
      readonly type: 'done';
      readonly result: Omit<import('../runner/run.ts').RunResult, 'error'> & { readonly error?: WireError };
    }
  | { readonly type: 'error'; readonly error: WireError };

const port = parentChannel<PointMessage, PointCommand>();
const input = threadData<PointWorkerInput>();

const loaded = await loadBundledExperiment(input.bundle, input.experimentPath, input.sourceHash);
const catalog = Catalog.open(input.runsDir);
const ticker = startTicker();
const shared: SharedResources = { loaded, catalog, ticker, heartbeat: 'caller' };
let stopped: string | undefined;
let current: AbortController | undefined;

port.onMessage((command) => {
  if (command.type === 'stop') {
    stopped ??= command.reason;
    current?.abort(command.reason);
  } else if (command.type === 'close') {
    void ticker.stop().then(() => {
      catalog.close();
      port.close();
    });
  } else {
    const controller = new AbortController();
    current = controller;
    if (stopped !== undefined) controller.abort(stopped);
    runOne(command.point, command.spec, input.runsDir, shared, controller.signal, (progress) =>
      port.send({ type: 'progress', progress } satisfies PointMessage),
    ).then(
      (result) => {
        const { error, ...rest } = result;
        port.send({
          type: 'done',
          result: { ...rest, ...(error ? { error: errorToWire(error) } : {}) },
        } satisfies PointMessage);
      },
      (error: unknown) => port.send({ type: 'error', error: errorToWire(error) } satisfies PointMessage),
    );
  }
});
