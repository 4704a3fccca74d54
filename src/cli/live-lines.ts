import pino from 'pino';
import { config } from '../config.ts';

/**
 * Where a command's progress goes (run, sweep and stats share it): on a terminal, a block
 * of lines redrawn in place; off a terminal, pino JSON lines, at most one every
 * $MMRUN_PROGRESS_LOG_MS (5 s; config.ts).
 */
export interface ProgressOutput {
  /** Whether the stream is a terminal: {@link draw} shows lines, else {@link log} does. */
  readonly tty: boolean;
  /** On a terminal: replaces the lines drawn last by these, each cut to the terminal's width. */
  draw(lines: readonly string[]): void;
  /**
   * Off a terminal: one JSON line of `fields`, if $MMRUN_PROGRESS_LOG_MS passed since the last
   * one (`elapsedMs` is the caller's clock).
   */
  log(elapsedMs: number, fields: Record<string, unknown>, message?: string): void;
  /** Erases what was drawn (before a summary is printed). */
  clear(): void;
}

/**
 * @param options.logFirst - log at the first call (else only once $MMRUN_PROGRESS_LOG_MS passed)
 */
export function progressOutput(options: { stream?: NodeJS.WriteStream; logFirst?: boolean } = {}): ProgressOutput {
  const stream = options.stream ?? process.stderr;
  if (stream.isTTY) {
    let drawn = 0;
    // Back to the first line drawn, and erase from there down.
    const erase = () => (drawn === 0 ? '' : `\r${drawn > 1 ? `\x1b[${drawn - 1}A` : ''}\x1b[J`);
    return {
      tty: true,
      draw: (lines) => {
        // A line that wraps would take two rows and break the count: cut each to the width.
        const width = Math.max(20, (stream.columns || 200) - 1);
        const cut = lines.map((l) => (l.length > width ? l.slice(0, width) : l));
        stream.write(`${erase()}${cut.join('\n')}`);
        drawn = cut.length;
      },
      log: () => {},
      clear: () => {
        if (drawn > 0) stream.write(erase());
        drawn = 0;
      },
    };
  }
  const logEveryMs = config().progressLogMs;
  let logger: pino.Logger | undefined;
  let last = options.logFirst ? Number.NEGATIVE_INFINITY : 0;
  return {
    tty: false,
    draw: () => {},
    log: (elapsedMs, fields, message = 'progress') => {
      if (elapsedMs - last < logEveryMs) return;
      last = elapsedMs;
      logger ??= progressLog();
      logger.info(fields, message);
    },
    clear: () => {},
  };
}

/** Progress as pino JSON lines on stderr (synchronous, so none is lost at exit), for a non-terminal. */
export function progressLog(): pino.Logger {
  return pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: true }));
}
