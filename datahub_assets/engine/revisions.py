"""Revision history of stored readings (slowly changing dimension, type 2): every version of a reading with
the interval the platform held it, `[valid_from, valid_to)` (`valid_to` null: still held).

`revise` folds a re-fetch into a history; `as_of` answers what was known at an instant: for each stamp the
version valid then. Only real values are versions: a re-fetch that delivers a reading as blank (null) leaves
its version alone (a later blank never hides a real value); a reading missing from a re-fetch of its window
was removed, and its version closes. Pure and lazy, like the rest of the engine.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from datahub_assets.engine.grid import as_utc
from datahub_assets.engine.schema import TS, TS_DTYPE, VALUE, clean, to_canonical

VALID_FROM = "valid_from"
VALID_TO = "valid_to"
HISTORY_SCHEMA = pl.Schema([(TS, TS_DTYPE), (VALUE, pl.Float64()), (VALID_FROM, TS_DTYPE), (VALID_TO, TS_DTYPE)])


def first_history(current: pl.LazyFrame, *, learned_at: datetime) -> pl.LazyFrame:
    """A history for readings stored before any was kept: each one version, learned at `learned_at`."""
    return clean(current).select(TS, VALUE, pl.lit(as_utc(learned_at)).cast(TS_DTYPE).alias(VALID_FROM),
                                 pl.lit(None, dtype=TS_DTYPE).alias(VALID_TO))


def revise(history: pl.LazyFrame, fetched: pl.LazyFrame, *, learned_at: datetime, start: datetime,
           end: datetime) -> pl.LazyFrame:
    """The history after a re-fetch of `[start, end)` learned at `learned_at`: versions of changed or removed
    readings close at `learned_at`, new values open there, unchanged and blanked readings keep theirs, and
    readings outside the window are untouched. Sorted by stamp, then `valid_from`."""
    learned, start, end = as_utc(learned_at), as_utc(start), as_utc(end)
    inside = (pl.col(TS) >= start) & (pl.col(TS) < end)
    raw = to_canonical(fetched).filter(inside)
    new = clean(raw).rename({VALUE: "_new"})
    blanks = raw.filter(pl.col(VALUE).is_null() | pl.col(VALUE).is_nan()).select(TS).unique().with_columns(
        pl.lit(True).alias("_blank"))
    held = history.filter(pl.col(VALID_TO).is_null())
    kept_as_is = pl.concat([history.filter(pl.col(VALID_TO).is_not_null()), held.filter(~inside)])
    judged = held.filter(inside).join(new, on=TS, how="left").join(blanks, on=TS, how="left").with_columns(
        ((pl.col("_new") == pl.col(VALUE)) | (pl.col("_new").is_null() & pl.col("_blank").fill_null(False)))
        .fill_null(False).alias("_keep"))
    kept = judged.filter(pl.col("_keep")).select(HISTORY_SCHEMA.names())
    closed = judged.filter(~pl.col("_keep")).select(TS, VALUE, VALID_FROM, pl.lit(learned).cast(TS_DTYPE)
                                                    .alias(VALID_TO))
    opened = new.join(kept.select(TS), on=TS, how="anti").select(
        TS, pl.col("_new").alias(VALUE), pl.lit(learned).cast(TS_DTYPE).alias(VALID_FROM),
        pl.lit(None, dtype=TS_DTYPE).alias(VALID_TO))
    return pl.concat([kept_as_is, kept, closed, opened]).sort(TS, VALID_FROM)


def as_of(history: pl.LazyFrame, at: datetime) -> pl.LazyFrame:
    """The readings known at `at`: for each stamp the version with `valid_from <= at < valid_to`."""
    at = as_utc(at)
    valid = (pl.col(VALID_FROM) <= at) & (pl.col(VALID_TO).is_null() | (pl.col(VALID_TO) > at))
    return history.filter(valid).select(TS, VALUE).sort(TS).unique(TS, keep="last", maintain_order=True)\
        .set_sorted(TS)
