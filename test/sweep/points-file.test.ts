import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MmrunError } from '../../src/errors.ts';
import { parseCsv, readPointsFile } from '../../src/sweep/points-file.ts';
import { tmpDir } from '../helpers/tmp.ts';

const defaults = { drift: 0.5, n: 3, label: 'a', on: false };

function write(name: string, text: string): string {
  const file = path.join(tmpDir(), name);
  fs.writeFileSync(file, text);
  return file;
}

const refusal = (fn: () => unknown): MmrunError => {
  try {
    fn();
  } catch (e) {
    return e as MmrunError;
  }
  throw new Error('did not throw');
};

describe('readPointsFile', () => {
  it('reads JSON lines, typing strings as --param does', () => {
    const file = write('p.jsonl', '{"drift": 0.1, "label": "x"}\n\n{"n": "1e3", "on": "yes"}\n{}\n');
    expect(readPointsFile(file, defaults)).toEqual([{ drift: 0.1, label: 'x' }, { n: 1000, on: true }, {}]);
  });

  it('reads CSV with a header, quoted cells included', () => {
    const file = write('p.csv', 'drift,label\r\n0.25,"a, b"\n1e-2,"say ""hi"""\n');
    expect(readPointsFile(file, defaults)).toEqual([
      { drift: 0.25, label: 'a, b' },
      { drift: 0.01, label: 'say "hi"' },
    ]);
  });

  it('refuses unknown keys, wrong types, bad lines, ragged rows and other extensions', () => {
    expect(refusal(() => readPointsFile(write('a.jsonl', '{"speed": 1}\n'), defaults)).code).toBe('BAD_GRID');
    const typed = refusal(() => readPointsFile(write('b.jsonl', '{"drift": "fast"}\n'), defaults));
    expect(typed.code).toBe('BAD_PARAM');
    expect(typed.message).toContain('line 1');
    expect(refusal(() => readPointsFile(write('c.jsonl', '{"drift": 1}\n[1]\n'), defaults)).message).toContain(
      'line 2',
    );
    expect(refusal(() => readPointsFile(write('d.jsonl', '{nope\n'), defaults)).code).toBe('BAD_GRID');
    expect(refusal(() => readPointsFile(write('e.csv', 'drift,n\n1\n'), defaults)).message).toContain('row 2');
    expect(refusal(() => readPointsFile(write('f.txt', ''), defaults)).code).toBe('BAD_GRID');
    expect(refusal(() => readPointsFile('/nonexistent/p.csv', defaults)).code).toBe('BAD_GRID');
  });
});

describe('parseCsv', () => {
  it('splits rows and cells', () => {
    expect(parseCsv('a,b\n1,"2\n3"\n')).toEqual([
      ['a', 'b'],
      ['1', '2\n3'],
    ]);
    expect(parseCsv('x')).toEqual([['x']]);
  });
});
