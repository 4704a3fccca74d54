/** The median of several repetitions, with the extremes beside it. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** How many repetitions. */
  readonly n: number;
}

/** Median, min and max of finite values. @throws if there is none. */
export function summarize(values: readonly number[]): Summary {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) throw new Error('no finite value to summarize');
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

/**
 * The order in which to run compared variants in repetition `rep`: rotated by one each
 * time (A B C, B C A, C A B, …), so that drift and "who runs first" hit every variant alike.
 */
export function rotation<T>(variants: readonly T[], rep: number): T[] {
  const k = rep % variants.length;
  return [...variants.slice(k), ...variants.slice(0, k)];
}

/** Runs `body` for each repetition and variant in rotated order, collecting the results per variant. */
export async function interleave<K extends string, R>(
  reps: number,
  variants: readonly K[],
  body: (variant: K, rep: number) => Promise<R>,
): Promise<Record<K, R[]>> {
  const out = Object.fromEntries(variants.map((v) => [v, [] as R[]])) as Record<K, R[]>;
  for (let rep = 0; rep < reps; rep++) {
    for (const variant of rotation(variants, rep)) out[variant].push(await body(variant, rep));
  }
  return out;
}

/** Element-wise `f(a[k], b[k])`: ratios of paired measurements from the same repetition. */
export function paired<A, B>(a: readonly A[], b: readonly B[], f: (x: A, y: B) => number): number[] {
  return a.map((x, k) => f(x, b[k]!));
}

/** A number with a sensible number of digits for a table. */
export function fmt(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(a >= 1e8 ? 0 : 2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 100) return x.toFixed(0);
  return x.toPrecision(digits);
}

/** "median (min–max)". */
export function fmtSummary(s: Summary | undefined, digits = 3): string {
  return s ? `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})` : '—';
}

/** Left-aligned text table with a header rule. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
