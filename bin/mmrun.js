#!/usr/bin/env node
// mmrun's entry point. It runs the compiled CLI (dist/) in this very process: kill -9 of
// this pid stops the work. No loader is registered: a user's TypeScript experiment is
// bundled by esbuild when a command loads it (src/bundle/).
import module from 'node:module';

// Node ≥ 22.1 keeps V8's compiled code of mmrun's modules on disk between commands.
module.enableCompileCache?.();
// `run --workers K`, `resume` of a sharded run: the shard workers boot while the CLI loads
// its own modules.
const { prestartWorkers } = await import('../dist/cli/prestart.js');
await prestartWorkers(process.argv.slice(2));
await import('../dist/cli/main.js');
