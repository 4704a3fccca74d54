#!/usr/bin/env python3
"""Load an mmrun run in NumPy (and pandas, if installed) and print a summary.

    python3 examples/python/read_run.py runs/<run-id> [<run-id>.npy]

The first argument is the run's directory: its segments 000000.npy, 000001.npy ... are
plain .npy files, concatenated in name order they hold the rows in iteration order. The
optional second argument is a file written by `mmrun export <run-id> --format npy`, which
is checked against the segments. Only NumPy is needed; with pandas the rows also become a
DataFrame (vector columns as name[0], name[1], ...).
"""
import glob
import os
import sqlite3
import sys

import numpy as np

try:
    import pandas as pd
except ImportError:  # pandas is optional
    pd = None


def flushed_rows(run_dir):
    """Rows the catalog says are on disk; rows past them in an unfinished run are garbage."""
    catalog = os.path.join(os.path.dirname(os.path.abspath(run_dir)), "mmrun.sqlite")
    run_id = os.path.basename(os.path.abspath(run_dir))
    try:
        con = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
        try:
            row = con.execute(
                "SELECT flushed_index FROM checkpoints WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
                (run_id,),
            ).fetchone()
        finally:
            con.close()
        return row[0] if row else 0
    except sqlite3.Error:
        return None  # no readable catalog: trust the segments


def load_run(run_dir):
    """The run's flushed rows as one structured array."""
    files = sorted(glob.glob(os.path.join(run_dir, "*.npy")))
    if not files:
        sys.exit(f"{run_dir}: no .npy segments here")
    segments = [np.load(f, mmap_mode="r") for f in files]  # maps, reads nothing yet
    rows = np.concatenate(segments)  # copies; for huge runs, work segment by segment
    flushed = flushed_rows(run_dir)
    return (rows if flushed is None else rows[:flushed]), len(files), flushed


def to_frame(rows):
    """A pandas DataFrame with vector columns expanded to name[0], name[1], ..."""
    columns = {}
    for name in rows.dtype.names:
        col = rows[name]
        if col.ndim == 1:
            columns[name] = col
        else:
            for k in range(col.shape[1]):
                columns[f"{name}[{k}]"] = col[:, k]
    return pd.DataFrame(columns)


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
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    run_dir = argv[1]
    rows, segments, flushed = load_run(run_dir)
    note = "" if flushed is None else f" (the catalog says {flushed} are flushed)"
    print(f"run {os.path.basename(os.path.abspath(run_dir))}: {len(rows)} rows in {segments} segments{note}")
    print(f"dtype: {rows.dtype}")
    for name in rows.dtype.names:
        print(describe(name, rows[name]))

    if len(argv) == 3:
        exported = np.load(argv[2], mmap_mode="r")
        same = exported.dtype == rows.dtype and exported.tobytes() == rows.tobytes()
        verdict = "identical to the segments" if same else "NOT identical to the segments (another --rows or --columns?)"
        print(f"exported {argv[2]}: {exported.shape[0]} rows, {verdict}")

    if pd is not None:
        frame = to_frame(rows)
        print(f"pandas DataFrame: {frame.shape[0]} rows x {frame.shape[1]} columns")
    else:
        print("pandas is not installed: skipped the DataFrame")


if __name__ == "__main__":
    main(sys.argv)
