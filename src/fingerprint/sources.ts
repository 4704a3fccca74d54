/**
 * The snapshot of the sources that make up a run's fingerprint, kept in its directory
 * (`sources.json.gz`: the local files' text, gzip-compressed), so that what ran can be
 * shown, compared with another run, and told apart from damaged bytes. An accepted change
 * at resume keeps the earlier snapshot as `sources.<n>.json.gz`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createTwoFilesPatch } from 'diff';
import type { Fingerprint } from './fingerprint.ts';

export const SOURCES_FILE = 'sources.json.gz';

/** The text of every file of a fingerprint, by its relative path. */
export interface SourceSnapshot {
  readonly root: string;
  readonly files: Readonly<Record<string, string>>;
}

/** Reads the files of `fingerprint` from disk now. */
export function snapshotOf(fingerprint: Fingerprint): SourceSnapshot {
  const files: Record<string, string> = {};
  for (const f of fingerprint.files) files[f.path] = fs.readFileSync(path.join(fingerprint.root, f.path), 'utf8');
  return { root: fingerprint.root, files };
}

/**
 * Writes the snapshot into `runDir` (whole, then renamed). An existing snapshot is kept as
 * `sources.<n>.json.gz` (n = 1, 2, … in order).
 */
export function writeSnapshot(runDir: string, snapshot: SourceSnapshot): void {
  const file = path.join(runDir, SOURCES_FILE);
  if (fs.existsSync(file)) {
    let n = 1;
    while (fs.existsSync(path.join(runDir, `sources.${n}.json.gz`))) n++;
    fs.renameSync(file, path.join(runDir, `sources.${n}.json.gz`));
  }
  const temp = `${file}.tmp`;
  fs.writeFileSync(temp, gzipSync(JSON.stringify(snapshot)));
  fs.renameSync(temp, file);
}

/** The snapshot in `runDir`, or `undefined` if it has none (a run made before snapshots). */
export function readSnapshot(runDir: string): SourceSnapshot | undefined {
  const file = path.join(runDir, SOURCES_FILE);
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(gunzipSync(fs.readFileSync(file)).toString('utf8')) as SourceSnapshot;
}

/** A unified diff of two snapshots, file by file (files only in one side shown whole). */
export function diffSnapshots(a: SourceSnapshot, b: SourceSnapshot, labelA: string, labelB: string): string {
  const paths = [...new Set([...Object.keys(a.files), ...Object.keys(b.files)])].sort();
  const out: string[] = [];
  for (const p of paths) {
    const x = a.files[p];
    const y = b.files[p];
    if (x === y) continue;
    out.push(
      createTwoFilesPatch(`${labelA}/${p}`, `${labelB}/${p}`, x ?? '', y ?? '', undefined, undefined, { context: 3 }),
    );
  }
  return out.join('');
}
