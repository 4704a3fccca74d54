/**
 * Micro-benchmark of CounterRng. Run with `npx tsx bench/rng.bench.ts [draws]`.
 * Prints nanoseconds per operation; the best of several rounds is reported.
 */

import { CounterRng, philox4x32 } from '../src/experiment/rng.ts';

const N = Number(process.argv[2] ?? 1e7);
const ROUNDS = 5;

let sink = 0;

function time(label: string, run: () => void): void {
  let best = Number.POSITIVE_INFINITY;
  run(); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    run();
    const ns = Number(process.hrtime.bigint() - t0);
    if (ns < best) best = ns;
  }
  console.log(`${label.padEnd(34)} ${(best / N).toFixed(2).padStart(7)} ns/op`);
}

const rng = new CounterRng(42);
const out = new Uint32Array(4);

console.log(`node ${process.version}, ${N.toExponential(0)} ops per round, best of ${ROUNDS}`);
time('philox4x32 block', () => {
  for (let i = 0; i < N; i++) philox4x32(i, 1, 2, 3, 4, 5, out);
  sink += out[0] as number;
});
time('nextU32 (one stream)', () => {
  rng.reset(0);
  for (let i = 0; i < N; i++) sink += rng.nextU32();
});
time('reset(i) + random()', () => {
  for (let i = 0; i < N; i++) {
    rng.reset(i);
    sink += rng.random();
  }
});
time('random() (one stream)', () => {
  rng.reset(1);
  for (let i = 0; i < N; i++) sink += rng.random();
});
time('normal() (one stream)', () => {
  rng.reset(2);
  for (let i = 0; i < N; i++) sink += rng.normal();
});
time('reset(i) + normal()', () => {
  for (let i = 0; i < N; i++) {
    rng.reset(i);
    sink += rng.normal();
  }
});
time('int(6) (one stream)', () => {
  rng.reset(3);
  for (let i = 0; i < N; i++) sink += rng.int(6);
});
time('exponential() (one stream)', () => {
  rng.reset(4);
  for (let i = 0; i < N; i++) sink += rng.exponential();
});
time('Math.random() (baseline)', () => {
  for (let i = 0; i < N; i++) sink += Math.random();
});
if (sink === 42) console.log('');
