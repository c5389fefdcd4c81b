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
    return ts.dt.cast_time_unit("us").to_physical().to_numpy()


def values(frame: pl.DataFrame) -> NDArray[np.float64]:
    return frame.get_column(VALUE).cast(pl.Float64).to_numpy()


def with_nulls(name: str, data: NDArray[np.float64], valid: NDArray[np.bool_]) -> pl.Series:
    """A Float64 column holding `data` where `valid`, null elsewhere (what `data` holds there is ignored)."""
    if valid.all():
        return pl.Series(name, data)
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    array = pa.Array.from_buffers(pa.float64(), len(data), [bitmap, pa.py_buffer(data)])
    return pl.Series(name, array)
