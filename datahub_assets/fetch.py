"""Fetching one day of one series into the lake: the one path used by the raw asset, by the API's
read-through and by a grid that needs a day not yet stored. Same cleaning, same checks, same revisions.

- `fetch_day` reads `[day, day + 1)` from the source (or, incrementally, from the last stored reading minus
  `OVERLAP`, merged after the stored readings before it) and counts the quality of the rows as delivered.
- `store_day` writes the partition and its revision history (`history.parquet` beside `data.parquet`): the
  history first, then the data, each atomic; nothing is written when nothing changed, so re-running a
  partition leaves the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from datahub_assets.engine.quality import quality
from datahub_assets.engine.revisions import HISTORY_SCHEMA, first_history, revise
from datahub_assets.engine.schema import SERIES_SCHEMA, TS, clean, to_canonical
from datahub_assets.partitions import day_window, is_open
from resources.catalog import Catalog, SeriesConfig
from resources.lake import HISTORY_FILE, ParquetLake
from resources.sources.base import SeriesRef, Source

OVERLAP = timedelta(minutes=5)  # an incremental refresh asks again for this much before the last stored reading


@dataclass(frozen=True)
class FetchedDay:
    day: date
    frame: pl.DataFrame  # the clean readings of the day, as they are stored
    fetched: pl.DataFrame  # the rows the source delivered, in delivery order (blanks kept)
    counts: dict[str, Any]  # quality counts of the day's rows as delivered (engine.quality)
    since: datetime  # where the fetch began: the day's start, or later for an incremental refresh
    now: datetime
    delivered: pl.DataFrame  # the day's rows the checks look at: stored ones before `since`, then `fetched`

    @property
    def open(self) -> bool:
        return is_open(self.day, self.now)


def series_ref(series: SeriesConfig) -> SeriesRef:
    return SeriesRef(entity=series.entity, attribute=series.attribute, column=series.selector)


def raw_dataset(lake: ParquetLake, catalog: Catalog, series: SeriesConfig) -> str:
    return lake.dataset(catalog.tenant_of(series), "raw", series.source, series.slug)


def max_gap(series: SeriesConfig) -> timedelta | None:
    return series.checks.max_gap or series.cadence


def fetch_day(
    lake: ParquetLake, catalog: Catalog, series: SeriesConfig, source: Source, day: date, *,
    now: datetime | None = None, forwarded: Mapping[str, str] | None = None, incremental: bool = False,
) -> FetchedDay:
    now = now or datetime.now(UTC)
    start, end = day_window(day)
    since, head = start, pl.DataFrame(schema=SERIES_SCHEMA)
    if incremental:
        dataset = raw_dataset(lake, catalog, series)
        stored = lake.read(dataset, day) if lake.exists(dataset, day) else head
        if stored.height:
            last = stored.get_column(TS).max()
            assert isinstance(last, datetime)
            since = max(start, last - max(OVERLAP, series.cadence or OVERLAP))
            head = stored.filter(pl.col(TS) < since)
    fetched = to_canonical(source.read(series_ref(series), start=since, end=end, forwarded=forwarded).lazy()
                           ).collect()
    rows = pl.concat([head, fetched])
    counts = quality(rows.lazy(), start=start, end=end, max_gap=max_gap(series), minimum=series.checks.min,
                     maximum=series.checks.max, closed=not is_open(day, now)).collect().row(0, named=True)
    return FetchedDay(day, clean(rows.lazy()).collect(), fetched, counts, since, now, rows)


def readings_before(lake: ParquetLake, catalog: Catalog, series: SeriesConfig, day: date, span: timedelta
                    ) -> pl.DataFrame:
    """The stored readings of the `span` before `day` (the partitions that exist), clean and sorted."""
    start, _ = day_window(day)
    days = [day - timedelta(days=n) for n in range(math.ceil(span / timedelta(days=1)), 0, -1)]
    scanned = lake.scan(raw_dataset(lake, catalog, series), days)
    if scanned is None:
        return pl.DataFrame(schema=SERIES_SCHEMA)
    return clean(scanned.filter(pl.col(TS) >= start - span)).collect()


def newest_reading(lake: ParquetLake, catalog: Catalog, series: SeriesConfig, today: date, span: timedelta
                   ) -> datetime | None:
    """The newest stored reading of the series on `today` or the days before it, looking back no further
    than `span` (and one day more); None when there is none."""
    dataset = raw_dataset(lake, catalog, series)
    for back in range(math.ceil(span / timedelta(days=1)) + 2):
        day = today - timedelta(days=back)
        if lake.exists(dataset, day):
            scanned = lake.scan_existing(dataset, [day])
            assert scanned is not None
            last = scanned.select(pl.col(TS).max()).collect().item()
            if last is not None:
                return last
    return None


def store_day(lake: ParquetLake, dataset: str, fetched: FetchedDay) -> str:
    """Write the day and its revision history; the partition's URI."""
    day = fetched.day
    uri = lake.partition(dataset, day)
    _, end = day_window(day)
    history = lake.read_file(dataset, day, HISTORY_FILE)
    if history is None:
        stored = lake.read(dataset, day) if lake.exists(dataset, day) else None
        history = pl.DataFrame(schema=HISTORY_SCHEMA) if stored is None else first_history(
            stored.lazy(), learned_at=lake.modified(dataset, day) or fetched.now).collect()
    revised = revise(history.lazy(), fetched.fetched.lazy(), learned_at=fetched.now, start=fetched.since,
                     end=end).collect()
    if not _same(revised, history):
        lake.write(dataset, day, revised, HISTORY_FILE)
    current = lake.read(dataset, day) if lake.exists(dataset, day) else None
    if current is None or not _same(current, fetched.frame):
        lake.write(dataset, day, fetched.frame)
    return uri


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.schema == b.schema and a.equals(b, null_equal=True)
