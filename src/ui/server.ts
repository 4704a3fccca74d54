import * as fs from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MmrunError, show } from '../errors.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { api } from './api.ts';
import { type Asset, fail, HttpError, Query, SECURITY_HEADERS, type ServerState } from './http.ts';
import { RunsFeed } from './live.ts';
import { DashboardReader } from './reader.ts';
import { allowedHosts, hostAllowed, needsToken, newToken, sameToken, tokenOf } from './security.ts';

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
  const reader = new DashboardReader(runsDir);
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
  if (parts[0] === 'sweeps' && parts.length === 2) {
    s.reader.sweep(parts[1]!); // 400 for an id no sweep can have, 404 for an unknown sweep
    query.done([]);
    return page(res, s, 'sweep.html', headers);
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
