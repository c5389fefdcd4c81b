"""Buckets of sorted observations: the window as a slice, and aggregates bucket by bucket. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from numpy.typing import NDArray

from datahub_assets.engine import kernels
from datahub_assets.engine.arrays import stamps, values
from datahub_assets.engine.grid import as_utc, to_us
from datahub_assets.engine.schema import TS, TS_DTYPE

_KEY = "__key"  # an internal column: a stamp as microseconds since the epoch
_LABEL = "__label"
_ROWS = "__rows"


def window(frame: pl.LazyFrame, *, start: datetime, end: datetime) -> pl.LazyFrame:
    """The rows with start <= ts < end of a clean frame: a slice found by binary search (ts is sorted)."""
    start, end = as_utc(start), as_utc(end)
    ts = pl.col(TS)
    lo = ts.search_sorted(pl.lit(start, dtype=TS_DTYPE), side="left")
    hi = ts.search_sorted(pl.lit(end, dtype=TS_DTYPE), side="left")
    # One slice of a struct of all columns: the two binary searches run once, not once per column.
    rows = pl.struct(pl.all()).slice(lo, hi - lo).alias(_ROWS)
    return frame.select(rows).unnest(_ROWS).set_sorted(TS)


def buckets(
    frame: pl.LazyFrame,
    labels: pl.Series,
    aggs: Sequence[pl.Expr],
    *,
    start: datetime,
    end: datetime,
    width: timedelta | None = None,
) -> pl.LazyFrame:
    """One row per label (in order): `aggs` over the observations of [start, end) in that label's bucket,
    null where the bucket is empty. With `width`, bucket t is [t, t + width) and the labels are multiples of
    width from the epoch; without it, an observation belongs to the greatest label <= its ts.

    The observations are sorted, so a bucket is a contiguous run: Polars groups them as slices (no hashing).
    """
    inside = window(frame, start=start, end=end)
    keys = pl.LazyFrame([labels.cast(TS_DTYPE).dt.epoch("us").alias(_KEY)]).set_sorted(_KEY)
    if width is not None:
        grouped = (
            inside.with_columns(pl.col(TS).dt.epoch("us").alias(_KEY))
            .set_sorted(_KEY)
            .group_by_dynamic(_KEY, every=f"{to_us(width)}i", closed="left", label="left", start_by="window")
            .agg(*aggs)
        )
    else:
        keyed = inside.with_columns(pl.col(TS).dt.epoch("us").alias(_KEY)).set_sorted(_KEY).join_asof(
            keys.with_columns(pl.col(_KEY).alias(_LABEL)), on=_KEY, strategy="backward", check_sortedness=False
        )
        grouped = keyed.group_by(pl.col(_LABEL).set_sorted().alias(_KEY), maintain_order=True).agg(*aggs)
    return keys.join(grouped, on=_KEY, how="left", maintain_order="left").drop(_KEY)


def edges(labels: pl.Series, *, start: datetime, end: datetime) -> NDArray[np.int64]:
    """The bounds of the buckets of sorted, distinct labels in [start, end): bucket k is
    [edges[k], edges[k + 1]), from label k to the next label (the last to `end`), clipped to the window.
    This serves both label kinds: an epoch-aligned label's bucket ends at the next label or at `end`."""
    start_us, end_us = to_us(as_utc(start)), to_us(as_utc(end))
    return np.append(np.clip(stamps(labels), start_us, end_us), end_us)


def reduced(frame: pl.DataFrame, bounds: NDArray[np.int64], method: str
            ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per bucket of `bounds` (see `edges`): the aggregate `method` of the readings of a clean frame (undefined
    where empty) and how many readings it holds."""
    out = np.empty(len(bounds) - 1, dtype=np.float64)
    counts = np.empty(len(bounds) - 1, dtype=np.int64)
    kernels.reduce(bounds, stamps(frame), values(frame), kernels.REDUCERS[method], out, counts)
    return out, counts
