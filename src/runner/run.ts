// The runner's public face: what callers outside runner/ import (the library's index, the
// CLI, sweeps). The parts: options.ts (typed options, checked once), start.ts and
// resume.ts (set-up of a session), session.ts (drive: one session under an engine, and
// the one record of how it ended), loop-engine.ts and shards.ts (the two engines).
export { checkRunId, resolveRunsDir } from '../runs-dir.ts';
export type { FlushRequest } from './flush-request.ts';
export type { ResumeOptions, RunOptions, SessionHooks, SharedResources, StartInfo } from './options.ts';
export { badWorkerCount, isWorkerCount } from './options.ts';
export { resumeRun } from './resume.ts';
export type { Progress, RunResult } from './session-types.ts';
export { startRun } from './start.ts';
