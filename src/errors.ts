/**
 * Every failure mmrun reports to a user is an {@link MmrunError}: a stable `code` that
 * scripts and tests can match, a message that names the offending values, and a `remedy`
 * that says what to do about it.
 */

/** Stable error codes. Tests, scripts and docs match on these; never rename one. */
export type ErrorCode =
  | 'USAGE'
  | 'NPY_BAD_MAGIC'
  | 'NPY_BAD_HEADER'
  | 'NPY_UNSUPPORTED'
  | 'DTYPE_MISMATCH'
  | 'SHAPE_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'SEGMENT_MISSING'
  | 'SEGMENT_EXISTS'
  | 'MODE_READONLY'
  | 'MAPPING_TOO_LARGE'
  | 'DISK_FULL'
  | 'IO_ERROR'
  | 'CATALOG_INVALID'
  | 'CATALOG_TOO_NEW'
  | 'RUN_NOT_FOUND'
  | 'RUN_EXISTS'
  | 'RUN_LOCKED'
  | 'RUN_COMPLETED'
  | 'BAD_RUN_ID'
  | 'RUNS_DIR_NOT_WRITABLE'
  | 'EXPERIMENT_NOT_FOUND'
  | 'EXPERIMENT_LOAD_FAILED'
  | 'EXPERIMENT_INVALID'
  | 'EXPERIMENT_CHANGED'
  | 'NO_SOURCES'
  | 'UNKNOWN_DTYPE'
  | 'BAD_PARAM'
  | 'BAD_ITERATIONS'
  | 'BAD_OPTION'
  | 'BAD_ROW'
  | 'STEP_FAILED'
  | 'STATE_NOT_SERIALIZABLE'
  | 'UNKNOWN_COLUMN'
  | 'BAD_ROW_RANGE'
  | 'OUTPUT_EXISTS'
  | 'EXPORT_INTERRUPTED'
  | 'NPY_INVALID'
  | 'CHECKSUM_MISMATCH'
  | 'BAD_COLUMN_INDEX'
  | 'NOTHING_TO_PLOT'
  | 'FONT_NOT_FOUND'
  | 'SEQUENTIAL_EXPERIMENT'
  | 'WORKER_FAILED'
  | 'BAD_SHARD'
  | 'SHARDS_MISMATCH'
  | 'SLURM_FAILED'
  | 'BAD_GRID'
  | 'SWEEP_TOO_LARGE'
  | 'BAD_ENV'
  | 'SWEEP_INCOMPLETE'
  | 'SWEEP_MISMATCH';

export interface MmrunErrorOptions {
  /** What the user should do next. Printed after the message. */
  readonly remedy?: string;
  readonly cause?: unknown;
}

/** Base class of every error mmrun raises on purpose. */
export class MmrunError extends Error {
  override name = 'MmrunError';
  readonly code: ErrorCode;
  readonly remedy: string | undefined;

  constructor(code: ErrorCode, message: string, options: MmrunErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.remedy = options.remedy;
  }

  /** One line for a terminal: code, message and remedy. */
  toLine(): string {
    return this.remedy ? `${this.code}: ${this.message}; ${this.remedy}` : `${this.code}: ${this.message}`;
  }
}

/**
 * An error thrown by user code (the experiment's `init` or `step`), wrapped with the
 * iteration index and the experiment's name.
 */
export class StepError extends MmrunError {
  override name = 'StepError';
  readonly iteration: number;
  readonly experiment: string;

  constructor(experiment: string, iteration: number, cause: unknown) {
    const inner = cause instanceof Error ? cause.message : String(cause);
    super('STEP_FAILED', `experiment '${experiment}' threw at iteration ${iteration}: ${inner}`, {
      cause,
      remedy: 'fix the experiment, then continue with `mmrun resume <run> --allow-changed`',
    });
    this.iteration = iteration;
    this.experiment = experiment;
  }
}

/** Formats any value for an error message: strings quoted, others as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || value === undefined) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * An error as it crosses threads: structured clone keeps no class, so a worker thread
 * (shards, stats readers, sweep points) sends this and the receiving thread rebuilds it with
 * {@link errorFromWire}. One format for every worker.
 */
export interface WireError {
  readonly name: string;
  readonly message: string;
  /** Set for an {@link MmrunError}. */
  readonly code?: ErrorCode;
  readonly remedy?: string;
  readonly stack?: string;
}

/** The wire form of any thrown value. */
export function errorToWire(error: unknown): WireError {
  const e = error as Error | undefined;
  return {
    name: e?.name ?? 'Error',
    message: e?.message ?? String(error),
    ...(error instanceof MmrunError ? { code: error.code } : {}),
    ...(error instanceof MmrunError && error.remedy !== undefined ? { remedy: error.remedy } : {}),
    ...(e?.stack === undefined ? {} : { stack: e.stack }),
  };
}

/** The error a {@link WireError} describes: an {@link MmrunError} when it has a code, with its stack. */
export function errorFromWire(wire: WireError): Error {
  const error = wire.code
    ? new MmrunError(wire.code, wire.message, wire.remedy === undefined ? {} : { remedy: wire.remedy })
    : Object.assign(new Error(wire.message), { name: wire.name });
  if (wire.stack) error.stack = wire.stack;
  return error;
}

/** As {@link errorFromWire}, always an {@link MmrunError} (one without a code is an IO_ERROR). */
export function mmrunErrorFromWire(wire: WireError): MmrunError {
  const error = errorFromWire(wire);
  return error instanceof MmrunError ? error : new MmrunError('IO_ERROR', error.message, { cause: error });
}
