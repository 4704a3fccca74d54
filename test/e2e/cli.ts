// Helpers for end-to-end tests: spawn the real CLI, wait for conditions, compare bytes.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll } from 'vitest';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin/mmrun.js');
export const FIXTURES = path.join(ROOT, 'test/fixtures');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Cli {
  readonly child: ChildProcess;
  readonly exited: Promise<CliResult>;
  /** Resolves once the CLI has announced the run (its id on stdout): it is computing. */
  readonly started: Promise<void>;
}

export function tempDir(prefix = 'mmrun-e2e-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A maker of temporary directories that are all removed after the test file. */
export function tempDirs(prefix = 'mmrun-e2e-'): () => string {
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = tempDir(prefix);
    made.push(d);
    return d;
  };
}

/** Starts `mmrun <args>` as a child process with its own runs directory (working directory: the repo, or `cwd`). */
export function spawnMmrun(
  args: readonly string[],
  runsDir: string,
  env: Record<string, string> = {},
  cwd = ROOT,
): Cli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, MMRUN_RUNS_DIR: runsDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let announce: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    announce = resolve;
  });
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('\n')) announce();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      announce();
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, exited, started };
}

/** Runs `mmrun <args>` to its end. */
export function mmrun(
  args: readonly string[],
  runsDir: string,
  env: Record<string, string> = {},
  cwd = ROOT,
): Promise<CliResult> {
  return spawnMmrun(args, runsDir, env, cwd).exited;
}

/** Polls `condition` every 20 ms until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  condition: () => T | undefined | false,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The catalog's view of a run, read directly (read-only) so polling has no side effects. */
export function peekRun(
  runsDir: string,
  id: string,
): { status: string; flushedRows: number; ownerPid: number | null } | undefined {
  const file = path.join(runsDir, 'mmrun.sqlite');
  if (!fs.existsSync(file)) return undefined;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare(
        `SELECT status, owner_pid AS ownerPid,
           (SELECT flushed_index FROM checkpoints c WHERE c.run_id = runs.id ORDER BY seq DESC LIMIT 1) AS flushedRows
         FROM runs WHERE id = ?`,
      )
      .get(id) as { status: string; flushedRows: number | null; ownerPid: number | null } | undefined;
    return row && { ...row, flushedRows: row.flushedRows ?? 0 };
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

/** sha256 of every file in a directory (non-recursive, hidden files included). */
export function hashFiles(dir: string, filter: (name: string) => boolean = () => true): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (fs.statSync(file).isFile() && filter(name)) {
      out[name] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    }
  }
  return out;
}

/** Hashes of a run's segment files. */
export const segmentHashes = (runsDir: string, id: string): Record<string, string> =>
  hashFiles(path.join(runsDir, id), (n) => n.endsWith('.npy') && !n.startsWith('.'));

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Parses the JSON a `--json` command printed. */
export function json<T = Record<string, unknown>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code}): ${result.stdout}\nstderr: ${result.stderr}`);
  }
}
