// The dashboard's JSON API (/api/…): runs, one run, its series, histogram, stats and log
// tail, downloads of its rows, and the live feed of the runs page.
import type * as http from 'node:http';
import type { RunRecord } from '../catalog/catalog.ts';
import { show } from '../errors.ts';
import { EXPORT_FORMATS, type ExportFormat, exportRun } from '../export/export.ts';
import { runView } from '../read/run-view.ts';
import { statsJson } from '../stats/json.ts';
import { summarizeRun } from '../stats/stats.ts';
import { type PointStats, pool } from '../sweep/stats.ts';
import { DEFAULT_POINTS, histogram, logTail, series } from './data.ts';
import { HttpError, type Query, SECURITY_HEADERS, type ServerState, sendJson } from './http.ts';
import { SeriesAccumulator } from './series.ts';

const CACHE_ENTRIES = 64;
// Milliseconds a series request of a running run reads new rows for, at most: a page
// following a writer faster than that lags behind it (and catches up later) rather than
// competing with it for the CPU.
const SERIES_BUDGET_MS = 40;
// Rows of at least this many bytes are summarised in a worker thread (it takes ~0.3 s to start).
const STATS_IN_THREAD_BYTES = 256 << 20;

/**
 * A statistic of one column over a sweep's points, pooled per parameter set (mean ± standard
 * error over replicates), as `mmrun stats <sweep>` computes it: read-only, each point's
 * flushed rows summarised through the dashboard's own catalog reads.
 */
async function sweepStats(s: ServerState, id: string, column: string | undefined) {
  const sweep = s.reader.sweep(id);
  const points: PointStats[] = [];
  let name = column;
  for (const p of sweep.points) {
    const base = { runId: p.runId, params: p.params, seed: p.seed, status: p.status as PointStats['status'] };
    if (p.status === 'pending') {
      points.push({ ...base, rows: 0, count: 0, mean: null, std: null, min: null, max: null, quantiles: null });
      continue;
    }
    const run = s.reader.run(p.runId);
    name ??= Object.keys(run.columns)[0];
    const r = await summarizeRun({ runId: run.id, runsDir: s.runsDir, run, columns: name ? [name] : [], workers: 1 });
    const st = r.stats[0];
    points.push({
      ...base,
      rows: r.rows,
      count: st?.count ?? 0,
      mean: st?.mean ?? null,
      std: st?.std ?? null,
      min: st?.min ?? null,
      max: st?.max ?? null,
      quantiles: st?.quantiles ?? null,
    });
  }
  const grid = (sweep.spec as { grid?: { key: string }[] }).grid;
  const keys = grid?.length ? grid.map((a) => a.key) : [...new Set(sweep.points.flatMap((p) => Object.keys(p.params)))];
  return { id: sweep.id, status: sweep.status, column: name ?? null, keys, points, sets: pool(points) };
}

export async function api(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  s: ServerState,
  parts: string[],
  query: Query,
): Promise<void> {
  const [first, id, action, ...rest] = parts;
  if (first === 'events' && parts.length === 1) {
    query.done([]);
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8' });
      res.end();
      return;
    }
    s.feed.add(res);
    return;
  }
  if (first === 'sweeps' && action === undefined) {
    query.done([]);
    return sendJson(res, 200, id === undefined ? s.reader.sweeps() : s.reader.sweep(id));
  }
  if (first === 'sweeps' && id !== undefined && action === 'stats' && rest.length === 0) {
    const column = query.string('column');
    query.done(['column']);
    return sendJson(res, 200, await sweepStats(s, id, column));
  }
  if (first !== 'runs' || rest.length > 0) throw notFound(parts);
  if (id === undefined) {
    const status = query.list('status');
    const experiment = query.string('experiment');
    query.done(['status', 'experiment']);
    const bad = status?.find((x) => !STATUSES.includes(x));
    if (bad !== undefined) {
      throw new HttpError(400, 'BAD_OPTION', `status ${show(bad)} is not one of ${STATUSES.join(', ')}`);
    }
    const runs = s.reader
      .runs()
      .filter(
        (r) => (!status || status.includes(r.status)) && (experiment === undefined || r.experiment === experiment),
      );
    return sendJson(res, 200, runs);
  }
  const run = s.reader.run(id);
  switch (action) {
    case undefined:
      query.done([]);
      return sendJson(res, 200, runView(run, s.runsDir, s.reader.events(run.id).slice(-200)));
    case 'series': {
      const column = query.required('column');
      const points = query.integer('points') ?? DEFAULT_POINTS;
      query.done(['column', 'points']);
      // One accumulator per run and column: each request reads only the rows flushed since.
      const key = `${run.id}|${run.createdAt}|${column}`;
      let accumulator = s.series.get(key);
      if (!accumulator || accumulator.rows > run.flushedRows) accumulator = new SeriesAccumulator();
      const budget = run.status === 'running' ? SERIES_BUDGET_MS : undefined;
      const result = series(run, s.runsDir, column, points, accumulator, budget);
      s.series.delete(key);
      s.series.set(key, accumulator);
      if (s.series.size > CACHE_ENTRIES) s.series.delete(s.series.keys().next().value!);
      return sendJson(res, 200, result);
    }
    case 'histogram': {
      const column = query.required('column');
      const bins = query.integer('bins');
      query.done(['column', 'bins']);
      return sendJson(
        res,
        200,
        cached(s, run, `hist|${column}|${bins}`, () => histogram(run, s.runsDir, column, bins)),
      );
    }
    case 'stats': {
      const columns = query.list('columns');
      query.done(['columns']);
      const key = `stats|${columns?.join(',')}`;
      const hit = s.cache.get(cacheKey(run, key));
      // The object `mmrun stats --json` prints (non-finite figures as "NaN", "Infinity").
      const result =
        hit ??
        statsJson(
          await summarizeRun({
            runId: run.id,
            run,
            runsDir: s.runsDir,
            workers: 1,
            // Many rows are read in a worker thread, so the server keeps answering meanwhile.
            callerReads: run.flushedRows * run.itemsize < STATS_IN_THREAD_BYTES,
            ...(columns ? { columns } : {}),
          }),
        );
      if (!hit) remember(s, cacheKey(run, key), result);
      return sendJson(res, 200, result);
    }
    case 'log': {
      const tail = query.integer('tail') ?? 100;
      query.done(['tail']);
      return sendJson(res, 200, logTail(run, s.runsDir, tail));
    }
    case 'export':
      return download(req, res, s, run, query);
    default:
      throw notFound(parts);
  }
}

const STATUSES: readonly string[] = ['running', 'interrupted', 'crashed', 'failed', 'completed'];

const notFound = (parts: string[]): HttpError =>
  new HttpError(
    404,
    'NOT_FOUND',
    `no endpoint /api/${parts.map(encodeURIComponent).join('/')}`,
    'see the README: Dashboard',
  );

const cacheKey = (run: RunRecord, key: string): string =>
  `${run.id}|${run.createdAt}|${run.flushedRows}|${run.status}|${key}`;

function cached<T>(s: ServerState, run: RunRecord, key: string, compute: () => T): T {
  const k = cacheKey(run, key);
  const hit = s.cache.get(k) as T | undefined;
  if (hit !== undefined) return hit;
  const value = compute();
  remember(s, k, value);
  return value;
}

function remember(s: ServerState, key: string, value: unknown): void {
  s.cache.set(key, value);
  if (s.cache.size > CACHE_ENTRIES) s.cache.delete(s.cache.keys().next().value!);
}

const CONTENT_TYPES: Readonly<Record<ExportFormat, string>> = {
  npy: 'application/octet-stream',
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
  arrow: 'application/vnd.apache.arrow.file',
};

// Streams an export of the run's flushed rows (as `mmrun export` writes it) as the response.
async function download(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  s: ServerState,
  run: RunRecord,
  query: Query,
): Promise<void> {
  const format = query.required('format');
  const columns = query.list('columns');
  const rows = query.string('rows');
  query.done(['format', 'columns', 'rows']);
  if (!EXPORT_FORMATS.includes(format as ExportFormat)) {
    throw new HttpError(400, 'BAD_OPTION', `format ${show(format)} is not one of ${EXPORT_FORMATS.join(', ')}`);
  }
  const headers = {
    ...SECURITY_HEADERS,
    'Content-Type': CONTENT_TYPES[format as ExportFormat],
    'Content-Disposition': `attachment; filename="${run.id}.${format}"`,
    'Cache-Control': 'no-store',
  };
  if (req.method === 'HEAD') {
    res.writeHead(200, headers);
    res.end();
    return;
  }
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort('the client went away');
  });
  await exportRun({
    runId: run.id,
    run,
    runsDir: s.runsDir,
    format: format as ExportFormat,
    out: res,
    signal: abort.signal,
    ...(columns ? { columns } : {}),
    ...(rows !== undefined ? { rows } : {}),
    onStart: () => res.writeHead(200, headers),
  });
  res.end();
}
