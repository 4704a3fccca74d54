import * as fs from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunRecord } from '../catalog/catalog.ts';
import { MmrunError, show } from '../errors.ts';
import { EXPORT_FORMATS, type ExportFormat, exportRun } from '../export/export.ts';
import { runView } from '../read/run-view.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { statsJson } from '../stats/json.ts';
import { summarizeRun } from '../stats/stats.ts';
import { DEFAULT_POINTS, histogram, logTail, series } from './data.ts';
import { RunsFeed } from './live.ts';
import { CatalogReader } from './reader.ts';
import { allowedHosts, hostAllowed, needsToken, newToken, sameToken, tokenOf } from './security.ts';
import { SeriesAccumulator } from './series.ts';

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /**
   * Where runs live.
   * @default $MMRUN_RUNS_DIR, else ./runs
   */
  readonly runsDir?: string;
  /**
   * The address to listen on. Anything but 127.0.0.1, ::1 or localhost requires the token.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * The port; 0 picks a free one.
   * @default 7878
   */
  readonly port?: number;
  /**
   * The token every request must carry (`?token=`, `Authorization: Bearer`, or the cookie the
   * page gets). Required on a non-loopback host.
   * @default a fresh random token on a non-loopback host, none on loopback
   */
  readonly token?: string;
  /**
   * Milliseconds between looks at the catalog for live updates.
   * @default 500
   */
  readonly pollMs?: number;
}

/** A running dashboard. */
export interface Dashboard {
  /** The address to open, with `?token=` when a token is required. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
  readonly runsDir: string;
  /** Stops listening, ends every open stream and connection, closes the catalog. */
  close(): Promise<void>;
}

/** Default port of `mmrun ui`. */
export const DEFAULT_PORT = 7878;

/**
 * Serves the dashboard: the runs page, a page per run, and the read-only JSON API under
 * `/api/` (see the README's "Dashboard"). Only GET and HEAD are answered; a request whose
 * Host header does not name this server is refused (403), as is one without the token when
 * one is required (401). The catalog is opened read-only and segments are mapped read-only,
 * so an open dashboard never changes, blocks or slows a run.
 * @throws MmrunError `BAD_OPTION` for a bad port or host, or a port in use.
 * @example
 * const ui = await startDashboard({ runsDir: 'runs', port: 0 });
 * console.log(ui.url); // http://127.0.0.1:41234/
 * await ui.close();
 */
export async function startDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  const runsDir = resolveRunsDir(options.runsDir);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) {
    throw new MmrunError('BAD_OPTION', `port ${show(port)} is not an integer from 0 to 65535`, {
      remedy: 'pass --port P, or --port 0 for any free port',
    });
  }
  if (host.trim() === '' || /[\s/@#?]/.test(host)) {
    throw new MmrunError('BAD_OPTION', `host ${show(host)} is not an address to listen on`, {
      remedy: 'pass --host 127.0.0.1 (the default), or an address of this machine',
    });
  }
  const token = options.token ?? (needsToken(host) ? newToken() : undefined);
  const reader = new CatalogReader(runsDir);
  const feed = new RunsFeed({ version: () => reader.version(), runs: () => reader.runs() }, options.pollMs ?? 500);
  const assets = loadAssets();
  const state: ServerState = {
    runsDir,
    reader,
    feed,
    assets,
    token,
    allowed: new Set(),
    cookie: '',
    cache: new Map(),
    series: new Map(),
  };
  const server = http.createServer((req, res) => {
    handle(req, res, state).catch((error: unknown) => fail(res, error));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reader.close();
      reject(listenError(error, host, port));
    });
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  state.allowed = allowedHosts(host, bound);
  state.cookie = `mmrun_token_${bound}`;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}/${token ? `?token=${token}` : ''}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    host,
    port: bound,
    token,
    runsDir,
    close() {
      closing ??= new Promise<void>((resolve) => {
        feed.close();
        server.close(() => resolve());
        server.closeAllConnections();
        reader.close();
      });
      return closing;
    },
  };
}

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

interface ServerState {
  readonly runsDir: string;
  readonly reader: CatalogReader;
  readonly feed: RunsFeed;
  readonly assets: ReadonlyMap<string, Asset>;
  readonly token: string | undefined;
  allowed: ReadonlySet<string>;
  cookie: string;
  // Results of series, histogram and stats requests, by run, snapshot and parameters: the
  // flushed rows of a snapshot never change, so a page refreshing an idle run costs nothing.
  readonly cache: Map<string, unknown>;
  readonly series: Map<string, SeriesAccumulator>;
}

const CACHE_ENTRIES = 64;
// Milliseconds a series request of a running run reads new rows for, at most: a page
// following a writer faster than that lags behind it (and catches up later) rather than
// competing with it for the CPU.
const SERIES_BUDGET_MS = 40;
// Rows of at least this many bytes are summarised in a worker thread (it takes ~0.3 s to start).
const STATS_IN_THREAD_BYTES = 256 << 20;

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

// The pages' files: everything in ./assets/ with a plain name, and uPlot's ES module and
// stylesheet from node_modules. Read once; a request names one of these, never a path.
function loadAssets(): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const dir = fileURLToPath(new URL('./assets/', import.meta.url));
  for (const name of fs.readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (type && /^[a-z0-9-]+\.[a-z]+$/.test(name)) {
      out.set(`/assets/${name}`, { type, body: fs.readFileSync(path.join(dir, name)) });
    }
  }
  const require = createRequire(import.meta.url);
  out.set('/vendor/uPlot.esm.js', {
    type: TYPES['.js']!,
    body: fs.readFileSync(require.resolve('uplot/dist/uPlot.esm.js')),
  });
  out.set('/vendor/uPlot.min.css', {
    type: TYPES['.css']!,
    body: fs.readFileSync(require.resolve('uplot/dist/uPlot.min.css')),
  });
  return out;
}

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

/** An HTTP failure with a JSON body `{ error: { code, message, remedy } }`. */
class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly remedy: string | undefined;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, remedy?: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.remedy = remedy;
    this.headers = headers;
  }
}

// MmrunError codes that mean the request was wrong (400) or named nothing (404).
const BAD_REQUEST = new Set(['BAD_RUN_ID', 'BAD_OPTION', 'UNKNOWN_COLUMN', 'BAD_COLUMN_INDEX', 'BAD_ROW_RANGE']);

function fail(res: http.ServerResponse, error: unknown): void {
  const e =
    error instanceof HttpError
      ? error
      : error instanceof MmrunError
        ? new HttpError(
            error.code === 'RUN_NOT_FOUND' ? 404 : BAD_REQUEST.has(error.code) ? 400 : 500,
            error.code,
            error.message,
            error.remedy,
          )
        : error instanceof RangeError
          ? new HttpError(400, 'BAD_OPTION', error.message)
          : new HttpError(500, 'INTERNAL', `internal error: ${(error as Error)?.message ?? String(error)}`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.status, { error: { code: e.code, message: e.message, remedy: e.remedy ?? null } }, e.headers);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, s: ServerState): Promise<void> {
  if (!hostAllowed(req, s.allowed)) {
    throw new HttpError(
      403,
      'FORBIDDEN_HOST',
      `Host ${show(req.headers.host ?? '')} is not this dashboard's address`,
      `open ${[...s.allowed][0]} (requests for other names are refused against DNS rebinding)`,
    );
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new HttpError(
      405,
      'METHOD_NOT_ALLOWED',
      `${req.method} is not allowed: the dashboard is read-only`,
      undefined,
      {
        Allow: 'GET, HEAD',
      },
    );
  }
  const raw = req.url ?? '/';
  if (!raw.startsWith('/')) throw new HttpError(400, 'BAD_REQUEST', `request target ${show(raw)} is not a path`);
  const url = new URL(`http://dashboard${raw}`);
  const headers: Record<string, string> = {};
  if (s.token !== undefined) {
    const given = tokenOf(req, url, s.cookie);
    if (!sameToken(given, s.token)) {
      throw new HttpError(
        401,
        'TOKEN_REQUIRED',
        given === undefined ? 'this dashboard requires its token' : 'the token is wrong',
        'open the URL `mmrun ui` printed (it ends in ?token=…), or send Authorization: Bearer <token>',
      );
    }
    if (url.searchParams.has('token')) {
      headers['Set-Cookie'] = `${s.cookie}=${s.token}; HttpOnly; SameSite=Strict; Path=/`;
    }
  }
  const parts = segmentsOf(url.pathname);
  const query = new Query(url.searchParams);
  if (parts[0] === 'api') return api(req, res, s, parts.slice(1), query);
  if (parts.length === 0) {
    query.done(['status', 'experiment']); // the page's filters, kept in its address
    return page(res, s, 'index.html', headers);
  }
  if (parts[0] === 'runs' && parts.length === 2) {
    s.reader.run(parts[1]!); // 400 for an id no run can have, 404 for an unknown run
    query.done([]);
    return page(res, s, 'run.html', headers);
  }
  const asset = s.assets.get(url.pathname);
  if (!asset) throw new HttpError(404, 'NOT_FOUND', `nothing at ${show(url.pathname)}`, 'the runs page is at /');
  query.done([]);
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    ...headers,
    'Content-Type': asset.type,
    'Content-Length': asset.body.length,
    'Cache-Control': 'no-cache',
  });
  res.end(asset.body);
}

function page(res: http.ServerResponse, s: ServerState, name: string, headers: Record<string, string>): void {
  const asset = s.assets.get(`/assets/${name}`)!;
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    ...headers,
    'Content-Type': asset.type,
    'Content-Length': asset.body.length,
    'Cache-Control': 'no-store',
  });
  res.end(asset.body);
}

// The path's segments, each percent-decoded on its own: `%2F` stays inside its segment,
// where the run-id check refuses it.
function segmentsOf(pathname: string): string[] {
  const parts = pathname.split('/').filter((p) => p !== '');
  try {
    return parts.map((p) => decodeURIComponent(p));
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', `path ${show(pathname)} is not valid percent-encoding`);
  }
}

async function api(
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

/** A request's query: each parameter at most once; any the endpoint does not take is refused. */
class Query {
  readonly #params: URLSearchParams;
  constructor(params: URLSearchParams) {
    this.#params = params;
    for (const key of new Set(params.keys())) {
      if (params.getAll(key).length > 1)
        throw new HttpError(400, 'BAD_OPTION', `parameter ${show(key)} is given twice`);
    }
  }

  string(name: string): string | undefined {
    return this.#params.get(name) ?? undefined;
  }

  required(name: string): string {
    const value = this.string(name);
    if (value === undefined || value === '') {
      throw new HttpError(400, 'BAD_OPTION', `parameter ${show(name)} is required`, `add ?${name}=…`);
    }
    return value;
  }

  integer(name: string): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!/^\d{1,15}$/.test(value)) {
      throw new HttpError(
        400,
        'BAD_OPTION',
        `parameter ${show(name)} must be a non-negative integer, got ${show(value)}`,
      );
    }
    return Number(value);
  }

  list(name: string): string[] | undefined {
    const value = this.string(name);
    return value === undefined ? undefined : value.split(',').map((v) => v.trim());
  }

  /** Refuses any parameter but `allowed` (and `token`). */
  done(allowed: readonly string[]): void {
    for (const key of this.#params.keys()) {
      if (key !== 'token' && !allowed.includes(key)) {
        throw new HttpError(
          400,
          'BAD_OPTION',
          `unknown parameter ${show(key)}`,
          allowed.length ? `this endpoint takes ${allowed.join(', ')}` : 'this endpoint takes no parameters',
        );
      }
    }
  }
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number): MmrunError {
  if (error.code === 'EADDRINUSE') {
    return new MmrunError('BAD_OPTION', `port ${port} on ${host} is in use`, {
      cause: error,
      remedy: 'pass --port with another port, or --port 0 for any free one',
    });
  }
  return new MmrunError('BAD_OPTION', `cannot listen on ${host}:${port}: ${error.message}`, {
    cause: error,
    remedy: 'pass --host with an address of this machine (default 127.0.0.1)',
  });
}
