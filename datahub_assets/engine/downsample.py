"""Downsampling for charts that keeps the extremes (min/max per bucket). Pure and lazy.

A chart of a long window cannot draw every reading, and a mean flattens the spikes a reader looks for. Here
each bucket of a regular grid gives two rows, at t and at t + width/2, holding per series the bucket's
minimum and maximum in the order they occurred, so a line drawn through the rows passes through both
extremes; an empty bucket gives two nulls, so the chart draws a gap (never a line to zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from datahub_assets.engine.buckets import buckets
from datahub_assets.engine.fill import MEASURED, MISSING, code, quality_name
from datahub_assets.engine.grid import as_utc, bucket_labels, to_us
from datahub_assets.engine.schema import TS, TS_DTYPE, VALUE

_MIN, _MAX, _ARG_MIN, _ARG_MAX, _COUNT = "__min", "__max", "__arg_min", "__arg_max", "__count"
_MID = "__mid"


def pixel_labels(start: datetime, end: datetime, buckets_: int) -> pl.Series:
    """The starts of `buckets_` buckets splitting [start, end) evenly (whole microseconds, floored)."""
    start_us, end_us = to_us(start), to_us(end)
    if buckets_ < 1:
        raise ValueError(f"minmax needs at least 1 bucket, got {buckets_}")
    span = end_us - start_us
    if span < 2 * buckets_:
        raise ValueError(f"window of {span} us is too short for {buckets_} buckets of two rows each")
    idx = pl.int_range(0, buckets_, eager=True, dtype=pl.Int64)
    q, r = divmod(span, buckets_)  # i * span may overflow int64: split it as q * i + (r * i) // n
    return (start_us + idx * q + (idx * r) // buckets_).cast(TS_DTYPE).alias(TS)


def minmax(
    frames: Sequence[pl.LazyFrame],
    names: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    resolution: timedelta | int,
    quality: bool = False,
) -> pl.LazyFrame:
    """Two rows per bucket: `ts`, then per series the bucket's min and max in time order.

    resolution: a duration (epoch-aligned buckets [t, t + width) overlapping [start, end), as for aggregates;
    the first may start before `start`) or an int n (n buckets of (end - start) / n from `start`, e.g. one per
    pixel column). Only observations in [start, end) count. The rows sit at t and t + width // 2 (whole
    microseconds). A bucket with one reading repeats it; an empty one gives nulls (quality 3, else 0).
    """
    start, end = as_utc(start), as_utc(end)
    if isinstance(resolution, bool) or not isinstance(resolution, (int, timedelta)):
        raise ValueError(f"minmax needs a duration or a bucket count, got {resolution!r}")
    if isinstance(resolution, timedelta):
        if to_us(resolution) < 2:
            raise ValueError(f"minmax buckets must be at least 2 us wide, got {resolution}")
        labels = bucket_labels(start, end, resolution)
        width: timedelta | None = resolution
        mid = pl.col(TS) + timedelta(microseconds=to_us(resolution) // 2)
    else:
        if to_us(end) <= to_us(start):
            raise ValueError(f"window end {end} must be after start {start}")
        labels = pixel_labels(start, end, resolution)
        width = None
        us = pl.col(TS).dt.epoch("us")
        following = us.shift(-1, fill_value=to_us(end))
        mid = pl.col(TS) + pl.duration(microseconds=(following - us) // 2)
    grid = pl.LazyFrame([labels]).set_sorted(TS).select(TS, mid.alias(_MID))
    firsts, seconds = [pl.col(TS)], [pl.col(_MID).alias(TS)]
    columns = [grid]
    for i, (frame, name) in enumerate(zip(frames, names, strict=True)):
        value = pl.col(VALUE)
        aggs = [value.min().alias(_MIN), value.max().alias(_MAX), value.arg_min().alias(_ARG_MIN),
                value.arg_max().alias(_ARG_MAX), pl.len().alias(_COUNT)]
        stats = buckets(frame, labels, aggs, start=start, end=end, width=width)
        min_first = pl.col(_ARG_MIN) <= pl.col(_ARG_MAX)
        pair = [
            pl.when(min_first).then(pl.col(_MIN)).otherwise(pl.col(_MAX)).alias(f"__a{i}"),
            pl.when(min_first).then(pl.col(_MAX)).otherwise(pl.col(_MIN)).alias(f"__b{i}"),
        ]
        firsts.append(pl.col(f"__a{i}").alias(name))
        seconds.append(pl.col(f"__b{i}").alias(name))
        if quality:
            pair.append(code(pl.when(pl.col(_COUNT) > 0).then(pl.lit(MEASURED)).otherwise(pl.lit(MISSING)))
                        .alias(f"__q{i}"))
            firsts.append(pl.col(f"__q{i}").alias(quality_name(name)))
            seconds.append(pl.col(f"__q{i}").alias(quality_name(name)))
        columns.append(stats.select(pair))
    side = pl.concat(columns, how="horizontal", strict=True)
    # Interleave: the first row of a bucket sorts before its second (t < t + width // 2 < the next t).
    return pl.concat([side.select(firsts), side.select(seconds)]).sort(TS, maintain_order=True).set_sorted(TS)
