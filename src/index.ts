// The public API of mmrun: re-exports only.
export type { RunEvent, RunRecord, RunStatus } from './catalog/catalog.ts';
export { getRun, listRuns } from './catalog/query.ts';
export type { ErrorCode } from './errors.ts';
export { MmrunError, StepError } from './errors.ts';
export type { Context, Experiment, ParamValue, Row } from './experiment/define.ts';
export { defineExperiment } from './experiment/define.ts';
export { CounterRng } from './experiment/rng.ts';
export type { FlushPolicy } from './runner/flush-policy.ts';
export { DEFAULT_FLUSH_POLICY } from './runner/flush-policy.ts';
export type { ResumeOptions, RunOptions, RunResult, StartInfo } from './runner/run.ts';
export { resolveRunsDir, resumeRun, startRun } from './runner/run.ts';
export type { ColumnSpec, ColumnsSpec, ScalarDtype } from './storage/dtype.ts';
export type { Mode } from './storage/mmap.ts';
export { Segment } from './storage/segment.ts';
export { SegmentedArray } from './storage/segmented-array.ts';
