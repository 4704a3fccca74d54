import { MmrunError, show } from '../errors.ts';
import type { ParamValue } from '../experiment/define.ts';
import { applyParams } from '../experiment/params.ts';

/** One axis of a sweep's grid: a param and the values it takes, in order. */
export interface GridAxis {
  readonly key: string;
  readonly values: readonly ParamValue[];
}

/** A parameter set of a sweep: the params it overrides (typed by their defaults). */
export type ParamSet = Readonly<Record<string, ParamValue>>;

/** Above this many points a sweep needs `--yes`. */
export const MAX_POINTS_WITHOUT_YES = 1_000_000;

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

/** How many parameter sets the grid's cartesian product has (1 for no axes). */
export function gridSize(axes: readonly GridAxis[]): number {
  return axes.reduce((n, axis) => n * axis.values.length, 1);
}

/**
 * The cartesian product of the axes, the first axis varying slowest (as nested loops in
 * the order the grids were given).
 */
export function expandGrid(axes: readonly GridAxis[]): ParamSet[] {
  let sets: Record<string, ParamValue>[] = [{}];
  for (const axis of axes) {
    const next: Record<string, ParamValue>[] = [];
    for (const set of sets) for (const value of axis.values) next.push({ ...set, [axis.key]: value });
    sets = next;
  }
  return sets;
}

/**
 * Refuses a sweep of no points, or of more than {@link MAX_POINTS_WITHOUT_YES} without `yes`.
 * @throws MmrunError BAD_GRID, SWEEP_TOO_LARGE
 */
export function checkPointCount(sets: number, seeds: number, yes: boolean): number {
  const total = sets * seeds;
  if (sets === 0) {
    throw new MmrunError('BAD_GRID', 'the sweep has no parameter sets', {
      remedy: 'give at least one --grid key=v1,v2 or a --points file with at least one row',
    });
  }
  if (total > MAX_POINTS_WITHOUT_YES && !yes) {
    throw new MmrunError(
      'SWEEP_TOO_LARGE',
      `the sweep has ${total} points (${sets} parameter sets × ${seeds} seeds), more than ${MAX_POINTS_WITHOUT_YES}`,
      { remedy: 'narrow the grid, or pass --yes if you mean it' },
    );
  }
  return total;
}
