// Reading a sweep's command-line text into the typed options of the library
// (sweep/sweep.ts SweepOptions): `--grid key=v1,v2|a:b:n[:log]`, `--param key=value`,
// `--seeds`, `--jobs` and the counts. Values are typed by the experiment's param defaults,
// exactly as `--param` of a run is.

import { MmrunError, show } from '../errors.ts';
import type { ParamValue } from '../experiment/define.ts';
import { loadExperiment, resolveExperiment } from '../experiment/load.ts';
import { applyParams, parseCount } from '../experiment/params.ts';
import type { GridAxis } from '../sweep/grid.ts';
import type { SweepOptions } from '../sweep/sweep.ts';

const keysOf = (defaults: Readonly<Record<string, ParamValue>>) => Object.keys(defaults).join(', ') || '(none)';

/**
 * Parses one `--grid` spec against the experiment's param defaults:
 * `key=v1,v2,...` (each value typed by the default, exactly as `--param` is), or for a
 * number param `key=a:b:n` (n values from a to b inclusive, evenly spaced) or
 * `key=a:b:n:log` (n values evenly spaced in log, a and b > 0).
 * @throws MmrunError BAD_GRID (shape, unknown key, n < 1) or BAD_PARAM (a value of the wrong type)
 * @example
 * parseGridAxis({ drift: 0 }, 'drift=0:1:5') // { key: 'drift', values: [0, 0.25, 0.5, 0.75, 1] }
 */
export function parseGridAxis(defaults: Readonly<Record<string, ParamValue>>, spec: string): GridAxis {
  const eq = spec.indexOf('=');
  if (eq <= 0) {
    throw new MmrunError('BAD_GRID', `--grid ${show(spec)} is not key=values`, {
      remedy: `write --grid key=v1,v2 or --grid key=a:b:n[:log]; keys: ${keysOf(defaults)}`,
    });
  }
  const key = spec.slice(0, eq);
  const body = spec.slice(eq + 1);
  if (!Object.hasOwn(defaults, key)) {
    throw new MmrunError('BAD_GRID', `--grid key ${show(key)} is not a param of the experiment`, {
      remedy: `sweep one of the experiment's params: ${keysOf(defaults)}`,
    });
  }
  const def = defaults[key]!;
  if (typeof def === 'number' && /^[^,]*:[^,]*:[^,]*(:[^,]*)?$/.test(body)) return { key, values: range(key, body) };
  if (body.trim() === '') {
    throw new MmrunError('BAD_GRID', `--grid ${show(spec)} has no values`, {
      remedy: `list values after '=': --grid ${key}=v1,v2`,
    });
  }
  // A string param takes its values verbatim (commas separate them); others are trimmed.
  const items = body.split(',');
  const values = items.map((raw) => applyParams(defaults, [`${key}=${raw}`])[key]!);
  return { key, values };
}

function range(key: string, body: string): number[] {
  const [aText, bText, nText, scale] = body.split(':') as [string, string, string, string | undefined];
  const bad = (what: string, remedy: string): never => {
    throw new MmrunError('BAD_GRID', `--grid ${key}=${body}: ${what}`, { remedy });
  };
  const num = (text: string, what: string) => {
    const t = text.trim().replaceAll('_', '');
    const v = t === '' ? Number.NaN : Number(t);
    return Number.isFinite(v) ? v : bad(`${what} ${show(text)} is not a finite number`, 'write a:b:n, e.g. 0:1:11');
  };
  const a = num(aText, 'start');
  const b = num(bText, 'end');
  const nRaw = nText.trim().replaceAll('_', '');
  const n = /^\d+$/.test(nRaw) ? Number(nRaw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    bad(
      `the count ${show(nText)} must be a whole number of at least 1`,
      `write ${key}=${aText}:${bText}:5 for 5 values`,
    );
  }
  if (scale !== undefined && scale !== 'log' && scale !== 'lin') {
    bad(`the scale ${show(scale)} is neither 'log' nor 'lin'`, `write ${key}=a:b:n:log for log spacing`);
  }
  if (n === 1) return [a];
  if (scale === 'log') {
    if (!(a > 0 && b > 0)) bad('a log range needs a > 0 and b > 0', 'use positive ends, or a linear range a:b:n');
    const la = Math.log(a);
    const lb = Math.log(b);
    return Array.from({ length: n }, (_, i) =>
      i === 0 ? a : i === n - 1 ? b : Math.exp((la * (n - 1 - i) + lb * i) / (n - 1)),
    );
  }
  // Weighted ends: exact at both ends, and 0:1:11 gives 0.3, not 0.30000000000000004.
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? b : (a * (n - 1 - i) + b * i) / (n - 1)));
}

/**
 * Parses every `--grid` of a sweep. A key given twice is refused.
 * @throws MmrunError BAD_GRID, BAD_PARAM
 */
export function parseGrid(defaults: Readonly<Record<string, ParamValue>>, specs: readonly string[]): GridAxis[] {
  const axes = specs.map((spec) => parseGridAxis(defaults, spec));
  const seen = new Set<string>();
  for (const axis of axes) {
    if (seen.has(axis.key)) {
      throw new MmrunError('BAD_GRID', `--grid ${show(axis.key)} is given twice`, {
        remedy: `put all its values in one --grid ${axis.key}=v1,v2,...`,
      });
    }
    seen.add(axis.key);
  }
  return axes;
}

/**
 * `key=value` texts as the overrides they give (only the keys given, typed by their defaults).
 * @throws MmrunError BAD_PARAM
 */
export function parseParamOverrides(
  defaults: Readonly<Record<string, ParamValue>>,
  texts: readonly string[] | undefined,
): Record<string, ParamValue> {
  const all = applyParams(defaults, texts ?? []);
  const out: Record<string, ParamValue> = {};
  for (const text of texts ?? []) {
    const key = text.slice(0, text.indexOf('='));
    out[key] = all[key]!;
  }
  return out;
}

/**
 * `--seeds 3`, `--jobs 2`: a whole number of at least 1 (`1_000` allowed), or undefined.
 * @throws MmrunError BAD_OPTION naming the flag and the text
 */
export function parsePositiveInt(text: string | number | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = typeof text === 'number' ? text : Number(String(text).replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new MmrunError('BAD_OPTION', `${flag} must be a whole number of at least 1, got ${show(text)}`, {
      remedy: `pass ${flag} 1 or more`,
    });
  }
  return n;
}

/** A count flag (`1e6`, `1_000_000`) as a number, or undefined. */
export function parseCountFlag(
  text: string | undefined,
  flag: string,
  code: 'BAD_ITERATIONS' | 'BAD_OPTION' = 'BAD_OPTION',
): number | undefined {
  return text === undefined ? undefined : parseCount(text, flag === '--iterations' ? 'iterations' : flag, code);
}

/** The text of a sweep's command line, as yargs gives it. */
export interface SweepTextArgs {
  readonly experiment: string;
  readonly grid?: readonly string[] | undefined;
  readonly points?: string | undefined;
  readonly seeds?: string | undefined;
  readonly iterations?: string | undefined;
  readonly param?: readonly string[] | undefined;
  readonly jobs?: string | undefined;
  readonly 'flush-every'?: string | undefined;
  readonly 'segment-rows'?: string | undefined;
}

/**
 * The flags given as text, read into the library's typed options: grid and params typed by
 * the experiment's param defaults (so the experiment is loaded here for them), counts as numbers.
 * @throws MmrunError BAD_PARAM, BAD_ITERATIONS, BAD_OPTION, BAD_GRID
 */
export async function parseSweepArgs(
  argv: SweepTextArgs,
): Promise<Pick<SweepOptions, 'grid' | 'params' | 'seeds' | 'iterations' | 'jobs' | 'flushEvery' | 'segmentRows'>> {
  const needsParams = Boolean(argv.grid?.length || argv.param?.length);
  const defaults = needsParams ? (await loadExperiment(resolveExperiment(argv.experiment))).params : {};
  const params = argv.param === undefined ? undefined : parseParamOverrides(defaults, argv.param);
  const iterations = parseCountFlag(argv.iterations, '--iterations', 'BAD_ITERATIONS');
  const seeds = parsePositiveInt(argv.seeds, '--seeds');
  if (argv.grid?.length && argv.points !== undefined) {
    throw new MmrunError('BAD_OPTION', '--grid and --points both give the parameter sets', {
      remedy: 'use --grid for a cartesian product, or --points for an explicit list, not both',
    });
  }
  return {
    ...(argv.grid?.length ? { grid: parseGrid(defaults, argv.grid) } : {}),
    ...(params === undefined ? {} : { params }),
    ...(iterations === undefined ? {} : { iterations }),
    ...(seeds === undefined ? {} : { seeds }),
    ...(argv.jobs === undefined ? {} : { jobs: parsePositiveInt(argv.jobs, '--jobs') }),
    ...(argv['flush-every'] === undefined ? {} : { flushEvery: parseCountFlag(argv['flush-every'], '--flush-every') }),
    ...(argv['segment-rows'] === undefined
      ? {}
      : { segmentRows: parseCountFlag(argv['segment-rows'], '--segment-rows') }),
  };
}
