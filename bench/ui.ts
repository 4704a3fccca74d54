// The dashboard's cost to a writer (issue 17): rows/s of a run with `mmrun ui` serving its
// runs directory and a page refreshing it ÷ rows/s of the same run alone. The page is
// simulated over HTTP — the requests run.html makes: on opening the run, its series,
// histogram, stats and log; then the SSE stream, and every second the run, its series and
// its log (the chart grows; histogram and stats are recomputed on demand) — so no browser
// competes for the two cores.
import * as http from 'node:http';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describeExit, FIXTURES, removeTemp, sleep, spawnCli, tempDir } from './lib/proc.ts';
import { paired, rotation, type Summary, summarize } from './lib/stats.ts';

export interface UiConfig {
  readonly reps: number;
  /** How long each run writes before it is stopped (SIGTERM), in ms. */
  readonly runMs: number;
  readonly log: (line: string) => void;
}

export interface UiResult {
  /** Rows/s with the dashboard open and a page refreshing ÷ without (paired by repetition). */
  readonly ratio: Summary;
  readonly rowsPerSecondWith: Summary;
  readonly rowsPerSecondWithout: Summary;
  /** Page refreshes (each: run, series, log) answered per run with the dashboard. */
  readonly refreshes: Summary;
}

const CHEAP = path.join(FIXTURES, 'cheap.ts');

/** Rows/s of one run: its last checkpoint's rows ÷ (that checkpoint's time − the run's creation). */
function rowsPerSecond(runsDir: string): number {
  const db = new Database(path.join(runsDir, 'mmrun.sqlite'), { readonly: true });
  try {
    const r = db
      .prepare(
        `SELECT runs.created_at AS a, c.created_at AS b, c.flushed_index AS rows
           FROM runs JOIN checkpoints c ON c.run_id = runs.id WHERE runs.id = 'b' ORDER BY c.seq DESC LIMIT 1`,
      )
      .get() as { a: string; b: string; rows: number };
    return r.rows / ((Date.parse(r.b) - Date.parse(r.a)) / 1000);
  } finally {
    db.close();
  }
}

// A page open on the run: the event stream, and a refresh every second until `stop`.
async function page(base: string, stop: AbortSignal): Promise<number> {
  const events = http.get(`${base}api/events`, (res) => res.resume());
  events.on('error', () => {});
  let refreshes = 0;
  const get = async (p: string) => {
    const res = await fetch(`${base}${p}`, { signal: stop });
    await res.arrayBuffer();
    if (!res.ok && res.status !== 404) throw new Error(`GET ${p}: ${res.status}`);
  };
  try {
    await Promise.all([get('api/runs/b/histogram?column=x'), get('api/runs/b/stats')]);
    while (!stop.aborted) {
      await Promise.all([
        get('api/runs/b'),
        get('api/runs/b/series?column=x&points=4000'),
        get('api/runs/b/log?tail=100'),
      ]);
      refreshes++;
      await sleep(1000);
    }
  } catch (error) {
    if (!stop.aborted) throw error;
  } finally {
    events.destroy();
  }
  return refreshes;
}

async function once(withUi: boolean, runMs: number): Promise<{ rowsPerSecond: number; refreshes: number }> {
  const runsDir = tempDir(withUi ? 'ui-with' : 'ui-without');
  const ui = withUi ? spawnCli(['ui', '--port', '0'], runsDir) : undefined;
  let printed = '';
  ui?.child.stdout?.on('data', (d: Buffer) => {
    printed += d.toString();
  });
  let result: { rowsPerSecond: number; refreshes: number } | undefined;
  try {
    const base = ui ? await urlOf(ui, () => printed) : '';
    const run = spawnCli(
      ['run', CHEAP, '--id', 'b', '--seed', '1', '--iterations', '1e9', '--flush-interval', '1', '--quiet'],
      runsDir,
    );
    await run.firstLine;
    const stop = new AbortController();
    const pageDone = ui ? page(base, stop.signal) : Promise.resolve(0);
    await sleep(runMs);
    run.child.kill('SIGTERM');
    const r = await run.exited;
    stop.abort();
    const refreshes = await pageDone;
    if (r.code !== 143) throw new Error(describeExit('mmrun run (stopped by SIGTERM)', r));
    result = { rowsPerSecond: rowsPerSecond(runsDir), refreshes };
  } finally {
    ui?.child.kill('SIGINT');
    const u = await ui?.exited;
    removeTemp(runsDir);
    if (u && u.code !== 130 && result) result = undefined;
  }
  if (!result) throw new Error('mmrun ui did not stop with exit 130 on SIGINT');
  return result;
}

// The URL `mmrun ui` printed as its first line.
async function urlOf(ui: ReturnType<typeof spawnCli>, printed: () => string): Promise<string> {
  await ui.firstLine;
  const url = /^(http:\/\/\S+)\n/.exec(printed())?.[1];
  if (!url) throw new Error(describeExit('mmrun ui printed no URL', await ui.exited));
  return url;
}

export async function uiBench(cfg: UiConfig): Promise<UiResult> {
  const withUi: { rowsPerSecond: number; refreshes: number }[] = [];
  const without: { rowsPerSecond: number; refreshes: number }[] = [];
  for (let rep = 0; rep < cfg.reps; rep++) {
    for (const variant of rotation([true, false], rep)) {
      const r = await once(variant, cfg.runMs);
      (variant ? withUi : without).push(r);
      cfg.log(
        `  rep ${rep + 1}/${cfg.reps} ${variant ? `with the dashboard (${r.refreshes} page refreshes)` : 'without'}: ${Math.round(r.rowsPerSecond)} rows/s`,
      );
    }
  }
  return {
    ratio: summarize(paired(withUi, without, (a, b) => a.rowsPerSecond / b.rowsPerSecond)),
    rowsPerSecondWith: summarize(withUi.map((r) => r.rowsPerSecond)),
    rowsPerSecondWithout: summarize(without.map((r) => r.rowsPerSecond)),
    refreshes: summarize(withUi.map((r) => r.refreshes)),
  };
}
