// Kill soak: random SIGKILLs during runs of a fast stateless, a slow stateful and an async
// experiment, plus crashes at each dangerous point (MMRUN_FAULT); resume until complete;
// compare every segment byte for byte with an uninterrupted run; measure the rows each kill
// cost (recomputed after resume) against the flush policy's bound.
//
//   npm run test:faults                 200 random kills + every fault point
//   npm run test:faults -- --kills 1000
//   npm run test:faults -- --quick      24 kills, for CI (about a minute)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layoutFromDescr, readHeader } from '../../src/storage/npy.ts';
import { FIXTURES, mmrun, peekRun, segmentHashes, sleep, spawnMmrun, tempDir } from '../e2e/cli.ts';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const kIndex = argv.indexOf('--kills');
const totalKills = kIndex >= 0 ? Number(argv[kIndex + 1]) : quick ? 24 : 200;

const FLUSH_EVERY = 3000;
const COMMON = ['--seed', '99', '--flush-every', String(FLUSH_EVERY), '--segment-rows', '35000'];
const SCENARIOS = [
  { name: 'fast stateless', fixture: 'counter.ts', args: ['--iterations', '400_000'], marker: 'i', offset: 0 },
  {
    name: 'slow stateful',
    fixture: 'stateful.ts',
    args: ['--iterations', '120_000', '--param', 'work=2500'],
    marker: 'n',
    offset: 1,
  },
  { name: 'async', fixture: 'async.ts', args: ['--iterations', '60_000'], marker: 'i', offset: 0 },
  // Killed with two worker threads, compared with a reference run by one: the bytes must
  // not depend on K. Rows lost are not measured here (the scan assumes one flushed prefix).
  {
    name: 'stateless, --workers 2',
    fixture: 'counter.ts',
    args: ['--iterations', '200_000', '--param', 'work=400'],
    marker: 'i',
    offset: 0,
    runArgs: ['--workers', '2'],
  },
] as { name: string; fixture: string; args: string[]; marker: string; offset: number; runArgs?: string[] }[];
const POINTS = ['before-msync', 'after-msync', 'after-commit', 'segment-create', 'graceful-stop', 'migration'];

interface Row {
  scenario: string;
  trials: number;
  identical: number;
  kills: number;
  maxLost: number;
}

/**
 * The highest row any process has written: rows are a known function of i in the marker
 * column (i, or i + 1), and pages never written read as zeros.
 */
function lastWrittenRow(runDir: string, marker: string, offset: number): number {
  const files = fs
    .readdirSync(runDir)
    .filter((f) => f.endsWith('.npy') && !f.startsWith('.'))
    .sort();
  let first = 0;
  let last = -1;
  for (const name of files) {
    const file = path.join(runDir, name);
    const header = readHeader(file);
    const layout = layoutFromDescr(header.descr, file);
    const field = layout.fields.find((f) => f.name === marker)!;
    const data = fs.readFileSync(file).subarray(header.dataOffset);
    const rows = header.shape[0]!;
    for (let r = rows - 1; r >= 0; r--) {
      if (data.readUInt32LE(r * layout.itemsize + field.offset) === first + r + offset && first + r + offset !== 0) {
        last = Math.max(last, first + r);
        break;
      }
    }
    first += rows;
  }
  return last;
}

async function randomKills(root: string, sc: (typeof SCENARIOS)[number], kills: number): Promise<Row> {
  const slug = sc.name.replace(/[^a-z0-9]+/gi, '-');
  const refDir = path.join(root, `${slug}-ref`);
  const ref = await mmrun(['run', path.join(FIXTURES, sc.fixture), '--id', 'ref', ...sc.args, ...COMMON], refDir);
  if (ref.code !== 0) throw new Error(`reference run failed: ${ref.stderr}`);
  const want = JSON.stringify(segmentHashes(refDir, 'ref'));
  const row: Row = { scenario: `random kill, ${sc.name}`, trials: 0, identical: 0, kills: 0, maxLost: 0 };
  while (row.kills < kills) {
    const dir = path.join(root, `${slug}-${row.trials}`);
    let cli = spawnMmrun(
      ['run', path.join(FIXTURES, sc.fixture), '--id', 'k', ...sc.args, ...COMMON, ...(sc.runArgs ?? [])],
      dir,
    );
    let killsHere = 0;
    for (;;) {
      await cli.started;
      const delay = 30 + Math.floor(Math.random() * 500);
      const done = await Promise.race([cli.exited.then(() => true), sleep(delay).then(() => false)]);
      if (!done && killsHere < 4 && row.kills < kills) {
        cli.child.kill('SIGKILL');
        await cli.exited;
        killsHere++;
        row.kills++;
        const run = peekRun(dir, 'k');
        // The kill may land after the run completed, while the process was exiting.
        if (run?.status === 'completed') break;
        if (run && !sc.runArgs && fs.existsSync(path.join(dir, 'k'))) {
          const lost = lastWrittenRow(path.join(dir, 'k'), sc.marker, sc.offset) + 1 - run.flushedRows;
          row.maxLost = Math.max(row.maxLost, lost);
        }
      } else {
        const r = await cli.exited;
        if (r.code !== 0) throw new Error(`${sc.name}: exit ${r.code}: ${r.stderr}`);
        if (peekRun(dir, 'k')?.status === 'completed') break;
      }
      cli = spawnMmrun(['resume', 'k'], dir);
    }
    row.trials++;
    if (JSON.stringify(segmentHashes(dir, 'k')) === want) row.identical++;
    else console.error(`MISMATCH ${sc.name}: kept ${dir}`);
  }
  return row;
}

async function faultPoints(root: string, trials: number): Promise<Row[]> {
  const sc = SCENARIOS[1]!;
  const args = [
    '--iterations',
    '40_000',
    '--param',
    'work=2500',
    '--seed',
    '99',
    '--flush-every',
    String(FLUSH_EVERY),
    '--segment-rows',
    '9000',
  ];
  const refDir = path.join(root, 'points-ref');
  if ((await mmrun(['run', path.join(FIXTURES, sc.fixture), '--id', 'ref', ...args], refDir)).code !== 0) {
    throw new Error('reference run failed');
  }
  const want = JSON.stringify(segmentHashes(refDir, 'ref'));
  const rows: Row[] = [];
  for (const point of POINTS) {
    const row: Row = { scenario: `crash ${point}`, trials: 0, identical: 0, kills: 0, maxLost: 0 };
    for (let t = 0; t < trials; t++) {
      const dir = path.join(root, `point-${point}-${t}`);
      const after = String(point === 'migration' || point === 'graceful-stop' ? 1 : 1 + Math.floor(Math.random() * 4));
      const env = { MMRUN_FAULT: point, MMRUN_FAULT_AFTER: after };
      const cli = spawnMmrun(['run', path.join(FIXTURES, sc.fixture), '--id', 'k', ...args], dir, env);
      if (point === 'graceful-stop') {
        await cli.started;
        await sleep(50 + Math.random() * 200);
        cli.child.kill('SIGTERM');
      }
      const r = await cli.exited;
      if (r.signal === 'SIGKILL') row.kills++;
      const run = peekRun(dir, 'k');
      if (run && fs.existsSync(path.join(dir, 'k'))) {
        row.maxLost = Math.max(
          row.maxLost,
          lastWrittenRow(path.join(dir, 'k'), sc.marker, sc.offset) + 1 - run.flushedRows,
        );
      }
      // A crash in the migration happens before the run exists: start it again.
      // The run may have completed before the signal or the fault came: then there is
      // nothing to resume, only bytes to compare.
      let next =
        run?.status === 'completed'
          ? { code: 0, stderr: '' }
          : run
            ? await mmrun(['resume', 'k'], dir)
            : await mmrun(['run', path.join(FIXTURES, sc.fixture), '--id', 'k', ...args], dir);
      for (let n = 0; next.code !== 0 && peekRun(dir, 'k')?.status !== 'completed' && n < 3; n++) {
        next = await mmrun(['resume', 'k'], dir);
      }
      if (peekRun(dir, 'k')?.status === 'completed') next = { code: 0, stderr: '' };
      row.trials++;
      if (next.code === 0 && JSON.stringify(segmentHashes(dir, 'k')) === want) row.identical++;
      else console.error(`MISMATCH crash ${point}: kept ${dir}\n${next.stderr}`);
    }
    rows.push(row);
  }
  return rows;
}

async function main(): Promise<void> {
  const root = tempDir('mmrun-soak-');
  const started = Date.now();
  const table: Row[] = [];
  const per = Math.ceil(totalKills / SCENARIOS.length);
  for (const sc of SCENARIOS) table.push(await randomKills(root, sc, per));
  table.push(...(await faultPoints(root, quick ? 1 : 5)));

  const pad = (s: string | number, n: number) => String(s).padStart(n);
  console.log(
    `\n${'scenario'.padEnd(34)}${pad('trials', 7)}${pad('identical', 10)}${pad('kills', 7)}${pad('max lost', 10)}${pad('bound', 7)}`,
  );
  for (const r of table) {
    console.log(
      `${r.scenario.padEnd(34)}${pad(r.trials, 7)}${pad(r.identical, 10)}${pad(r.kills, 7)}${pad(r.maxLost, 10)}${pad(FLUSH_EVERY, 7)}`,
    );
  }
  const kills = table.reduce((n, r) => n + r.kills, 0);
  const bad = table.filter((r) => r.identical !== r.trials || r.maxLost > FLUSH_EVERY);
  const summary = {
    kills,
    trials: table.reduce((n, r) => n + r.trials, 0),
    identical: table.reduce((n, r) => n + r.identical, 0),
    maxLostOverBound: Math.max(...table.map((r) => r.maxLost)) / FLUSH_EVERY,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  console.log(JSON.stringify(summary));
  if (bad.length > 0) {
    console.error(`FAILED: ${bad.map((r) => r.scenario).join(', ')} (dirs kept in ${root})`);
    process.exit(1);
  }
  fs.rmSync(root, { recursive: true, force: true });
}

await main();
