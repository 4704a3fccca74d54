// mmrun as users get it: `npm pack`, installed from the tarball into a fresh project made
// by `npm init -y` (CommonJS), with experiments of every kind, run, killed, resumed, read
// with NumPy and type-checked by the project's own tsc. A sub-folder with its own
// package.json `"type": "module"` is the ESM project (it resolves mmrun from the parent's
// node_modules, as a workspace would). `npm run test:package` (CI runs it); slow: the
// install builds the native addons.
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mmrun-package-'));
const project = path.join(work, 'project');
const esm = path.join(project, 'esm');
let tarball = '';
let tarFiles: string[] = [];
let installLog = '';

afterAll(() => {
  if (!process.env.MMRUN_KEEP_PACKAGE_TEST) fs.rmSync(work, { recursive: true, force: true });
});

function sh(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status} ${r.signal ?? ''}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The installed bin, run as `npx mmrun` runs it: node <project>/node_modules/mmrun/bin/mmrun.js. */
const BIN = () => path.join(project, 'node_modules', 'mmrun', 'bin', 'mmrun.js');
const RUNS = () => path.join(work, 'runs');

function mmrun(args: readonly string[], cwd = project): SpawnSyncReturns<string> {
  return sh(process.execPath, [BIN(), ...args, '--runs-dir', RUNS()], cwd);
}

function segmentsHash(id: string): string {
  const dir = path.join(RUNS(), id);
  const h = createHash('sha256');
  for (const f of fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.npy'))
    .sort())
    h.update(fs.readFileSync(path.join(dir, f)));
  return h.digest('hex');
}

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
};

// A damped oscillator: stateful, uses the rng, a helper module, and mmrun's types.
const MODEL = `export function force(x: number, k: number): number {
  return -k * x;
}
`;
const OSC_TS = `import { defineExperiment } from 'mmrun';
import { force } from './model.ts';

export default defineExperiment({
  name: 'osc',
  columns: { x: 'f8', v: 'f8', kick: 'f4' },
  iterations: 20_000,
  params: { k: 1.0, dt: 0.01 },
  init() {
    return { x: 1, v: 0 };
  },
  step(_i, ctx) {
    const s = ctx.state as { x: number; v: number };
    const kick = ctx.rng.normal() * 0.001;
    s.v += force(s.x, ctx.params.k) * ctx.params.dt + kick;
    s.x += s.v * ctx.params.dt;
    return { x: s.x, v: s.v, kick };
  },
});
`;
// The same rows from every kind of module: x = i * 2 + seed.
const plain = (exportLine: string, typed = false) => `${exportLine} {
  name: 'plain',
  columns: { x: 'f8', i: 'u4' },
  iterations: 5_000,
  step(i${typed ? ': number' : ''}, ctx${typed ? ': { seed: number }' : ''}) {
    return { x: i * 2 + ctx.seed, i };
  },
};
`;
const SLOW_TS = `import { defineExperiment } from 'mmrun';
const pause = new Int32Array(new SharedArrayBuffer(4));
export default defineExperiment({
  name: 'slow',
  columns: { x: 'f8' },
  iterations: 4_000,
  step(i, ctx) {
    Atomics.wait(pause, 0, 0, 1);
    return { x: i + ctx.rng.random() };
  },
});
`;
const BAD_TS = `import { defineExperiment } from 'mmrun';
export default defineExperiment({
  columns: { x: 'f8' },
  step(i) {
    return { x: 'not a number' };
  },
});
`;

beforeAll(() => {
  // The tarball, as `npm publish` would make it (prepack builds dist/).
  const packed = JSON.parse(ok(sh('npm', ['pack', '--json', '--pack-destination', work], ROOT), 'npm pack')) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = path.join(work, packed[0]!.filename);
  tarFiles = packed[0]!.files.map((f) => f.path);

  fs.mkdirSync(project);
  ok(sh('npm', ['init', '-y'], project), 'npm init -y');
  // npm 11 asks a project to approve its dependencies' install scripts (the README's "Use
  // it in your own project"): the native addons and esbuild's binary check.
  const manifest = path.join(project, 'package.json');
  const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  // A tarball is a non-registry source: npm also lists mmrun's own `prepare` (a no-op outside
  // mmrun's checkout) unless its file: entry is approved, as `npm install-scripts approve` writes it.
  pkg.allowScripts = { 'better-sqlite3': true, '@riaskov/mmap-io': true, esbuild: true, [`file:${tarball}`]: true };
  fs.writeFileSync(manifest, JSON.stringify(pkg, null, 2));
  // The tarball and the project's own TypeScript.
  const install = sh(
    'npm',
    ['install', '--no-audit', '--no-fund', tarball, 'typescript@5.9', '@types/node@20'],
    project,
  );
  ok(install, 'npm install <tarball>');
  installLog = install.stderr;
  write(path.join(project, 'experiments', 'model.ts'), MODEL);
  write(path.join(project, 'experiments', 'osc.ts'), OSC_TS);
  write(path.join(project, 'experiments', 'slow.ts'), SLOW_TS);
  write(path.join(project, 'experiments', 'plain.mts'), plain('export default', true));
  write(path.join(project, 'experiments', 'plain.cts'), plain('module.exports =', true));
  write(path.join(project, 'experiments', 'plain.js'), plain('module.exports ='));
  write(path.join(project, 'experiments', 'plain.mjs'), plain('export default'));
  write(path.join(project, 'experiments', 'plain-noimport.ts'), plain('export default', true));
  write(path.join(esm, 'package.json'), JSON.stringify({ name: 'esm-project', type: 'module' }, null, 2));
  write(path.join(esm, 'experiments', 'model.ts'), MODEL);
  write(path.join(esm, 'experiments', 'osc.ts'), OSC_TS);
  write(path.join(esm, 'experiments', 'plain.js'), plain('export default'));
  write(path.join(esm, 'experiments', 'plain.cts'), plain('module.exports =', true));
  write(
    path.join(project, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          module: 'preserve',
          moduleResolution: 'bundler',
          target: 'es2022',
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          types: ['node'],
        },
        include: ['experiments/*.ts'],
      },
      null,
      2,
    ),
  );
}, 600_000);

describe('the tarball', () => {
  it('holds the compiled package and nothing of the repo’s tests, benches or CI', () => {
    expect(tarFiles).toContain('dist/index.js');
    expect(tarFiles).toContain('dist/index.d.ts');
    expect(tarFiles).toContain('dist/cli/main.js');
    expect(tarFiles).toContain('dist/runner/shard-worker.js');
    expect(tarFiles).toContain('bin/mmrun.js');
    expect(tarFiles).toContain('LICENSE');
    expect(tarFiles).toContain('README.md');
    const stray = tarFiles.filter(
      (f) => /^(test|bench|\.ci|src|runs|docs)\//.test(f) || /\.test\.|tsconfig|biome|vitest/.test(f),
    );
    expect(stray).toEqual([]);
  });

  it('installs with the install scripts approved and no warning', () => {
    expect(installLog).not.toMatch(/npm warn/);
  });

  it('runs compiled JavaScript: no TypeScript source and no tsx in mmrun’s own code', () => {
    expect(tarFiles.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('experiments/'))).toEqual(
      [],
    );
    const manifest = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'mmrun', 'package.json'), 'utf8'));
    expect(manifest.dependencies.tsx).toBeUndefined();
    expect(manifest.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
  });
});

describe('in a CommonJS project (npm init -y)', () => {
  it('runs a .ts experiment that imports mmrun and a local module, with one worker and with --workers 2', () => {
    const one = mmrun(['run', 'experiments/osc.ts', '--id', 'osc-1', '--seed', '7']);
    expect(one.status, one.stderr).toBe(0);
    expect(one.stderr).not.toMatch(/warn/i);
    const two = mmrun(['run', 'experiments/osc.ts', '--id', 'osc-2', '--seed', '7', '--workers', '2']);
    expect(two.status, two.stderr).toBe(0);
    // Stateful: each of the two shards starts from init, so its bytes differ from one worker's; it must complete.
    expect(JSON.parse(mmrun(['show', 'osc-2', '--json']).stdout)).toMatchObject({
      status: 'completed',
      flushedRows: 20_000,
    });
  });

  it('runs the examples shipped with mmrun, by name', () => {
    const walk = mmrun(['run', 'walk', '--id', 'walk-example', '--iterations', '5000', '--seed', '1']);
    expect(walk.status, walk.stderr).toBe(0);
    const pi = mmrun(['run', 'pi', '--id', 'pi-example', '--iterations', '5000', '--workers', '2']);
    expect(pi.status, pi.stderr).toBe(0);
  });

  it.each(['plain.mts', 'plain.cts', 'plain.js', 'plain.mjs', 'plain-noimport.ts'])(
    'runs, resumes and workers-runs %s with identical bytes',
    (file) => {
      const id = file.replace(/\W/g, '-');
      const full = mmrun(['run', `experiments/${file}`, '--id', `${id}-full`, '--seed', '3']);
      expect(full.status, full.stderr).toBe(0);
      const part = mmrun(['run', `experiments/${file}`, '--id', `${id}-part`, '--seed', '3', '--iterations', '2000']);
      expect(part.status, part.stderr).toBe(0);
      const resumed = mmrun(['resume', `${id}-part`, '--iterations', '5000']);
      expect(resumed.status, resumed.stderr).toBe(0);
      const workers = mmrun(['run', `experiments/${file}`, '--id', `${id}-w2`, '--seed', '3', '--workers', '2']);
      expect(workers.status, workers.stderr).toBe(0);
      expect(segmentsHash(`${id}-part`)).toBe(segmentsHash(`${id}-full`));
      expect(segmentsHash(`${id}-w2`)).toBe(segmentsHash(`${id}-full`));
    },
  );

  it('kill -9 mid-run, then resume: the bytes equal an uninterrupted run', async () => {
    const ref = mmrun(['run', 'experiments/slow.ts', '--id', 'slow-ref', '--seed', '5']);
    expect(ref.status, ref.stderr).toBe(0);
    const child = spawn(
      process.execPath,
      [
        BIN(),
        'run',
        'experiments/slow.ts',
        '--id',
        'slow-kill',
        '--seed',
        '5',
        '--flush-every',
        '100',
        '--runs-dir',
        RUNS(),
      ],
      { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('close', (_code, signal) => resolve(signal)),
    );
    // Wait until some rows are flushed, then kill the very process the bin started.
    for (let t = 0; t < 600; t++) {
      const show = mmrun(['show', 'slow-kill', '--json']);
      if (show.status === 0 && JSON.parse(show.stdout).flushedRows >= 500) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const killed = JSON.parse(mmrun(['show', 'slow-kill', '--json']).stdout);
    expect(killed.status).toBe('crashed');
    expect(killed.flushedRows).toBeLessThan(4000);
    const resumed = mmrun(['resume', 'slow-kill']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(segmentsHash('slow-kill')).toBe(segmentsHash('slow-ref'));
  }, 120_000);

  it('reads the results with NumPy', (ctx) => {
    let python: string | undefined;
    for (const candidate of [process.env.MMRUN_PYTHON, 'python3', '/usr/bin/python3']) {
      if (candidate && spawnSync(candidate, ['-c', 'import numpy']).status === 0) {
        python = candidate;
        break;
      }
    }
    if (!python) {
      if (process.env.CI) throw new Error('python3 with numpy is required in CI: apt-get install python3-numpy');
      ctx.skip();
      return;
    }
    const script = `
import glob, sys, numpy as np
segs = sorted(glob.glob(sys.argv[1] + '/*.npy'))
a = np.concatenate([np.load(s, mmap_mode='r') for s in segs])
assert a.dtype.names == ('x', 'i'), a.dtype
assert len(a) == 5000, len(a)
assert (a['i'] == np.arange(5000)).all()
assert (a['x'] == np.arange(5000) * 2 + 3).all()
print('ok')
`;
    const r = sh(python, ['-c', script, path.join(RUNS(), 'plain-mjs-full')], project);
    expect(r.stdout.trim(), r.stderr).toBe('ok');
  });

  it('type-checks experiments with the project’s own tsc against mmrun’s published types', () => {
    const good = sh(
      process.execPath,
      [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
      project,
    );
    expect(good.status, good.stdout + good.stderr).toBe(0);
    write(path.join(project, 'experiments', 'bad.ts'), BAD_TS);
    try {
      const bad = sh(
        process.execPath,
        [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
        project,
      );
      expect(bad.status).not.toBe(0);
      expect(bad.stdout).toMatch(
        /bad\.ts\(\d+,\d+\): error TS2322[\s\S]*Type 'string' is not assignable to type 'number'/,
      );
    } finally {
      fs.rmSync(path.join(project, 'experiments', 'bad.ts'));
    }
  });
});

describe('in an ESM project ("type": "module")', () => {
  it.each(['osc.ts', 'plain.js', 'plain.cts'])('runs and resumes %s', (file) => {
    const id = `esm-${file.replace(/\W/g, '-')}`;
    const full = mmrun(['run', `experiments/${file}`, '--id', `${id}-full`, '--seed', '9'], esm);
    expect(full.status, full.stderr).toBe(0);
    const part = mmrun(
      ['run', `experiments/${file}`, '--id', `${id}-part`, '--seed', '9', '--iterations', '1000'],
      esm,
    );
    expect(part.status, part.stderr).toBe(0);
    const iterations = String(JSON.parse(mmrun(['show', `${id}-full`, '--json']).stdout).iterations);
    const resumed = mmrun(['resume', `${id}-part`, '--iterations', iterations], esm);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(segmentsHash(`${id}-part`)).toBe(segmentsHash(`${id}-full`));
  });

  it('gives the same bytes as the CommonJS project for the same experiment', () => {
    const cjs = mmrun(['run', 'experiments/osc.ts', '--id', 'osc-cjs-9', '--seed', '9']);
    expect(cjs.status, cjs.stderr).toBe(0);
    expect(segmentsHash('osc-cjs-9')).toBe(segmentsHash('esm-osc-ts-full'));
  });
});

describe('start-up', () => {
  it('`mmrun --help`, `list` and `show` work with no runs directory yet and print no warnings', () => {
    const help = sh(process.execPath, [BIN(), '--help'], project);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/mmrun <command>/);
    expect(help.stdout).toMatch(/run <experiment>\s+Start a new run/);
    const empty = path.join(work, 'empty-runs');
    const list = sh(process.execPath, [BIN(), 'list', '--runs-dir', empty], project);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stderr).toBe('');
    const npx = sh('npx', ['mmrun', 'list', '--runs-dir', empty], project);
    expect(npx.status, npx.stderr).toBe(0);
    expect(npx.stderr).toBe('');
  });
});
