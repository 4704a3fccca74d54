#!/usr/bin/env python3
"""Load an mmrun run with mmrun_reader and print a summary; --follow keeps reading while it runs.

    python3 examples/python/read_run.py runs/<run-id> [<run-id>.npy] [--follow]

The argument is the run's directory (its parent holds the catalog, mmrun.sqlite). The
reader takes a snapshot: the flushed index read from the catalog (opened read-only) and
rows [0, flushed_rows) of the segments, mapped read-only; it works on a run that is still
being written. The optional .npy file, written by `mmrun export <run-id> --format npy`, is
checked against the snapshot. With --follow, one line per newly flushed range until the
run ends. Needs NumPy; pandas if installed, for a DataFrame.

Install the reader with `pip install ./python/mmrun_reader` (offline: add
--no-build-isolation); run from a checkout, this script also finds it without installing.
"""
import os
import sys

import numpy as np

try:
    from mmrun_reader import MmrunReaderError, open_run
except ImportError:  # not installed: use the copy in this repository
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python", "mmrun_reader"))
    from mmrun_reader import MmrunReaderError, open_run


def describe(name, col):
    kind = col.dtype.kind
    shape = f"{col.dtype}" + (f" x {col.shape[1]}" if col.ndim > 1 else "")
    if col.size == 0:
        return f"  {name:<12} {shape:<12} (no rows)"
    if kind == "b":
        return f"  {name:<12} {shape:<12} true: {int(col.sum())} of {col.size}"
    if kind == "f":
        finite = col[np.isfinite(col)]
        nan = int(np.isnan(col).sum())
        inf = int(np.isinf(col).sum())
        if finite.size == 0:
            return f"  {name:<12} {shape:<12} no finite values (NaN: {nan}, inf: {inf})"
        with np.errstate(over="ignore", invalid="ignore"):  # extremes may overflow the mean
            mean = finite.astype(np.float64).mean()
        return (
            f"  {name:<12} {shape:<12} min {finite.min():.6g}  max {finite.max():.6g}  "
            f"mean {mean:.6g}  (NaN: {nan}, inf: {inf})"
        )
    return f"  {name:<12} {shape:<12} min {col.min()}  max {col.max()}"


def main(argv):
    follow = "--follow" in argv
    args = [a for a in argv[1:] if a != "--follow"]
    if len(args) not in (1, 2):
        sys.exit(__doc__)
    run_dir = os.path.abspath(args[0])
    try:
        run = open_run(os.path.dirname(run_dir), os.path.basename(run_dir))
    except MmrunReaderError as e:
        sys.exit(str(e))
    segments = run.segments()  # one read-only view per segment: nothing read yet
    rows = run.array()  # one array (a copy when there are several segments)
    live = f", still running: read at row {run.flushed_rows}" if run.live else ""
    print(f"run {run.run_id} ({run.status}{live}): {run.flushed_rows} flushed rows of {run.iterations} in {len(segments)} segments")
    print(f"dtype: {rows.dtype}")
    for name in rows.dtype.names:
        print(describe(name, rows[name]))

    if len(args) == 2:
        exported = np.load(args[1], mmap_mode="r")
        same = exported.dtype == rows.dtype and exported.tobytes() == rows.tobytes()
        verdict = "identical to the segments" if same else "NOT identical to the segments (another --rows or --columns?)"
        print(f"exported {args[1]}: {exported.shape[0]} rows, {verdict}")

    try:
        frame = run.to_pandas()
        print(f"pandas DataFrame: {frame.shape[0]} rows x {frame.shape[1]} columns")
    except MmrunReaderError:
        print("pandas is not installed: skipped the DataFrame")

    if follow:
        last = run
        for start, end, snap in run.follow(interval=0.2):
            first = rows.dtype.names[0]
            print(f"rows {start}..{end} flushed ({snap.flushed_rows} of {snap.iterations}); mean {first}: {snap.rows(start, end)[first].mean():.6g}", flush=True)
            last = snap
        print(f"run {run.run_id} is {last.refresh().status}")


if __name__ == "__main__":
    main(sys.argv)
