#!/usr/bin/env node
// mmrun's entry point. It runs the CLI in this very process (kill -9 of this pid stops the
// work): tsx's loader is registered in-process so that the TypeScript sources and users'
// .ts experiments load without a build step.
import { register } from 'tsx/esm/api';

register();
// `run --workers K`, `resume` of a sharded run: the shard workers boot (tsx, modules) while
// the CLI loads its own.
const { workersWanted, prestartShardWorkers } = await import('../src/runner/worker-pool.ts');
prestartShardWorkers(await workersWanted(process.argv.slice(2)));
await import('../src/cli/main.ts');
