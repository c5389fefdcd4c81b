"""Data-quality counts of one fetched partition, and where each problem is, for the asset checks. Pure and
lazy."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from datahub_assets.engine.grid import as_utc
from datahub_assets.engine.schema import TS, VALUE, clean, to_canonical

FROM, TO, SECONDS, COUNT = "from", "to", "seconds", "count"


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
    raw = to_canonical(fetched)
    counts = raw.select(
        pl.len().alias("rows"),
        (pl.col(VALUE).is_null() | pl.col(VALUE).is_nan()).sum().alias("nulls"),
        (pl.col(TS).diff() < pl.duration(microseconds=0)).sum().alias("backwards"),
    )
    dups = _present(raw).select((pl.len() - pl.col(TS).n_unique()).alias("duplicates"))
    cleaned = clean(raw)
    gaps = _spaces(cleaned, start, end, closed).select(
        (pl.col(SECONDS) > _seconds(max_gap)).sum().alias("gaps"),
        pl.col(SECONDS).max().alias("largest_gap"),
    )
    summary = cleaned.select(
        (~_in_range(minimum, maximum)).sum().alias("out_of_range"),
        pl.col(TS).min().alias("first_ts"),
        pl.col(TS).max().alias("last_ts"),
    )
    return pl.concat([counts, dups, summary, gaps], how="horizontal", strict=True)


def gap_spans(fetched: pl.LazyFrame, *, start: datetime, end: datetime, max_gap: timedelta | None,
              closed: bool = True) -> pl.LazyFrame:
    """Each gap wider than max_gap, in time order: `from` (the reading or edge before it), `to`, `seconds`."""
    spaces = _spaces(clean(fetched), start, end, closed)
    return spaces.filter(pl.col(SECONDS) > _seconds(max_gap))


def duplicate_stamps(fetched: pl.LazyFrame) -> pl.LazyFrame:
    """Each stamp delivered more than once (nulls aside), in time order, with how many times: `ts`, `count`."""
    present = _present(to_canonical(fetched))
    return (present.group_by(TS).agg(pl.len().alias(COUNT)).filter(pl.col(COUNT) > 1).sort(TS))


def backwards_steps(fetched: pl.LazyFrame) -> pl.LazyFrame:
    """Each place, in delivery order, where a stamp is earlier than the one delivered before it: `from`
    (the stamp before), `to` (the earlier one that follows it)."""
    raw = to_canonical(fetched).select(pl.col(TS).shift(1).alias(FROM), pl.col(TS).alias(TO))
    return raw.filter(pl.col(TO) < pl.col(FROM))


def out_of_range(fetched: pl.LazyFrame, *, minimum: float | None, maximum: float | None) -> pl.LazyFrame:
    """The stored readings outside [minimum, maximum], in time order: `ts`, `value`."""
    return clean(fetched).filter(~_in_range(minimum, maximum))


def _present(raw: pl.LazyFrame) -> pl.LazyFrame:
    return raw.filter(pl.col(VALUE).is_not_null() & pl.col(VALUE).is_not_nan())


def _in_range(minimum: float | None, maximum: float | None) -> pl.Expr:
    inside = pl.lit(True)
    if minimum is not None:
        inside = inside & (pl.col(VALUE) >= minimum)
    if maximum is not None:
        inside = inside & (pl.col(VALUE) <= maximum)
    return inside


def _seconds(limit: timedelta | None) -> float:
    return float("inf") if limit is None else limit.total_seconds()


def _spaces(cleaned: pl.LazyFrame, start: datetime, end: datetime, closed: bool) -> pl.LazyFrame:
    """Every space between consecutive readings, the window's start (and its end, when closed) as edges."""
    start, end = as_utc(start), as_utc(end)
    parts = [_instant(start), cleaned.select(TS)] + ([_instant(end)] if closed else [])
    stamps = pl.concat(parts)
    return stamps.select(
        pl.col(TS).shift(1).alias(FROM), pl.col(TS).alias(TO),
        (pl.col(TS).diff().dt.total_microseconds() / 1e6).alias(SECONDS),
    ).drop_nulls(SECONDS)


def _instant(at: datetime) -> pl.LazyFrame:
    return pl.LazyFrame({TS: [at]}).select(pl.col(TS).dt.cast_time_unit("us").dt.convert_time_zone("UTC"))
