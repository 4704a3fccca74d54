"""Read mmrun runs into NumPy and pandas, also while they are being written.

>>> from mmrun_reader import open_run
>>> r = open_run("runs", "walk-1")
>>> r.flushed_rows, r.array()["position"].mean()

A snapshot is the flushed index read in one read transaction of the catalog (opened
read-only) and rows [0, flushed_rows) of the segments, mapped read-only; the writer never
changes those rows again. ``refresh()`` gives a newer snapshot, ``follow()`` each new range.
"""
from ._reader import (
    MAX_SCHEMA_VERSION,
    MIN_SCHEMA_VERSION,
    MmrunReaderError,
    RunSnapshot,
    Segment,
    SweepSnapshot,
    open_run,
    open_sweep,
    to_pandas,
)

__all__ = [
    "MAX_SCHEMA_VERSION",
    "MIN_SCHEMA_VERSION",
    "MmrunReaderError",
    "RunSnapshot",
    "Segment",
    "SweepSnapshot",
    "open_run",
    "open_sweep",
    "to_pandas",
]
__version__ = "0.1.0"
