"""Filling a series onto grid times, and the quality code of each cell (DESIGN section 9b).

Codes: 0 measured (a reading at the cell's time, or inside its bucket), 1 carried (the last earlier reading,
within the tolerance), 2 interpolated (linear between the readings on either side), 3 missing (null).
A cell is null exactly when its code is 3; a filled value is never left unmarked.

Pure: frames in, columns or lazy frames out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final, Literal, get_args

import numpy as np
import polars as pl
from numpy.typing import NDArray

from datahub_assets.engine import kernels
from datahub_assets.engine.arrays import stamps, values, with_nulls
from datahub_assets.engine.grid import to_us
from datahub_assets.engine.schema import QUALITY_SUFFIX, TS, VALUE

Fill = Literal["locf", "linear"]
FILLS: Final = frozenset(get_args(Fill))

MEASURED: Final = kernels.MEASURED
CARRIED: Final = kernels.CARRIED
INTERPOLATED: Final = 2
MISSING: Final = kernels.MISSING
QUALITY_DTYPE: Final = pl.UInt8

_AT = "__at"  # the stamp of the reading before (or at) the cell
_NEXT_AT = "__next_at"  # the stamp of the reading after (or at) the cell
_NEXT = "__next"  # its value


def quality_name(name: str) -> str:
    """The quality column beside the value column `name`."""
    return name + QUALITY_SUFFIX


def code(expr: pl.Expr) -> pl.Expr:
    return expr.cast(QUALITY_DTYPE)


def carried(grid: NDArray[np.int64], frame: pl.DataFrame, name: str, *, tolerance: timedelta | None,
            quality: bool = False) -> list[pl.Series]:
    """Column `name` (and its quality) on the sorted grid (int64 microseconds): the last reading with
    ts <= t, if t - ts <= tolerance (None: no limit), else null. One galloping pass over the series."""
    out = np.empty(len(grid), dtype=np.float64)
    codes = np.empty(len(grid), dtype=np.uint8)
    kernels.carry(grid, stamps(frame), values(frame), -1 if tolerance is None else to_us(tolerance), out, codes)
    column = with_nulls(name, out, codes != MISSING)
    return [column, pl.Series(quality_name(name), codes, dtype=QUALITY_DTYPE)] if quality else [column]


def interpolated(grid: pl.LazyFrame, frame: pl.LazyFrame, name: str, *, max_gap: timedelta | None,
                 quality: bool = False) -> pl.LazyFrame:
    """Column `name` (and its quality) on the sorted grid `ts`, filled linearly: a cell at a reading's time
    holds that reading; a cell strictly between two readings at most `max_gap` apart (None: any distance)
    holds the straight line between them at its time; every other cell is null. No tolerance applies."""
    readings = frame.select(TS, VALUE).set_sorted(TS)
    before = readings.select(TS, pl.col(TS).alias(_AT), pl.col(VALUE).alias(name))
    after = readings.select(TS, pl.col(TS).alias(_NEXT_AT), pl.col(VALUE).alias(_NEXT))
    joined = (
        grid.join_asof(before, on=TS, strategy="backward", check_sortedness=False)
        .join_asof(after, on=TS, strategy="forward", check_sortedness=False)
    )
    t, at, next_at = (pl.col(c).dt.epoch("us") for c in (TS, _AT, _NEXT_AT))
    v0, v1 = pl.col(name), pl.col(_NEXT)
    exact = (at == t).fill_null(False)
    if max_gap is None:
        near = at.is_not_null() & next_at.is_not_null()
    else:
        near = ((next_at - at) <= max_gap // timedelta(microseconds=1)).fill_null(False)
    weight = (t - at).cast(pl.Float64) / (next_at - at).cast(pl.Float64)
    # Rounding must not carry the line past either reading: clamp to the two values.
    line = (v0 + (v1 - v0) * weight).clip(pl.min_horizontal(v0, v1), pl.max_horizontal(v0, v1))
    value = pl.when(exact).then(v0).when(near).then(line)
    grade = pl.when(exact).then(pl.lit(MEASURED)).when(near).then(pl.lit(INTERPOLATED)).otherwise(pl.lit(MISSING))
    columns = [value.alias(name)] + ([code(grade).alias(quality_name(name))] if quality else [])
    return joined.select(columns)


def bucket_quality(counts: NDArray[np.int64], name: str, *, method: str) -> pl.Series:
    """The codes of aggregate cells holding `counts` readings: measured where the bucket holds readings, missing
    where it is empty (and its value null). A count is never null: every count cell is measured, empty ones too
    (0)."""
    grades = np.full(len(counts), MEASURED, dtype=np.uint8) if method == "count" else \
        np.where(counts > 0, MEASURED, MISSING).astype(np.uint8)
    return pl.Series(quality_name(name), grades, dtype=QUALITY_DTYPE)
