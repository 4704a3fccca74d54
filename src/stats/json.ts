import { QUANTILE_NAMES } from './quantiles.ts';
import type { StatsResult } from './stats.ts';

const jsonNumber = (x: number | null): number | string | null => (x === null || Number.isFinite(x) ? x : String(x));

/** The `--json` object: deterministic (no timing, no thread count), one key per column. */
export function statsJson(result: StatsResult): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  for (const s of result.stats) {
    const quantiles = Object.fromEntries(QUANTILE_NAMES.map((q) => [q, jsonNumber(s.quantiles?.[q] ?? null)]));
    columns[s.column] = {
      dtype: s.dtype,
      elements: s.elements,
      count: s.count,
      nan: s.nan,
      inf: s.inf,
      mean: jsonNumber(s.mean),
      std: jsonNumber(s.std),
      min: jsonNumber(s.min),
      max: jsonNumber(s.max),
      ...quantiles,
      quantiles: s.quantileMethod,
      quantileValues: s.quantileValues,
      rankError: s.rankError,
    };
  }
  return {
    runId: result.runId,
    status: result.status,
    iterations: result.iterations,
    flushedRows: result.flushedRows,
    rows: result.rows,
    ddof: 0,
    columns,
  };
}
