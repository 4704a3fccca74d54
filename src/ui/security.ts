// The dashboard's gate: which Host headers it answers (DNS rebinding), and the token it asks
// for when it listens anywhere but the loopback address.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import * as os from 'node:os';

/** Hosts that only this machine reaches: the dashboard needs no token there. */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** Whether listening on `host` requires a token: anything but 127.0.0.1, ::1 or localhost. */
export const needsToken = (host: string): boolean => !LOOPBACK.has(host.toLowerCase());

/** A fresh token: 32 random bytes, base64url. */
export const newToken = (): string => randomBytes(32).toString('base64url');

const hostPort = (host: string, port: number): string =>
  `${host.includes(':') ? `[${host}]` : host}:${port}`.toLowerCase();

/**
 * The `Host` headers a request may carry: the bound address and port (for a loopback bind
 * also `localhost`, `127.0.0.1` and `[::1]`; for a wildcard bind every address of this
 * machine and its name). A page on another name that resolves here (DNS rebinding) sends
 * its own name and is refused.
 */
export function allowedHosts(host: string, port: number): Set<string> {
  const names = new Set<string>([host]);
  if (LOOPBACK.has(host.toLowerCase())) for (const h of LOOPBACK) names.add(h);
  if (host === '0.0.0.0' || host === '::') {
    for (const h of LOOPBACK) names.add(h);
    names.add(os.hostname());
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) names.add(a.address);
  }
  return new Set([...names].map((h) => hostPort(h, port)));
}

/** Whether the request's Host header names this server. */
export function hostAllowed(req: IncomingMessage, allowed: ReadonlySet<string>): boolean {
  const host = req.headers.host;
  return host !== undefined && allowed.has(host.toLowerCase());
}

/** The token a request carries: `?token=`, `Authorization: Bearer …`, or the cookie `name`. */
export function tokenOf(req: IncomingMessage, url: URL, cookie: string): string | undefined {
  const query = url.searchParams.get('token');
  if (query !== null) return query;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === cookie) return value.join('=');
  }
  return undefined;
}

/** Compares tokens in constant time. */
export function sameToken(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
