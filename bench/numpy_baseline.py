"""The NumPy recipe mmrun is compared against (`speedupVsNumpy` in bench/README.md).

What a careful Python user writes without mmrun: an `np.memmap` in mode 'w+' with the same
structured dtype as bench/fixtures/cheap.ts, one row assigned per iteration of a Python loop,
flushed (msync of the mapping) every 10 000 rows or every 30 seconds, and once at the end.
The row is the same math as the fixture: n = i + 1, two uniform draws x and y, r2 = x² + y².

Where a choice exists, it favours NumPy, so the speedup is not flattered:
- by default (`--rng stdlib`) the uniform draws come from `random.random`, CPython's C
  Mersenne Twister: the cheapest per-call generator Python has. `--rng numpy` draws from
  `numpy.random.default_rng(seed).random()` instead, as a NumPy user may well write (each
  call costs several times more); bench/run.ts reports that one in its table only;
- the clock is read every 256 rows, not every row.

    python3 bench/numpy_baseline.py --rows 1000000 --dir /tmp/somewhere [--rng numpy]

Prints one JSON object: rows, seconds, rowsPerSecond, flushes, numpy and python versions.
"""

import argparse
import json
import os
import platform
import random
import time

import numpy as np

FLUSH_EVERY = 10_000
FLUSH_SECONDS = 30.0
CLOCK_EVERY = 256

DTYPE = np.dtype([("n", "<f8"), ("x", "<f8"), ("y", "<f8"), ("r2", "<f8")])


def run(rows: int, path: str, seed: int, rng: str) -> dict:
    t0 = time.perf_counter()
    mm = np.memmap(path, dtype=DTYPE, mode="w+", shape=(rows,))
    draw = random.Random(seed).random if rng == "stdlib" else np.random.default_rng(seed).random
    monotonic = time.monotonic
    last_flush = monotonic()
    pending = 0
    flushes = 0
    for i in range(rows):
        x = draw()
        y = draw()
        mm[i] = (i + 1, x, y, x * x + y * y)
        pending += 1
        if pending >= FLUSH_EVERY or (i % CLOCK_EVERY == 0 and monotonic() - last_flush >= FLUSH_SECONDS):
            mm.flush()
            flushes += 1
            pending = 0
            last_flush = monotonic()
    mm.flush()
    flushes += 1
    seconds = time.perf_counter() - t0
    # A spot check that the rows are the ones the loop meant to write.
    assert mm[rows - 1]["n"] == rows
    del mm
    return {
        "rows": rows,
        "seconds": seconds,
        "rowsPerSecond": rows / seconds,
        "flushes": flushes,
        "rng": rng,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", required=True, help="a temporary directory for the memmap file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rng", choices=("stdlib", "numpy"), default="stdlib")
    args = parser.parse_args()
    path = os.path.join(args.dir, "numpy-baseline.dat")
    try:
        result = run(args.rows, path, args.seed, args.rng)
    finally:
        if os.path.exists(path):
            os.remove(path)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
