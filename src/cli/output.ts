import { MmrunError } from '../errors.ts';

/** Exit codes of the CLI contract. */
export const EXIT = { ok: 0, error: 1, usage: 2 } as const;

/** Whether `--verbose` was given anywhere on the command line. */
export const verbose = (): boolean => process.argv.includes('--verbose') || process.argv.includes('-v');

/** Prints an error as one line (the stack only with --verbose) and returns the exit code. */
export function reportError(error: unknown): number {
  if (error instanceof MmrunError) {
    process.stderr.write(`mmrun: error ${error.toLine()}\n`);
    if (verbose())
      process.stderr.write(`${error.stack}\n${error.cause instanceof Error ? `cause: ${error.cause.stack}\n` : ''}`);
    return error.code === 'USAGE' ? EXIT.usage : EXIT.error;
  }
  const e = error as Error;
  process.stderr.write(`mmrun: internal error: ${e?.message ?? String(error)}; rerun with --verbose and report it\n`);
  if (verbose()) process.stderr.write(`${e?.stack}\n`);
  return EXIT.error;
}

/** Writes a line to stderr, the human channel. */
export const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** 1234567 → "1,234,567". */
export const count = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Seconds as "1.23 s", "4 min 5 s", "2 h 3 min". */
export function duration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(2)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** How long ago an ISO time was, briefly: "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A plain text table with a header row, columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const visible = (cell: string) => cell.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => visible(r[c] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) =>
        c === cells.length - 1 ? cell : cell + ' '.repeat(Math.max(0, (widths[c] ?? 0) - visible(cell))),
      )
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
