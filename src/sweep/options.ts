// The typed options of a sweep, checked once against the experiment's params: the library
// takes values (numbers, a grid of typed values, a params object); reading them from
// command-line text is the CLI's business (cli/sweep-args.ts).
import { MmrunError, show } from '../errors.ts';
import type { ParamValue } from '../experiment/define.ts';
import type { GridAxis } from './grid.ts';

/**
 * A sweep's grid: the values of each swept param, as an object (`{ drift: [0, 0.1] }`, its
 * keys in order) or as axes (`[{ key: 'drift', values: [0, 0.1] }]`). Each value has the
 * type of the param's default.
 */
export type SweepGrid = Readonly<Record<string, readonly ParamValue[]>> | readonly GridAxis[];

const keysOf = (defaults: Readonly<Record<string, ParamValue>>) => Object.keys(defaults).join(', ') || '(none)';

/** Whether a grid names no param at all. */
export function isEmptyGrid(grid: SweepGrid | undefined): boolean {
  return grid === undefined || (Array.isArray(grid) ? grid.length === 0 : Object.keys(grid).length === 0);
}

/**
 * The grid as axes, each key a param of the experiment, given once, with at least one value
 * of the param's type.
 * @throws MmrunError BAD_GRID (unknown or repeated key, no values), BAD_PARAM (a value of the wrong type)
 */
export function normalizeGrid(defaults: Readonly<Record<string, ParamValue>>, grid: SweepGrid): GridAxis[] {
  const axes: GridAxis[] = Array.isArray(grid)
    ? (grid as readonly GridAxis[]).map((a) => ({ key: a.key, values: [...a.values] }))
    : Object.entries(grid as Readonly<Record<string, readonly ParamValue[]>>).map(([key, values]) => ({
        key,
        values: Array.isArray(values) ? [...values] : (values as unknown as ParamValue[]),
      }));
  const seen = new Set<string>();
  for (const { key, values } of axes) {
    if (!Object.hasOwn(defaults, key)) {
      throw new MmrunError('BAD_GRID', `grid key ${show(key)} is not a param of the experiment`, {
        remedy: `sweep one of the experiment's params: ${keysOf(defaults)}`,
      });
    }
    if (seen.has(key)) {
      throw new MmrunError('BAD_GRID', `grid key ${show(key)} is given twice`, {
        remedy: `put all its values in one axis: { key: ${show(key)}, values: [...] }`,
      });
    }
    seen.add(key);
    if (!Array.isArray(values) || values.length === 0) {
      throw new MmrunError('BAD_GRID', `grid key ${show(key)} has no values`, {
        remedy: `give it an array of one or more values, e.g. ${key}: [${show(defaults[key])}]`,
      });
    }
    for (const v of values) checkValue(defaults, key, v, 'grid value');
  }
  return axes;
}

/**
 * Param overrides common to every point, each a param of the experiment with a value of
 * its default's type.
 * @throws MmrunError BAD_PARAM
 */
export function normalizeParams(
  defaults: Readonly<Record<string, ParamValue>>,
  params: Readonly<Record<string, ParamValue>> | undefined,
): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [key, value] of Object.entries(params ?? {})) {
    if (!Object.hasOwn(defaults, key)) {
      throw new MmrunError('BAD_PARAM', `unknown param ${show(key)}`, {
        remedy: `this experiment's params are: ${keysOf(defaults)}`,
      });
    }
    checkValue(defaults, key, value, 'param');
    out[key] = value;
  }
  return out;
}

function checkValue(defaults: Readonly<Record<string, ParamValue>>, key: string, value: unknown, what: string): void {
  const def = defaults[key]!;
  if (typeof value !== typeof def) {
    throw new MmrunError(
      'BAD_PARAM',
      `${what} ${show(value)} of '${key}' is a ${typeof value}, but its default ${show(def)} is a ${typeof def}`,
      { remedy: `give '${key}' ${typeof def} values` },
    );
  }
}

/**
 * A whole number of at least 1, or `fallback` when not given.
 * @throws MmrunError BAD_OPTION naming the option and the value
 */
export function positiveInt(value: number | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new MmrunError('BAD_OPTION', `${what} must be a whole number of at least 1, got ${show(value)}`, {
      remedy: `pass ${what} 1 or more`,
    });
  }
  return value;
}
