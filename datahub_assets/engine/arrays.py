"""Between frames and the kernels' arrays: zero-copy views of a clean frame, and a column with nulls."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from numpy.typing import NDArray

from datahub_assets.engine.schema import TS, VALUE


def stamps(frame: pl.DataFrame | pl.Series) -> NDArray[np.int64]:
    """The `ts` of a frame (or a datetime series) as int64 microseconds since the epoch."""
    ts = frame if isinstance(frame, pl.Series) else frame.get_column(TS)
    if not (isinstance(ts.dtype, pl.Datetime) and ts.dtype.time_unit == "us"):
        ts = ts.dt.cast_time_unit("us")
    return ts.to_numpy().view(np.int64)  # datetime64[us] as its int64 microseconds, no copy


def values(frame: pl.DataFrame) -> NDArray[np.float64]:
    column = frame.get_column(VALUE)
    return (column if column.dtype == pl.Float64 else column.cast(pl.Float64)).to_numpy()


def with_nulls(name: str, data: NDArray[np.float64], valid: NDArray[np.bool_]) -> pl.Series:
    """A Float64 column holding `data` where `valid`, null elsewhere (what `data` holds there is ignored)."""
    if valid.all():
        return pl.Series(name, data)
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    array = pa.Array.from_buffers(pa.float64(), len(data), [bitmap, pa.py_buffer(data)])
    return pl.Series(name, array)
