// mmrun's environment, read in one place: every variable that changes what mmrun does is
// parsed and validated here into one typed object (as flush-policy.ts normalizes a run's
// options), so that a bad value is refused with a coded error naming the variable instead of
// being taken for a default somewhere deep in a run. The README's "Environment switches"
// table documents each. Nothing reads it at module load: a variable set by a program before
// it first calls mmrun (the in-process benchmarks) counts, and the CLI checks it first thing,
// so that a bad value is reported like any other error.
import * as path from 'node:path';
import { MmrunError } from './errors.ts';

/** Where a test may arm a fault (faults.ts). */
export const FAULT_POINTS = [
  'before-msync',
  'after-msync',
  'after-commit',
  'segment-create',
  'migration',
  'graceful-stop',
  'msync-error',
  'extend',
  'code-change',
  'sweep-record',
  'sweep-between-points',
  'rm-sweep-dirs',
  'merge-point',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

/** An armed fault: `MMRUN_FAULT=<point>[:delay=<ms>]`, `MMRUN_FAULT_AFTER=<n>`. */
export interface FaultSetting {
  readonly point: FaultPoint;
  /** Waits this long at the point instead of dying there. */
  readonly delayMs: number | undefined;
  /** The how-many-th time the point is reached that counts (1 = the first). */
  readonly after: number;
}

/** `auto`: mmrun decides (by measuring, or by the machine); `on`/`off`: forced. */
export type Switch = 'auto' | 'on' | 'off';

/** mmrun's environment, parsed. */
export interface Config {
  /** MMRUN_RUNS_DIR: the runs directory when no option names one (absolute). */
  readonly runsDir: string | undefined;
  /** MMRUN_CACHE_DIR: where bundles of experiments are written (absolute). */
  readonly cacheDir: string | undefined;
  /** MMRUN_HEARTBEAT_MS: how often the owner of a run records that it is alive. @default 5000 */
  readonly heartbeatMs: number;
  /** MMRUN_PROGRESS_LOG_MS: how often progress is logged when stderr is not a terminal (0: always). @default 5000 */
  readonly progressLogMs: number;
  /** MMRUN_DROP_BEHIND: `off`/`0`, `on`, or a lag in bytes (which means `on`). */
  readonly dropBehind: { readonly use: Switch; readonly lag: number | undefined };
  /** MMRUN_PAGE_HELPER: `off`, `on`. */
  readonly pageHelper: Switch;
  /** MMRUN_PREFAULT: `off`/`0`, `on`/`1`. */
  readonly prefault: Switch;
  /** MMRUN_WRITE_BEHIND_BYTES: the page helper's write-back chunk, a multiple of 4096. */
  readonly writeBehindBytes: number | undefined;
  /** MMRUN_FAULT, MMRUN_FAULT_AFTER: fault injection for tests. */
  readonly fault: FaultSetting | undefined;
  /** NO_COLOR (any non-empty value): no colour on a terminal. */
  readonly noColor: boolean;
  /** MMRUN_FONT: font files for PNG charts (separated by the path delimiter). */
  readonly fontFiles: readonly string[] | undefined;
}

/** The defaults of the intervals. */
export const DEFAULT_HEARTBEAT_MS = 5000;
export const DEFAULT_PROGRESS_LOG_MS = 5000;

function bad(name: string, value: string, expected: string): MmrunError {
  return new MmrunError('BAD_ENV', `${name}=${JSON.stringify(value)} is not ${expected}`, {
    remedy: `set ${name} to ${expected}, or unset it for the default (see the README's "Environment switches")`,
  });
}

/** A variable's value; unset and empty are the same. */
function get(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: NodeJS.ProcessEnv, name: string, min: number, expected: string): number | undefined {
  const value = get(env, name);
  if (value === undefined) return undefined;
  const n = Number(value.trim());
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min) throw bad(name, value, expected);
  return n;
}

function onOff(env: NodeJS.ProcessEnv, name: string, words: Record<string, Switch>): Switch {
  const value = get(env, name);
  if (value === undefined) return 'auto';
  const use = words[value.trim().toLowerCase()];
  if (use === undefined)
    throw bad(
      name,
      value,
      Object.keys(words)
        .join(', ')
        .replace(/, ([^,]*)$/, ' or $1'),
    );
  return use;
}

function dropBehind(env: NodeJS.ProcessEnv): Config['dropBehind'] {
  const value = get(env, 'MMRUN_DROP_BEHIND');
  if (value === undefined) return { use: 'auto', lag: undefined };
  const word = value.trim().toLowerCase();
  if (word === 'off' || word === '0') return { use: 'off', lag: undefined };
  if (word === 'on') return { use: 'on', lag: undefined };
  const lag = integer(env, 'MMRUN_DROP_BEHIND', 1, 'off, on or a lag in bytes (a positive integer)');
  return { use: 'on', lag };
}

function fault(env: NodeJS.ProcessEnv): FaultSetting | undefined {
  const value = get(env, 'MMRUN_FAULT');
  const after = integer(env, 'MMRUN_FAULT_AFTER', 1, 'a positive integer') ?? 1;
  if (value === undefined) return undefined;
  const [point, option, ...rest] = value.split(':');
  const expected = `<point>[:delay=<ms>] with a point among ${FAULT_POINTS.join(', ')}`;
  if (!FAULT_POINTS.includes(point as FaultPoint) || rest.length > 0) throw bad('MMRUN_FAULT', value, expected);
  let delayMs: number | undefined;
  if (option !== undefined) {
    delayMs = option.startsWith('delay=') ? Number(option.slice(6)) : Number.NaN;
    if (!/^delay=\d+$/.test(option) || !Number.isSafeInteger(delayMs)) throw bad('MMRUN_FAULT', value, expected);
  }
  return { point: point as FaultPoint, delayMs, after };
}

/**
 * Parses and validates the environment `env`.
 * @throws MmrunError BAD_ENV naming the variable, its value and what it may be
 */
export function readConfig(env: NodeJS.ProcessEnv): Config {
  const runsDir = get(env, 'MMRUN_RUNS_DIR');
  const cacheDir = get(env, 'MMRUN_CACHE_DIR');
  const fonts = get(env, 'MMRUN_FONT')
    ?.split(path.delimiter)
    .filter((f) => f !== '');
  return {
    runsDir: runsDir === undefined ? undefined : path.resolve(runsDir),
    cacheDir: cacheDir === undefined ? undefined : path.resolve(cacheDir),
    heartbeatMs:
      integer(env, 'MMRUN_HEARTBEAT_MS', 1, 'a positive number of milliseconds (an integer)') ?? DEFAULT_HEARTBEAT_MS,
    progressLogMs:
      integer(env, 'MMRUN_PROGRESS_LOG_MS', 0, 'a number of milliseconds (an integer, 0 or more)') ??
      DEFAULT_PROGRESS_LOG_MS,
    dropBehind: dropBehind(env),
    pageHelper: onOff(env, 'MMRUN_PAGE_HELPER', { auto: 'auto', on: 'on', off: 'off' }),
    prefault: onOff(env, 'MMRUN_PREFAULT', { auto: 'auto', on: 'on', '1': 'on', off: 'off', '0': 'off' }),
    writeBehindBytes: writeBehind(env),
    fault: fault(env),
    noColor: get(env, 'NO_COLOR') !== undefined,
    fontFiles: fonts && fonts.length > 0 ? fonts : undefined,
  };
}

function writeBehind(env: NodeJS.ProcessEnv): number | undefined {
  const expected = 'a positive multiple of 4096 (bytes)';
  const n = integer(env, 'MMRUN_WRITE_BEHIND_BYTES', 1, expected);
  if (n !== undefined && n % 4096 !== 0) throw bad('MMRUN_WRITE_BEHIND_BYTES', String(n), expected);
  return n;
}

let cached: { readonly config: Config } | { readonly error: unknown } | undefined;

/**
 * The process's configuration, read from `process.env` the first time it is asked for and
 * kept (every later call returns the same object, or throws the same error).
 * @throws MmrunError BAD_ENV
 */
export function config(): Config {
  if (cached === undefined) {
    try {
      cached = { config: readConfig(process.env) };
    } catch (error) {
      cached = { error };
    }
  }
  if ('error' in cached) throw cached.error;
  return cached.config;
}

/** {@link config} for `process.env`, else {@link readConfig} of `env` (functions that take an environment). */
export function configOf(env: NodeJS.ProcessEnv): Config {
  return env === process.env ? config() : readConfig(env);
}
