/**
 * `npm run test:slurm`: mmrun on a real Slurm. Starts a single-node cluster (Debian's
 * slurm-wlm and munge, installed if missing: test/slurm/cluster.sh), writes and submits a
 * job array of 4 shards with `mmrun slurm --submit`, and while it runs:
 * - requeues task 1 mid-run with `scontrol requeue` (what an admin or a preemption does:
 *   SIGTERM, mmrun flushes and stops, Slurm starts the task again and it resumes);
 * - sends task 2's batch script the time-limit warning, USR1 (`scancel --batch
 *   --signal=USR1`, what `--signal=B:USR1@120` sends): mmrun flushes and exits 138, the
 *   script stages out and requeues itself, and the task resumes.
 * Then it waits for every task and the dependent merge job, and compares the merged run
 * with a local run of the same experiment and seed byte for byte.
 * Then a sweep, `mmrun slurm --sweep --submit`: a 2×2 grid × 2 seeds = 8 array tasks, at most
 * 2 at once (`--throttle 2`, `%2`), task 5 requeued mid-point with `scontrol requeue`; the
 * dependent `merge --sweep` job gathers the points into one sweep, whose points (ids, params,
 * seeds) and segments must equal those of a local `mmrun sweep` of the same command, byte
 * for byte. It stops the daemons it started. Exit 0 only if everything held.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CLUSTER = path.join(ROOT, 'test', 'slurm', 'cluster.sh');
const BIN = path.join(ROOT, 'bin', 'mmrun.js');
const COUNTER = path.join(ROOT, 'test', 'fixtures', 'counter.ts');
const ID = 'slurmjob';
const TWO_PARAMS = path.join(ROOT, 'test', 'fixtures', 'two-params.ts');
const SWEEP_ID = 'slurmsweep';
// 8 points of 40 000 rows; the point order is the grid's (work slowest), then the seeds.
const SWEEP = [
  '--grid',
  'work=10000,20000',
  '--grid',
  'shift=0,1.5',
  '--seeds',
  '2',
  '--seed',
  '7',
  '-n',
  '40_000',
  '--flush-every',
  '2000',
];
// Segments of 150 000 rows: shard boundaries (every 100 000 rows) fall inside segments.
const JOB = ['-n', '400_000', '--seed', '2026', '--param', 'work=20000', '--segment-rows', '150_000'];

const t0 = Date.now();
const log = (line: string) => process.stderr.write(`[test:slurm ${((Date.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

const slurmEnv = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` };
function sh(cmd: string, args: string[], env = slurmEnv): string {
  return execFileSync(cmd, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
}
function mmrun(args: string[], cwd = ROOT): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: slurmEnv });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
function flushedRows(runsDir: string, id = ID): number {
  const file = path.join(runsDir, 'mmrun.sqlite');
  if (!fs.existsSync(file)) return 0;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const row = db
        .prepare('SELECT flushed_index AS n FROM checkpoints WHERE run_id = ? ORDER BY seq DESC LIMIT 1')
        .get(id) as { n: number } | undefined;
      return row?.n ?? 0;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.npy'))
    .sort()) {
    out[name] = sh('sha256sum', [path.join(dir, name)]).split(' ')[0]!;
  }
  return out;
}
async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}
const queued = (jobs: string[]) => sh('squeue', ['-h', '-o', '%i %T', '-j', jobs.join(',')]).trim();

async function main(): Promise<void> {
  if (os.userInfo().uid !== 0) throw new Error('test:slurm must run as root (it installs and runs Slurm daemons)');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mmrun-slurm-test-'));
  const results = path.join(work, 'results');
  const localDir = path.join(work, 'node-local');
  const wasUp = spawnSync('bash', [CLUSTER, 'status'], { env: slurmEnv }).status === 0;
  log(wasUp ? 'a test cluster is already up: using it, and leaving it up' : 'starting the test cluster');
  const up = Date.now();
  if (!wasUp) execFileSync('bash', [CLUSTER, 'up'], { stdio: 'inherit', env: slurmEnv });
  try {
    const conf = sh('bash', [CLUSTER, 'env']).match(/SLURM_CONF=(\S+)/)?.[1];
    if (!conf) throw new Error('cluster.sh env printed no SLURM_CONF');
    Object.assign(slurmEnv, { SLURM_CONF: conf, MMRUN_LOCAL_DIR: localDir });
    log(`cluster up in ${((Date.now() - up) / 1000).toFixed(0)} s: ${sh('sinfo', ['--version']).trim()}`);
    // The local reference, computed while the cluster works would only slow both down: first.
    const reference = path.join(work, 'reference');
    const ref = mmrun(['run', COUNTER, '--id', ID, ...JOB, '--workers', '2', '--runs-dir', reference, '--quiet']);
    if (ref.code !== 0) throw new Error(`reference run failed: ${ref.err}`);
    log('reference run done');

    const w = mmrun([
      'slurm',
      COUNTER,
      '--shards',
      '4',
      '--id',
      ID,
      ...JOB,
      '--results',
      results,
      '--flush-every',
      '5000',
      '--time',
      '00:10:00',
      '--submit',
    ]);
    if (w.code !== 0) throw new Error(`mmrun slurm --submit failed: ${w.err}`);
    process.stderr.write(w.err);
    const arrayJob = /array job (\d+)/.exec(w.err)?.[1];
    const mergeJob = /merge job (\d+)/.exec(w.err)?.[1];
    if (!arrayJob || !mergeJob) throw new Error(`no job ids in: ${w.err}`);

    // Task 1: requeued mid-run (SIGTERM to the job; Slurm starts it again).
    const local1 = path.join(localDir, `mmrun-${ID}-1`);
    const before1 = await until(
      'task 1 to flush rows',
      180_000,
      () => flushedRows(local1) >= 20_000 && flushedRows(local1),
    );
    log(`task 1 has flushed ${before1} rows: scontrol requeue ${arrayJob}_1`);
    sh('scontrol', ['requeue', `${arrayJob}_1`]);
    // Task 2: the time-limit warning, USR1 to its batch script.
    const local2 = path.join(localDir, `mmrun-${ID}-2`);
    const before2 = await until(
      'task 2 to flush rows',
      180_000,
      () => flushedRows(local2) >= 20_000 && flushedRows(local2),
    );
    log(`task 2 has flushed ${before2} rows: scancel --batch --signal=USR1 ${arrayJob}_2`);
    sh('scancel', ['--batch', '--signal=USR1', `${arrayJob}_2`]);

    await until('the array and the merge job to leave the queue', 480_000, () => {
      const q = queued([arrayJob, mergeJob]);
      return q === '' ? true : undefined;
    });
    log('queue empty');

    const logs = fs.readdirSync(path.join(results, 'logs'));
    const taskLog = (task: number) => {
      const name = logs.find((n) => n === `${arrayJob}_${task}.out`);
      return name ? fs.readFileSync(path.join(results, 'logs', name), 'utf8') : '';
    };
    for (const task of [0, 1, 2, 3]) check(taskLog(task).includes(`shard ${task} completed`), `task ${task} completed`);
    check(/restart 1/.test(taskLog(1)), 'task 1 ran again after scontrol requeue (SLURM_RESTART_COUNT=1)');
    check(taskLog(2).includes('shard 2 preempted (flushed): requeueing'), 'task 2 flushed on USR1 and requeued itself');
    check(/restart 1/.test(taskLog(2)), 'task 2 ran again after requeueing itself');

    const shardRun = (task: number) => {
      const r = mmrun(['show', ID, '--json', '--runs-dir', path.join(results, 'shards', String(task))]);
      return r.code === 0
        ? (JSON.parse(r.out) as { status: string; events: { type: string; data: unknown }[] })
        : undefined;
    };
    const e1 = shardRun(1)?.events ?? [];
    const e2 = shardRun(2)?.events ?? [];
    check(
      e1.some((e) => e.type === 'signal' && JSON.stringify(e.data).includes('SIGTERM')) &&
        e1.some((e) => e.type === 'resumed'),
      'shard 1: interrupted by SIGTERM, then resumed',
    );
    check(
      e2.some((e) => e.type === 'signal' && JSON.stringify(e.data).includes('SIGUSR1')) &&
        e2.some((e) => e.type === 'resumed'),
      'shard 2: interrupted by SIGUSR1, then resumed',
    );

    const merged = path.join(results, 'runs');
    const show = mmrun(['show', ID, '--json', '--runs-dir', merged]);
    check(show.code === 0 && JSON.parse(show.out).status === 'completed', 'the merge job made a completed run');
    const want = hashes(path.join(reference, ID));
    const got = fs.existsSync(path.join(merged, ID)) ? hashes(path.join(merged, ID)) : {};
    check(
      Object.keys(want).length > 0 && JSON.stringify(got) === JSON.stringify(want),
      `merged segments byte-identical to the local run (${Object.keys(want).length} segments)`,
    );
    const verify = mmrun(['verify', ID, '--recompute', '50', '--runs-dir', merged]);
    check(verify.code === 0, 'verify --recompute 50 of the merged run');

    await sweepOnSlurm(work, localDir);
  } finally {
    if (!wasUp) {
      log('stopping the daemons this test started');
      spawnSync('bash', [CLUSTER, 'down'], { stdio: 'inherit', env: slurmEnv });
    }
    if (failures.length === 0) fs.rmSync(work, { recursive: true, force: true });
    else log(`kept ${work} for a look`);
  }
}

interface SweepJson {
  status: string;
  points: { runId: string; params: Record<string, unknown>; seed: number; status: string }[];
}

/** The sweep part: 8 points as one throttled array, one task requeued, merged, compared with a local sweep. */
async function sweepOnSlurm(work: string, localDir: string): Promise<void> {
  const results = path.join(work, 'results-sweep');
  const reference = path.join(work, 'sweep-reference');
  const ref = mmrun(['sweep', TWO_PARAMS, ...SWEEP, '--id', SWEEP_ID, '--jobs', '2', '--runs-dir', reference, '-q']);
  if (ref.code !== 0) throw new Error(`reference sweep failed: ${ref.err}`);
  log('reference sweep done');
  const w = mmrun([
    'slurm',
    TWO_PARAMS,
    '--sweep',
    ...SWEEP,
    '--id',
    SWEEP_ID,
    '--results',
    results,
    '--throttle',
    '2',
    '--time',
    '00:10:00',
    '--submit',
  ]);
  if (w.code !== 0) throw new Error(`mmrun slurm --sweep --submit failed: ${w.err}`);
  process.stderr.write(w.err);
  const arrayJob = /array job (\d+)/.exec(w.err)?.[1];
  const mergeJob = /merge job (\d+)/.exec(w.err)?.[1];
  if (!arrayJob || !mergeJob) throw new Error(`no job ids in: ${w.err}`);
  const throttle = sh('scontrol', ['show', 'job', arrayJob]).match(/ArrayTaskThrottle=(\d+)/)?.[1];
  check(throttle === '2', `the array is throttled to 2 tasks at once (ArrayTaskThrottle=${throttle})`);

  // While it runs: never more than 2 tasks running; task 5 requeued once it has flushed rows.
  let mostRunning = 0;
  const running = () => {
    const n = sh('squeue', ['-h', '-t', 'RUNNING', '-r', '-o', '%i', '-j', arrayJob])
      .trim()
      .split('\n')
      .filter(Boolean).length;
    mostRunning = Math.max(mostRunning, n);
  };
  const local5 = path.join(localDir, `mmrun-${SWEEP_ID}-5`);
  const point5 = `${SWEEP_ID}-p0005`;
  const before5 = await until('task 5 to flush rows', 240_000, () => {
    running();
    return flushedRows(local5, point5) >= 6000 && flushedRows(local5, point5);
  });
  log(`task 5 has flushed ${before5} rows of its point: scontrol requeue ${arrayJob}_5`);
  sh('scontrol', ['requeue', `${arrayJob}_5`]);
  await until('the sweep array and its merge job to leave the queue', 480_000, () => {
    running();
    return queued([arrayJob, mergeJob]) === '' ? true : undefined;
  });
  log('queue empty');
  check(mostRunning >= 1 && mostRunning <= 2, `at most 2 tasks ran at once (seen: ${mostRunning})`);

  const logs = fs.readdirSync(path.join(results, 'logs'));
  const taskLog = (task: number) => {
    const name = logs.find((n) => n === `${arrayJob}_${task}.out`);
    return name ? fs.readFileSync(path.join(results, 'logs', name), 'utf8') : '';
  };
  const tasks = [0, 1, 2, 3, 4, 5, 6, 7];
  check(
    tasks.every((t) => taskLog(t).includes(`point ${t} completed`)),
    'every task completed its point',
  );
  check(/restart 1/.test(taskLog(5)), 'task 5 ran again after scontrol requeue');
  const copy5 = mmrun(['show', point5, '--json', '--runs-dir', path.join(results, 'points', '5')]);
  const e5 = copy5.code === 0 ? (JSON.parse(copy5.out) as { events: { type: string; data: unknown }[] }).events : [];
  check(
    e5.some((e) => e.type === 'signal' && JSON.stringify(e.data).includes('SIGTERM')) &&
      e5.some((e) => e.type === 'resumed'),
    'point 5: interrupted by SIGTERM, then resumed',
  );

  const merged = path.join(results, 'runs');
  const show = (dir: string) => {
    const r = mmrun(['show', SWEEP_ID, '--json', '--runs-dir', dir]);
    return r.code === 0 ? (JSON.parse(r.out) as SweepJson) : undefined;
  };
  const got = show(merged);
  const want = show(reference);
  const identity = (v: SweepJson | undefined) =>
    v?.points.map((p) => ({ runId: p.runId, params: p.params, seed: p.seed }));
  check(
    got?.status === 'completed' && got.points.length === 8 && got.points.every((p) => p.status === 'completed'),
    'the merge job made a completed sweep of 8 points',
  );
  check(
    JSON.stringify(identity(got)) === JSON.stringify(identity(want)),
    'its points (run ids, params, seeds) are those of the local sweep, in order',
  );
  const same = (want?.points ?? []).filter((p) => {
    const a = hashes(path.join(reference, p.runId));
    const dir = path.join(merged, p.runId);
    return Object.keys(a).length > 0 && fs.existsSync(dir) && JSON.stringify(hashes(dir)) === JSON.stringify(a);
  });
  check(same.length === 8, `every point's segments byte-identical to the local sweep's (${same.length} of 8)`);
  const stats = mmrun(['stats', SWEEP_ID, '--column', 'x', '--json', '--runs-dir', merged]);
  check(stats.code === 0, 'stats of the merged sweep');
}

try {
  await main();
} catch (error) {
  failures.push((error as Error).message);
  log(`FAIL ${(error as Error).message}`);
}
log(failures.length === 0 ? `passed in ${((Date.now() - t0) / 1000).toFixed(0)} s` : `${failures.length} failed`);
process.exitCode = failures.length === 0 ? 0 : 1;
