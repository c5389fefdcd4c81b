"""Read series from the lake for a window, with the carry-in before `start` that alignment needs.

Shared by the grid assets and the API, so both see the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import polars as pl

from datahub_assets.engine.schema import SERIES_SCHEMA, TS, clean
from resources.catalog import Catalog, SeriesConfig
from resources.lake import ParquetLake


def raw_dataset(lake: ParquetLake, catalog: Catalog, series: SeriesConfig) -> str:
    return lake.dataset(catalog.tenant_of(series), "raw", series.source, series.slug)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def read_series(
    lake: ParquetLake,
    catalog: Catalog,
    series: SeriesConfig,
    *,
    start: datetime,
    end: datetime,
    carry: timedelta | None,
) -> pl.LazyFrame:
    """The stored readings in [start - carry, end), clean; `carry=None` reaches back to the last stored
    reading however old. An unmaterialized day reads as empty."""
    dataset = raw_dataset(lake, catalog, series)
    last_day = (end - timedelta(microseconds=1)).date()
    if carry is None:
        earlier = [d for d in lake.days(dataset) if d < start.date()]
        days = earlier[-1:] + days_between(start.date(), last_day)
        lower = None
    else:
        lower = start - carry
        days = days_between(lower.date(), last_day)
    frame = lake.scan(dataset, days)
    if frame is None:
        return pl.LazyFrame(schema=SERIES_SCHEMA)
    window = pl.col(TS) < end
    if lower is not None:
        window = window & (pl.col(TS) >= lower)
    return clean(frame.filter(window))


def read_many(
    lake: ParquetLake,
    catalog: Catalog,
    series: Sequence[SeriesConfig],
    *,
    start: datetime,
    end: datetime,
    carry: timedelta | None,
) -> list[pl.LazyFrame]:
    return [read_series(lake, catalog, s, start=start, end=end, carry=carry) for s in series]
