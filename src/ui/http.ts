// The HTTP plumbing the dashboard's pages and its API share: the server's state, errors as
// JSON bodies with their status, security headers, and a strict reading of the query.
import type * as http from 'node:http';
import { MmrunError, show } from '../errors.ts';
import type { RunsFeed } from './live.ts';
import type { DashboardReader } from './reader.ts';
import type { SeriesAccumulator } from './series.ts';

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

export interface ServerState {
  readonly runsDir: string;
  readonly reader: DashboardReader;
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

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

/** An HTTP failure with a JSON body `{ error: { code, message, remedy } }`. */
export class HttpError extends Error {
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

export function fail(res: http.ServerResponse, error: unknown): void {
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

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
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

/** A request's query: each parameter at most once; any the endpoint does not take is refused. */
export class Query {
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
