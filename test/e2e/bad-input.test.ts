// The bad-input matrix: each case gets a stable error code, a message naming the offending
// values and a remedy, a non-zero exit, and no byte of any existing file changed.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/catalog/migrations.ts';
import { FIXTURES, hashFiles, mmrun, tempDirs } from './cli.ts';

const fresh = tempDirs();

/** Every file under a directory (two levels: the runs dir and its run dirs), hashed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const [name, hash] of Object.entries(hashFiles(dir, (n) => !n.endsWith('-wal') && !n.endsWith('-shm')))) {
    out[name] = hash;
  }
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      for (const [name, hash] of Object.entries(hashFiles(path.join(dir, entry.name))))
        out[`${entry.name}/${name}`] = hash;
    }
  }
  return out;
}

/** A resumable run: the stateless `throws` fixture failed at iteration 500 (segments of 300 rows). */
async function failedRun(): Promise<string> {
  const dir = fresh();
  const r = await mmrun(
    [
      'run',
      path.join(FIXTURES, 'throws.ts'),
      '--id',
      'f',
      '--seed',
      '3',
      '--segment-rows',
      '300',
      '--flush-every',
      '100',
    ],
    dir,
  );
  expect(r.code).toBe(1);
  return dir;
}

function editHeader(file: string, from: string, to: string): void {
  const bytes = fs.readFileSync(file);
  const header = bytes.subarray(0, 128).toString('latin1');
  expect(header).toContain(from);
  expect(to).toHaveLength(from.length);
  fs.writeFileSync(file, Buffer.concat([Buffer.from(header.replace(from, to), 'latin1'), bytes.subarray(128)]));
}

function experiment(dir: string, source: string): string {
  const file = path.join(dir, 'exp.ts');
  fs.writeFileSync(file, source);
  return file;
}

interface Case {
  readonly name: string;
  /** Prepares the files and returns the runs dir and the command line. */
  readonly setup: () => Promise<{ dir: string; args: string[] }>;
  readonly code: string;
  /** Words the message must contain: the offending values. */
  readonly says: readonly (string | RegExp)[];
}

const resume = (dir: string) => ({ dir, args: ['resume', 'f'] });

const CASES: Case[] = [
  {
    name: 'wrong dtype in a header',
    setup: async () => {
      const dir = await failedRun();
      editHeader(path.join(dir, 'f', '000000.npy'), "('x', '<f8')", "('x', '<i8')");
      return resume(dir);
    },
    code: 'DTYPE_MISMATCH',
    says: ["'<i8'", "'<f8'", '000000.npy'],
  },
  {
    name: 'truncated segment',
    setup: async () => {
      const dir = await failedRun();
      const seg = path.join(dir, 'f', '000001.npy');
      fs.truncateSync(seg, fs.statSync(seg).size - 7);
      return resume(dir);
    },
    code: 'SIZE_MISMATCH',
    says: ['000001.npy', 'truncated', '300 rows × 12 bytes'],
  },
  {
    name: 'extra bytes after the rows',
    setup: async () => {
      const dir = await failedRun();
      fs.appendFileSync(path.join(dir, 'f', '000000.npy'), Buffer.from([1, 2, 3]));
      return resume(dir);
    },
    code: 'SIZE_MISMATCH',
    says: ['000000.npy', 'extra bytes', '300 rows × 12 bytes'],
  },
  {
    name: 'missing segment',
    setup: async () => {
      const dir = await failedRun();
      fs.rmSync(path.join(dir, 'f', '000000.npy'));
      return resume(dir);
    },
    code: 'SEGMENT_MISSING',
    says: ['000000.npy', "run 'f'"],
  },
  {
    name: 'corrupted magic',
    setup: async () => {
      const dir = await failedRun();
      const seg = path.join(dir, 'f', '000000.npy');
      const bytes = fs.readFileSync(seg);
      bytes[1] = 0x58;
      fs.writeFileSync(seg, bytes);
      return resume(dir);
    },
    code: 'NPY_BAD_MAGIC',
    says: ['000000.npy'],
  },
  {
    name: 'header shape disagreeing with the catalog',
    setup: async () => {
      const dir = await failedRun();
      editHeader(path.join(dir, 'f', '000000.npy'), "'shape': (300,)", "'shape': (299,)");
      return resume(dir);
    },
    code: 'SHAPE_MISMATCH',
    says: ['(299,)', '(300,)', '000000.npy'],
  },
  {
    name: 'catalog that is not a SQLite file',
    setup: async () => {
      const dir = fresh();
      fs.writeFileSync(path.join(dir, 'mmrun.sqlite'), 'these are my notes, not a database\n'.repeat(200));
      return { dir, args: ['run', 'pi', '-n', '10'] };
    },
    code: 'CATALOG_INVALID',
    says: ['mmrun.sqlite', 'not an mmrun catalog'],
  },
  {
    name: 'catalog from a newer schema version',
    setup: async () => {
      const dir = await failedRun();
      const db = new Database(path.join(dir, 'mmrun.sqlite'));
      db.pragma('user_version = 99');
      db.close();
      return { dir, args: ['list'] };
    },
    code: 'CATALOG_TOO_NEW',
    says: ['schema version 99', `up to ${SCHEMA_VERSION}`],
  },
  {
    name: 'run id unknown',
    setup: async () => ({ dir: await failedRun(), args: ['resume', 'nope'] }),
    code: 'RUN_NOT_FOUND',
    says: ["'nope'"],
  },
  {
    name: 'experiment path missing',
    setup: async () => ({ dir: fresh(), args: ['run', 'experiments/no-such-thing.ts'] }),
    code: 'EXPERIMENT_NOT_FOUND',
    says: ['no-such-thing.ts'],
  },
  {
    name: 'experiment module that throws on import',
    setup: async () => {
      const dir = fresh();
      return { dir, args: ['run', experiment(dir, "throw new Error('no GPU on this node');\nexport default {};\n")] };
    },
    code: 'EXPERIMENT_LOAD_FAILED',
    says: ['exp.ts', 'no GPU on this node'],
  },
  {
    name: 'experiment module with a syntax error',
    setup: async () => {
      const dir = fresh();
      return {
        dir,
        args: ['run', experiment(dir, "export default { columns: { x: 'f8' }, step(i) { return { x: i } ;\n")],
      };
    },
    code: 'EXPERIMENT_LOAD_FAILED',
    says: ['exp.ts'],
  },
  {
    name: 'experiment object missing step',
    setup: async () => {
      const dir = fresh();
      return { dir, args: ['run', experiment(dir, "export default { columns: { x: 'f8' } };\n")] };
    },
    code: 'EXPERIMENT_INVALID',
    says: ['no step function', 'step(i, ctx)'],
  },
  {
    name: 'experiment object missing columns',
    setup: async () => {
      const dir = fresh();
      return { dir, args: ['run', experiment(dir, 'export default { step: (i) => ({ x: i }) };\n')] };
    },
    code: 'EXPERIMENT_INVALID',
    says: ['no columns'],
  },
  {
    name: 'unknown dtype',
    setup: async () => {
      const dir = fresh();
      return {
        dir,
        args: ['run', experiment(dir, "export default { columns: { x: 'f16' }, step: (i) => ({ x: i }) };\n")],
      };
    },
    code: 'UNKNOWN_DTYPE',
    says: ["column 'x'", "'f16'", 'f8, f4'],
  },
  {
    name: '--param for an unknown key',
    setup: async () => ({ dir: fresh(), args: ['run', 'pi', '--param', 'radius=2'] }),
    code: 'BAD_PARAM',
    says: ["'radius'", 'batch'],
  },
  {
    name: '--param of the wrong type',
    setup: async () => ({ dir: fresh(), args: ['run', 'pi', '--param', 'batch=lots'] }),
    code: 'BAD_PARAM',
    says: ["'batch'", "'lots'", 'a number'],
  },
  {
    name: 'negative iterations',
    setup: async () => ({ dir: fresh(), args: ['run', 'pi', '--iterations=-1e6'] }),
    code: 'BAD_ITERATIONS',
    says: ["'-1e6'"],
  },
  {
    name: 'non-integer iterations',
    setup: async () => ({ dir: fresh(), args: ['run', 'pi', '--iterations', '2.5'] }),
    code: 'BAD_ITERATIONS',
    says: ["'2.5'"],
  },
  {
    name: 'runs directory not writable (a path under a file)',
    setup: async () => {
      const dir = fresh();
      fs.writeFileSync(path.join(dir, 'file'), 'x');
      return { dir, args: ['run', 'pi', '-n', '10', '--runs-dir', path.join(dir, 'file', 'runs')] };
    },
    code: 'RUNS_DIR_NOT_WRITABLE',
    says: [path.join('file', 'runs'), '--runs-dir'],
  },
  {
    name: '`run --id` of an id that exists',
    setup: async () => ({ dir: await failedRun(), args: ['run', path.join(FIXTURES, 'throws.ts'), '--id', 'f'] }),
    code: 'RUN_EXISTS',
    says: ["'f'", 'mmrun resume'],
  },
];

describe('bad input', () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.code}, exit 1, nothing changed`, async () => {
      const { dir, args } = await c.setup();
      const before = snapshot(dir);
      const r = await mmrun(args, dir);
      expect(r.code, r.stderr).toBe(1);
      const line = r.stderr.trim().split('\n')[0] ?? '';
      expect(line).toContain(`error ${c.code}: `);
      for (const word of c.says) {
        if (typeof word === 'string') expect(line).toContain(word);
        else expect(line).toMatch(word);
      }
      expect(line, 'a remedy after the message').toMatch(/; \S/);
      expect(snapshot(dir)).toEqual(before);
    });
  }

  it('a read-only runs directory (read-only mount): RUNS_DIR_NOT_WRITABLE, nothing changed', async (ctx) => {
    if (process.getuid?.() !== 0 || spawnSync('mount', ['--version']).status !== 0) {
      if (process.env.CI) throw new Error('CI runs as root and must run this test');
      ctx.skip();
      return;
    }
    const mnt = fresh();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', mnt]);
    try {
      const r = await mmrun(['run', 'pi', '-n', '10', '--runs-dir', mnt], mnt);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('RUNS_DIR_NOT_WRITABLE');
      expect(r.stderr).toContain(mnt);
      expect(fs.readdirSync(mnt)).toEqual([]);
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  });
});
