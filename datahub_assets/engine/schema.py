"""Column names and the canonical shape of a series: `ts` (UTC, microseconds) and `value` (Float64)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

TS = "ts"
VALUE = "value"
TS_DTYPE = pl.Datetime("us", "UTC")
SERIES_SCHEMA = pl.Schema([(TS, TS_DTYPE), (VALUE, pl.Float64())])


EXPORT_TS = "timestamp"
QUALITY_SUFFIX = "__quality"  # the quality column beside a value column (DESIGN 9b)
CSV_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"


def handed_out(grid: pl.LazyFrame | pl.DataFrame, columns: Sequence[tuple[str, str]]) -> pl.LazyFrame:
    """A grid as exports hand it out: `timestamp`, then each (grid column, series id) as a Float64 column
    named by the series id, followed by its quality column `<id>__quality` where the grid has one. Used by the
    export assets and the API alike."""
    grid = grid.lazy()
    present = set(grid.collect_schema().names())
    exprs = [pl.col(TS).alias(EXPORT_TS)]
    for column, sid in columns:
        exprs.append(pl.col(column).cast(pl.Float64).alias(sid))
        if column + QUALITY_SUFFIX in present:
            exprs.append(pl.col(column + QUALITY_SUFFIX).alias(sid + QUALITY_SUFFIX))
    return grid.select(exprs)


def check_series(lf: pl.LazyFrame) -> None:
    """Raise ValueError unless the frame has a `ts` datetime column and a numeric `value` column."""
    schema = lf.collect_schema()
    if TS not in schema or not isinstance(schema[TS], pl.Datetime):
        raise ValueError(f"series frame needs a datetime column {TS!r}, got {dict(schema)}")
    if VALUE not in schema or not schema[VALUE].is_numeric():
        raise ValueError(f"series frame needs a numeric column {VALUE!r}, got {dict(schema)}")


def to_canonical(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Cast to the canonical schema; naive timestamps are taken as UTC."""
    check_series(lf)
    dtype = lf.collect_schema()[TS]
    assert isinstance(dtype, pl.Datetime)
    ts = pl.col(TS)
    ts = ts.dt.replace_time_zone("UTC") if dtype.time_zone is None else ts.dt.convert_time_zone("UTC")
    return lf.select(ts.dt.cast_time_unit("us").alias(TS), pl.col(VALUE).cast(pl.Float64))


def clean(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Canonical schema, nulls and NaNs dropped, sorted by time, duplicate stamps resolved: last row wins.

    Nulls go first so that a null never hides a real value; the sort is stable so "last" means last in
    the order the rows arrived (latest fetch, then file order, then row order).
    """
    return (
        to_canonical(lf)
        .filter(pl.col(VALUE).is_not_null() & pl.col(VALUE).is_not_nan() & pl.col(TS).is_not_null())
        .sort(TS, maintain_order=True)
        .unique(subset=[TS], keep="last", maintain_order=True)
        .set_sorted(TS)
    )
