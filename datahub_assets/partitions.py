"""Daily UTC partitions, open to today (`end_offset=1`), and the window of a partition key."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from resources.catalog import Catalog


def daily_partitions(catalog: Catalog) -> dg.DailyPartitionsDefinition:
    """From `partitions.start` to today (today's partition is open), or to `partitions.end` inclusive."""
    bounds = catalog.partitions
    end = None if bounds.end is None else (bounds.end + timedelta(days=1)).isoformat()
    return dg.DailyPartitionsDefinition(
        start_date=bounds.start.isoformat(), end_date=end, end_offset=1, timezone="UTC"
    )


def partition_day(key: str) -> date:
    return date.fromisoformat(key)


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def is_open(day: date, now: datetime) -> bool:
    """Today's partition (or a later one) is still filling."""
    return day >= now.astimezone(UTC).date()
