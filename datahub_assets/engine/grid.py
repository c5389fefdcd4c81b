"""Time grids: epoch-aligned multiples of a duration, or n evenly spaced points (both ends included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from datahub_assets.engine.schema import TS, TS_DTYPE

MIN_DEFAULT_TOLERANCE = timedelta(minutes=15)
MAX_DEFAULT_TOLERANCE = timedelta(hours=24)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(t: datetime | timedelta) -> int:
    """Whole microseconds since the epoch (or of a duration); naive datetimes are UTC."""
    if isinstance(t, timedelta):
        return (t.days * 86_400 + t.seconds) * 1_000_000 + t.microseconds
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return to_us(t - _EPOCH)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def as_utc(t: datetime) -> datetime:
    """The same instant as an aware UTC datetime (naive datetimes are UTC)."""
    return from_us(to_us(t))


def _check_window(start: datetime, end: datetime) -> tuple[int, int]:
    start_us, end_us = to_us(start), to_us(end)
    if end_us <= start_us:
        raise ValueError(f"window end {end} must be after start {start}")
    return start_us, end_us


def duration_grid(start: datetime, end: datetime, every: timedelta) -> pl.Series:
    """Multiples of `every` counted from the Unix epoch that lie in [start, end)."""
    start_us, end_us = _check_window(start, end)
    step = to_us(every)
    if step <= 0:
        raise ValueError(f"grid step must be positive, got {every}")
    first = -(-start_us // step) * step
    return pl.int_range(first, end_us, step, eager=True).cast(TS_DTYPE).alias(TS)


def bucket_labels(start: datetime, end: datetime, every: timedelta) -> pl.Series:
    """Labels of every epoch-aligned bucket [t, t + every) that overlaps [start, end)."""
    start_us, end_us = _check_window(start, end)
    step = to_us(every)
    if step <= 0:
        raise ValueError(f"bucket width must be positive, got {every}")
    first = (start_us // step) * step
    return pl.int_range(first, end_us, step, eager=True).cast(TS_DTYPE).alias(TS)


def count_grid(start: datetime, end: datetime, points: int) -> pl.Series:
    """`points` instants evenly spaced from start to end, both included (whole microseconds)."""
    start_us, end_us = _check_window(start, end)
    if points < 2:
        raise ValueError(f"a grid of points needs at least 2 points, got {points}")
    span = end_us - start_us
    idx = pl.int_range(0, points, eager=True, dtype=pl.Int64)
    # i * span may overflow int64 for huge spans: split it as q * i + (r * i) // (n - 1).
    q, r = divmod(span, points - 1)
    return (start_us + idx * q + (idx * r) // (points - 1)).cast(TS_DTYPE).alias(TS)


def count_step(start: datetime, end: datetime, points: int) -> timedelta:
    start_us, end_us = _check_window(start, end)
    return timedelta(microseconds=(end_us - start_us) / (points - 1))


def default_tolerance(step: timedelta) -> timedelta:
    """4 x the grid step (or the largest cadence, for `raw`), clamped to [15 min, 24 h]."""
    return min(max(4 * step, MIN_DEFAULT_TOLERANCE), MAX_DEFAULT_TOLERANCE)
