// One point of a sweep: its spec (as the catalog keeps it) and one session of its run,
// started if it never was, else resumed — in the sweep's thread or in a point worker
// (point-worker.ts).
import type { PointRecord } from '../catalog/sweeps.ts';
import type { ParamValue } from '../experiment/define.ts';
import type { LoadedExperiment } from '../experiment/load.ts';
import { applyParams } from '../experiment/params.ts';
import {
  type Progress,
  type RunOptions,
  type RunResult,
  resumeRun,
  type SharedResources,
  startRun,
} from '../runner/run.ts';
import type { GridAxis, ParamSet } from './grid.ts';

/** What a sweep records as its spec: enough to rebuild every point's `mmrun run` command. */
export interface SweepSpecJson {
  readonly grid: readonly GridAxis[];
  readonly pointsFile: string | null;
  readonly seeds: number;
  readonly seed: number;
  readonly iterations: number;
  /** `--param key=value` overrides common to every point. */
  readonly params: readonly string[];
  readonly flushEvery: number | null;
  readonly flushInterval: number | null;
  readonly segmentRows: number | null;
}

/** `key=value` texts that reproduce a parameter set with `--param` (numbers round-trip exactly). */
export function paramArgs(set: ParamSet): string[] {
  return Object.entries(set).map(([k, v]) => `${k}=${String(v)}`);
}

/** One session of one point: started if it never was, else resumed. */
export function runOne(
  point: PointRecord,
  spec: SweepSpecJson,
  runsDir: string,
  shared: SharedResources,
  signal: AbortSignal | undefined,
  onProgress: (p: Progress) => void,
): Promise<RunResult> {
  const hooks = { runsDir, shared, onProgress, ...(signal ? { signal } : {}) };
  if (point.status === 'pending') return startRun({ ...pointRunOptions(point, spec, shared.loaded), ...hooks });
  return resumeRun({ runId: point.runId, allowChanged: true, ...hooks });
}

/** The options of `startRun` that make a point's run: exactly `mmrun run` of that point. */
export function pointRunOptions(
  point: Pick<PointRecord, 'params' | 'seed' | 'runId'>,
  spec: SweepSpecJson,
  experiment: Pick<LoadedExperiment, 'path' | 'params'>,
): RunOptions {
  return {
    experiment: experiment.path,
    iterations: spec.iterations,
    seed: point.seed,
    params: applyParams(experiment.params, [...spec.params, ...paramArgs(point.params as Record<string, ParamValue>)]),
    id: point.runId,
    ...(spec.flushEvery === null ? {} : { flushEvery: spec.flushEvery }),
    ...(spec.flushInterval === null ? {} : { flushInterval: spec.flushInterval }),
    ...(spec.segmentRows === null ? {} : { segmentRows: spec.segmentRows }),
  };
}
