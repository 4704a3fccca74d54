const { throughput } = await import(process.cwd() + '/bench/throughput.ts');
const r = await throughput({ reps: 5, rows: 4_000_000, numpyRows: 200_000, diagnostics: false, log: () => {} });
const f = (s: { median: number; min: number; max: number }) => `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
console.log(process.cwd(), 'overheadVsBareLoop', f(r.overheadVsBareLoop), 'flushOverhead', f(r.flushOverhead), 'mmrunWall', f(r.mmrunWallMs), 'bareWall', f(r.bareWallMs), 'mmrunCpu', f(r.mmrunMainCpuMs), 'bareCpu', f(r.bareMainCpuMs));
