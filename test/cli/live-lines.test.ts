import { describe, expect, it } from 'vitest';
import { progressOutput } from '../../src/cli/live-lines.ts';
import { sweepLines } from '../../src/cli/sweep-session.ts';

/** A stand-in terminal that keeps what is written. */
function fakeTerminal(columns = 80): NodeJS.WriteStream & { text: string } {
  const t = {
    isTTY: true,
    columns,
    text: '',
    write(s: string) {
      t.text += s;
      return true;
    },
  };
  return t as unknown as NodeJS.WriteStream & { text: string };
}

describe('progressOutput on a terminal', () => {
  it('redraws a block of lines in place: back up to its first line, erase down, draw', () => {
    const term = fakeTerminal();
    const out = progressOutput({ stream: term });
    expect(out.tty).toBe(true);
    out.draw(['a', 'b', 'c']);
    expect(term.text).toBe('a\nb\nc');
    term.text = '';
    out.draw(['d', 'e']);
    expect(term.text).toBe('\r\x1b[2A\x1b[Jd\ne');
    term.text = '';
    out.draw(['f']);
    expect(term.text).toBe('\r\x1b[1A\x1b[Jf');
    term.text = '';
    out.clear();
    expect(term.text).toBe('\r\x1b[J');
    term.text = '';
    out.clear();
    expect(term.text).toBe('');
  });

  it('cuts lines to the width, so that none wraps and breaks the count', () => {
    const term = fakeTerminal(30);
    progressOutput({ stream: term }).draw(['x'.repeat(100)]);
    expect(term.text).toBe('x'.repeat(29));
  });
});

describe('sweepLines', () => {
  it('is a line for the sweep, then one per running point (in id order) with its params, seed, percent and rate', () => {
    const lines = sweepLines({
      id: 'sw',
      points: 40,
      completed: 12,
      failed: 1,
      running: [
        { id: 'sw-p0014', rows: 1000, iterations: 1000, rowsPerSecond: 0, params: {}, seed: 4 },
        { id: 'sw-p0013', rows: 450, iterations: 1000, rowsPerSecond: 2500, params: { drift: 0.1, tag: 'a' }, seed: 3 },
      ] as never,
      elapsedMs: 1000,
      rowsPerSecond: 1234567,
      etaMs: 84_000,
    });
    expect(lines).toEqual([
      'sw  12/40 points  1 failed  1,234,567 rows/s  ETA 1 min 24 s',
      '  p0013  drift=0.1 tag=a  seed 3   45.0%  2,500 rows/s',
      '  p0014  seed 4  100.0%  0 rows/s',
    ]);
  });
});
