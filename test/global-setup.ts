import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds dist/ before any test runs: the end-to-end tests spawn bin/mmrun.js, and every
 * worker thread (shards, stats, helpers) runs compiled JavaScript, even when the test
 * imports the sources.
 */
export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
}
