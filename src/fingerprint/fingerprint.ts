/**
 * The code fingerprint of a run: what actually runs, taken from the same esbuild step that
 * makes the module the run imports (src/bundle/). Stored per run as its parts — each local
 * file (path and sha256, plus a hash of its code without comments), each package imported
 * from node_modules with its version, mmrun's version, Node's version and the row layout —
 * so that a resume can say exactly what changed.
 *
 * What refuses a resume and what only warns (see {@link compareFingerprints}):
 * - fatal: a local file's code changed, a file joined or left the import graph, a package's
 *   version changed (its code runs too), the row layout changed. Rows before and after
 *   the resume would come from different code.
 * - a warning: a file changed only in comments or whitespace (the same code runs); Node's
 *   version changed (V8's Math functions give the same bits for the same inputs within a
 *   major line, and across majors on the machines we test, but that is not promised, and a
 *   cluster upgrading Node must not strand a week-long run); mmrun's version changed (its
 *   on-disk format and RNG are fixed by tests and validated at every open).
 * Every accepted change and every warning is recorded as an event of the run.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { Bundle } from '../bundle/bundle.ts';

/** A local source file of the fingerprint. */
export interface FileDigest {
  /** Path relative to the fingerprint's root, with `/`. */
  readonly path: string;
  readonly sha256: string;
  /** sha256 of the code without comments and whitespace. */
  readonly code: string;
}

export interface PackageVersion {
  readonly name: string;
  readonly version: string;
}

export interface Fingerprint {
  readonly version: 1;
  /** The directory file paths are relative to: the experiment's package root (or its folder). */
  readonly root: string;
  /** The experiment first, then every local module it imports, transitively. */
  readonly files: readonly FileDigest[];
  readonly packages: readonly PackageVersion[];
  readonly mmrun: string;
  readonly node: string;
  /** The row layout (NumPy descr). */
  readonly layout: string;
}

/** mmrun's own version (its package.json). */
export const MMRUN_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string })
  .version;

/** The nearest folder at or above `file`'s that holds a package.json, else `file`'s folder. */
export function projectRoot(file: string): string {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.dirname(file);
  }
}

const relative = (root: string, file: string) => path.relative(root, file).split(path.sep).join('/');

/** The fingerprint of a bundled experiment with row layout `layout`. */
export function fingerprintOf(bundle: Bundle, layout: string): Fingerprint {
  const entry = bundle.inputs[0] ?? '';
  const root = projectRoot(entry);
  return {
    version: 1,
    root,
    files: bundle.files.map((f) => ({ path: relative(root, f.path), sha256: f.sha256, code: f.codeSha256 })),
    packages: bundle.packages.map((p) => ({ name: p.name, version: p.version })),
    mmrun: MMRUN_VERSION,
    node: process.version,
    layout,
  };
}

/** One difference between two fingerprints. */
export interface CodeChange {
  readonly part: 'file' | 'package' | 'node' | 'mmrun' | 'layout';
  /** The file path, the package name, or the part's name. */
  readonly name: string;
  /** Whether it refuses a resume (unless accepted). */
  readonly fatal: boolean;
  /** What changed, in words: `experiments/model.ts changed`, `package 'mathjs' 12.1.0 → 12.2.0`. */
  readonly message: string;
}

const major = (v: string) => v.replace(/^v/, '').split('.')[0];

/** What changed from `then` to `now`, fatal changes first. */
export function compareFingerprints(then: Fingerprint, now: Fingerprint): CodeChange[] {
  const changes: CodeChange[] = [];
  const thenFiles = new Map(then.files.map((f) => [f.path, f]));
  const nowFiles = new Map(now.files.map((f) => [f.path, f]));
  for (const [p, a] of thenFiles) {
    const b = nowFiles.get(p);
    if (!b) changes.push({ part: 'file', name: p, fatal: true, message: `${p} is no longer imported` });
    else if (a.code !== b.code) changes.push({ part: 'file', name: p, fatal: true, message: `${p} changed` });
    else if (a.sha256 !== b.sha256) {
      changes.push({ part: 'file', name: p, fatal: false, message: `${p} changed in comments or whitespace only` });
    }
  }
  for (const p of nowFiles.keys()) {
    if (!thenFiles.has(p)) changes.push({ part: 'file', name: p, fatal: true, message: `${p} is newly imported` });
  }
  const thenPackages = new Map(then.packages.map((x) => [x.name, x.version]));
  const nowPackages = new Map(now.packages.map((x) => [x.name, x.version]));
  for (const [name, v] of thenPackages) {
    const w = nowPackages.get(name);
    if (w === undefined)
      changes.push({ part: 'package', name, fatal: true, message: `package '${name}' ${v} is no longer imported` });
    else if (w !== v) changes.push({ part: 'package', name, fatal: true, message: `package '${name}' ${v} → ${w}` });
  }
  for (const [name, w] of nowPackages) {
    if (!thenPackages.has(name))
      changes.push({ part: 'package', name, fatal: true, message: `package '${name}' ${w} is newly imported` });
  }
  if (then.layout !== now.layout) {
    changes.push({ part: 'layout', name: 'layout', fatal: true, message: `row layout ${then.layout} → ${now.layout}` });
  }
  if (then.node !== now.node) {
    const what = major(then.node) === major(now.node) ? 'node' : 'node (major)';
    changes.push({ part: 'node', name: what, fatal: false, message: `node ${then.node} → ${now.node}` });
  }
  if (then.mmrun !== now.mmrun) {
    changes.push({ part: 'mmrun', name: 'mmrun', fatal: false, message: `mmrun ${then.mmrun} → ${now.mmrun}` });
  }
  return [...changes.filter((c) => c.fatal), ...changes.filter((c) => !c.fatal)];
}

/** Parses a stored fingerprint; `undefined` for a run made before fingerprints. */
export function parseFingerprint(text: string | null | undefined): Fingerprint | undefined {
  if (!text) return undefined;
  const value = JSON.parse(text) as Fingerprint;
  return value.version === 1 ? value : undefined;
}
