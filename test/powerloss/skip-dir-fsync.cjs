// Test-only preload (node --require): makes fsync of a directory a no-op, so new files and
// directories (the run directory, each new segment) are never made durable. The power-loss
// test runs mmrun with it to prove that lossyfs models directory entries (see harness.ts).
const fs = require('node:fs');
const { syncBuiltinESMExports } = require('node:module');

const fsyncSync = fs.fsyncSync;
fs.fsyncSync = (fd) => {
  if (fs.fstatSync(fd).isDirectory()) return;
  fsyncSync(fd);
};
syncBuiltinESMExports();
