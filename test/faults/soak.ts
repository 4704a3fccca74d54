// Kill soak: random SIGKILLs during runs, resume until complete, compare every segment
// byte for byte with an uninterrupted run. `npm run test:faults -- --kills N [--quick]`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURES, mmrun, peekRun, segmentHashes, sleep, spawnMmrun, tempDir } from '../e2e/cli.ts';

const argv = process.argv.slice(2);
const flag = (name: string, def: number) => {
  const k = argv.indexOf(name);
  return k >= 0 ? Number(argv[k + 1]) : def;
};
const quick = argv.includes('--quick');
const totalKills = flag('--kills', quick ? 24 : 200);

const COMMON = ['--seed', '99', '--flush-every', '3000', '--segment-rows', '35000'];
const SCENARIOS = [
  { name: 'stateless', fixture: 'counter.ts', args: ['--iterations', '120_000', '--param', 'work=2500'] },
  { name: 'stateful', fixture: 'stateful.ts', args: ['--iterations', '120_000', '--param', 'work=2500'] },
  { name: 'async', fixture: 'async.ts', args: ['--iterations', '60_000'] },
];

interface Row {
  scenario: string;
  trials: number;
  identical: number;
  kills: number;
  maxLost: number;
}

async function main(): Promise<void> {
  const root = tempDir('mmrun-soak-');
  const perScenario = Math.ceil(totalKills / SCENARIOS.length);
  const table: Row[] = [];
  let failed = false;
  for (const sc of SCENARIOS) {
    const refDir = path.join(root, `${sc.name}-ref`);
    const ref = await mmrun(['run', path.join(FIXTURES, sc.fixture), '--id', 'ref', ...sc.args, ...COMMON], refDir);
    if (ref.code !== 0) throw new Error(`reference run failed: ${ref.stderr}`);
    const want = segmentHashes(refDir, 'ref');
    const row: Row = { scenario: sc.name, trials: 0, identical: 0, kills: 0, maxLost: 0 };
    while (row.kills < perScenario) {
      const dir = path.join(root, `${sc.name}-${row.trials}`);
      const delays: number[] = [];
      let cli = spawnMmrun(['run', path.join(FIXTURES, sc.fixture), '--id', 'k', ...sc.args, ...COMMON], dir);
      let killsHere = 0;
      for (;;) {
        await cli.started;
        const delay = 30 + Math.floor(Math.random() * 500);
        delays.push(delay);
        const done = await Promise.race([cli.exited.then(() => true), sleep(delay).then(() => false)]);
        if (!done && killsHere < 4) {
          cli.child.kill('SIGKILL');
          await cli.exited;
          killsHere++;
          row.kills++;
          // The kill may land after the run completed, while the process was exiting.
          if (peekRun(dir, 'k')?.status === 'completed') break;
        } else {
          const r = await cli.exited;
          if (r.code !== 0) throw new Error(`${sc.name}: exit ${r.code}: ${r.stderr}`);
          if (peekRun(dir, 'k')?.status === 'completed') break;
        }
        cli = spawnMmrun(['resume', 'k'], dir);
      }
      row.trials++;
      const got = segmentHashes(dir, 'k');
      if (JSON.stringify(got) === JSON.stringify(want)) row.identical++;
      else {
        failed = true;
        console.error(`MISMATCH ${sc.name} trial ${row.trials} in ${dir} (delays ${delays})`);
      }
    }
    table.push(row);
  }
  console.log('scenario    trials  identical  kills');
  for (const r of table)
    console.log(
      `${r.scenario.padEnd(12)}${String(r.trials).padStart(6)}  ${String(r.identical).padStart(9)}  ${String(r.kills).padStart(5)}`,
    );
  if (failed) process.exit(1);
  fs.rmSync(root, { recursive: true, force: true });
}

await main();
