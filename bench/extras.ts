// Figures for the table only: rows/s of each example experiment, msync time per flush, and
// the cost of one catalog commit.
import { runWorker } from './lib/proc.ts';
import { interleave, type Summary, summarize } from './lib/stats.ts';

export interface ExtrasConfig {
  readonly reps: number;
  /** Rows per example run, chosen so each takes about a second. */
  readonly exampleRows: Readonly<Record<'pi' | 'walk' | 'lorenz', number>>;
  /** Flushes per msync measurement (each of DEFAULT_FLUSH_POLICY.every rows of the cheap experiment). */
  readonly msyncFlushes: number;
  readonly commits: number;
  readonly log: (line: string) => void;
}

export interface ExtrasResult {
  readonly examples: Record<string, Summary>;
  readonly msyncMs: Summary;
  readonly msyncBytes: number;
  readonly commitMs: Summary;
}

/** Rows per flush under the default policy for a fast experiment: DEFAULT_FLUSH_POLICY.every. */
const ROWS_PER_FLUSH = 1_000_000;

export async function extras(cfg: ExtrasConfig): Promise<ExtrasResult> {
  const names = Object.keys(cfg.exampleRows) as (keyof ExtrasConfig['exampleRows'])[];
  const rates = await interleave(cfg.reps, names, async (name, rep) => {
    const r = await runWorker<{ rowsPerSecond: number }>('example', { name, rows: cfg.exampleRows[name] });
    cfg.log(`  rep ${rep + 1}/${cfg.reps} ${name.padEnd(6)} ${(r.rowsPerSecond / 1e6).toFixed(3)}M rows/s`);
    return r.rowsPerSecond;
  });
  const msync: number[] = [];
  let msyncBytes = 0;
  const commit: number[] = [];
  for (let rep = 0; rep < cfg.reps; rep++) {
    const m = await runWorker<{ ms: number[]; bytesPerFlush: number; commitMs: number[] }>('io', {
      rowsPerFlush: ROWS_PER_FLUSH,
      flushes: cfg.msyncFlushes,
      commits: cfg.commits,
    });
    msync.push(...m.ms);
    msyncBytes = m.bytesPerFlush;
    commit.push(...m.commitMs);
    cfg.log(
      `  rep ${rep + 1}/${cfg.reps} msync of ${(m.bytesPerFlush / 2 ** 20).toFixed(0)} MiB: median ${summarize(m.ms).median.toFixed(1)} ms; commit: median ${summarize(m.commitMs).median.toFixed(2)} ms`,
    );
  }
  return {
    examples: Object.fromEntries(names.map((n) => [n, summarize(rates[n])])),
    msyncMs: summarize(msync),
    msyncBytes,
    commitMs: summarize(commit),
  };
}
