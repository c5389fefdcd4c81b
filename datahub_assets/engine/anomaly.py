"""Robust anomaly scores of a series: how far each reading lies from the rolling median of the readings
before it, in units of the rolling median absolute deviation (MAD) scaled to a standard deviation. Pure and
lazy.

A reading's window is the `window` of time ending at it (trailing, so a score never looks ahead). Where the
window holds fewer than `min_points` readings, or its MAD is 0 (a flat stretch), the score is null: no
evidence either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from datahub_assets.engine.grid import as_utc
from datahub_assets.engine.schema import TS, VALUE

MAD_TO_SIGMA = 1.4826  # MAD x this estimates the standard deviation of normal data
MEDIAN, SCORE = "median", "score"


def robust_scores(readings: pl.LazyFrame, *, window: timedelta, min_points: int = 12) -> pl.LazyFrame:
    """`ts`, `value`, `median` (rolling, of the window) and `score` (|value - median| / (1.4826 x MAD)).

    `readings` are clean: sorted by `ts`, one reading per stamp, no nulls."""
    def rolling_median(expr: pl.Expr) -> pl.Expr:
        return expr.rolling_median_by(TS, window_size=window, min_samples=min_points, closed="both")

    with_median = readings.select(TS, VALUE, rolling_median(pl.col(VALUE)).alias(MEDIAN))
    deviation = (pl.col(VALUE) - pl.col(MEDIAN)).abs()
    mad = rolling_median(deviation)
    scale = MAD_TO_SIGMA * mad
    return with_median.with_columns(
        pl.when(scale > 0).then(deviation / scale).otherwise(None).alias(SCORE))


def anomalies(readings: pl.LazyFrame, *, window: timedelta, threshold: float, start: datetime | None = None,
              end: datetime | None = None, min_points: int = 12) -> pl.LazyFrame:
    """The readings of [start, end) whose score exceeds `threshold`, in time order. Readings before `start`
    serve as the first windows' history."""
    scored = robust_scores(readings, window=window, min_points=min_points).filter(pl.col(SCORE) > threshold)
    if start is not None:
        scored = scored.filter(pl.col(TS) >= as_utc(start))
    if end is not None:
        scored = scored.filter(pl.col(TS) < as_utc(end))
    return scored
