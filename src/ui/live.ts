// Live updates for the pages: server-sent events carrying the runs whenever they change.
// Changes are found by polling the read-only catalog: SQLite's data_version moves with every
// commit of another connection, and a running run's owner is checked for liveness (a
// process killed with SIGKILL commits nothing, yet must turn `crashed`).
import type { ServerResponse } from 'node:http';
import type { RunView } from '../read/run-view.ts';

/** Where the feed reads runs: a change counter (cheap) and the runs themselves. */
export interface RunsSource {
  version(): number;
  runs(): RunView[];
}

/** Polls a source of runs while someone listens, and sends each new list to every listener. */
export class RunsFeed {
  readonly #clients = new Set<ServerResponse>();
  readonly #pollMs: number;
  readonly #source: RunsSource;
  #timer: NodeJS.Timeout | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  // The last list sent (as JSON) and the catalog version it was read at.
  #last = '';
  #version = -1;
  #anyRunning = true;

  constructor(source: RunsSource, pollMs: number) {
    this.#source = source;
    this.#pollMs = pollMs;
  }

  /** Makes `res` an event stream; it gets the current runs at once, then every change. */
  add(res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    this.#clients.add(res);
    res.on('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stop();
    });
    const current = this.#poll(true);
    if (current !== undefined) res.write(event('runs', current));
    this.#timer ??= setInterval(() => this.#tick(), this.#pollMs);
    this.#keepAlive ??= setInterval(() => {
      for (const c of this.#clients) c.write(': keep-alive\n\n');
    }, 15_000);
  }

  /** Ends every stream. */
  close(): void {
    this.#stop();
    for (const c of this.#clients) c.end();
    this.#clients.clear();
  }

  #tick(): void {
    let changed: string | undefined;
    try {
      changed = this.#poll(false);
    } catch {
      return; // the catalog is busy or gone for a moment: try again at the next tick
    }
    if (changed === undefined) return;
    const message = event('runs', changed);
    for (const c of this.#clients) c.write(message);
  }

  // The runs as JSON if they changed since the last poll (or `always`), else undefined. With
  // no run running, a catalog nobody committed to since cannot have changed.
  #poll(always: boolean): string | undefined {
    const version = this.#source.version();
    if (!always && !this.#anyRunning && version === this.#version) return undefined;
    const runs = this.#source.runs();
    this.#version = version;
    this.#anyRunning = runs.some((r) => r.status === 'running');
    const json = JSON.stringify(runs);
    if (json === this.#last && !always) return undefined;
    this.#last = json;
    return json;
  }

  #stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#keepAlive);
    this.#timer = undefined;
    this.#keepAlive = undefined;
  }
}

const event = (name: string, data: string): string => `event: ${name}\ndata: ${data}\n\n`;
