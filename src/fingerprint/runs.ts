// The code of stored runs: what `mmrun show --source` prints and `show --diff` compares.
import * as path from 'node:path';
import { getRun } from '../catalog/query.ts';
import { MmrunError } from '../errors.ts';
import { type CodeChange, compareFingerprints, type Fingerprint, parseFingerprint } from './fingerprint.ts';
import { diffSnapshots, readSnapshot, type SourceSnapshot } from './sources.ts';

/** A run's code: its fingerprint and the snapshot of its sources, where the run has them. */
export interface RunCode {
  readonly id: string;
  readonly fingerprint: Fingerprint | undefined;
  readonly snapshot: SourceSnapshot | undefined;
}

/** The code of run `id`. @throws MmrunError RUN_NOT_FOUND */
export function runCode(runsDir: string, id: string): RunCode {
  const { fingerprint } = getRun(runsDir, id);
  return { id, fingerprint: parseFingerprint(fingerprint), snapshot: readSnapshot(path.join(runsDir, id)) };
}

/** The source of run `id` as one text: each file under a `==> path <==` header. */
export function runSource(runsDir: string, id: string): string {
  const code = runCode(runsDir, id);
  if (!code.snapshot) {
    throw new MmrunError('NO_SOURCES', `run '${id}' has no source snapshot (it was made before mmrun kept them)`, {
      remedy: '`mmrun show <run>` gives its experiment path and the sha256 of that file',
    });
  }
  return Object.entries(code.snapshot.files)
    .map(([file, text]) => `==> ${file} <==\n${text}${text.endsWith('\n') ? '' : '\n'}`)
    .join('\n');
}

/** How two runs differ: spec (params, seed, iterations, experiment), code parts, and the sources' diff. */
export interface RunDiff {
  readonly a: string;
  readonly b: string;
  readonly spec: readonly { readonly key: string; readonly a: unknown; readonly b: unknown }[];
  readonly code: readonly CodeChange[];
  /** A unified diff of the two runs' sources ('' if equal or a snapshot is missing). */
  readonly patch: string;
}

export function diffRuns(runsDir: string, a: string, b: string): RunDiff {
  const ra = getRun(runsDir, a).run;
  const rb = getRun(runsDir, b).run;
  const spec: { key: string; a: unknown; b: unknown }[] = [];
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  for (const key of ['experiment', 'seed', 'iterations', 'dtype'] as const) {
    if (!same(ra[key], rb[key])) spec.push({ key, a: ra[key], b: rb[key] });
  }
  const keys = [...new Set([...Object.keys(ra.params), ...Object.keys(rb.params)])].sort();
  for (const k of keys) {
    if (!same(ra.params[k], rb.params[k])) spec.push({ key: `params.${k}`, a: ra.params[k], b: rb.params[k] });
  }
  const ca = runCode(runsDir, a);
  const cb = runCode(runsDir, b);
  const code = ca.fingerprint && cb.fingerprint ? compareFingerprints(ca.fingerprint, cb.fingerprint) : [];
  const patch = ca.snapshot && cb.snapshot ? diffSnapshots(ca.snapshot, cb.snapshot, a, b) : '';
  return { a, b, spec, code, patch };
}
