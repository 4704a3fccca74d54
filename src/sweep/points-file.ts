import * as fs from 'node:fs';
import { MmrunError, show } from '../errors.ts';
import type { ParamValue } from '../experiment/define.ts';
import { applyParams } from '../experiment/params.ts';
import type { ParamSet } from './grid.ts';

/**
 * Reads an explicit list of parameter sets: `.jsonl` (one JSON object per line) or `.csv`
 * (a header of param names, then one row per set). Each value is typed by the param's
 * default: a JSON value of the default's type is taken as is, anything else is parsed as
 * `--param` parses its text.
 * @throws MmrunError BAD_GRID (unreadable file, bad line, unknown key), BAD_PARAM (wrong type)
 */
export function readPointsFile(file: string, defaults: Readonly<Record<string, ParamValue>>): ParamSet[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new MmrunError('BAD_GRID', `cannot read --points ${show(file)}: ${(cause as Error).message}`, {
      cause,
      remedy: 'pass a readable .jsonl or .csv file',
    });
  }
  if (/\.jsonl$|\.ndjson$/i.test(file)) return parseJsonl(text, file, defaults);
  if (/\.csv$/i.test(file)) return parseCsvPoints(text, file, defaults);
  throw new MmrunError('BAD_GRID', `--points ${show(file)} is neither .jsonl nor .csv`, {
    remedy: 'name the file *.jsonl (one JSON object per line) or *.csv (a header row of param names)',
  });
}

function typed(
  defaults: Readonly<Record<string, ParamValue>>,
  raw: Record<string, unknown>,
  where: string,
): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!Object.hasOwn(defaults, key)) {
      throw new MmrunError('BAD_GRID', `${where}: ${show(key)} is not a param of the experiment`, {
        remedy: `use the experiment's params: ${Object.keys(defaults).join(', ') || '(none)'}`,
      });
    }
    if (typeof value === typeof defaults[key]) out[key] = value as ParamValue;
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      try {
        out[key] = applyParams(defaults, [`${key}=${String(value)}`])[key]!;
      } catch (error) {
        if (error instanceof MmrunError) {
          throw new MmrunError(error.code, `${where}: ${error.message}`, { remedy: error.remedy, cause: error });
        }
        throw error;
      }
    } else {
      throw new MmrunError('BAD_PARAM', `${where}: param '${key}' is ${show(value)}, not a ${typeof defaults[key]}`, {
        remedy: 'write numbers, strings or booleans',
      });
    }
  }
  return out;
}

function parseJsonl(text: string, file: string, defaults: Readonly<Record<string, ParamValue>>): ParamSet[] {
  const sets: ParamSet[] = [];
  for (const [n, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const where = `${file} line ${n + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (cause) {
      throw new MmrunError('BAD_GRID', `${where} is not JSON: ${(cause as Error).message}`, {
        cause,
        remedy: 'write one JSON object per line, e.g. {"drift": 0.1}',
      });
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new MmrunError('BAD_GRID', `${where} is ${show(value)}, not a JSON object`, {
        remedy: 'write one JSON object per line, e.g. {"drift": 0.1}',
      });
    }
    sets.push(typed(defaults, value as Record<string, unknown>, where));
  }
  return sets;
}

function parseCsvPoints(text: string, file: string, defaults: Readonly<Record<string, ParamValue>>): ParamSet[] {
  const rows = parseCsv(text).filter((r) => !(r.length === 1 && r[0]!.trim() === ''));
  if (rows.length === 0) return [];
  const header = rows[0]!.map((h) => h.trim());
  return rows.slice(1).map((cells, n) => {
    const where = `${file} row ${n + 2}`;
    if (cells.length !== header.length) {
      throw new MmrunError('BAD_GRID', `${where} has ${cells.length} cells but the header has ${header.length}`, {
        remedy: 'give every row one cell per header column',
      });
    }
    return typed(defaults, Object.fromEntries(header.map((h, i) => [h, cells[i]!])), where);
  });
}

/**
 * Splits CSV text into rows of cells (RFC 4180: quoted cells may hold commas, quotes
 * doubled, and newlines). Small enough not to need a dependency for a few parameter rows.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
