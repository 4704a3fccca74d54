// Test-only preload (node --require): breaks mmrun's durability order by making msync a
// no-op, so rows are committed to the catalog without ever being made durable. The
// power-loss test runs mmrun with it to prove that it notices (see harness.ts, BREAK).
const mmap = require('@riaskov/mmap-io');

mmap.sync = () => {};
