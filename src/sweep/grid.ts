import { MmrunError } from '../errors.ts';
import type { ParamValue } from '../experiment/define.ts';

/** One axis of a sweep's grid: a param and the values it takes, in order. */
export interface GridAxis {
  readonly key: string;
  readonly values: readonly ParamValue[];
}

/** A parameter set of a sweep: the params it overrides (typed by their defaults). */
export type ParamSet = Readonly<Record<string, ParamValue>>;

/** Above this many points a sweep needs `--yes`. */
export const MAX_POINTS_WITHOUT_YES = 1_000_000;

/** How many parameter sets the grid's cartesian product has (1 for no axes). */
export function gridSize(axes: readonly GridAxis[]): number {
  return axes.reduce((n, axis) => n * axis.values.length, 1);
}

/**
 * The cartesian product of the axes, the first axis varying slowest (as nested loops in
 * the order the grids were given).
 */
export function expandGrid(axes: readonly GridAxis[]): ParamSet[] {
  let sets: Record<string, ParamValue>[] = [{}];
  for (const axis of axes) {
    const next: Record<string, ParamValue>[] = [];
    for (const set of sets) for (const value of axis.values) next.push({ ...set, [axis.key]: value });
    sets = next;
  }
  return sets;
}

/**
 * Refuses a sweep of no points, or of more than {@link MAX_POINTS_WITHOUT_YES} without `yes`.
 * @throws MmrunError BAD_GRID, SWEEP_TOO_LARGE
 */
export function checkPointCount(sets: number, seeds: number, yes: boolean): number {
  const total = sets * seeds;
  if (sets === 0) {
    throw new MmrunError('BAD_GRID', 'the sweep has no parameter sets', {
      remedy: 'give at least one --grid key=v1,v2 or a --points file with at least one row',
    });
  }
  if (total > MAX_POINTS_WITHOUT_YES && !yes) {
    throw new MmrunError(
      'SWEEP_TOO_LARGE',
      `the sweep has ${total} points (${sets} parameter sets × ${seeds} seeds), more than ${MAX_POINTS_WITHOUT_YES}`,
      { remedy: 'narrow the grid, or pass --yes if you mean it' },
    );
  }
  return total;
}
