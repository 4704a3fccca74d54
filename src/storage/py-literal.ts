// The Python literals of .npy headers: a parser (strings, numbers, True/False/None, tuples,
// lists, dicts) and a short Python-like rendering for messages. No NumPy knowledge here.

/** A parsed Python literal: tuples and lists both become arrays; `None` becomes `null`. */
export type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

const MAX_DEPTH = 64;
const NUMBER = /[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const HEX = /^[0-9a-fA-F]+$/;
const KEYWORDS: Readonly<Record<string, PyValue>> = { True: true, False: false, None: null };
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '\n': '',
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};
const HEX_ESCAPE_DIGITS: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };

/**
 * Parses a Python literal as found in .npy headers: strings, numbers, `True`/`False`/`None`,
 * tuples, lists and dicts with string keys.
 * @throws Error naming the position of the first bad character.
 */
export function parsePyLiteral(text: string): PyValue {
  let pos = 0;

  const fail = (expected: string): never => {
    const found = pos < text.length ? JSON.stringify(text.slice(pos, pos + 12)) : 'end of input';
    throw new Error(`expected ${expected} at position ${pos}, found ${found}`);
  };

  const skipSpace = (): void => {
    while (pos < text.length && ' \t\n\r\f\v'.includes(text.charAt(pos))) pos++;
  };

  const parseString = (): string => {
    const quote = text.charAt(pos++);
    let out = '';
    for (;;) {
      const c = text.charAt(pos);
      if (c === '' || c === '\n') return fail(`closing ${quote}`);
      pos++;
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text.charAt(pos++);
      const simple = SIMPLE_ESCAPES[e];
      const digits = HEX_ESCAPE_DIGITS[e];
      if (simple !== undefined) {
        out += simple;
      } else if (digits !== undefined) {
        const hex = text.slice(pos, pos + digits);
        const code = Number.parseInt(hex, 16);
        if (hex.length !== digits || !HEX.test(hex) || code > 0x10ffff)
          return fail(`${digits} hex digits after \\${e}`);
        out += String.fromCodePoint(code);
        pos += digits;
      } else if (e >= '0' && e <= '7') {
        let end = pos;
        while (end < pos + 2 && text.charAt(end) >= '0' && text.charAt(end) <= '7') end++;
        out += String.fromCodePoint(Number.parseInt(text.slice(pos - 1, end), 8));
        pos = end;
      } else if (e === '') {
        return fail(`closing ${quote}`);
      } else {
        out += `\\${e}`;
      }
    }
  };

  const take = (c: string): void => {
    if (text.charAt(pos) !== c) fail(`'${c}'`);
    pos++;
  };

  const parseSequence = (close: string, depth: number): { items: PyValue[]; comma: boolean } => {
    const items: PyValue[] = [];
    let comma = false;
    pos++;
    skipSpace();
    while (text.charAt(pos) !== close) {
      items.push(parseValue(depth + 1));
      skipSpace();
      if (text.charAt(pos) !== close) {
        if (text.charAt(pos) !== ',') fail(`',' or '${close}'`);
        pos++;
        comma = true;
        skipSpace();
      }
    }
    pos++;
    return { items, comma };
  };

  const parseDict = (depth: number): { [key: string]: PyValue } => {
    const dict: { [key: string]: PyValue } = {};
    pos++;
    skipSpace();
    while (text.charAt(pos) !== '}') {
      const c = text.charAt(pos);
      if (c !== "'" && c !== '"') return fail('a string key');
      const key = parseString();
      skipSpace();
      take(':');
      skipSpace();
      Object.defineProperty(dict, key, {
        value: parseValue(depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      skipSpace();
      if (text.charAt(pos) !== '}') {
        take(',');
        skipSpace();
      }
    }
    pos++;
    return dict;
  };

  const parseValue = (depth: number): PyValue => {
    if (depth > MAX_DEPTH) return fail(`at most ${MAX_DEPTH} levels of nesting`);
    skipSpace();
    const c = text.charAt(pos);
    if (c === "'" || c === '"') return parseString();
    if ((c === 'u' || c === 'U') && (text.charAt(pos + 1) === "'" || text.charAt(pos + 1) === '"')) {
      pos++;
      return parseString();
    }
    if (c === '[') return parseSequence(']', depth).items;
    if (c === '(') {
      const { items, comma } = parseSequence(')', depth);
      return items.length === 1 && !comma ? (items[0] as PyValue) : items;
    }
    if (c === '{') return parseDict(depth);
    NUMBER.lastIndex = pos;
    const number = NUMBER.exec(text);
    if (number) {
      pos = NUMBER.lastIndex;
      if (/^[+-]?\d+$/.test(number[0]) && (text.charAt(pos) === 'L' || text.charAt(pos) === 'l')) pos++;
      return Number(number[0]);
    }
    NAME.lastIndex = pos;
    const name = NAME.exec(text)?.[0];
    if (name !== undefined && Object.hasOwn(KEYWORDS, name)) {
      pos += name.length;
      return KEYWORDS[name] as PyValue;
    }
    return fail('a value');
  };

  const value = parseValue(0);
  skipSpace();
  if (pos < text.length) fail('end of input');
  return value;
}

/**
 * A short Python-like rendering of a parsed descr for messages, e.g.
 * `[('x', '<f8'), ('v', '<f4', (16,))]`: the outer array as a list, inner arrays as tuples.
 */
export function formatDescr(descr: PyValue): string {
  const text = formatValue(descr, true);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

export function formatValue(value: PyValue, top = false): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `'${value.replace(/[\\']/g, '\\$&').replace(/\n/g, '\\n')}'`;
  if (Array.isArray(value)) {
    const items = value.map((v) => formatValue(v)).join(', ');
    if (top) return `[${items}]`;
    return value.length === 1 ? `(${items},)` : `(${items})`;
  }
  return `{${Object.entries(value)
    .map(([k, v]) => `${formatValue(k)}: ${formatValue(v)}`)
    .join(', ')}}`;
}
