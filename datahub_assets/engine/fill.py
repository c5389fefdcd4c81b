"""Filling a series onto grid times, and the quality code of each cell (DESIGN section 9b).

Codes: 0 measured (a reading at the cell's time, or inside its bucket), 1 carried (the last earlier reading,
within the tolerance), 2 interpolated (linear between the readings on either side), 3 missing (null).
A cell is null exactly when its code is 3; a filled value is never left unmarked.

Everything here is lazy and pure: frames in, frames out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final, Literal, get_args

import polars as pl

from datahub_assets.engine.schema import QUALITY_SUFFIX, TS, VALUE

Fill = Literal["locf", "linear"]
FILLS: Final = frozenset(get_args(Fill))

MEASURED: Final = 0
CARRIED: Final = 1
INTERPOLATED: Final = 2
MISSING: Final = 3
QUALITY_DTYPE: Final = pl.UInt8

_AT = "__at"  # the stamp of the reading before (or at) the cell
_NEXT_AT = "__next_at"  # the stamp of the reading after (or at) the cell
_NEXT = "__next"  # its value


def quality_name(name: str) -> str:
    """The quality column beside the value column `name`."""
    return name + QUALITY_SUFFIX


def code(expr: pl.Expr) -> pl.Expr:
    return expr.cast(QUALITY_DTYPE)


def carried(grid: pl.LazyFrame, frame: pl.LazyFrame, name: str, *, tolerance: timedelta | None,
            quality: bool = False) -> pl.LazyFrame:
    """Column `name` (and its quality) on the sorted grid `ts`: the last reading with ts <= t, if
    t - ts <= tolerance (None: no limit), else null. One merge (asof join) of the grid with the series."""
    columns = [pl.col(TS), pl.col(VALUE).alias(name)] + ([pl.col(TS).alias(_AT)] if quality else [])
    joined = grid.join_asof(frame.select(columns).set_sorted(TS), on=TS, strategy="backward",
                            tolerance=tolerance, check_sortedness=False)
    if not quality:
        return joined.select(name)
    value = pl.col(name)
    grade = (pl.when(value.is_null()).then(pl.lit(MISSING))
             .when(pl.col(_AT) == pl.col(TS)).then(pl.lit(MEASURED))
             .otherwise(pl.lit(CARRIED)))
    return joined.select(value, code(grade).alias(quality_name(name)))


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


def bucket_quality(count: pl.Expr, name: str, *, method: str) -> pl.Expr:
    """The code of an aggregate cell: measured where the bucket holds readings, missing where it is empty
    (and its value null). A count is never null: every count cell is measured, empty buckets too (0)."""
    if method == "count":
        return code(pl.lit(MEASURED)).alias(quality_name(name))
    return code(pl.when(count > 0).then(pl.lit(MEASURED)).otherwise(pl.lit(MISSING))).alias(quality_name(name))
