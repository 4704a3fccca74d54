// The public API of mmrun: re-exports only.
export type { RunEvent, RunRecord, RunStatus } from './catalog/catalog.ts';
export { getRun, listRuns } from './catalog/query.ts';
export type { ErrorCode } from './errors.ts';
export { MmrunError, StepError } from './errors.ts';
export type { Context, Experiment, ParamValue, Row } from './experiment/define.ts';
export { defineExperiment } from './experiment/define.ts';
export { CounterRng } from './experiment/rng.ts';
export type { ExportFormat, ExportOptions, ExportPlan, ExportResult } from './export/export.ts';
export { EXPORT_FORMATS, exportRun } from './export/export.ts';
export type { RowRange } from './export/select.ts';
export { type PlotOptions, type PlotResult, plotRun } from './plot/plot.ts';
export type { FollowOptions } from './read/follow.ts';
export type { ColumnView, FlushedRange, OpenRunOptions, ReadRow, ReadValue, SegmentView } from './read/open-run.ts';
export { openRun, RunReader } from './read/open-run.ts';
export type { RowChunk } from './read/rows.ts';
export { RunRows } from './read/rows.ts';
export type { AlignedColumn, StridedColumn, TypedArrayOf, UnalignedColumn } from './read/strided.ts';
export type { FlushPolicy } from './runner/flush-policy.ts';
export { DEFAULT_FLUSH_POLICY } from './runner/flush-policy.ts';
export type { ResumeOptions, RunOptions, RunResult, StartInfo } from './runner/run.ts';
export { resolveRunsDir, resumeRun, startRun } from './runner/run.ts';
export type { ColumnStats, StatsOptions, StatsPlan, StatsProgress, StatsResult } from './stats/stats.ts';
export { summarizeRun } from './stats/stats.ts';
export type { ColumnSpec, ColumnsSpec, ScalarDtype } from './storage/dtype.ts';
export type { Mode } from './storage/mmap.ts';
export type { NpyFieldInfo, NpyInspection } from './storage/npy-inspect.ts';
export { descrItemsize, inspectNpy } from './storage/npy-inspect.ts';
export { Segment } from './storage/segment.ts';
export { SegmentedArray } from './storage/segmented-array.ts';
export type { GridAxis, ParamSet } from './sweep/grid.ts';
export type { SweepGrid } from './sweep/options.ts';
export type { SweepPlotOptions, SweepPlotResult } from './sweep/plot.ts';
export { plotSweep } from './sweep/plot.ts';
export type { PointStats, SetStats, SweepStats } from './sweep/stats.ts';
export { summarizeSweep } from './sweep/stats.ts';
export type {
  ExtendSweepOptions,
  ResumeSweepOptions,
  RunningPoint,
  SweepOptions,
  SweepProgress,
  SweepResult,
  SweepStartInfo,
} from './sweep/sweep.ts';
export { extendSweep, resumeSweep, startSweep } from './sweep/sweep.ts';
export type { PointView, SweepView } from './sweep/view.ts';
export { getSweepView, listSweeps } from './sweep/view.ts';
export { type Dashboard, type DashboardOptions, startDashboard } from './ui/server.ts';
export type { SparkView, WatchOptions, WatchView } from './watch/watch.ts';
export { watchRun } from './watch/watch.ts';
