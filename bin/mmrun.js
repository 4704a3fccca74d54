#!/usr/bin/env node
// mmrun's entry point. It runs the CLI in this very process (kill -9 of this pid stops the
// work): tsx's loader is registered in-process so that the TypeScript sources and users'
// .ts experiments load without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
