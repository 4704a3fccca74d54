import { MmrunError, show } from '../errors.ts';
import type { ParamValue } from './define.ts';

/**
 * Parses a count written the way people write big numbers: `1000000`, `1e6`, `1_000_000`.
 * @throws MmrunError BAD_ITERATIONS (or `code`) naming the value.
 */
export function parseCount(
  value: unknown,
  what = 'iterations',
  code: 'BAD_ITERATIONS' | 'BAD_OPTION' = 'BAD_ITERATIONS',
): number {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  const n = /^[+]?(\d[\d_]*)(\.\d*)?([eE][+]?\d+)?$/.test(text) ? Number(text.replaceAll('_', '')) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new MmrunError(code, `${what} must be a positive whole number, got ${show(value)}`, {
      remedy: `write it like 1000000, 1e6 or 1_000_000`,
    });
  }
  return n;
}

/**
 * Applies `key=value` overrides to parameter defaults, typing each value by its default:
 * numbers (`1e-3`, `1_000`), booleans (`true/false/1/0/yes/no`), strings as written.
 * @throws MmrunError BAD_PARAM naming the key, the value and the expected type.
 */
export function applyParams(
  defaults: Readonly<Record<string, ParamValue>>,
  overrides: readonly string[],
): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = { ...defaults };
  const known = Object.keys(defaults);
  for (const item of overrides) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      throw new MmrunError('BAD_PARAM', `--param ${show(item)} is not key=value`, {
        remedy: `write --param key=value; keys: ${known.join(', ') || '(this experiment has no params)'}`,
      });
    }
    const key = item.slice(0, eq);
    const raw = item.slice(eq + 1);
    if (!Object.hasOwn(defaults, key)) throw unknownParam(key, known);
    out[key] = parseParam(key, raw, defaults[key]!);
  }
  return out;
}

/**
 * Applies typed overrides to parameter defaults: each key must be a param of the
 * experiment, each value of its default's type.
 * @throws MmrunError BAD_PARAM naming the key, the value and the expected type.
 */
export function overrideParams(
  defaults: Readonly<Record<string, ParamValue>>,
  overrides: Readonly<Record<string, ParamValue>>,
): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = { ...defaults };
  for (const [key, value] of Object.entries(overrides)) {
    if (!Object.hasOwn(defaults, key)) throw unknownParam(key, Object.keys(defaults));
    const def = defaults[key]!;
    if (typeof value !== typeof def) {
      const type = TYPE_NAMES[typeof def as keyof typeof TYPE_NAMES];
      throw new MmrunError(
        'BAD_PARAM',
        `param '${key}' expects ${type} (its default is ${show(def)}), got ${show(value)}`,
        {
          remedy: `pass ${type} for '${key}'`,
        },
      );
    }
    out[key] = value;
  }
  return out;
}

const TYPE_NAMES = { number: 'a number', boolean: 'a boolean (true/false)', string: 'a string' } as const;

function unknownParam(key: string, known: readonly string[]): MmrunError {
  return new MmrunError('BAD_PARAM', `unknown param ${show(key)}`, {
    remedy: `this experiment's params are: ${known.join(', ') || '(none)'}`,
  });
}

function parseParam(key: string, raw: string, def: ParamValue): ParamValue {
  const fail = (type: string): never => {
    throw new MmrunError(
      'BAD_PARAM',
      `param '${key}' expects ${type} (its default is ${show(def)}), got ${show(raw)}`,
      {
        remedy: `pass --param ${key}=<${type}>`,
      },
    );
  };
  if (typeof def === 'number') {
    const text = raw.trim().replaceAll('_', '');
    const n = text === '' ? Number.NaN : Number(text);
    return Number.isFinite(n) || text === 'Infinity' || text === '-Infinity' || text === 'NaN' ? n : fail('a number');
  }
  if (typeof def === 'boolean') {
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    return fail('a boolean (true/false)');
  }
  return raw;
}
