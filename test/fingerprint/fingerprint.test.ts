// The code fingerprint: every local module the experiment imports, the versions of its
// packages, Node's and mmrun's versions and the row layout, compared part by part at resume.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { getRun } from '../../src/catalog/query.ts';
import { MmrunError } from '../../src/errors.ts';
import { loadExperiment } from '../../src/experiment/load.ts';
import { compareFingerprints, type Fingerprint, fingerprintOf } from '../../src/fingerprint/fingerprint.ts';
import { diffRuns, runSource } from '../../src/fingerprint/runs.ts';
import { readSnapshot } from '../../src/fingerprint/sources.ts';
import { type RunResult, resumeRun, startRun } from '../../src/runner/run.ts';
import { descrOf } from '../../src/storage/dtype.ts';
import { tmpDir } from '../helpers/tmp.ts';

const EXPERIMENT = `import { scale } from './lib/model.ts';
import { offset } from 'fakepkg';
export default {
  name: 'fp',
  columns: { x: 'f8' },
  iterations: 400,
  step(i: number) {
    if (i === (globalThis as { __mmrunStopAt?: number }).__mmrunStopAt) throw new Error('stop here');
    return { x: scale(i) + offset };
  },
};
`;
const MODEL = `// The model.
export function scale(i: number): number {
  return i * 2;
}
`;

/** A project: package.json, experiments/fp.ts, experiments/lib/model.ts, node_modules/fakepkg. */
function project(version = '1.0.0'): { dir: string; file: string; model: string; runsDir: string } {
  const dir = tmpDir('mmrun-fp-');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'proj', version: '0.0.0' }));
  const file = path.join(dir, 'experiments', 'fp.ts');
  const model = path.join(dir, 'experiments', 'lib', 'model.ts');
  fs.mkdirSync(path.dirname(model), { recursive: true });
  fs.writeFileSync(file, EXPERIMENT);
  fs.writeFileSync(model, MODEL);
  setPackage(dir, version);
  return { dir, file, model, runsDir: path.join(dir, 'runs') };
}

function setPackage(dir: string, version: string): void {
  const pkg = path.join(dir, 'node_modules', 'fakepkg');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'fakepkg', version, main: 'index.js' }));
  fs.writeFileSync(path.join(pkg, 'index.js'), 'exports.offset = 0.5;\n');
}

/** A run stopped by its experiment at row 200 (failed, 200 rows flushed), then resumable. */
async function halfRun(runsDir: string, file: string, id = 'r'): Promise<RunResult> {
  (globalThis as { __mmrunStopAt?: number }).__mmrunStopAt = 200;
  try {
    return await startRun({ experiment: file, runsDir, id, seed: 1, flushEvery: 50 });
  } finally {
    (globalThis as { __mmrunStopAt?: number }).__mmrunStopAt = undefined;
  }
}

async function rejected(p: Promise<unknown>): Promise<MmrunError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof MmrunError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

const segments = (runDir: string) =>
  Buffer.concat(
    fs
      .readdirSync(runDir)
      .filter((f) => f.endsWith('.npy'))
      .sort()
      .map((f) => fs.readFileSync(path.join(runDir, f))),
  );

describe('the fingerprint of an experiment', () => {
  it('covers every local module (transitively), the packages with versions, mmrun, node and the layout', async () => {
    const { file } = project();
    const loaded = await loadExperiment(file);
    const fp = fingerprintOf(loaded.bundle, descrOf(loaded.layout));
    expect(fp.files.map((f) => f.path)).toEqual(['experiments/fp.ts', 'experiments/lib/model.ts']);
    expect(fp.packages).toEqual([{ name: 'fakepkg', version: '1.0.0' }]);
    expect(fp.node).toBe(process.version);
    expect(fp.mmrun).toMatch(/^\d+\.\d+\.\d+/);
    expect(fp.layout).toContain("'x'");
  });

  it('a cyclic import graph bundles and lists each module once', async () => {
    const dir = tmpDir('mmrun-fp-cycle-');
    fs.writeFileSync(
      path.join(dir, 'a.ts'),
      "import { b } from './b.ts';\nexport const a = () => 1;\nexport default { columns: { x: 'f8' }, step: (i: number) => ({ x: i + b() }) };\n",
    );
    fs.writeFileSync(path.join(dir, 'b.ts'), "import { a } from './a.ts';\nexport const b = () => a() + 1;\n");
    const loaded = await loadExperiment(path.join(dir, 'a.ts'));
    expect(loaded.bundle.files.map((f) => path.basename(f.path))).toEqual(['a.ts', 'b.ts']);
    expect(await loaded.experiment.step(1, {} as never)).toEqual({ x: 3 });
  });

  it('a missing import is EXPERIMENT_LOAD_FAILED naming the import and the file', async () => {
    const dir = tmpDir('mmrun-fp-missing-');
    const file = path.join(dir, 'x.ts');
    fs.writeFileSync(
      file,
      "import { gone } from './gone.ts';\nexport default { columns: { x: 'f8' }, step: () => ({ x: gone }) };\n",
    );
    const e = await rejected(loadExperiment(file));
    expect(e.code).toBe('EXPERIMENT_LOAD_FAILED');
    expect(e.message).toContain('./gone.ts');
    expect(e.message).toContain('x.ts');
  });

  it('compares part by part: fatal code changes first, comment-only, node and mmrun changes as warnings', () => {
    const base: Fingerprint = {
      version: 1,
      root: '/p',
      files: [
        { path: 'e.ts', sha256: 'a', code: 'A' },
        { path: 'm.ts', sha256: 'b', code: 'B' },
      ],
      packages: [{ name: 'mathjs', version: '12.1.0' }],
      mmrun: '0.1.0',
      node: 'v20.19.0',
      layout: "[('x', '<f8')]",
    };
    const now: Fingerprint = {
      ...base,
      files: [
        { path: 'e.ts', sha256: 'a2', code: 'A' },
        { path: 'm.ts', sha256: 'b2', code: 'B2' },
      ],
      packages: [{ name: 'mathjs', version: '12.2.0' }],
      node: 'v24.1.0',
    };
    expect(compareFingerprints(base, now).map((c) => [c.fatal, c.message])).toEqual([
      [true, 'm.ts changed'],
      [true, "package 'mathjs' 12.1.0 → 12.2.0"],
      [false, 'e.ts changed in comments or whitespace only'],
      [false, 'node v20.19.0 → v24.1.0'],
    ]);
    expect(compareFingerprints(base, base)).toEqual([]);
  });
});

describe('resume and the code', () => {
  it('an edited imported module refuses the resume, naming the file; nothing is written', async () => {
    const { file, model, runsDir } = project();
    await halfRun(runsDir, file);
    fs.writeFileSync(model, MODEL.replace('i * 2', 'i * 3'));
    const before = segments(path.join(runsDir, 'r'));
    const e = await rejected(resumeRun({ runId: 'r', runsDir }));
    expect(e.code).toBe('EXPERIMENT_CHANGED');
    expect(e.message).toContain('experiments/lib/model.ts changed');
    expect(e.remedy).toContain('--allow-changed');
    expect(segments(path.join(runsDir, 'r')).equals(before)).toBe(true);
    expect(getRun(runsDir, 'r').run.flushedRows).toBe(200);
  });

  it('a comment-only edit resumes with a warning, recorded as an event; the bytes equal an uninterrupted run', async () => {
    const { file, model, runsDir } = project();
    await startRun({ experiment: file, runsDir, id: 'ref', seed: 1, flushEvery: 50 });
    await halfRun(runsDir, file);
    fs.writeFileSync(model, `/** Doubling, documented. */\n${MODEL}`);
    const warnings: string[] = [];
    const resumed = await resumeRun({ runId: 'r', runsDir, onWarning: (m) => warnings.push(m) });
    expect(resumed.status).toBe('completed');
    expect(warnings).toEqual(['experiments/lib/model.ts changed in comments or whitespace only']);
    const { events } = getRun(runsDir, 'r');
    expect(events.find((e) => e.type === 'code-warning')?.data).toEqual({ changes: warnings });
    expect(segments(path.join(runsDir, 'r')).equals(segments(path.join(runsDir, 'ref')))).toBe(true);
    // The snapshot now holds what runs; the one before is kept.
    expect(readSnapshot(path.join(runsDir, 'r'))?.files['experiments/lib/model.ts']).toContain('documented');
    expect(fs.existsSync(path.join(runsDir, 'r', 'sources.1.json.gz'))).toBe(true);
  });

  it('a changed package version refuses, naming the package and both versions', async () => {
    const { dir, file, runsDir } = project('1.0.0');
    await halfRun(runsDir, file);
    setPackage(dir, '1.1.0');
    const e = await rejected(resumeRun({ runId: 'r', runsDir }));
    expect(e.code).toBe('EXPERIMENT_CHANGED');
    expect(e.message).toContain("package 'fakepkg' 1.0.0 → 1.1.0");
  });

  it('an accepted change is recorded with both fingerprints, and the resume proceeds', async () => {
    const { dir, file, model, runsDir } = project('1.0.0');
    await halfRun(runsDir, file);
    setPackage(dir, '1.1.0');
    fs.writeFileSync(model, MODEL.replace('i * 2', '2 * i'));
    const resumed = await resumeRun({ runId: 'r', runsDir, allowChanged: true });
    expect(resumed.status).toBe('completed');
    const { events, fingerprint } = getRun(runsDir, 'r');
    const accepted = events.find((e) => e.type === 'allow-changed')?.data as {
      changes: string[];
      from: Fingerprint;
      to: Fingerprint;
    };
    expect(accepted.changes).toEqual(['experiments/lib/model.ts changed', "package 'fakepkg' 1.0.0 → 1.1.0"]);
    expect(accepted.from.packages).toEqual([{ name: 'fakepkg', version: '1.0.0' }]);
    expect(accepted.to.packages).toEqual([{ name: 'fakepkg', version: '1.1.0' }]);
    expect(JSON.parse(fingerprint ?? '{}').packages).toEqual([{ name: 'fakepkg', version: '1.1.0' }]);
    // Resumed again with the accepted code: nothing to say.
    const warnings: string[] = [];
    const again = await resumeRun({ runId: 'r', runsDir, iterations: 500, onWarning: (m) => warnings.push(m) });
    expect(again.status).toBe('completed');
    expect(warnings).toEqual([]);
  });

  it('a new Node version only warns', async () => {
    const { file, runsDir } = project();
    await halfRun(runsDir, file);
    const db = new Database(path.join(runsDir, 'mmrun.sqlite'));
    const parts = JSON.parse((db.prepare('SELECT parts FROM fingerprints').get() as { parts: string }).parts);
    db.prepare('UPDATE fingerprints SET parts = ?').run(JSON.stringify({ ...parts, node: 'v18.0.0' }));
    db.close();
    const warnings: string[] = [];
    const resumed = await resumeRun({ runId: 'r', runsDir, onWarning: (m) => warnings.push(m) });
    expect(resumed.status).toBe('completed');
    expect(warnings).toEqual([`node v18.0.0 → ${process.version}`]);
  });

  it('a run made before fingerprints: resume says so, compares its file, and from then on has a fingerprint', async () => {
    const { file, model, runsDir } = project();
    await halfRun(runsDir, file);
    const db = new Database(path.join(runsDir, 'mmrun.sqlite'));
    db.prepare('DELETE FROM fingerprints').run();
    db.close();
    fs.writeFileSync(model, MODEL.replace('i * 2', 'i * 3'));
    // Only the experiment file was hashed then: an edited module goes unnoticed, as before.
    const warnings: string[] = [];
    const resumed = await resumeRun({ runId: 'r', runsDir, onWarning: (m) => warnings.push(m) });
    expect(resumed.status).toBe('completed');
    expect(warnings[0]).toMatch(/made before code fingerprints: only experiments\/fp\.ts itself was compared/);
    expect(getRun(runsDir, 'r').fingerprint).toBeDefined();
  });
});

describe('show --source and --diff', () => {
  it('prints the sources that ran, and how two runs differ in params and code', async () => {
    const { file, model, runsDir } = project();
    await startRun({ experiment: file, runsDir, id: 'a', seed: 1 });
    fs.writeFileSync(model, MODEL.replace('i * 2', 'i * 4'));
    await startRun({ experiment: file, runsDir, id: 'b', seed: 2 });
    const source = runSource(runsDir, 'a');
    expect(source).toContain('==> experiments/lib/model.ts <==');
    expect(source).toContain('return i * 2;');
    const d = diffRuns(runsDir, 'a', 'b');
    expect(d.spec).toEqual([{ key: 'seed', a: 1, b: 2 }]);
    expect(d.code.map((c) => c.message)).toEqual(['experiments/lib/model.ts changed']);
    expect(d.patch).toContain('-  return i * 2;');
    expect(d.patch).toContain('+  return i * 4;');
  });
});
