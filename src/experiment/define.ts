import type { Logger } from 'pino';
import type { ColumnSpec, ColumnsSpec, ScalarDtype } from '../storage/dtype.ts';
import type { CounterRng } from './rng.ts';

/** A parameter default; `--param key=value` is parsed to the default's type. */
export type ParamValue = number | string | boolean;

/** The value a row must hold for a column of this spec. */
export type ColumnValue<S extends ColumnSpec> = S extends readonly [ScalarDtype, number]
  ? S[0] extends 'bool'
    ? ArrayLike<boolean | number>
    : ArrayLike<number>
  : S extends 'bool'
    ? boolean | number
    : number;

/** One result row: exactly the declared columns. */
export type Row<C extends ColumnsSpec> = { [K in keyof C]: ColumnValue<C[K]> };

/** What an experiment's `init` and `step` receive. */
export interface Context<P extends Record<string, ParamValue> = Record<string, ParamValue>, S = unknown> {
  /** Parameters: the experiment's defaults overridden by `--param`. */
  readonly params: Readonly<P>;
  /** The run's seed. */
  readonly seed: number;
  readonly runId: string;
  /**
   * The experiment's state: what `init` returned, saved with every flush in the same
   * transaction as the flushed index and restored on resume. Must be serializable
   * (plain data; typed arrays are fine).
   */
  state: S;
  /** A pino logger writing to the run's log. */
  readonly log: Logger;
  /**
   * Random numbers keyed by (seed, iteration): iteration i draws the same numbers whether
   * or not the run was resumed, as long as the step draws in the same order.
   */
  readonly rng: CounterRng;
  /**
   * The part of the run this context computes: rows [firstRow, endRow), shard `index` of
   * `count`. A run with one worker is shard 0 of 1, all rows. With `--workers K` each
   * worker has its own context and state.
   */
  readonly shard: ShardInfo;
}

/** One worker's contiguous share of a run's rows. */
export interface ShardInfo {
  readonly index: number;
  readonly count: number;
  readonly firstRow: number;
  readonly endRow: number;
}

/** An experiment module's default export. */
export interface Experiment<
  C extends ColumnsSpec = ColumnsSpec,
  P extends Record<string, ParamValue> = Record<string, ParamValue>,
  S = unknown,
> {
  /** Shown in listings and used in run ids; defaults to the file name. */
  readonly name?: string;
  /** The result columns: `'f8'`, `'u4'`, `'bool'`… or `[dtype, length]` for a vector. */
  readonly columns: C;
  /** Default iteration count; `--iterations` overrides. */
  readonly iterations?: number;
  /** Parameter defaults; `--param key=value` overrides, typed by the default. */
  readonly params?: P;
  /**
   * If true, the iterations form one sequential chain (state carries from each step to
   * the next) and cannot be split across workers: `--workers K` with K > 1 is refused.
   */
  readonly sequential?: boolean;
  /**
   * Makes the initial state. Its `ctx.rng` is a stream of its own. With `--workers K`, each
   * shard calls it once with the shard's first row (`ctx.shard`), and keeps its own state.
   */
  init?(ctx: Context<P, S>, firstRow: number): S | Promise<S>;
  /** Computes iteration `i` and returns its row (or a Promise of it). */
  step(i: number, ctx: Context<P, S>): Row<C> | Promise<Row<C>>;
}

/**
 * Types an experiment; it returns its argument unchanged, so a module works without it.
 * @example
 * export default defineExperiment({
 *   columns: { x: 'f8', hit: 'bool' },
 *   iterations: 1_000_000,
 *   params: { radius: 1 },
 *   step(i, ctx) {
 *     const x = ctx.rng.random() * ctx.params.radius;
 *     return { x, hit: x < 0.5 };
 *   },
 * });
 */
export function defineExperiment<
  const C extends ColumnsSpec,
  const P extends Record<string, ParamValue>,
  S = undefined,
>(experiment: Experiment<C, P, S>): Experiment<C, P, S> {
  return experiment;
}
