"""Data-quality counts of one fetched partition, for the asset checks. Pure and lazy."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from datahub_assets.engine.grid import as_utc
from datahub_assets.engine.schema import TS, VALUE, clean, to_canonical


def quality(
    fetched: pl.LazyFrame,
    *,
    start: datetime,
    end: datetime,
    max_gap: timedelta | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    closed: bool = True,
) -> pl.LazyFrame:
    """One row of counts over the readings of [start, end), in the order the source delivered them.

    rows, nulls, duplicates (stamps seen before, nulls aside), backwards (a stamp earlier than the one
    before it), out_of_range, gaps (spaces between readings wider than max_gap; the window's start, and
    its end when the window is closed, count as edges), largest_gap (seconds), first_ts, last_ts.
    """
    start, end = as_utc(start), as_utc(end)
    raw = to_canonical(fetched)
    present = raw.filter(pl.col(VALUE).is_not_null() & pl.col(VALUE).is_not_nan())
    counts = raw.select(
        pl.len().alias("rows"),
        (pl.col(VALUE).is_null() | pl.col(VALUE).is_nan()).sum().alias("nulls"),
        (pl.col(TS).diff() < pl.duration(microseconds=0)).sum().alias("backwards"),
    )
    dups = present.select((pl.len() - pl.col(TS).n_unique()).alias("duplicates"))
    cleaned = clean(raw)
    in_range = pl.lit(True)
    if minimum is not None:
        in_range = in_range & (pl.col(VALUE) >= minimum)
    if maximum is not None:
        in_range = in_range & (pl.col(VALUE) <= maximum)
    parts = [_instant(start), cleaned.select(TS)] + ([_instant(end)] if closed else [])
    stamps = pl.concat(parts)
    gaps = stamps.select(pl.col(TS).diff().drop_nulls().alias("gap")).select(
        (pl.col("gap") > (max_gap or timedelta.max)).sum().alias("gaps"),
        (pl.col("gap").max().dt.total_microseconds() / 1e6).alias("largest_gap"),
    )
    summary = cleaned.select(
        (~in_range).sum().alias("out_of_range"),
        pl.col(TS).min().alias("first_ts"),
        pl.col(TS).max().alias("last_ts"),
    )
    return pl.concat([counts, dups, summary, gaps], how="horizontal", strict=True)


def _instant(at: datetime) -> pl.LazyFrame:
    return pl.LazyFrame({TS: [at]}).select(pl.col(TS).dt.cast_time_unit("us").dt.convert_time_zone("UTC"))
