// Child processes for the benchmarks: in-process workers (one fresh process per measured
// run, so no run inherits another's JIT state or heap) and the real CLI.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'mmrun.js');
export const FIXTURES = path.join(ROOT, 'bench', 'fixtures');
const WORKER = path.join(ROOT, 'bench', 'worker.ts');

/** The line prefix a worker puts before its JSON result on stdout. */
export const RESULT_PREFIX = '@bench ';

const temps = new Set<string>();

/** A fresh directory under os.tmpdir(), removed by {@link removeTemp} or at exit. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mmrun-bench-${prefix}-`));
  temps.add(dir);
  return dir;
}

export function removeTemp(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  temps.delete(dir);
}

/** Removes every temporary directory still registered (also called on exit and on signals). */
export function removeAllTemps(): void {
  for (const dir of temps) removeTemp(dir);
}

const children = new Set<ChildProcess>();

/** Kills (SIGKILL) every child this module started that is still running. */
export function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Wall-clock milliseconds since the epoch, with sub-millisecond resolution. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

export interface Exited {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly exited: Promise<Exited>;
  /** Resolves with wallNow() when the first full line arrives on stdout (the CLI prints the run id). */
  readonly firstLine: Promise<number>;
}

/** Spawns `node <args>` from the repository root, collecting its output. */
export function spawnNode(args: readonly string[], env: Record<string, string | undefined> = {}): Spawned {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  let lineSeen: (t: number) => void = () => {};
  const firstLine = new Promise<number>((resolve) => {
    lineSeen = resolve;
  });
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('\n')) lineSeen(wallNow());
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<Exited>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      lineSeen(wallNow());
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, exited, firstLine };
}

/** Starts the real CLI, `node bin/mmrun.js <args>`, with its runs directory. */
export function spawnCli(
  args: readonly string[],
  runsDir: string,
  env: Record<string, string | undefined> = {},
): Spawned {
  return spawnNode([BIN, ...args], { MMRUN_RUNS_DIR: runsDir, ...env });
}

/** A one-line description of how a child ended, with the end of its stderr. */
export function describeExit(what: string, r: Exited): string {
  const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
  return `${what} exited with ${r.signal ?? r.code}${tail ? `: ${tail}` : ''}`;
}

/**
 * Runs one task of bench/worker.ts in a fresh Node process (TypeScript through tsx's
 * loader) and returns the JSON it reports.
 */
export async function runWorker<T>(task: string, args: object, timeoutMs = 600_000): Promise<T> {
  const p = spawnNode(['--import', 'tsx', WORKER, task, JSON.stringify(args)]);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const r = await p.exited.finally(() => clearTimeout(timer));
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(RESULT_PREFIX));
  if (r.code !== 0 || line === undefined) throw new Error(describeExit(`worker '${task}'`, r));
  return JSON.parse(line.slice(RESULT_PREFIX.length)) as T;
}

/** Fields of /proc/<pid>/status in KiB (RssAnon, RssFile, VmHWM, …); undefined once the process is gone. */
export function procStatus(pid: number): Record<string, number> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Samples /proc/<pid>/status every `everyMs` until stopped; keeps each field's peak. */
export function sampleMemory(pid: number, everyMs = 50): { stop(): Record<string, number>; samples(): number } {
  const peak: Record<string, number> = {};
  let samples = 0;
  const take = () => {
    const s = procStatus(pid);
    if (!s) return;
    samples++;
    for (const [k, v] of Object.entries(s)) if (v > (peak[k] ?? -1)) peak[k] = v;
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
    samples: () => samples,
  };
}

/** The first python3 that imports numpy: `python3`, else /usr/bin/python3; or why there is none. */
export async function findNumpyPython(): Promise<{ python: string } | { reason: string }> {
  const tried: string[] = [];
  for (const python of ['python3', '/usr/bin/python3']) {
    const ok = await new Promise<boolean>((resolve) => {
      const child = spawn(python, ['-c', 'import numpy'], { stdio: 'ignore' });
      child.on('error', () => resolve(false));
      child.on('close', (code) => resolve(code === 0));
    });
    if (ok) return { python };
    tried.push(python);
  }
  return { reason: `no python3 with numpy (tried ${tried.join(', ')})` };
}

/** Runs a program to its end (no shell), collecting output. */
export function runProgram(file: string, args: readonly string[]): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
